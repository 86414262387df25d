"""The billing and charges periods of a subscription (pure; callers pass the time zone and the instant)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from billow.models.plans import MONTHLY_CHARGES_INTERVALS, Interval
from billow.models.subscriptions import Subscription
from billow.subscriptions.calendar import Period, period_containing

#: Plans whose usage charges may be billed monthly while the plan fee stays on the plan interval.


@dataclass(frozen=True)
class UsageWindow:
    """The part of a period during which a subscription was live: ``[from_datetime, to_datetime)``."""

    period: Period
    from_datetime: datetime
    to_datetime: datetime


def charges_interval(plan_interval: str, bill_charges_monthly: bool | None) -> Interval:
    interval = Interval(plan_interval)
    if bill_charges_monthly and interval in MONTHLY_CHARGES_INTERVALS:
        return Interval.MONTHLY
    return interval


def charges_window(
    subscription: Subscription,
    *,
    plan_interval: str,
    bill_charges_monthly: bool | None,
    timezone: str,
    at: datetime,
) -> UsageWindow:
    """The charges period containing ``at``, clipped to the subscription's life.

    The anniversary anchor is the subscription's start date on the customer's local calendar.
    """
    start = subscription.started_at or subscription.subscription_at
    anchor = start.astimezone(ZoneInfo(timezone)).date()
    period = period_containing(
        at,
        interval=charges_interval(plan_interval, bill_charges_monthly),
        billing_time=subscription.billing_time,
        anchor=anchor,
        timezone=timezone,
    )
    from_datetime = max(period.start, start)
    to_datetime = period.end
    if subscription.terminated_at is not None:
        to_datetime = min(to_datetime, subscription.terminated_at)
    return UsageWindow(period, from_datetime, to_datetime)


@dataclass(frozen=True)
class BillingPeriodBounds:
    started_at: datetime | None
    ending_at: datetime | None


def current_billing_period(
    subscription: Subscription,
    *,
    plan_interval: str,
    bill_charges_monthly: bool | None,
    timezone: str,
    now: datetime,
) -> BillingPeriodBounds:
    """The charges period of the subscription at ``now``, as Lago presents it.

    Starts at the period start or ``started_at`` (the later), ends at the period's last second or
    ``terminated_at``. Not started yet (pending, canceled): both ``None``. A subscription that started
    in the future of ``now`` is shown its first period; a terminated one the period in which it ended.
    """
    started_at = subscription.started_at
    if started_at is None:
        return BillingPeriodBounds(None, None)
    at = max(now, started_at)
    if subscription.terminated_at is not None:
        at = min(at, max(subscription.terminated_at - timedelta(microseconds=1), started_at))
    window = charges_window(
        subscription,
        plan_interval=plan_interval,
        bill_charges_monthly=bill_charges_monthly,
        timezone=timezone,
        at=at,
    )
    ending = window.period.lago_to_datetime if window.to_datetime == window.period.end else window.to_datetime
    return BillingPeriodBounds(window.from_datetime, max(ending, window.from_datetime))
