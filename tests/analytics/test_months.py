"""Pure month arithmetic and MRR normalization, hand-computed."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from billow.analytics.months import (
    add_months,
    month_label,
    period,
    spread,
    to_cents,
    units_text,
    weekly_mrr,
    window_start,
)


class TestAddMonths:
    def test_forward_across_a_year(self) -> None:
        # 2023-11 + 3: index 2023*12+10+3 = 24289 -> year 24289 // 12 = 2024, month 24289 % 12 + 1 = 2
        assert add_months((2023, 11), 3) == (2024, 2)

    def test_backward_across_a_year(self) -> None:
        # 2024-01 - 1 = 2023-12; 2024-03 - 14 = 2023-01
        assert add_months((2024, 1), -1) == (2023, 12)
        assert add_months((2024, 3), -14) == (2023, 1)


class TestWindowStart:
    def test_months_count_the_current_one(self) -> None:
        # 3 months on 2024-02-15: February, January, December -> starts 2023-12-01
        assert window_start(date(2024, 2, 15), 3) == date(2023, 12, 1)
        assert window_start(date(2024, 2, 29), 1) == date(2024, 2, 1)

    def test_absent_means_every_month(self) -> None:
        assert window_start(date(2024, 2, 15), None) is None


def test_month_label_is_the_first_instant() -> None:
    assert month_label((2023, 11)) == "2023-11-01T00:00:00.000Z"
    assert month_label((987, 2)) == "0987-02-01T00:00:00.000Z"


class TestSpread:
    def test_monthly_stays_in_its_month(self) -> None:
        assert spread(Decimal(1000), (2024, 1), "monthly") == [((2024, 1), Decimal(1000))]

    def test_quarterly_in_thirds(self) -> None:
        # 10000 / 3 = 3333.33... each, over 2023-12, 2024-01, 2024-02
        third = Decimal(10000) / 3
        assert spread(Decimal(10000), (2023, 12), "quarterly") == [
            ((2023, 12), third),
            ((2024, 1), third),
            ((2024, 2), third),
        ]
        assert to_cents(third) == 3333

    def test_semiannual_and_yearly(self) -> None:
        # 6000 / 6 = 1000 per month over 6 months; 12000 / 12 = 1000 over 12 (2024-05 .. 2025-04)
        assert [share for _, share in spread(Decimal(6000), (2024, 1), "semiannual")] == [Decimal(1000)] * 6
        yearly = spread(Decimal(12000), (2024, 5), "yearly")
        assert [month for month, _ in yearly][-1] == (2025, 4)
        assert {share for _, share in yearly} == {Decimal(1000)}

    def test_unknown_interval_is_a_programming_error(self) -> None:
        with pytest.raises(KeyError):
            spread(Decimal(1), (2024, 1), "daily")


class TestWeeklyMrr:
    def test_average_weekly_fee_times_52_over_12(self) -> None:
        # fees 1000, 1000, 1200, 1200: average 1100; 1100 * 52 / 12 = 57200 / 12 = 4766.66... -> 4767
        assert to_cents(weekly_mrr([Decimal(1000), Decimal(1000), Decimal(1200), Decimal(1200)])) == 4767

    def test_one_fee(self) -> None:
        # 1200 * 52 / 12 = 5200 exactly
        assert to_cents(weekly_mrr([Decimal(1200)])) == 5200

    def test_no_fee(self) -> None:
        assert weekly_mrr([]) == Decimal(0)


def test_to_cents_rounds_half_up() -> None:
    # 12.5 -> 13; 12.49 -> 12
    assert to_cents(Decimal("12.5")) == 13
    assert to_cents(Decimal("12.49")) == 12


class TestPeriod:
    def test_daily(self) -> None:
        assert period(date(2024, 2, 29), "daily") == (date(2024, 2, 29), date(2024, 2, 29))

    def test_weekly_monday_to_sunday(self) -> None:
        # 2024-03-01 is a Friday (weekday 4): Monday 2024-02-26, Sunday 2024-03-03
        assert period(date(2024, 3, 1), "weekly") == (date(2024, 2, 26), date(2024, 3, 3))

    def test_monthly_leap_and_december(self) -> None:
        # February 2024 has 29 days; December ends on the 31st (next month is January 2025)
        assert period(date(2024, 2, 10), "monthly") == (date(2024, 2, 1), date(2024, 2, 29))
        assert period(date(2024, 12, 31), "monthly") == (date(2024, 12, 1), date(2024, 12, 31))


def test_units_text() -> None:
    assert units_text(Decimal("3")) == "3.0"
    assert units_text(Decimal("2.500")) == "2.5"
    assert units_text(Decimal("1E+2")) == "100.0"
