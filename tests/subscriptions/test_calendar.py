from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billow.models.plans import Interval
from billow.subscriptions.calendar import add_months, next_period, period_containing


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def period(
    instant: datetime,
    interval: str,
    billing_time: str = "calendar",
    anchor: date = date(2024, 1, 1),
    timezone: str = "UTC",
):
    return period_containing(
        instant, interval=interval, billing_time=billing_time, anchor=anchor, timezone=timezone
    )


class TestCalendar:
    @pytest.mark.parametrize(
        ("instant", "interval", "start", "end"),
        [
            (utc(2024, 2, 15, 12), "monthly", utc(2024, 2, 1), utc(2024, 3, 1)),
            (utc(2024, 2, 1), "monthly", utc(2024, 2, 1), utc(2024, 3, 1)),
            (utc(2024, 2, 29, 23, 59, 59), "monthly", utc(2024, 2, 1), utc(2024, 3, 1)),
            (utc(2024, 5, 20), "quarterly", utc(2024, 4, 1), utc(2024, 7, 1)),
            (utc(2024, 12, 31), "quarterly", utc(2024, 10, 1), utc(2025, 1, 1)),
            (utc(2024, 8, 1), "semiannual", utc(2024, 7, 1), utc(2025, 1, 1)),
            (utc(2024, 6, 30), "semiannual", utc(2024, 1, 1), utc(2024, 7, 1)),
            (utc(2024, 8, 1), "yearly", utc(2024, 1, 1), utc(2025, 1, 1)),
            (utc(2024, 8, 1, 13), "daily", utc(2024, 8, 1), utc(2024, 8, 2)),
            # 2024-08-01 is a Thursday: the calendar week starts on Monday July 29th.
            (utc(2024, 8, 1), "weekly", utc(2024, 7, 29), utc(2024, 8, 5)),
            (utc(2024, 7, 29), "weekly", utc(2024, 7, 29), utc(2024, 8, 5)),
        ],
    )
    def test_utc(self, instant: datetime, interval: str, start: datetime, end: datetime) -> None:
        p = period(instant, interval)
        assert (p.start, p.end) == (start, end)

    def test_days(self) -> None:
        assert period(utc(2024, 2, 10), "monthly").days == 29
        assert period(utc(2023, 2, 10), "monthly").days == 28
        assert period(utc(2024, 2, 10), "quarterly").days == 31 + 29 + 31
        assert period(utc(2024, 2, 10), "yearly").days == 366
        assert period(utc(2024, 2, 10), "weekly").days == 7

    def test_lago_to_datetime(self) -> None:
        assert period(utc(2022, 7, 10), "monthly").lago_to_datetime == utc(2022, 7, 31, 23, 59, 59)

    def test_customer_timezone(self) -> None:
        # 2024-03-01T02:00Z is still February 29th in New York (UTC-5).
        p = period(utc(2024, 3, 1, 2), "monthly", timezone="America/New_York")
        assert (p.start, p.end) == (utc(2024, 2, 1, 5), utc(2024, 3, 1, 5))
        # Paris is UTC+1 in winter: March starts at 23:00Z on Feb 29th.
        p = period(utc(2024, 2, 29, 23, 30), "monthly", timezone="Europe/Paris")
        assert p.start_date == date(2024, 3, 1)
        assert p.start == utc(2024, 2, 29, 23)

    def test_dst_month_keeps_day_count(self) -> None:
        # Paris moves to summer time on 2024-03-31: the month is 31 local days, 743 hours long.
        p = period(utc(2024, 3, 15), "monthly", timezone="Europe/Paris")
        assert p.days == 31
        assert (p.end - p.start).total_seconds() == 743 * 3600
        assert p.end == utc(2024, 3, 31, 22)


class TestAnniversary:
    @pytest.mark.parametrize(
        ("anchor", "instant", "start", "end"),
        [
            (date(2024, 1, 15), utc(2024, 3, 20), date(2024, 3, 15), date(2024, 4, 15)),
            (date(2024, 1, 15), utc(2024, 3, 10), date(2024, 2, 15), date(2024, 3, 15)),
            # Jan 31 anchor: February clamps to the 29th, March goes back to the 31st.
            (date(2024, 1, 31), utc(2024, 2, 29, 12), date(2024, 2, 29), date(2024, 3, 31)),
            (date(2024, 1, 31), utc(2024, 2, 28, 12), date(2024, 1, 31), date(2024, 2, 29)),
            (date(2023, 1, 31), utc(2023, 3, 1), date(2023, 2, 28), date(2023, 3, 31)),
            (date(2024, 1, 31), utc(2024, 4, 30), date(2024, 4, 30), date(2024, 5, 31)),
        ],
    )
    def test_monthly(self, anchor: date, instant: datetime, start: date, end: date) -> None:
        p = period(instant, "monthly", "anniversary", anchor)
        assert (p.start_date, p.end_date) == (start, end)

    def test_yearly_leap_day(self) -> None:
        p = period(utc(2025, 3, 1), "yearly", "anniversary", date(2024, 2, 29))
        assert (p.start_date, p.end_date) == (date(2025, 2, 28), date(2026, 2, 28))
        p = period(utc(2028, 2, 29, 5), "yearly", "anniversary", date(2024, 2, 29))
        assert (p.start_date, p.end_date) == (date(2028, 2, 29), date(2029, 2, 28))

    def test_quarterly(self) -> None:
        p = period(utc(2024, 6, 1), "quarterly", "anniversary", date(2024, 2, 10))
        assert (p.start_date, p.end_date) == (date(2024, 5, 10), date(2024, 8, 10))

    def test_weekly_on_anchor_weekday(self) -> None:
        # 2023-06-16 is a Friday.
        p = period(utc(2023, 6, 20), "weekly", "anniversary", date(2023, 6, 16))
        assert (p.start_date, p.end_date) == (date(2023, 6, 16), date(2023, 6, 23))

    def test_before_anchor(self) -> None:
        p = period(utc(2023, 12, 20), "monthly", "anniversary", date(2024, 1, 15))
        assert (p.start_date, p.end_date) == (date(2023, 12, 15), date(2024, 1, 15))


def test_add_months_clamps_from_original_day() -> None:
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2024, 1, 31), 2) == date(2024, 3, 31)
    assert add_months(date(2024, 11, 30), 3) == date(2025, 2, 28)
    assert add_months(date(2024, 3, 15), -3) == date(2023, 12, 15)


instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2060, 1, 1), timezones=st.just(UTC)
)
anchors = st.dates(min_value=date(2000, 1, 1), max_value=date(2060, 1, 1))
zones = st.sampled_from(
    ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Pacific/Auckland", "America/Santiago"]
)


@given(
    instants, st.sampled_from(list(Interval)), st.sampled_from(["calendar", "anniversary"]), anchors, zones
)
def test_periods_contain_instant_and_tile(
    instant: datetime, interval: Interval, billing_time: str, anchor: date, zone: str
) -> None:
    p = period(instant, interval, billing_time, anchor, zone)
    assert p.contains(instant)
    assert p.days >= 1
    following = next_period(p, interval=interval, billing_time=billing_time, anchor=anchor, timezone=zone)
    assert following.start == p.end  # no gap, no overlap: nothing is billed twice or skipped
    assert following.start_date == p.end_date
