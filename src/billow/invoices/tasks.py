"""Periodic scans of invoices (Lago's clock jobs, reference §5.2): flag unpaid invoices past their due date.
The scans of drafts (refresh, finalization), which rebuild fees, are billing's (:mod:`billow.billing.tasks`).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import update

from billow.models.invoices import Invoice, InvoiceStatus, PaymentStatus
from billow.webhooks.outbox import emit
from billow.worker.scans import SessionFactory, scan

log = logging.getLogger(__name__)


@scan("invoices.mark_overdue", every=timedelta(hours=1))
def mark_overdue(session_factory: SessionFactory, now: datetime) -> int:
    """Flag finalized invoices not paid by their ``payment_due_date`` (before today, UTC) as overdue, each
    announced (``invoice.payment_overdue``)."""
    with session_factory() as session, session.begin():
        flagged = session.execute(
            update(Invoice)
            .where(
                Invoice.status == InvoiceStatus.FINALIZED,
                Invoice.payment_status != PaymentStatus.SUCCEEDED,
                Invoice.payment_overdue.is_(False),
                Invoice.payment_due_date < now.date(),
            )
            .values(payment_overdue=True, updated_at=now)
            .returning(Invoice.id, Invoice.organization_id)
        ).all()
        for invoice_id, organization_id in flagged:
            emit(session, organization_id, "invoice.payment_overdue", "invoice", invoice_id)
        return len(flagged)
