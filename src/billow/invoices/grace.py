"""A changed grace period applies to the drafts waiting for it (Lago's
``Customers::UpdateInvoiceGracePeriodService`` and the organization's equivalent, reference §5.1).

When the grace period applicable to a customer changes (its own ``invoice_grace_period``, or the
organization's for customers without one), every draft of that customer moves with it, in the request's
transaction: ``expected_finalization_date`` by the difference of the two periods, the issuing date by the
difference of their issuing-date shifts (:func:`billow.invoices.finalization.issuing_date_shift`) and the
payment due date with it. Drafts whose new date has come are then finalized right after the commit by
the task :data:`FINALIZE_DUE_DRAFTS` (registered by :mod:`billow.billing.tasks`), one transaction each,
the same code path as the ``invoices.finalize_drafts`` scan, which remains the safety net.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from billow.customers.settings import GRACE_PERIOD_CHANGED, grace_period_days
from billow.invoices import finalization
from billow.models.customers import Customer
from billow.models.invoices import Invoice, InvoiceStatus, InvoiceSubscription
from billow.models.organizations import Organization
from billow.worker.dispatch import after_commit, hook

log = logging.getLogger(__name__)

FINALIZE_DUE_DRAFTS = "invoices.finalize_due_drafts"


@hook(GRACE_PERIOD_CHANGED)
def customer_grace_changed(
    session: Session, organization: Organization, customer: Customer, old_grace: int
) -> int:
    """Move the drafts of ``customer`` whose applicable grace period was ``old_grace``; returns how many."""
    return _move_drafts(session, organization, {customer.id: old_grace})


def organization_grace_changed(session: Session, organization: Organization, old_grace: int) -> int:
    """Move the drafts of the organization's customers without a grace period of their own."""
    customer_ids = session.scalars(
        select(Invoice.customer_id)
        .join(Customer, Customer.id == Invoice.customer_id)
        .where(
            Invoice.organization_id == organization.id,
            Invoice.status == InvoiceStatus.DRAFT,
            Customer.organization_id == organization.id,
            Customer.invoice_grace_period.is_(None),
        )
        .distinct()
    ).all()
    return _move_drafts(session, organization, dict.fromkeys(customer_ids, old_grace))


def _move_drafts(session: Session, organization: Organization, old_grace: Mapping[uuid.UUID, int]) -> int:
    if not old_grace:
        return 0
    drafts = session.scalars(
        select(Invoice)
        .where(
            Invoice.organization_id == organization.id,
            Invoice.status == InvoiceStatus.DRAFT,
            Invoice.customer_id.in_(list(old_grace)),
        )
        .order_by(Invoice.created_at, Invoice.id)
    ).all()
    if not drafts:
        return 0
    reasons = dict(
        session.execute(
            select(InvoiceSubscription.invoice_id, InvoiceSubscription.invoicing_reason)
            .where(
                InvoiceSubscription.organization_id == organization.id,
                InvoiceSubscription.invoice_id.in_([d.id for d in drafts]),
            )
            .order_by(InvoiceSubscription.invoice_id, InvoiceSubscription.created_at.desc())
        ).all()
    )
    customers = {
        c.id: c for c in session.scalars(select(Customer).where(Customer.id.in_(list(old_grace)))).all()
    }
    moved = 0
    for invoice in drafts:
        customer = customers[invoice.customer_id]
        old, new = old_grace[invoice.customer_id], grace_period_days(customer, organization)
        if old == new:
            continue
        reason = reasons.get(invoice.id, "")
        if invoice.expected_finalization_date is not None:
            invoice.expected_finalization_date += timedelta(days=new - old)
        shift = finalization.issuing_date_shift(
            customer, new, invoicing_reason=reason
        ) - finalization.issuing_date_shift(customer, old, invoicing_reason=reason)
        finalization.set_issuing_date(
            invoice, invoice.issuing_date + timedelta(days=shift), customer, organization
        )
        moved += 1
    if moved:
        session.flush()
        after_commit(session, FINALIZE_DUE_DRAFTS, str(organization.id))
    return moved
