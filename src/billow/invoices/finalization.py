"""Settings and dates of an invoice's finalization (reference §5.1, §5.2), and the final status.

Shared by the billing run (:mod:`billow.billing.assembly`, an invoice finalized at once) and by the draft
lifecycle (:mod:`billow.billing.drafts`, a draft finalized after its grace period). This module does
not build fees, so billing imports it (never the reverse).

* Grace period: the customer's ``invoice_grace_period``, else the organization's. When > 0 a
  subscription invoice is created ``draft`` and finalized ``grace`` days after its due date.
* Issuing date (Lago's ``Invoices::IssuingDateService``): the local date of the invoice's due instant,
  adjusted by the anchor and adjustment settings (customer's, else Lago's defaults ``next_period_start``
  and ``align_with_finalization_date``): for periodic invoices ``next_period_start``/``keep_anchor`` → 0
  days, ``next_period_start``/``align_with_finalization_date`` → +grace, ``current_period_end``/
  ``keep_anchor`` → -1, ``current_period_end``/``align_with_finalization_date`` → +grace (-1 without
  grace); other subscription invoices → +grace.
* When a draft is finalized its issuing date becomes the finalization day (customer's zone), unless it
  is periodic and the customer's adjustment is ``keep_anchor``. ``payment_due_date`` = issuing date +
  net payment term (customer's, else organization's).
* Zero amount (Lago's ``TransitionToFinalStatusService``): an invoice whose ``fees_amount_cents`` is 0 is
  ``closed`` (invisible, no number consumed) when ``finalize_zero_amount_invoice`` is ``skip`` (customer),
  or ``inherit`` and the organization's setting is false.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from billow.customers.settings import net_payment_term
from billow.invoices import numbering
from billow.kit.time import local_date
from billow.models.customers import Customer
from billow.models.invoices import Fee, Invoice, InvoiceStatus, InvoiceType, PaymentStatus
from billow.models.organizations import Organization
from billow.webhooks.outbox import emit
from billow.worker.dispatch import run_hooks

DEFAULT_ANCHOR = "next_period_start"
DEFAULT_ADJUSTMENT = "align_with_finalization_date"
PERIODIC = "subscription_periodic"


def _adjustment_setting(customer: Customer) -> str:
    return customer.subscription_invoice_issuing_date_adjustment or DEFAULT_ADJUSTMENT


def issuing_date_shift(customer: Customer, grace: int, *, invoicing_reason: str) -> int:
    """Days added to the local due date to get the issuing date (Lago's ``issuing_date_adjustment``)."""
    if invoicing_reason != PERIODIC:
        return grace
    anchor = customer.subscription_invoice_issuing_date_anchor or DEFAULT_ANCHOR
    adjustment = _adjustment_setting(customer)
    if anchor == "current_period_end":
        if adjustment == "keep_anchor" or grace == 0:
            return -1
        return grace
    return 0 if adjustment == "keep_anchor" else grace


def keeps_anchor(customer: Customer, *, invoicing_reason: str) -> bool:
    """A finalized draft keeps its issuing date (else it takes the finalization day)."""
    return invoicing_reason == PERIODIC and _adjustment_setting(customer) == "keep_anchor"


def finalizes_zero_amount(customer: Customer, organization: Organization) -> bool:
    if customer.finalize_zero_amount_invoice == "inherit":
        return organization.finalize_zero_amount_invoice
    return customer.finalize_zero_amount_invoice == "finalize"


def set_issuing_date(
    invoice: Invoice, issuing_date: date, customer: Customer, organization: Organization
) -> None:
    term = net_payment_term(customer, organization)
    invoice.issuing_date = issuing_date
    invoice.net_payment_term = term
    invoice.payment_due_date = issuing_date + timedelta(days=term)


def finalization_day(now: datetime, customer: Customer, organization: Organization) -> date:
    return local_date(now, customer.applicable_timezone(organization))


def final_payment_status(invoice: Invoice) -> PaymentStatus:
    """The payment status of a finalized invoice: nothing to pay is paid."""
    return PaymentStatus.PENDING if invoice.total_amount_cents > 0 else PaymentStatus.SUCCEEDED


def set_final_status(
    invoice: Invoice, organization: Organization, customer: Customer, *, at: datetime
) -> bool:
    """Give ``invoice`` (amounts and dates already set) its final status, except its number: ``closed``
    (a skipped zero-amount invoice, with the draft number) or ``finalized`` at ``at`` with the
    paid-or-pending status of its total. Returns whether it takes a number (finalized)."""
    invoice.expected_finalization_date = None
    if invoice.fees_amount_cents == 0 and not finalizes_zero_amount(customer, organization):
        invoice.status = InvoiceStatus.CLOSED
        invoice.number = numbering.draft_number(organization)
        return False
    invoice.status = InvoiceStatus.FINALIZED
    invoice.finalized_at = at
    invoice.payment_status = final_payment_status(invoice)
    return True


def apply_final_status(
    session: Session,
    invoice: Invoice,
    organization: Organization,
    customer: Customer,
    *,
    at: datetime,
    fees_follow: bool = True,
) -> None:
    """Finalize ``invoice`` (amounts and dates already set): ``closed`` if it is a skipped zero-amount
    invoice, else numbered, ``finalized``, paid-or-pending by its total, its fees following (unless
    ``fees_follow`` is false: the caller wrote them with :func:`final_payment_status` already)."""
    if not set_final_status(invoice, organization, customer, at=at):
        return
    number = numbering.allocate(session, organization, customer, invoice.issuing_date)
    invoice.number = number.number
    invoice.sequential_id = number.sequential_id
    invoice.organization_sequential_id = number.organization_sequential_id
    announce(session, invoice)
    if fees_follow:
        session.flush()
        session.execute(
            update(Fee)
            .where(Fee.invoice_id == invoice.id, Fee.organization_id == invoice.organization_id)
            .values(payment_status=invoice.payment_status)
        )
    announce_finalized(session, invoice, organization)


#: The webhook of a new finalized invoice by type (Lago): ``invoice.created`` for the others.
_CREATED_WEBHOOKS = {
    InvoiceType.ONE_OFF.value: "invoice.one_off_created",
    InvoiceType.CREDIT.value: "invoice.paid_credit_added",
}


def announce(session: Session, invoice: Invoice) -> None:
    """The webhook of an invoice that was just written or finalized, in its transaction: a draft is
    ``invoice.drafted``, a finalized invoice ``invoice.created`` (``invoice.one_off_created``,
    ``invoice.paid_credit_added`` for those types); a closed (skipped zero-amount) one announces
    nothing."""
    if invoice.status == InvoiceStatus.DRAFT:
        webhook_type = "invoice.drafted"
    elif invoice.status == InvoiceStatus.FINALIZED:
        webhook_type = _CREATED_WEBHOOKS.get(str(invoice.invoice_type), "invoice.created")
    else:
        return
    emit(session, invoice.organization_id, webhook_type, "invoice", invoice.id)


#: The hook announced when an invoice is finalized (numbered), in its transaction: ``invoice`` (its
#: number and amounts set) and ``organization``. :mod:`billow.mail` records its e-mail there.
FINALIZED_HOOK = "invoices.finalized"


def announce_finalized(session: Session, invoice: Invoice, organization: Organization) -> None:
    """Announce that ``invoice`` was just finalized (every path calls this once it is numbered)."""
    run_hooks(session, FINALIZED_HOOK, invoice=invoice, organization=organization)
