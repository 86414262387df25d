"""The plan (subscription) fee of a billing period (Lago's ``Fees::SubscriptionService``). Pure.

A full period owes the plan's ``amount_cents``. A partial one (the subscription started or ended inside
the period) owes ``round_half_up(amount_cents x days / period_days)`` where ``days`` counts the local
calendar days it covered, **both ends inclusive** (a subscription started on the 15th and terminated on
the 20th covers 6 days). Days of a free trial are not charged: the billed span starts at the trial end.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from billow.kit.money import CONTEXT, round_minor_units
from billow.kit.time import local_date
from billow.subscriptions.calendar import Period


def inclusive_days(first: date, last: date) -> int:
    """Days from ``first`` to ``last``, both counted (``0`` when ``last`` is before ``first``)."""
    return max((last - first).days + 1, 0)


def prorate(amount_cents: int, days: int, period_days: int) -> tuple[int, Decimal]:
    """``(rounded, precise)`` share of ``amount_cents`` for ``days`` of ``period_days``; half-up."""
    if days >= period_days:
        return amount_cents, Decimal(amount_cents)
    if days <= 0:
        return 0, Decimal(0)
    precise = CONTEXT.divide(CONTEXT.multiply(Decimal(amount_cents), Decimal(days)), Decimal(period_days))
    return round_minor_units(precise), precise


@dataclass(frozen=True)
class SubscriptionFee:
    amount_cents: int
    precise_amount_cents: Decimal
    days: int
    """Billed local days (the whole period when full)."""
    period_days: int
    from_datetime: datetime
    """Start of the billed span (after trial)."""
    to_datetime: datetime
    """End of the billed span (exclusive instant)."""

    @property
    def full(self) -> bool:
        return self.days >= self.period_days


def subscription_fee(
    *,
    amount_cents: int,
    period: Period,
    timezone: str,
    started_at: datetime,
    terminated_at: datetime | None = None,
    trial_ended_at: datetime | None = None,
) -> SubscriptionFee:
    """The plan fee owed for ``period`` by a subscription live on ``[started_at, terminated_at)``.

    A span that covers the whole period owes ``amount_cents`` exactly. Otherwise the local days from the
    span's first to its last day are counted inclusively; the last day of a span ending at local midnight
    is the day before (termination at period end is a full period).
    """
    start = max(period.start, started_at)
    if trial_ended_at is not None:
        start = max(start, trial_ended_at)
    end = period.end if terminated_at is None else min(period.end, terminated_at)
    if end <= start:
        return SubscriptionFee(0, Decimal(0), 0, period.days, start, max(start, end))
    if start == period.start and end == period.end:
        return SubscriptionFee(amount_cents, Decimal(amount_cents), period.days, period.days, start, end)
    first = local_date(start, timezone)
    # The last instant of the span is end - ε: a span ending at local midnight ends the previous day.
    last = local_date(end - timedelta(microseconds=1), timezone)
    days = min(inclusive_days(first, last), period.days)
    rounded, precise = prorate(amount_cents, days, period.days)
    return SubscriptionFee(rounded, precise, days, period.days, start, end)
