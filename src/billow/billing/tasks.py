"""Every scan of billing (:func:`billow.worker.scans.scan`): the billing run, pay-in-advance fees,
progressive billing and the drafts (refresh, finalization); and the task finalizing an organization's due
drafts.

The billing scan: every minute, apply due subscription transitions (activation of pending
subscriptions, termination at ``ending_at``), then bill every subscription with an invoice due.

A fan-out scan (:func:`billow.worker.scans.scan`): :func:`find_due_subscriptions` lists the work as
**batches** of subscriptions and :func:`bill_batch` bills one batch (one job on the job engine, so any
number of workers share a billing run). A batch, not a subscription, per job: a batch loads the catalog
once and prices its usage in a few queries (:func:`billow.billing.run.bill_subscriptions`), which
``bench/billing.py`` measured ~10x cheaper than one job per subscription (and 500 per batch cheaper than
100). Batches are bucketed by customer:
a customer's subscriptions due at one instant are billed on one invoice
(:func:`billow.billing.run.bill_subscriptions`), by one job. A subscription always falls in the same bucket
for a given number of buckets, and a batch is queued under its bucket's key, so a scan
that runs while the previous one's jobs still wait does not queue the same work twice. Everything is
idempotent: the unique invoice key of :mod:`billow.billing.run` makes billing a period twice impossible.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from billow.billing import drafts, termination_credits
from billow.billing.pay_in_advance import RECENT, PayInAdvanceSummary, create_pay_in_advance_fees
from billow.billing.progressive import ProgressiveSummary, bill_thresholds
from billow.billing.run import apply_transitions, bill_subscriptions, due_subscriptions
from billow.config import current_settings
from billow.invoices.grace import FINALIZE_DUE_DRAFTS
from billow.invoices.repository import invoice_repository
from billow.models.invoices import Invoice, InvoiceStatus
from billow.worker.dispatch import task
from billow.worker.scans import SessionFactory, WorkItem, scan

log = logging.getLogger(__name__)


class BillingFailed(RuntimeError):
    """Some failures of a batch could not even be recorded as failed invoices (the job fails and is
    retried)."""


def batches(
    subscription_ids: list[uuid.UUID],
    batch_size: int,
    *,
    customers: Mapping[uuid.UUID, uuid.UUID] | None = None,
) -> list[WorkItem]:
    """Split ``subscription_ids`` into buckets of about ``batch_size`` by a stable hash of their customer's
    id (``customers``: subscription → customer; without it, of the subscription's), so a customer's
    subscriptions are in one batch and billed on one invoice when due at the same instant. The number of
    buckets is a power of two so it changes rarely as the number of due subscriptions moves."""
    if not subscription_ids:
        return []
    buckets = 1
    while buckets * batch_size < len(subscription_ids):
        buckets *= 2
    customers = customers or {}
    grouped: dict[int, list[str]] = {}
    for subscription_id in subscription_ids:
        owner = customers.get(subscription_id, subscription_id)
        grouped.setdefault(owner.int % buckets, []).append(str(subscription_id))
    return [
        WorkItem(key=f"{bucket}/{buckets}", payload=",".join(ids)) for bucket, ids in sorted(grouped.items())
    ]


def bill_batch(session_factory: SessionFactory, item: str, now: datetime) -> int:
    """Bill the invoices due at ``now`` of the comma-separated subscriptions of ``item``; returns how
    many were created. A subscription whose billing fails is recorded as a failed invoice
    (:mod:`billow.billing.failures`) and retried by the next scan: the job succeeds. It raises only when a
    failure could not be recorded (the others are kept; the retry skips what is billed)."""
    ids = [uuid.UUID(part) for part in item.split(",") if part]
    summary = bill_subscriptions(session_factory, ids, now)
    if summary.unrecorded:
        raise BillingFailed("; ".join(summary.unrecorded))
    return summary.invoices_created


#: One subscription is a batch of one (kept for callers that bill a single subscription).
bill_one_subscription = bill_batch


@scan("billing", every=timedelta(minutes=1), each=bill_batch)
def find_due_subscriptions(session_factory: SessionFactory, now: datetime) -> list[WorkItem]:
    """Apply the subscription transitions due at ``now`` (organization by organization if applying them at
    once fails), then list the subscriptions owing an invoice, in batches. A subscription owing more than
    ``BILLOW_MAX_PERIODS_PER_RUN`` periods is listed again by the next scan (a minute later). Batches of
    about ``BILLOW_BILLING_BATCH_SIZE`` subscriptions."""
    apply_transitions(session_factory, now)
    due = termination_credits.and_owed(session_factory, due_subscriptions(session_factory, now))
    size = current_settings().billing_batch_size
    return batches([subscription_id for subscription_id, _ in due], size, customers=dict(due))


# ------------------------------------------------------------------------ pay in advance, progressive


@scan("pay_in_advance_fees", every=timedelta(seconds=10))
def scan_recent(session_factory: SessionFactory, now: datetime) -> PayInAdvanceSummary:
    """Bill the pay-in-advance events of the last hour (timestamps) that have no fee yet."""
    return create_pay_in_advance_fees(session_factory, now, since=now - RECENT)


@scan("pay_in_advance_fees_reconcile", every=timedelta(minutes=15))
def scan_all(session_factory: SessionFactory, now: datetime) -> PayInAdvanceSummary:
    """Bill every pay-in-advance event of the current and previous charges periods without a fee."""
    return create_pay_in_advance_fees(session_factory, now)


@scan("progressive_billing", every=timedelta(minutes=5))
def scan_thresholds(session_factory: SessionFactory, now: datetime) -> ProgressiveSummary:
    """Issue a progressive-billing invoice for every subscription that reached a usage threshold."""
    return bill_thresholds(session_factory, now)


# ------------------------------------------------------------------------------------------ drafts
#
# Each draft is handled in its own transaction after locking its row, so a scan is safe to run
# concurrently with itself and with the API (``PUT /invoices/{id}/finalize`` takes the same lock and finds
# the invoice already finalized). A failure on one invoice is logged and the scan goes on.


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
        session_factory, item, lambda session, invoice: drafts.finalize(session, invoice, now=now)
    )


def refresh_draft(session_factory: SessionFactory, item: str, now: datetime) -> bool:
    return _on_draft(session_factory, item, lambda session, invoice: drafts.refresh(session, invoice))


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


@task(FINALIZE_DUE_DRAFTS)
def finalize_due_drafts(session_factory: SessionFactory, payload: str, now: datetime) -> int:
    """Finalize the organization's drafts whose ``expected_finalization_date`` has come (UTC date, as the
    scan), each in its own transaction under the invoice's lock (queued by :mod:`billow.invoices.grace`)."""
    organization_id = uuid.UUID(payload)
    with session_factory() as session:
        ids = invoice_repository.due_drafts_of(session, organization_id, now.date())
    done = 0
    for invoice_id in ids:
        if finalize_draft(session_factory, f"{organization_id}:{invoice_id}", now):
            done += 1
    return done
