"""The billing scan: every minute, apply due subscription transitions (activation of pending
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

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta

from billow.billing import termination_credits
from billow.billing.run import apply_transitions, bill_subscriptions, due_subscriptions
from billow.worker.scans import SessionFactory, WorkItem, scan

#: Subscriptions per billing job (a few seconds of work each). Each job has a fixed cost (its scan of
#: pending work, catalog loads, the first batch-pricing chunk, the job's fetch and finish: ~0.1-0.2 s);
#: 500 rather than 100 measured ~10-30 % faster for one worker on 10,000 subscriptions
#: (docs/decisions/0004), and still 32 jobs to share between workers at that size.
BATCH_SIZE = 500


class BillingFailed(RuntimeError):
    """Some failures of a batch could not even be recorded as failed invoices (the job fails and is
    retried)."""


def batches(
    subscription_ids: list[uuid.UUID],
    batch_size: int | None = None,
    *,
    customers: Mapping[uuid.UUID, uuid.UUID] | None = None,
) -> list[WorkItem]:
    """Split ``subscription_ids`` into buckets of about ``batch_size`` by a stable hash of their customer's
    id (``customers``: subscription → customer; without it, of the subscription's), so a customer's
    subscriptions are in one batch and billed on one invoice when due at the same instant. The number of
    buckets is a power of two so it changes rarely as the number of due subscriptions moves."""
    if not subscription_ids:
        return []
    batch_size = batch_size or BATCH_SIZE
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
    once fails), then list the subscriptions owing an invoice or a credit of unused days, in batches. A
    subscription owing more than ``BILLOW_MAX_PERIODS_PER_RUN`` periods is listed again by the next scan
    (a minute later)."""
    apply_transitions(session_factory, now)
    due = termination_credits.and_owed(session_factory, due_subscriptions(session_factory, now))
    return batches([subscription_id for subscription_id, _ in due], customers=dict(due))
