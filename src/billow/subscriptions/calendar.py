"""Billing periods: which interval of time an instant falls in, for a plan interval and billing time.

Pure: no clock, no database. Periods are computed on the customer's local calendar (its applicable
time zone) and handed back as UTC instants, half-open ``[start, end)``. Lago presents the end as the
last second (``to_datetime = end - 1s``); :meth:`Period.lago_to_datetime` does that at the API edge.

Month-based intervals step from an anchor date: calendar billing anchors on January 1st (monthly
periods start on the 1st, quarters in January/April/July/October...); anniversary billing anchors on
the subscription's local start date. An anchor day that a month lacks is clamped to the month's last
day (Jan 31 → Feb 28/29 → Mar 31: the anchor day is kept, not the clamped one).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

from billow.models.plans import Interval


class BillingTime(StrEnum):
    CALENDAR = "calendar"
    """Periods aligned on the calendar: Monday weeks, months, quarters, halves, years."""
    ANNIVERSARY = "anniversary"
    """Periods aligned on the subscription's start date."""


_MONTHS_PER_STEP = {Interval.MONTHLY: 1, Interval.QUARTERLY: 3, Interval.SEMIANNUAL: 6, Interval.YEARLY: 12}


@dataclass(frozen=True)
class Period:
    start: datetime
    """First instant of the period (aware, UTC)."""
    end: datetime
    """First instant after the period (aware, UTC)."""
    start_date: date
    """Local date of the first day."""
    end_date: date
    """Local date of the first day after the period."""

    @property
    def days(self) -> int:
        """Length in local calendar days (a DST change does not make a day shorter here)."""
        return (self.end_date - self.start_date).days

    @property
    def lago_to_datetime(self) -> datetime:
        return self.end - timedelta(seconds=1)

    def contains(self, instant: datetime) -> bool:
        return self.start <= instant < self.end


def add_months(anchor: date, months: int, day: int | None = None) -> date:
    """``anchor`` moved by ``months``, on ``day`` (default the anchor's), clamped to the month's end."""
    index = anchor.year * 12 + (anchor.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    last = calendar.monthrange(year, month)[1]
    return date(year, month, min(day or anchor.day, last))


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def _make(start: date, end: date, zone: ZoneInfo) -> Period:
    return Period(_local_midnight(start, zone), _local_midnight(end, zone), start, end)


def period_containing(
    instant: datetime,
    *,
    interval: Interval | str,
    billing_time: BillingTime | str,
    anchor: date,
    timezone: str,
) -> Period:
    """The period of the given interval that contains ``instant``.

    ``anchor`` is the subscription's local start date; it matters only for anniversary billing.
    """
    if instant.tzinfo is None:
        raise ValueError("instant must be timezone-aware")
    interval = Interval(interval)
    billing_time = BillingTime(billing_time)
    zone = ZoneInfo(timezone)
    local_day = instant.astimezone(zone).date()

    if interval is Interval.DAILY:
        return _make(local_day, local_day + timedelta(days=1), zone)
    if interval is Interval.WEEKLY:
        weekday = 0 if billing_time is BillingTime.CALENDAR else anchor.weekday()
        start = local_day - timedelta(days=(local_day.weekday() - weekday) % 7)
        return _make(start, start + timedelta(days=7), zone)

    step = _MONTHS_PER_STEP[interval]
    base = date(2000, 1, 1) if billing_time is BillingTime.CALENDAR else anchor
    months = (local_day.year - base.year) * 12 + (local_day.month - base.month)
    k = months // step
    start = add_months(base, k * step)
    if start > local_day:
        k -= 1
        start = add_months(base, k * step)
    end = add_months(base, (k + 1) * step)
    if end <= local_day:  # cannot happen with clamping, kept as a guard for odd anchors
        k += 1
        start, end = end, add_months(base, (k + 1) * step)
    return _make(start, end, zone)


def next_period(
    period: Period, *, interval: Interval | str, billing_time: BillingTime | str, anchor: date, timezone: str
) -> Period:
    return period_containing(
        period.end, interval=interval, billing_time=billing_time, anchor=anchor, timezone=timezone
    )


def trial_end(started_at: datetime, trial_period_days: Decimal | int | None) -> datetime | None:
    """``started_at`` + the plan's trial period (days, possibly fractional); ``None`` without a trial."""
    if not trial_period_days:
        return None
    return started_at + timedelta(days=float(Decimal(trial_period_days)))
