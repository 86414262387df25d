"""Periodic scans of invoices (Lago's clock jobs, reference §5.2): refresh drafts that received late
events, finalize drafts whose grace period is over, flag unpaid invoices past their due date.

Each invoice is handled in its own transaction after locking its row, so a scan is safe to run
concurrently with itself and with the API (``PUT /invoices/{id}/finalize`` takes the same lock and finds
the invoice already finalized). A failure on one invoice is logged and the scan goes on.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from billow.invoices import lifecycle
from billow.invoices.repository import invoice_repository
from billow.models.invoices import Invoice, InvoiceStatus, PaymentStatus
from billow.worker.scans import SessionFactory, scan

log = logging.getLogger(__name__)


def _item(organization_id: uuid.UUID, invoice_id: uuid.UUID) -> str:
    return f"{organization_id}:{invoice_id}"


def _on_draft(session_factory: SessionFactory, item: str, work: Callable[[Session, Invoice], object]) -> bool:
    """Run ``work`` on the draft named by ``item`` in its own transaction, under the invoice's row lock;
    ``False`` if it is no longer a draft (finalized or deleted meanwhile)."""
    organization_id, invoice_id = (uuid.UUID(part) for part in item.split(":"))
    with session_factory() as session, session.begin():
        invoice = invoice_repository.get(session, organization_id, invoice_id)
        if invoice is None:
            return False
        invoice = invoice_repository.lock(session, invoice)
        if invoice.status != InvoiceStatus.DRAFT:
            return False
        work(session, invoice)
        return True


def finalize_draft(session_factory: SessionFactory, item: str, now: datetime) -> bool:
    """Finalize one draft (the same code path as ``PUT /invoices/{id}/finalize``)."""
    return _on_draft(
        session_factory, item, lambda session, invoice: lifecycle.finalize(session, invoice, now=now)
    )


def refresh_draft(session_factory: SessionFactory, item: str, now: datetime) -> bool:
    return _on_draft(session_factory, item, lambda session, invoice: lifecycle.refresh(session, invoice))


@scan("invoices.finalize_drafts", every=timedelta(minutes=10), each=finalize_draft)
def drafts_to_finalize(session_factory: SessionFactory, now: datetime) -> list[str]:
    """The drafts whose ``expected_finalization_date`` (due date + grace days) has come (Lago compares it
    with the current UTC date); each is finalized by :func:`finalize_draft`."""
    with session_factory() as session:
        return [_item(*target) for target in invoice_repository.drafts_to_finalize(session, now.date())]


@scan("invoices.refresh_drafts", every=timedelta(minutes=5), each=refresh_draft)
def drafts_to_refresh(session_factory: SessionFactory, now: datetime) -> list[str]:
    """The drafts that received events timestamped in their period since their last refresh; each is
    refreshed by :func:`refresh_draft`."""
    with session_factory() as session:
        return [_item(*target) for target in invoice_repository.drafts_to_refresh(session)]


def run_fan_out(
    run: Callable[[SessionFactory, datetime], list[str]],
    each: Callable[[SessionFactory, str, datetime], bool],
    session_factory: SessionFactory,
    now: datetime,
) -> list[str]:
    """Run a scan and its items one after the other (what the in-process scheduler does); the items
    done. A failing item is logged and the others go on."""
    done = []
    for item in run(session_factory, now):
        try:
            if each(session_factory, item, now):
                done.append(item)
        except Exception:
            log.exception("invoice scan item %s failed", item)
    return done


@scan("invoices.mark_overdue", every=timedelta(hours=1))
def mark_overdue(session_factory: SessionFactory, now: datetime) -> int:
    """Flag finalized invoices not paid by their ``payment_due_date`` (before today, UTC) as overdue."""
    with session_factory() as session, session.begin():
        result = session.execute(
            update(Invoice)
            .where(
                Invoice.status == InvoiceStatus.FINALIZED,
                Invoice.payment_status != PaymentStatus.SUCCEEDED,
                Invoice.payment_overdue.is_(False),
                Invoice.payment_due_date < now.date(),
            )
            .values(payment_overdue=True, updated_at=now)
        )
        return int(getattr(result, "rowcount", 0) or 0)
