"""The billing run: bill every subscription invoice that is due (:func:`bill_due`).

For each subscription that may owe something, :func:`billow.billing.schedule.due_invoices` lists the
periods due at ``as_of`` (catching up every missed period, oldest first); those whose key is already in
``invoice_subscriptions`` are skipped. The periods of one customer's subscriptions due at the same instant
make **one invoice** (:class:`DueGroup`, :func:`group_due`; as Lago: every subscription billed periodically
at once is on one invoice, and a plan change's closing of the old subscription and start of the new one).
Each invoice is built and written in its **own** transaction, after locking its subscriptions' rows
(``SELECT ... ORDER BY id FOR UPDATE`` on PostgreSQL, a no-op write that takes SQLite's write lock there)
and re-checking their keys under the lock. The unique key per (subscription, reason, period start) on
``invoice_subscriptions`` is the backstop: a violation means another worker billed one of the periods
first; that transaction is rolled back whole (no half invoice) and the periods still unbilled are billed
together again.

**Failures are isolated** (issue 9): a failure while billing one invoice rolls back that invoice only; its
subscriptions' later periods wait for the next run so each subscription's periods are billed in order (the
other subscriptions of a later invoice are billed). The failure is recorded as a failed invoice of the
subscription's oldest period due (:mod:`billow.billing.failures`), retried by every run until it succeeds.
A subscription whose periods cannot even be computed (a stored trial of 10^10 days) is recorded the same
way, its period found without the trial; the transitions that precede a run are applied per organization
when applying them at once fails.

**Bounded catch-up**: a run bills at most ``BILLOW_MAX_PERIODS_PER_RUN`` periods per subscription (the
oldest); the rest is left to the next run (:attr:`BillingSummary.deferred`), so a subscription owing
thousands of periods never holds up the others.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from billow.billing import charge_fees, failures, locks, statistics, termination_credits
from billow.billing.assembly import write_subscription_invoice
from billow.billing.observed import observed_run
from billow.billing.repository import billing_repository, subscription_facts
from billow.billing.run_context import BillingRun
from billow.billing.schedule import (
    DueInvoice,
    InvoicingReason,
    due_invoices,
)
from billow.config import get_settings
from billow.models.organizations import Organization
from billow.subscriptions.service import subscription_service

log = logging.getLogger(__name__)

#: Invoices whose usage is priced together (one aggregation query per charge and plan).
_PREFETCH = 200


@dataclass
class BillingSummary:
    as_of: datetime
    activated: int = 0
    terminated: int = 0
    invoices_created: int = 0
    already_billed: int = 0
    #: Every failure, recorded or not (``key: error``).
    failed: list[str] = field(default_factory=list)
    invoice_ids: list[uuid.UUID] = field(default_factory=list)
    #: The failed invoices written or updated (one per failing period).
    failed_invoice_ids: list[uuid.UUID] = field(default_factory=list)
    #: The failures that could not be recorded as a failed invoice (transitions, recording errors).
    unrecorded: list[str] = field(default_factory=list)
    #: Subscriptions with periods still due after this run (``BILLOW_MAX_PERIODS_PER_RUN`` reached).
    deferred: int = 0

    def __str__(self) -> str:
        text = (
            f"as of {self.as_of.isoformat()}: {self.invoices_created} invoice(s) created, "
            f"{self.already_billed} already billed, {len(self.failed)} failed; "
            f"{self.activated} subscription(s) activated, {self.terminated} terminated"
        )
        if self.deferred:
            text += f"; {self.deferred} subscription(s) with periods left for the next run"
        return text


class Pending(NamedTuple):
    """A subscription with periods due and not billed yet (oldest first)."""

    subscription_id: uuid.UUID
    customer_id: uuid.UUID
    dues: list[DueInvoice]
    #: What else keeps two subscriptions of a customer due at one instant on separate invoices (as Lago):
    #: their purchase order numbers, and ``consolidate_invoice`` false (its own invoice; the subscriptions
    #: of one external id — an upgrade's old and new — stay together).
    invoice_split: tuple[str | None, str | None] = (None, None)
    #: Set when the subscription's periods could not be computed: ``dues`` is then its oldest period due
    #: found without its trial (if any), recorded as failed, not billed.
    error: str | None = None
    #: Periods due beyond the run's bound (billed by the next runs).
    deferred: int = 0


@dataclass(frozen=True)
class DueGroup:
    """One invoice to write: the periods of one customer's subscriptions due at one instant (one period
    per subscription, in the subscriptions' order)."""

    customer_id: uuid.UUID
    due_at: datetime
    dues: tuple[DueInvoice, ...]


@observed_run("scan")
def bill_due(
    session_factory: Callable[[], Session], as_of: datetime, *, organization_id: uuid.UUID | None = None
) -> BillingSummary:
    """Bill every subscription invoice due at or before ``as_of``. Idempotent; safe to run concurrently."""
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    summary = BillingSummary(as_of)
    statistics.refresh_for_run(session_factory)  # the planner must know the period's events
    apply_transitions(session_factory, as_of, summary, organization_id=organization_id)

    with session_factory() as session:
        work = pending_work(session, as_of, organization_id)
    _bill_work(session_factory, work, summary)
    return termination_credits.credit_remaining(session_factory, summary, organization_id=organization_id)


def apply_transitions(
    session_factory: Callable[[], Session],
    as_of: datetime,
    summary: BillingSummary | None = None,
    *,
    organization_id: uuid.UUID | None = None,
) -> BillingSummary:
    """Apply the subscription transitions due at ``as_of`` (activations, terminations, plan changes) in
    one transaction; if that fails, organization by organization, so one organization's failing
    transition does not hold up the others' (its failure is logged and counted, retried next run)."""
    summary = summary or BillingSummary(as_of)
    try:
        with session_factory() as session, session.begin():
            transitions = subscription_service.apply_due_transitions(session, as_of, organization_id)
        summary.activated += len(transitions.activated)
        summary.terminated += len(transitions.terminated)
        return summary
    except Exception:
        if organization_id is not None:
            log.exception("applying the subscription transitions of organization %s failed", organization_id)
            message = f"transitions of organization {organization_id}"
            summary.failed.append(message)
            summary.unrecorded.append(message)
            return summary
        log.warning(
            "applying the subscription transitions failed; applying them organization by organization"
        )
    with session_factory() as session:
        organization_ids = list(session.scalars(select(Organization.id).order_by(Organization.id)))
    for each in organization_ids:
        apply_transitions(session_factory, as_of, summary, organization_id=each)
    return summary


def group_due(work: Sequence[Pending]) -> list[DueGroup]:
    """Group the pending periods into invoices: one per customer and due instant (and purchase order
    number, :attr:`Pending.invoice_split`), periodic periods apart from starts and terminations (as Lago:
    its periodic billing of a customer's subscriptions is one job, a plan change's or a termination's
    billing another: an upgrade's or downgrade's two sides are one invoice, a subscription ending at a
    period boundary is not on the customer's periodic invoice). A subscription with two periods due at one
    instant, which the schedule never makes, would get a second invoice. Oldest first, so numbers follow
    issuing dates; on ties, in the order of ``work``."""
    GroupKey = tuple[uuid.UUID, datetime, int, tuple[str | None, str | None], bool]
    groups: dict[GroupKey, list[DueInvoice]] = {}
    members: dict[GroupKey, set[Hashable]] = defaultdict(set)
    first_position: dict[GroupKey, int] = {}
    for position, pending in enumerate(work):
        for due in pending.dues:
            periodic = due.reason is InvoicingReason.SUBSCRIPTION_PERIODIC
            rank = 0
            key = (pending.customer_id, due.due_at, rank, pending.invoice_split, periodic)
            while pending.subscription_id in members[key]:
                rank += 1
                key = (pending.customer_id, due.due_at, rank, pending.invoice_split, periodic)
            groups.setdefault(key, []).append(due)
            members[key].add(pending.subscription_id)
            first_position.setdefault(key, position)
    # At one instant, a plan change's invoice before the periodic one (the old subscription closes first).
    ordered = sorted(groups, key=lambda key: (key[1], key[2], key[4], first_position[key]))
    return [DueGroup(key[0], key[1], tuple(groups[key])) for key in ordered]


def due_subscriptions(
    session_factory: Callable[[], Session], as_of: datetime, *, organization_id: uuid.UUID | None = None
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """``(subscription_id, customer_id)`` of the subscriptions with at least one invoice due at ``as_of``
    (a worker's batches keep a customer's subscriptions together: :func:`billow.billing.tasks.batches`)."""
    statistics.refresh_for_run(session_factory)  # before the workers plan their queries
    with session_factory() as session:
        return [
            (pending.subscription_id, pending.customer_id)
            for pending in pending_work(session, as_of, organization_id)
        ]


def due_subscription_ids(
    session_factory: Callable[[], Session], as_of: datetime, *, organization_id: uuid.UUID | None = None
) -> list[uuid.UUID]:
    """Subscriptions with at least one invoice due at ``as_of`` (each one a unit of work for a worker)."""
    return [
        subscription_id
        for subscription_id, _ in due_subscriptions(session_factory, as_of, organization_id=organization_id)
    ]


def bill_subscription(
    session_factory: Callable[[], Session], subscription_id: uuid.UUID, as_of: datetime
) -> BillingSummary:
    """Bill the invoices of one subscription due at ``as_of``, oldest first (with the other subscriptions
    of its customer: :func:`bill_subscriptions`). Idempotent; safe to run concurrently with itself and
    with :func:`bill_due` (due subscription transitions are not applied)."""
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    return bill_subscriptions(session_factory, [subscription_id], as_of)


@observed_run("subscriptions")
def bill_subscriptions(
    session_factory: Callable[[], Session], subscription_ids: Sequence[uuid.UUID], as_of: datetime
) -> BillingSummary:
    """Bill the invoices due at ``as_of`` of the customers of ``subscription_ids`` — every subscription of
    those customers, so that the subscriptions due at one instant are on one invoice (an upgrade: the old
    subscription's final period and the new one's first; the customer's other subscriptions due then).
    One scan query, catalog loaded once; invoices oldest first, each subscription's periods in order."""
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    summary = BillingSummary(as_of)
    if not subscription_ids:
        return summary
    given = list(dict.fromkeys(subscription_ids))
    with session_factory() as session:
        customers = billing_repository.customers_of(session, given)
        work = pending_work(session, as_of, None, customer_ids=list(dict.fromkeys(customers.values())))
    # The given subscriptions first on ties (then the rest of their customers'), as asked.
    rank = {subscription_id: position for position, subscription_id in enumerate(given)}
    work.sort(key=lambda pending: rank.get(pending.subscription_id, len(rank)))
    _bill_work(session_factory, work, summary)
    return termination_credits.credit_remaining(session_factory, summary, customer_ids=customers.values())


def _bill_work(
    session_factory: Callable[[], Session], work: Sequence[Pending], summary: BillingSummary
) -> None:
    """Bill ``work`` (:func:`pending_work`): its invoices, and the failed records of the subscriptions whose
    periods could not be computed."""
    errors: dict[uuid.UUID, str] = {}
    for pending in work:
        summary.deferred += 1 if pending.deferred else 0
        if pending.error is not None:
            errors[pending.subscription_id] = pending.error
            if not pending.dues:  # nothing to attach the failure to
                message = f"{pending.subscription_id}: {pending.error}"
                summary.failed.append(message)
                summary.unrecorded.append(message)
    queue = group_due(work)
    _bill_queue(session_factory, queue, summary, errors)
    _log_run(summary, [due for group in queue for due in group.dues])


def _bill_queue(
    session_factory: Callable[[], Session],
    queue: list[DueGroup],
    summary: BillingSummary,
    errors: dict[uuid.UUID, str] | None = None,
) -> None:
    """Bill ``queue`` in order, each invoice in its own transaction. Chunk by chunk (about
    :data:`_PREFETCH` periods), the usage of the chunk's invoices is first priced in batch
    (:func:`billow.billing.charge_fees.prefetch`). ``errors``: subscriptions whose periods could not be
    computed (their period is recorded as failed, not billed)."""
    errors = errors or {}
    failed_subscriptions: set[Hashable] = set()
    run = BillingRun()  # the catalog cache, each chunk's prefetched usage and absence hints
    for chunk in _chunks(queue):
        _prefetch(session_factory, run, chunk, failed_subscriptions | set(errors))
        with _pinned(session_factory) as invoice_sessions:
            _bill_chunk(invoice_sessions, run, chunk, failed_subscriptions, summary, errors)
        run.end_chunk()


@contextmanager
def _pinned(session_factory: Callable[[], Session]) -> Iterator[Callable[[], Session]]:
    """Sessions on ONE database connection for a chunk's invoices (PostgreSQL, a ``sessionmaker`` bound to
    an engine): each invoice is still its own session and transaction (the session begins the
    connection's transaction and commits or rolls it back), but the connection is not taken from the pool
    and pinged for every invoice, and its prepared statements serve the whole chunk. Otherwise
    ``session_factory`` as it is."""
    engine = session_factory.kw.get("bind") if isinstance(session_factory, sessionmaker) else None
    if not isinstance(engine, Engine) or engine.dialect.name != "postgresql":
        yield session_factory
        return
    factory = cast("sessionmaker[Session]", session_factory)
    with engine.connect() as connection:

        def pinned() -> Session:
            return factory(bind=connection, join_transaction_mode="control_fully")

        yield pinned


def _chunks(queue: list[DueGroup]) -> Iterator[list[DueGroup]]:
    chunk: list[DueGroup] = []
    size = 0
    for group in queue:
        chunk.append(group)
        size += len(group.dues)
        if size >= _PREFETCH:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def _bill_chunk(
    session_factory: Callable[[], Session],
    run: BillingRun,
    chunk: list[DueGroup],
    failed_subscriptions: set[Hashable],
    summary: BillingSummary,
    errors: dict[uuid.UUID, str] | None = None,
) -> None:
    errors = errors or {}
    for group in chunk:
        # Keep each subscription's periods in order: after a failure, its later periods wait for the next
        # run (the group's other subscriptions are billed).
        dues = [due for due in group.dues if due.subscription_id not in failed_subscriptions]
        for due in [due for due in dues if due.subscription_id in errors]:
            assert isinstance(due.subscription_id, uuid.UUID)
            summary.failed.append(f"{due.key}: {errors[due.subscription_id]}")
            _record_failure(session_factory, due, errors[due.subscription_id], summary)
            failed_subscriptions.add(due.subscription_id)
        dues = [due for due in dues if due.subscription_id not in errors]
        while dues:
            try:
                invoice_id, already_billed = _bill_group(session_factory, dues, run)
            except Exception as error:  # one invoice fails; the others go on
                # Several subscriptions: those that fail alone are left out, the others billed together.
                culprits = _failing_alone(session_factory, dues, run) if len(dues) > 1 else set()
                if not 0 < len(culprits) < len(dues):
                    culprits = {due.subscription_id for due in dues}
                failing = [due for due in dues if due.subscription_id in culprits]
                keys = ", ".join(str(due.key) for due in failing)
                log.exception("billing %s failed", keys)
                summary.failed.append(f"{keys}: {error!r}")
                failed_subscriptions.update(due.subscription_id for due in failing)
                for due in failing:
                    _record_failure(session_factory, due, failures.describe(error), summary)
                dues = [due for due in dues if due.subscription_id not in culprits]
                continue
            summary.already_billed += already_billed
            if invoice_id is not None:
                summary.invoices_created += 1
                summary.invoice_ids.append(invoice_id)
            break


def _record_failure(
    session_factory: Callable[[], Session], due: DueInvoice, error: str, summary: BillingSummary
) -> None:
    """Record the failure of ``due`` as a failed invoice, in its own transaction (under the subscription's
    row lock, as billing it would be)."""
    session = session_factory()
    try:
        with session.begin():
            locks.lock_subscriptions(session, [due], fresh=True)
            invoice_id = failures.record_failure(session, due, error)
        if invoice_id is not None:
            summary.failed_invoice_ids.append(invoice_id)
    except Exception as failure:
        log.exception("recording the failure of %s failed", due.key)
        summary.unrecorded.append(f"{due.key}: {error} (not recorded: {failure!r})")
    finally:
        session.close()


def _failing_alone(
    session_factory: Callable[[], Session], dues: Sequence[DueInvoice], run: BillingRun | None = None
) -> set[Hashable]:
    """The subscriptions of a failed invoice whose period fails to bill on its own (each tried in a
    transaction that is rolled back: nothing is written, no number consumed)."""
    failing: set[Hashable] = set()
    for due in dues:
        session = session_factory()
        try:
            session.begin()
            subscriptions, billed = locks.lock_subscriptions(session, [due], fresh=True)
            if billed:
                failures.discard_failed(session, billed)
            write_subscription_invoice(session, [(subscriptions[due.subscription_id][0], due)], run=run)
            session.flush()
        except Exception:
            failing.add(due.subscription_id)
        finally:
            session.rollback()
            session.close()
    return failing


def _prefetch(
    session_factory: Callable[[], Session],
    run: BillingRun,
    chunk: list[DueGroup],
    skipped: set[Hashable],
) -> None:
    """Price the usage of the chunk's invoices in batch (each subscription's oldest period) and find their
    absence hints, into ``run``; on any failure the invoices price their own usage."""
    work: dict[uuid.UUID, DueInvoice] = {}
    for group in chunk:
        for due in group.dues:
            subscription_id = due.subscription_id
            assert isinstance(subscription_id, uuid.UUID)
            if subscription_id not in skipped:
                work.setdefault(subscription_id, due)
    if len(work) < 2:
        return
    try:
        with session_factory() as session, session.begin():
            charge_fees.prefetch(session, run, list(work.items()))
            run.absent = billing_repository.absences(session, list(work))
    except Exception:
        log.warning("pricing the usage of %d invoices in batch failed; pricing them one by one", len(work))
        log.debug("batch pricing failure", exc_info=True)
        run.end_chunk()


def _log_run(summary: BillingSummary, dues: Sequence[DueInvoice]) -> None:
    """One info line per run that had something due: the counts and the periods billed (by reason and
    period start, the most frequent first)."""
    if not dues:
        return
    periods = Counter((due.reason.value, due.period_start) for due in dues)
    shown = ", ".join(
        f"{reason} {start.isoformat().replace('+00:00', 'Z')} x{count}"
        for (reason, start), count in periods.most_common(_LOGGED_PERIODS)
    )
    if len(periods) > _LOGGED_PERIODS:
        shown += f", and {len(periods) - _LOGGED_PERIODS} more period(s)"
    log.info("billing run %s; due: %s", summary, shown)


#: Distinct (reason, period start) pairs named in a billing run's log line.
_LOGGED_PERIODS = 10


# ------------------------------------------------------------------------------------------ finding work


def pending_work(
    session: Session,
    as_of: datetime,
    organization_id: uuid.UUID | None,
    *,
    customer_ids: Sequence[uuid.UUID] | None = None,
) -> list[Pending]:
    """Subscriptions that may owe an invoice (active ones; terminated ones not finally billed), of every
    customer or of ``customer_ids``, each with its invoices due at ``as_of`` that are not billed yet. Two
    queries whatever the number of subscriptions (in chunks of :data:`billow.billing.repository.CHUNK`
    customers, and the keys already billed in chunks of as many subscriptions)."""
    candidates: list[Pending] = []
    for row in billing_repository.subscription_rows(session, as_of, organization_id, customer_ids):
        split = (row.purchase_order_number, None if row.consolidate_invoice else row.external_id)
        try:
            due = due_invoices(subscription_facts(row), as_of)
        except Exception as error:  # one subscription's periods; the others go on
            log.exception("computing the periods due of subscription %s failed", row.id)
            candidates.append(
                Pending(row.id, row.customer_id, _fallback_dues(row, as_of), split, failures.describe(error))
            )
            continue
        if due:
            candidates.append(Pending(row.id, row.customer_id, due, split))
    billed = billing_repository.billed_keys(session, [candidate.subscription_id for candidate in candidates])
    bound = max_periods_per_run()
    work = []
    for candidate in candidates:
        keys = billed.get(candidate.subscription_id, set())
        pending = [d for d in candidate.dues if (d.reason.value, d.period_start) not in keys]
        if candidate.error is not None:
            # Recorded as failed: its oldest periodic period (whose key does not depend on the trial).
            periodic = [d for d in pending if d.reason is InvoicingReason.SUBSCRIPTION_PERIODIC]
            work.append(candidate._replace(dues=(periodic or pending)[:1]))
        elif pending:
            work.append(candidate._replace(dues=pending[:bound], deferred=max(len(pending) - bound, 0)))
    return work


def max_periods_per_run() -> int:
    """``BILLOW_MAX_PERIODS_PER_RUN``: the most periods of one subscription a run bills."""
    return max(get_settings().max_periods_per_run, 1)


def _fallback_dues(row: Any, as_of: datetime) -> list[DueInvoice]:
    """The periods due of a subscription whose periods could not be computed, found without its trial
    (what fails with absurd stored trials), to record the failure on; ``[]`` if that fails too."""
    try:
        return due_invoices(subscription_facts(row, with_trial=False), as_of)
    except Exception:
        return []


# ------------------------------------------------------------------------------------------ one invoice

#: Attempts at one invoice when other workers bill some of its periods meanwhile.
_ATTEMPTS = 3


def _bill_group(
    session_factory: Callable[[], Session], dues: Sequence[DueInvoice], run: BillingRun | None = None
) -> tuple[uuid.UUID | None, int]:
    """Write ONE invoice for the periods ``dues`` (one customer, one instant) in its own transaction:
    returns its id (``None`` if every period was billed already) and how many periods were billed already.

    If another worker billed some of the periods between our check and our insert (the unique key
    fails: the whole transaction is rolled back), the periods still unbilled are billed again together."""
    remaining = list(dues)
    already_billed = 0
    for attempt in range(_ATTEMPTS):
        session = session_factory()
        try:
            with session.begin():
                subscriptions, billed = locks.lock_subscriptions(session, remaining, fresh=attempt > 0)
                replaced: uuid.UUID | None = None
                if billed:  # a failed invoice's period is billed again, into that invoice
                    retried, replaced = failures.discard_failed(session, billed)
                    billed -= retried
                todo = [due for due in remaining if due.key not in billed]
                already_billed += len(remaining) - len(todo)
                if not todo:
                    return None, already_billed
                # ``subscriptions`` (and the customer they reference) stay referenced: the session's
                # identity map is weak, and the invoice's ``session.get(Customer, ...)`` then finds it
                # without a query.
                invoice = write_subscription_invoice(
                    session,
                    [(subscriptions[due.subscription_id][0], due) for due in todo],
                    invoice_id=replaced,
                    run=run,
                )
                session.flush()
                del subscriptions
                return invoice.id, already_billed
        except IntegrityError:
            # Another worker billed one of these periods between our check and our insert.
            billed_meanwhile = _billed_in_new_session(session_factory, remaining)
            if not billed_meanwhile:
                raise
            # A period recorded as failed meanwhile is billed again by the next attempt (which reads the
            # keys after the lock and replaces the failed record).
            billed_meanwhile -= _failed_in_new_session(session_factory, billed_meanwhile)
            already_billed += len(billed_meanwhile)
            remaining = [due for due in remaining if due.key not in billed_meanwhile]
            if not remaining:
                return None, already_billed
        finally:
            session.close()
    raise RuntimeError(f"{dues[0].key}: other workers kept billing periods of this invoice")


def _failed_in_new_session(
    session_factory: Callable[[], Session], keys: set[tuple[Hashable, str, datetime]]
) -> set[tuple[Hashable, str, datetime]]:
    with session_factory() as session:
        return set(failures.failed_keys(session, keys))


def _billed_in_new_session(
    session_factory: Callable[[], Session], dues: Sequence[DueInvoice]
) -> set[tuple[Hashable, str, datetime]]:
    with session_factory() as session:
        return billing_repository.billed(session, dues)


__all__ = [
    "BillingSummary",
    "DueGroup",
    "Pending",
    "bill_due",
    "bill_subscription",
    "bill_subscriptions",
    "due_subscription_ids",
    "due_subscriptions",
    "group_due",
    "pending_work",
]
