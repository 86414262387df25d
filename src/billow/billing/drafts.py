"""The draft lifecycle of subscription invoices (reference §5.1, §5.2): refresh and finalization.

A draft (written by the billing run when a grace period applies) keeps its ``invoice_subscriptions`` rows —
one per subscription period it bills, the keys that stop a period from being billed twice — while the fees
of every one of its subscriptions are rebuilt in place
(:func:`billow.billing.assembly.rebuild_subscription_invoice`): late events with timestamps in the period
are included, taxes and totals recomputed. Finalization (``PUT /invoices/{id}/finalize`` and the scan of
drafts past their grace period, one code path) refreshes, sets the issuing and due dates, then numbers the
invoice (or closes a skipped zero-amount one, :func:`billow.invoices.finalization.apply_final_status`).

Callers lock the invoice row first (:meth:`InvoiceRepository.lock`) so the API and the scans never
finalize or refresh the same draft at once: :func:`refresh_invoice` and :func:`finalize_invoice` (``PUT
/invoices/{id}/refresh`` and ``/finalize``, :mod:`billow.billing.endpoints`) and the draft scans of
:mod:`billow.billing.tasks`.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from billow.billing.assembly import invoicing_reason, rebuild_subscription_invoice
from billow.billing.repository import billing_repository, subscription_facts
from billow.billing.schedule import DueInvoice, due_invoices
from billow.db import utcnow
from billow.errors import NotFound
from billow.invoices import finalization
from billow.invoices.repository import invoice_repository
from billow.invoices.service import invoice_service
from billow.models.customers import Customer
from billow.models.invoices import Invoice, InvoiceStatus, InvoiceSubscription, InvoiceType
from billow.models.organizations import Organization
from billow.models.subscriptions import Subscription

log = logging.getLogger(__name__)


class DraftBillingError(RuntimeError):
    """A draft whose period can no longer be found in its subscription's schedule."""


def _links(session: Session, invoice: Invoice) -> list[InvoiceSubscription]:
    """The periods a subscription invoice bills (their keys in ``invoice_subscriptions``), one per
    subscription, in the order they were written."""
    links = list(
        session.scalars(
            select(InvoiceSubscription)
            .where(
                InvoiceSubscription.invoice_id == invoice.id,
                InvoiceSubscription.organization_id == invoice.organization_id,
            )
            .order_by(InvoiceSubscription.created_at, InvoiceSubscription.id)
        )
    )
    if not links:
        raise DraftBillingError(f"invoice {invoice.id}: bills no subscription period")
    return links


def _period_of(session: Session, link: InvoiceSubscription) -> tuple[Subscription, DueInvoice]:
    """One billed period of a subscription invoice, recomputed from the schedule through its key."""
    subscription = session.get(Subscription, link.subscription_id)
    assert subscription is not None and subscription.started_at is not None
    # As the billing run sees the subscription (billow.billing.run), without the backdated floor: the
    # period was billed.
    row = billing_repository.subscription_row(session, subscription.id)
    facts = subscription_facts(row, with_floor=False)
    for due in due_invoices(facts, link.timestamp, after=link.timestamp):
        if due.reason.value == link.invoicing_reason and due.period_start == link.period_start:
            return subscription, due
    raise DraftBillingError(f"invoice {link.invoice_id}: its period is no longer in the schedule")


def refresh(session: Session, invoice: Invoice, *, finalizing: bool = False) -> Invoice:
    """Rebuild a draft's fees and amounts (every subscription period it bills); any other invoice is
    returned unchanged (as Lago)."""
    if invoice.status != InvoiceStatus.DRAFT or invoice.invoice_type != InvoiceType.SUBSCRIPTION:
        return invoice
    try:
        members = [_period_of(session, link) for link in _links(session, invoice)]
    except DraftBillingError:
        # A subscription's schedule no longer has its period: keep the fees as they are rather than
        # guess them (a draft can still be finalized or deleted).
        log.warning("invoice %s: period not in the schedule, not refreshed", invoice.id)
        return invoice
    # Events are stamped with the wall clock when ingested: so is the refresh (``now`` may be simulated).
    started = utcnow()
    rebuild_subscription_invoice(session, invoice, members, finalizing=finalizing)
    invoice.refreshed_at = started
    session.flush()
    return invoice


def finalize(session: Session, invoice: Invoice, *, now: datetime) -> Invoice:
    """Refresh a draft, then finalize it (numbered) or close it (skipped zero amount)."""
    if invoice.status != InvoiceStatus.DRAFT:
        return invoice
    customer = session.get(Customer, invoice.customer_id)
    organization = session.get(Organization, invoice.organization_id)
    assert customer is not None and organization is not None
    reason = invoicing_reason(link.invoicing_reason for link in _links(session, invoice))
    refresh(session, invoice, finalizing=True)
    if not finalization.keeps_anchor(customer, invoicing_reason=reason):
        day = finalization.finalization_day(now, customer, organization)
        finalization.set_issuing_date(invoice, day, customer, organization)
    else:
        finalization.set_issuing_date(invoice, invoice.issuing_date, customer, organization)
    finalization.apply_final_status(session, invoice, organization, customer, at=now)
    session.flush()
    return invoice


def refresh_invoice(session: Session, organization: Organization, lago_id: str) -> Invoice:
    """``PUT /invoices/{id}/refresh``: a draft is rebuilt under its row lock; any other invoice is returned
    unchanged."""
    invoice = invoice_repository.lock(session, invoice_service.get(session, organization, lago_id))
    return refresh(session, invoice)


def finalize_invoice(session: Session, organization: Organization, lago_id: str) -> Invoice:
    """``PUT /invoices/{id}/finalize``: a draft only — any other invoice is a 404 ``invoice_not_found``
    (Lago looks the invoice up among drafts)."""
    invoice = invoice_service.get(session, organization, lago_id)
    if invoice.status != InvoiceStatus.DRAFT:
        raise NotFound("invoice")
    invoice = invoice_repository.lock(session, invoice)
    if invoice.status != InvoiceStatus.DRAFT:  # finalized meanwhile by the scan
        raise NotFound("invoice")
    return finalize(session, invoice, now=utcnow())
