"""Plan changes (Lago's ``PlanUpgradeService``/``PlanDowngradeService``): re-posting an active
subscription's external id with another plan of the same currency is an **upgrade** when the new plan's
yearly amount (:func:`yearly_amount_cents`) is at least the old one's: the old subscription is terminated
now (its final invoice comes with the billing run, which credits a pay-in-advance fee's unused days, the
switch day included) and a new one starts now with the same external id. Otherwise it is a
**downgrade**: a ``pending`` subscription that replaces the active one at the end of its current billing
period; the answer is the active subscription (``next_plan_code``, ``downgrade_plan_date``). A new plan
change replaces a pending downgrade (canceled); terminating the subscription cancels it too."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from billow.kit.time import local_date
from billow.models.credit_notes import CreditNoteReason
from billow.models.customers import Customer
from billow.models.organizations import Organization
from billow.models.plans import Interval, Plan
from billow.models.subscriptions import Subscription, SubscriptionStatus
from billow.subscriptions.calendar import period_containing
from billow.subscriptions.follow_up import bill_after_commit
from billow.subscriptions.repository import DEFAULT_CREDIT_NOTE
from billow.subscriptions.service.common import (
    DEFAULT_TERMINATION_INVOICE,
    announce,
    cancel_pending_plan_change,
    owe_unused_days,
)

#: Periods per year, to compare plans of different intervals (Lago's ``Plan#yearly_amount_cents``).
_PER_YEAR = {
    Interval.WEEKLY: 52,
    Interval.MONTHLY: 12,
    Interval.QUARTERLY: 4,
    Interval.SEMIANNUAL: 2,
    Interval.YEARLY: 1,
}


def yearly_amount_cents(plan: Plan) -> int:
    return plan.amount_cents * _PER_YEAR[Interval(plan.interval)]


def is_upgrade(current: Plan, new: Plan) -> bool:
    """Lago's rule: an upgrade when the new plan's yearly amount is at least the current one's."""
    return yearly_amount_cents(new) >= yearly_amount_cents(current)


@dataclass(frozen=True)
class PlanChangeInput:
    """What a plan change takes from the request (the rest comes from the current subscription)."""

    name: str
    ending_at: datetime | None
    consolidate_invoice: bool
    progressive_billing_disabled: bool
    purchase_order_number: str | None


def upgrade(
    session: Session,
    current: Subscription,
    current_plan: Plan,
    plan: Plan,
    changes: PlanChangeInput,
    now: datetime,
) -> Subscription:
    """Terminate ``current`` now and start the new plan now (Lago's ``PlanUpgradeService``)."""
    cancel_pending_plan_change(session, current, now)
    current.status = SubscriptionStatus.TERMINATED
    current.terminated_at = now
    if current_plan.pay_in_advance:
        if current.on_termination_credit_note is None:
            current.on_termination_credit_note = DEFAULT_CREDIT_NOTE
        owe_unused_days(current, CreditNoteReason.ORDER_CHANGE, now)
    session.flush()  # one active subscription per external id
    new = _next_subscription(current, plan, changes)
    new.status = SubscriptionStatus.ACTIVE
    new.started_at = now
    session.add(new)
    session.flush()
    announce(session, current, "subscription.terminated")
    announce(session, new, "subscription.started")
    # The old subscription's final invoice (which credits its unused days) and the new one's first, in
    # one billing call: the new one consumes the credit.
    bill_after_commit(session, [current.id, new.id], now)
    return new


def downgrade(
    session: Session,
    organization: Organization,
    customer: Customer,
    current: Subscription,
    current_plan: Plan,
    plan: Plan,
    changes: PlanChangeInput,
    now: datetime,
) -> Subscription:
    """Add a pending subscription replacing ``current`` at the end of its billing period (Lago's
    ``PlanDowngradeService``); answer ``current``."""
    assert current.started_at is not None
    cancel_pending_plan_change(session, current, now)
    timezone = customer.applicable_timezone(organization)
    period = period_containing(
        now,
        interval=current_plan.interval,
        billing_time=current.billing_time,
        anchor=local_date(current.started_at, timezone),
        timezone=timezone,
    )
    new = _next_subscription(current, plan, changes)
    new.status = SubscriptionStatus.PENDING
    new.plan_change_at = period.end
    session.add(new)
    session.flush()
    return current


def _next_subscription(current: Subscription, plan: Plan, changes: PlanChangeInput) -> Subscription:
    return Subscription(
        organization_id=current.organization_id,
        customer_id=current.customer_id,
        plan_id=plan.id,
        external_id=current.external_id,
        name=changes.name,
        billing_time=current.billing_time,
        subscription_at=current.subscription_at,
        ending_at=changes.ending_at,
        previous_subscription_id=current.id,
        on_termination_invoice=DEFAULT_TERMINATION_INVOICE,
        progressive_billing_disabled=changes.progressive_billing_disabled,
        consolidate_invoice=changes.consolidate_invoice,
        purchase_order_number=changes.purchase_order_number,
    )
