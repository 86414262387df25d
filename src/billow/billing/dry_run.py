"""What a billing run would bill, without billing it (``billow bill --dry-run``).

The due subscription transitions (pending subscriptions starting, ``ending_at`` reached) are applied in
a transaction that is rolled back, so the answer includes the invoices they make due and nothing is
written.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from billow.billing.run import group_due, pending_work
from billow.billing.schedule import DueInvoice
from billow.models.customers import Customer
from billow.models.subscriptions import Subscription
from billow.subscriptions.service import subscription_service


@dataclass(frozen=True)
class PlannedPeriod:
    external_subscription_id: str
    due: DueInvoice

    def describe(self) -> str:
        """Subscription, reason, period, billed usage window and plan fee period."""
        due = self.due
        usage = (
            f"usage {_iso(due.charges_from)} .. {_iso(due.charges_to)}"
            if due.charges_from is not None and due.charges_to is not None
            else "no usage"
        )
        fee = (
            f"plan fee {_iso(due.fee_period.start)} .. {_iso(due.fee_period.end)}"
            if due.fee_period is not None
            else "no plan fee"
        )
        return (
            f"subscription {self.external_subscription_id}  {due.reason.value}  "
            f"period {_iso(due.period_start)}  {usage}  {fee}"
        )


@dataclass(frozen=True)
class PlannedInvoice:
    """One invoice the run would write: a customer's periods due at one instant, grouped as the run
    groups them (:func:`billow.billing.run.group_due`)."""

    organization_id: uuid.UUID
    external_customer_id: str
    due_at: datetime
    periods: tuple[PlannedPeriod, ...]

    def describe(self) -> str:
        """A line for the invoice (due instant, customer), then an indented line per period."""
        lines = [f"due {_iso(self.due_at)}  customer {self.external_customer_id}"]
        lines.extend(f"  {period.describe()}" for period in self.periods)
        return "\n".join(lines)


def _iso(instant: datetime | None) -> str:
    return "-" if instant is None else instant.isoformat().replace("+00:00", "Z")


def planned_invoices(
    session_factory: Callable[[], Session], as_of: datetime, *, organization_id: uuid.UUID | None = None
) -> list[PlannedInvoice]:
    """The invoices :func:`billow.billing.run.bill_due` would create at ``as_of``, in its order."""
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    session = session_factory()
    try:
        session.begin()
        subscription_service.apply_due_transitions(session, as_of, organization_id)
        session.flush()
        work = pending_work(session, as_of, organization_id)
        ids = [pending.subscription_id for pending in work]
        names = {
            row.id: row
            for start in range(0, len(ids), 1000)
            for row in session.execute(
                select(
                    Subscription.id,
                    Subscription.organization_id,
                    Subscription.external_id,
                    Customer.external_id.label("customer_external_id"),
                )
                .join(Customer, Customer.id == Subscription.customer_id)
                .where(Subscription.id.in_(ids[start : start + 1000]))
            )
        }
    finally:
        session.rollback()
        session.close()
    planned = []
    for group in group_due(work):
        first = names[group.dues[0].subscription_id]
        planned.append(
            PlannedInvoice(
                first.organization_id,
                first.customer_external_id,
                group.due_at,
                tuple(PlannedPeriod(names[due.subscription_id].external_id, due) for due in group.dues),
            )
        )
    return planned
