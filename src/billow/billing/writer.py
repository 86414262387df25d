"""The one invoice writer: an invoice's fees and applied taxes written with the ORM (:func:`write_fees`,
:func:`write_applied_taxes`; the amounts: :mod:`billow.billing.amounts`, what it takes from the customer's
balances: :mod:`billow.billing.deductions`), an invoice issued at once outside the period schedule
(:func:`write_immediate_invoice`: a pay-in-advance charge's, a progressive-billing one) and one billing no
subscription (:func:`write_customer_invoice`: a one-off invoice).

The billing run's subscription invoice (:mod:`billow.billing.assembly`) uses the same amounts and applied
taxes, written with Core inserts.
"""

from __future__ import annotations

import uuid
from collections.abc import Hashable, Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from billow.billing.amounts import set_amounts
from billow.billing.context import FeeDraft
from billow.billing.deductions import finalized_amounts, record_deductions
from billow.billing.totals import InvoiceAmounts
from billow.invoices import finalization, numbering
from billow.kit.time import local_date
from billow.models.customers import Customer
from billow.models.invoices import AppliedTax, Invoice, InvoiceStatus, InvoiceSubscription, PaymentStatus
from billow.models.organizations import Organization
from billow.models.subscriptions import Subscription
from billow.models.taxes import Tax


def write_fees(
    session: Session, invoice: Invoice, drafts: Sequence[FeeDraft], amounts: InvoiceAmounts
) -> None:
    for draft in drafts:
        draft.fee.invoice_id = invoice.id
        draft.fee.payment_status = invoice.payment_status
        session.add(draft.fee)
    write_applied_taxes(session, invoice, drafts, amounts)


def write_immediate_invoice(
    session: Session,
    *,
    organization: Organization,
    customer: Customer,
    subscription: Subscription,
    invoice_type: str,
    invoicing_reason: str,
    currency: str,
    window_from: datetime,
    window_to: datetime,
    timestamp: datetime,
    now: datetime,
    drafts: Sequence[FeeDraft],
    invoice_id: uuid.UUID | None = None,
    applied_usage_thresholds: list[dict[str, object]] | None = None,
) -> Invoice:
    """Write an invoice issued at once, outside the period schedule (a pay-in-advance charge's, a
    progressive billing one) for the charges window ``[window_from, window_to)``, and finalize it, in
    Lago's whole order of operations: the customer's coupons before taxes, then its credit notes and
    wallets (:mod:`billow.billing.deductions`). The fees' unique keys are checked (flushed) before the
    invoice is numbered."""
    deductions, amounts = finalized_amounts(
        session, customer, drafts, {subscription.id: subscription.plan_id}, currency
    )
    invoice = _issued_now(organization, customer, invoice_type, currency, now, amounts, invoice_id)
    invoice.applied_usage_thresholds = applied_usage_thresholds
    session.add(invoice)
    session.flush()  # before its rows that reference it (fees may already be pending in the session)
    session.add(
        InvoiceSubscription(
            organization_id=organization.id,
            invoice_id=invoice.id,
            subscription_id=subscription.id,
            invoicing_reason=invoicing_reason,
            period_start=window_from,
            timestamp=timestamp,
            from_datetime=window_from,
            to_datetime=window_to,
            charges_from_datetime=window_from,
            charges_to_datetime=window_to,
        )
    )
    write_fees(session, invoice, drafts, amounts)
    session.flush()  # the fees' unique keys: fail here if another scan billed the same event
    record_deductions(session, invoice, deductions, amounts, now=now)
    finalization.apply_final_status(session, invoice, organization, customer, at=now)
    return invoice


def applied_tax_values(
    invoice: Invoice, drafts: Sequence[FeeDraft], amounts: InvoiceAmounts
) -> list[dict[str, object]]:
    """The invoice's applied taxes (one per tax of its fees), as column values."""
    taxes_by_id: dict[Hashable, Tax] = {t.id: t for d in drafts for t in d.taxes}
    values: list[dict[str, object]] = []
    for tax_id, amount_cents in amounts.taxes_by_id.items():
        tax = taxes_by_id[tax_id]
        values.append(
            {
                "organization_id": invoice.organization_id,
                "invoice_id": invoice.id,
                "tax_id": tax.id,
                "tax_code": tax.code,
                "tax_name": tax.name,
                "tax_description": tax.description,
                "tax_rate": tax.rate,
                "amount_cents": amount_cents,
                "amount_currency": invoice.currency,
                "fees_amount_cents": amounts.tax_bases_by_id[tax_id],
            }
        )
    return values


def applied_tax_rows(
    invoice: Invoice, drafts: Sequence[FeeDraft], amounts: InvoiceAmounts, now: datetime
) -> list[dict[str, object]]:
    """:func:`applied_tax_values` as complete rows for a Core insert."""
    return [
        {"id": uuid.uuid4(), "created_at": now, "updated_at": now, **values}
        for values in applied_tax_values(invoice, drafts, amounts)
    ]


def write_applied_taxes(
    session: Session, invoice: Invoice, drafts: Sequence[FeeDraft], amounts: InvoiceAmounts
) -> None:
    for values in applied_tax_values(invoice, drafts, amounts):
        session.add(AppliedTax(**values))


def write_customer_invoice(
    session: Session,
    *,
    organization: Organization,
    customer: Customer,
    invoice_type: str,
    currency: str,
    now: datetime,
    drafts: Sequence[FeeDraft],
    invoice_id: uuid.UUID | None = None,
) -> Invoice:
    """Write an invoice of ``customer`` billing no subscription (a one-off invoice), issued at once: its
    issuing date is today in the customer's zone; it takes the customer's coupons, credit notes and
    wallets (:mod:`billow.billing.deductions`) and is finalized (numbered; paid at once when its total is
    0) or closed like every invoice (:func:`billow.invoices.finalization.apply_final_status`)."""
    deductions, amounts = finalized_amounts(session, customer, drafts, {}, currency)
    invoice = _issued_now(organization, customer, invoice_type, currency, now, amounts, invoice_id)
    session.add(invoice)
    session.flush()  # before the fees that reference it
    write_fees(session, invoice, drafts, amounts)
    session.flush()
    record_deductions(session, invoice, deductions, amounts, now=now)
    finalization.apply_final_status(session, invoice, organization, customer, at=now)
    return invoice


def _issued_now(
    organization: Organization,
    customer: Customer,
    invoice_type: str,
    currency: str,
    now: datetime,
    amounts: InvoiceAmounts,
    invoice_id: uuid.UUID | None,
) -> Invoice:
    """A new invoice issued today in the customer's zone, with its amounts, before its finalization."""
    invoice = Invoice(
        id=invoice_id or uuid.uuid4(),
        organization_id=organization.id,
        customer_id=customer.id,
        number=numbering.draft_number(organization),
        invoice_type=invoice_type,
        status=InvoiceStatus.DRAFT,
        payment_status=PaymentStatus.PENDING,
        currency=currency,
    )
    timezone = customer.applicable_timezone(organization)
    finalization.set_issuing_date(invoice, local_date(now, timezone), customer, organization)
    set_amounts(invoice, amounts)
    return invoice
