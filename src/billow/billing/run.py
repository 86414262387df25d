"""The billing run: bill every subscription invoice that is due (:func:`bill_due`).

For each subscription that may owe something, :func:`billow.billing.schedule.due_invoices` lists the
invoices due at ``as_of`` (catching up every missed period, oldest first); those whose key is already in
``invoice_subscriptions`` are skipped. Each remaining invoice is built and written in its **own**
transaction, after locking the subscription row (``SELECT ... FOR UPDATE`` on PostgreSQL, a no-op write
that takes SQLite's write lock there) and re-checking the key under the lock. The unique key on
``invoice_subscriptions`` is the backstop: a violation means another worker billed the period first; that
transaction is rolled back and the run goes on. A failure while billing one invoice rolls back that
invoice only; the subscription's later invoices wait for the next run so periods are billed in order.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Exists, exists, func, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billow.billing import charge_fees, statistics
from billow.billing import run_cache as run_cache_module
from billow.billing.assembly import write_subscription_invoice
from billow.billing.proration import trial_end
from billow.billing.run_cache import run_cache
from billow.billing.schedule import DueInvoice, SubscriptionFacts, due_invoices
from billow.credit_notes.models import CreditNote, CreditStatus
from billow.customers.models import Customer
from billow.invoices.models import Invoice, InvoiceSubscription
from billow.organizations.models import Organization
from billow.plans.models import Plan, UsageThreshold
from billow.subscriptions.models import Subscription, SubscriptionStatus
from billow.subscriptions.service import subscription_service

log = logging.getLogger(__name__)

#: Subscriptions per ``IN (...)`` list (SQLite allows 32,766 parameters per statement).
_CHUNK = 1000
#: Invoices whose usage is priced together (one aggregation query per charge and plan).
_PREFETCH = 200


@dataclass
class BillingSummary:
    as_of: datetime
    activated: int = 0
    terminated: int = 0
    invoices_created: int = 0
    already_billed: int = 0
    failed: list[str] = field(default_factory=list)
    invoice_ids: list[uuid.UUID] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"as of {self.as_of.isoformat()}: {self.invoices_created} invoice(s) created, "
            f"{self.already_billed} already billed, {len(self.failed)} failed; "
            f"{self.activated} subscription(s) activated, {self.terminated} terminated"
        )


def bill_due(
    session_factory: Callable[[], Session], as_of: datetime, *, organization_id: uuid.UUID | None = None
) -> BillingSummary:
    """Bill every subscription invoice due at or before ``as_of``. Idempotent; safe to run concurrently."""
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    summary = BillingSummary(as_of)
    statistics.refresh_for_run(session_factory)  # the planner must know the period's events
    with session_factory() as session, session.begin():
        transitions = subscription_service.apply_due_transitions(session, as_of, organization_id)
        summary.activated, summary.terminated = len(transitions.activated), len(transitions.terminated)

    with session_factory() as session:
        work = _pending_work(session, as_of, organization_id)

    # Oldest first across subscriptions, so numbers follow issuing dates.
    queue = sorted(
        (
            (due, position, subscription_id)
            for position, (subscription_id, dues) in enumerate(work)
            for due in dues
        ),
        key=lambda item: (item[0].due_at, item[1]),
    )
    with run_cache():
        _bill_queue(session_factory, [(due, subscription_id) for due, _, subscription_id in queue], summary)
    return summary


def due_subscription_ids(
    session_factory: Callable[[], Session], as_of: datetime, *, organization_id: uuid.UUID | None = None
) -> list[uuid.UUID]:
    """Subscriptions with at least one invoice due at ``as_of`` (each one a unit of work for a worker)."""
    statistics.refresh_for_run(session_factory)  # before the workers plan their queries
    with session_factory() as session:
        return [subscription_id for subscription_id, _ in _pending_work(session, as_of, organization_id)]


def bill_subscription(
    session_factory: Callable[[], Session], subscription_id: uuid.UUID, as_of: datetime
) -> BillingSummary:
    """Bill the invoices of one subscription due at ``as_of``, oldest first. Idempotent; safe to run
    concurrently with itself and with :func:`bill_due` (due subscription transitions are not applied)."""
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    return bill_subscriptions(session_factory, [subscription_id], as_of)


def bill_subscriptions(
    session_factory: Callable[[], Session], subscription_ids: Sequence[uuid.UUID], as_of: datetime
) -> BillingSummary:
    """:func:`bill_subscription` for a batch of subscriptions (one scan query, catalog loaded once):
    each subscription's invoices oldest first, subscriptions in the given order."""
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    summary = BillingSummary(as_of)
    if not subscription_ids:
        return summary
    with session_factory() as session:
        work = dict(_pending_work(session, as_of, None, subscription_ids=subscription_ids))
    queue = [
        (due, sid)
        for sid in dict.fromkeys(subscription_ids)
        for due in sorted(work.get(sid, ()), key=lambda d: d.due_at)
    ]
    with run_cache():
        _bill_queue(session_factory, queue, summary)
    return summary


def _bill_queue(
    session_factory: Callable[[], Session],
    queue: list[tuple[DueInvoice, uuid.UUID]],
    summary: BillingSummary,
) -> None:
    """Bill ``queue`` in order, each invoice in its own transaction. Chunk by chunk, the usage of the
    chunk's invoices is first priced in batch (:func:`billow.billing.charge_fees.prefetch`)."""
    failed_subscriptions: set[uuid.UUID] = set()
    with charge_fees.prefetch_scope():
        for start in range(0, len(queue), _PREFETCH):
            chunk = queue[start : start + _PREFETCH]
            hints = _prefetch(session_factory, chunk, failed_subscriptions)
            with run_cache_module.absence_hints(hints):
                _bill_chunk(session_factory, chunk, failed_subscriptions, summary)
            charge_fees.clear_prefetched()


def _bill_chunk(
    session_factory: Callable[[], Session],
    chunk: list[tuple[DueInvoice, uuid.UUID]],
    failed_subscriptions: set[uuid.UUID],
    summary: BillingSummary,
) -> None:
    for due, subscription_id in chunk:
        if subscription_id in failed_subscriptions:
            continue  # keep this subscription's periods in order: the rest waits for the next run
        try:
            outcome = _bill_one(session_factory, subscription_id, due)
        except Exception as error:  # one invoice fails; the others go on
            log.exception("billing %s failed", due.key)
            summary.failed.append(f"{due.key}: {error!r}")
            failed_subscriptions.add(subscription_id)
            continue
        if outcome is None:
            summary.already_billed += 1
        else:
            summary.invoices_created += 1
            summary.invoice_ids.append(outcome)


def _prefetch(
    session_factory: Callable[[], Session],
    chunk: list[tuple[DueInvoice, uuid.UUID]],
    skipped: set[uuid.UUID],
) -> None:
    """Price the usage of the chunk's invoices in batch (each subscription's oldest one); on any failure
    the invoices price their own usage."""
    work: dict[uuid.UUID, DueInvoice] = {}
    for due, subscription_id in chunk:
        if subscription_id not in skipped:
            work.setdefault(subscription_id, due)
    if len(work) < 2:
        return {}
    try:
        with session_factory() as session, session.begin():
            charge_fees.prefetch(session, list(work.items()))
            return _absences(session, list(work))
    except Exception:
        log.warning("pricing the usage of %d invoices in batch failed; pricing them one by one", len(work))
        log.debug("batch pricing failure", exc_info=True)
        charge_fees.clear_prefetched()
        return {}


def _absences(session: Session, subscription_ids: list[uuid.UUID]) -> dict[str, set[Hashable]]:
    """Which of the chunk's customers have no credit note to consume, and which subscriptions have no
    progressive billing to deduct (no progressive invoice, no threshold on the plan): three queries for
    the chunk instead of two per invoice (:mod:`billow.billing.run_cache`)."""
    rows = session.execute(
        select(Subscription.id, Subscription.customer_id, Subscription.plan_id).where(
            Subscription.id.in_(subscription_ids)
        )
    ).all()
    customers = {row.customer_id for row in rows}
    with_credit = set(
        session.scalars(
            select(CreditNote.customer_id)
            .where(
                CreditNote.customer_id.in_(customers),
                CreditNote.credit_status == CreditStatus.AVAILABLE,
                CreditNote.balance_amount_cents > 0,
            )
            .distinct()
        )
    )
    plans = {row.plan_id for row in rows}
    plans_with_thresholds = set(
        session.scalars(select(UsageThreshold.plan_id).where(UsageThreshold.plan_id.in_(plans)).distinct())
    )
    with_progressive = set(
        session.scalars(
            select(InvoiceSubscription.subscription_id)
            .join(Invoice, Invoice.id == InvoiceSubscription.invoice_id)
            .where(
                InvoiceSubscription.subscription_id.in_(subscription_ids),
                Invoice.invoice_type == "progressive_billing",
            )
            .distinct()
        )
    )
    return {
        "credit_notes": set(customers - with_credit),
        "progressive_billing": {
            row.id
            for row in rows
            if row.plan_id not in plans_with_thresholds and row.id not in with_progressive
        },
    }


# ------------------------------------------------------------------------------------------ finding work


def _facts(subscription: Subscription, plan: Plan, timezone: str) -> SubscriptionFacts:
    assert subscription.started_at is not None
    return SubscriptionFacts(
        id=subscription.id,
        started_at=subscription.started_at,
        interval=plan.interval,
        billing_time=subscription.billing_time,
        timezone=timezone,
        pay_in_advance=plan.pay_in_advance,
        bill_charges_monthly=plan.bill_charges_monthly,
        terminated_at=subscription.terminated_at,
        trial_ended_at=trial_end(subscription.started_at, plan.trial_period),
    )


def _pending_work(
    session: Session,
    as_of: datetime,
    organization_id: uuid.UUID | None,
    *,
    subscription_ids: Sequence[uuid.UUID] | None = None,
) -> list[tuple[uuid.UUID, list[DueInvoice]]]:
    """Subscriptions that may owe an invoice (active ones; terminated ones not finally billed), each with
    its invoices due at ``as_of`` that are not billed yet. Two queries whatever the number of
    subscriptions (the keys already billed are read in chunks of :data:`_CHUNK` subscriptions)."""
    final_billed = select(InvoiceSubscription.subscription_id).where(
        InvoiceSubscription.invoicing_reason == "subscription_terminating"
    )
    query = (
        select(
            Subscription.id,
            Subscription.started_at,
            Subscription.billing_time,
            Subscription.terminated_at,
            Plan.interval,
            Plan.pay_in_advance,
            Plan.bill_charges_monthly,
            Plan.trial_period,
            Customer.timezone,
            Organization.timezone,
        )
        .join(Plan, Plan.id == Subscription.plan_id)
        .join(Customer, Customer.id == Subscription.customer_id)
        .join(Organization, Organization.id == Subscription.organization_id)
        .where(
            Subscription.started_at.is_not(None),
            Subscription.started_at <= as_of,
            (Subscription.status == SubscriptionStatus.ACTIVE)
            | (
                (Subscription.status == SubscriptionStatus.TERMINATED)
                & (Subscription.on_termination_invoice != "skip")
                & Subscription.id.not_in(final_billed)
            ),
        )
        .order_by(Subscription.started_at, Subscription.id)
    )
    if organization_id is not None:
        query = query.where(Subscription.organization_id == organization_id)
    candidates: list[tuple[uuid.UUID, list[DueInvoice]]] = []
    chunks = (
        [list(subscription_ids[i : i + _CHUNK]) for i in range(0, len(subscription_ids), _CHUNK)]
        if subscription_ids is not None
        else [None]
    )
    for chunk in chunks:
        chunk_query = query if chunk is None else query.where(Subscription.id.in_(chunk))
        for row in session.execute(chunk_query):
            facts = SubscriptionFacts(
                id=row[0],
                started_at=row.started_at,
                interval=row.interval,
                billing_time=row.billing_time,
                timezone=row[8] or row[9] or "UTC",
                pay_in_advance=row.pay_in_advance,
                bill_charges_monthly=row.bill_charges_monthly,
                terminated_at=row.terminated_at,
                trial_ended_at=trial_end(row.started_at, row.trial_period),
            )
            due = due_invoices(facts, as_of)
            if due:
                candidates.append((row[0], due))
    billed = _billed_keys(session, [subscription_id for subscription_id, _ in candidates])
    work = []
    for subscription_id, due in candidates:
        keys = billed.get(subscription_id, set())
        pending = [d for d in due if (d.reason.value, d.period_start) not in keys]
        if pending:
            work.append((subscription_id, pending))
    return work


def _billed_keys(
    session: Session, subscription_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, set[tuple[str, datetime]]]:
    billed: dict[uuid.UUID, set[tuple[str, datetime]]] = defaultdict(set)
    for start in range(0, len(subscription_ids), _CHUNK):
        rows = session.execute(
            select(
                InvoiceSubscription.subscription_id,
                InvoiceSubscription.invoicing_reason,
                InvoiceSubscription.period_start,
            ).where(InvoiceSubscription.subscription_id.in_(subscription_ids[start : start + _CHUNK]))
        )
        for subscription_id, reason, period_start in rows:
            billed[subscription_id].add((reason, period_start))
    return billed


# ------------------------------------------------------------------------------------------ one invoice


def _bill_one(
    session_factory: Callable[[], Session], subscription_id: uuid.UUID, due: DueInvoice
) -> uuid.UUID | None:
    """Write the invoice for ``due`` in its own transaction; ``None`` if it was billed already."""
    session = session_factory()
    try:
        with session.begin():
            subscription, customer, billed = _lock_subscription(session, subscription_id, due)
            if billed:
                return None
            # ``customer`` stays referenced: the session's identity map is weak, and the invoice's
            # ``session.get(Customer, ...)`` then finds it without a query.
            invoice = write_subscription_invoice(session, subscription, due)
            del customer
            session.flush()
            return invoice.id
    except IntegrityError:
        # Another worker billed this period between our check and our insert.
        if _already_billed_in_new_session(session_factory, due):
            return None
        raise
    finally:
        session.close()


def _lock_subscription(
    session: Session, subscription_id: uuid.UUID, due: DueInvoice
) -> tuple[Subscription, Customer | None, bool]:
    """Lock the subscription's row for this transaction and tell whether ``due`` is billed already.

    PostgreSQL: one statement, which also loads the customer and plans the rest of the transaction's
    statements for their parameters and the tables' current size (``plan_cache_mode``, as metering does):
    psycopg prepares a statement after a few executions, and a generic plan made while ``fees`` or
    ``invoices`` were small (a new installation, the first run after a growth) keeps scanning them whole
    as they grow (measured: the 10,000th invoice of a run from empty tables cost 3x the first).

    The "billed" answer comes from the statement's snapshot: if the lock had to wait for another worker
    that has just billed the period, it says "not billed" and the invoice's insert then fails on the
    period's unique key (handled by :func:`_bill_one`), so the answer is a shortcut, never the guard.
    """
    if session.get_bind().dialect.name == "postgresql":
        row = session.execute(
            select(Subscription, Customer, _billed_clause(due), _CUSTOM_PLANS)
            .join(Customer, Customer.id == Subscription.customer_id)
            .where(Subscription.id == subscription_id)
            .with_for_update(of=Subscription)
        ).one()
        return row[0], row[1], bool(row[2])
    # SQLite: take the database write lock now (a no-op write), so concurrent runs queue here.
    table = Subscription.__table__
    session.execute(update(table).where(table.c.id == subscription_id).values(updated_at=table.c.updated_at))
    subscription = session.execute(
        select(Subscription).where(Subscription.id == subscription_id)
    ).scalar_one()
    return subscription, None, _already_billed(session, due)


_CUSTOM_PLANS = func.set_config("plan_cache_mode", "force_custom_plan", True)


def _billed_clause(due: DueInvoice) -> Exists:
    # The reason is written into the SQL, not bound: the period's unique index is partial (on the
    # reasons other than in-advance charges and progressive billing), and a generic plan, which
    # psycopg's prepared statement gets after a few executions, can only use it when the reason is a
    # constant; with a parameter it scans every invoice_subscriptions row, for every invoice.
    return exists().where(
        InvoiceSubscription.subscription_id == due.subscription_id,
        InvoiceSubscription.invoicing_reason == literal(due.reason.value, literal_execute=True),
        InvoiceSubscription.period_start == due.period_start,
    )


def _already_billed(session: Session, due: DueInvoice) -> bool:
    return bool(session.execute(select(_billed_clause(due))).scalar())


def _already_billed_in_new_session(session_factory: Callable[[], Session], due: DueInvoice) -> bool:
    with session_factory() as session:
        return _already_billed(session, due)


__all__ = [
    "BillingSummary",
    "bill_due",
    "bill_subscription",
    "bill_subscriptions",
    "due_subscription_ids",
]
