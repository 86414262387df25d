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
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billow.billing.assembly import write_subscription_invoice
from billow.billing.proration import trial_end
from billow.billing.schedule import DueInvoice, SubscriptionFacts, due_invoices
from billow.customers.models import Customer
from billow.invoices.models import (
    InvoiceSubscription,
)
from billow.organizations.models import Organization
from billow.plans.models import Plan
from billow.subscriptions.models import Subscription, SubscriptionStatus
from billow.subscriptions.service import subscription_service

log = logging.getLogger(__name__)


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
    _bill_queue(session_factory, [(due, subscription_id) for due, _, subscription_id in queue], summary)
    return summary


def due_subscription_ids(
    session_factory: Callable[[], Session], as_of: datetime, *, organization_id: uuid.UUID | None = None
) -> list[uuid.UUID]:
    """Subscriptions with at least one invoice due at ``as_of`` (each one a unit of work for a worker)."""
    with session_factory() as session:
        return [subscription_id for subscription_id, _ in _pending_work(session, as_of, organization_id)]


def bill_subscription(
    session_factory: Callable[[], Session], subscription_id: uuid.UUID, as_of: datetime
) -> BillingSummary:
    """Bill the invoices of one subscription due at ``as_of``, oldest first. Idempotent; safe to run
    concurrently with itself and with :func:`bill_due` (due subscription transitions are not applied)."""
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    summary = BillingSummary(as_of)
    with session_factory() as session:
        work = _pending_work(session, as_of, None, subscription_id=subscription_id)
    queue = [(due, sid) for sid, dues in work for due in sorted(dues, key=lambda d: d.due_at)]
    _bill_queue(session_factory, queue, summary)
    return summary


def _bill_queue(
    session_factory: Callable[[], Session],
    queue: list[tuple[DueInvoice, uuid.UUID]],
    summary: BillingSummary,
) -> None:
    failed_subscriptions: set[uuid.UUID] = set()
    for due, subscription_id in queue:
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
    subscription_id: uuid.UUID | None = None,
) -> list[tuple[uuid.UUID, list[DueInvoice]]]:
    """Subscriptions that may owe an invoice (active ones; terminated ones not finally billed)."""
    final_billed = select(InvoiceSubscription.subscription_id).where(
        InvoiceSubscription.invoicing_reason == "subscription_terminating"
    )
    query = (
        select(Subscription, Plan, Customer, Organization)
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
    if subscription_id is not None:
        query = query.where(Subscription.id == subscription_id)
    work = []
    for subscription, plan, customer, organization in session.execute(query).all():
        facts = _facts(subscription, plan, customer.applicable_timezone(organization))
        billed = {
            (row.invoicing_reason, row.period_start)
            for row in session.execute(
                select(InvoiceSubscription.invoicing_reason, InvoiceSubscription.period_start).where(
                    InvoiceSubscription.subscription_id == subscription.id
                )
            )
        }
        due = [d for d in due_invoices(facts, as_of) if (d.reason.value, d.period_start) not in billed]
        if due:
            work.append((subscription.id, due))
    return work


# ------------------------------------------------------------------------------------------ one invoice


def _bill_one(
    session_factory: Callable[[], Session], subscription_id: uuid.UUID, due: DueInvoice
) -> uuid.UUID | None:
    """Write the invoice for ``due`` in its own transaction; ``None`` if it was billed already."""
    session = session_factory()
    try:
        with session.begin():
            subscription = _lock_subscription(session, subscription_id)
            if _already_billed(session, due):
                return None
            invoice = write_subscription_invoice(session, subscription, due)
            session.flush()
            return invoice.id
    except IntegrityError:
        # Another worker billed this period between our check and our insert.
        if _already_billed_in_new_session(session_factory, due):
            return None
        raise
    finally:
        session.close()


def _lock_subscription(session: Session, subscription_id: uuid.UUID) -> Subscription:
    if session.get_bind().dialect.name == "postgresql":
        return session.execute(
            select(Subscription).where(Subscription.id == subscription_id).with_for_update()
        ).scalar_one()
    # SQLite: take the database write lock now (a no-op write), so concurrent runs queue here.
    table = Subscription.__table__
    session.execute(update(table).where(table.c.id == subscription_id).values(updated_at=table.c.updated_at))
    return session.execute(select(Subscription).where(Subscription.id == subscription_id)).scalar_one()


def _already_billed(session: Session, due: DueInvoice) -> bool:
    return (
        session.execute(
            select(InvoiceSubscription.id).where(
                InvoiceSubscription.subscription_id == due.subscription_id,
                InvoiceSubscription.invoicing_reason == due.reason.value,
                InvoiceSubscription.period_start == due.period_start,
            )
        ).first()
        is not None
    )


def _already_billed_in_new_session(session_factory: Callable[[], Session], due: DueInvoice) -> bool:
    with session_factory() as session:
        return _already_billed(session, due)


__all__ = ["BillingSummary", "bill_due", "bill_subscription", "due_subscription_ids"]
