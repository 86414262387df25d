"""Projected usage's pure rules (billow.pricing.projection), arithmetic by hand in the comments."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from billow.pricing.projection import (
    PeriodRatio,
    Projection,
    days_between,
    period_ratio,
    project,
    projected_units,
)

D = Decimal
AUG_1 = datetime(2023, 8, 1, tzinfo=UTC)
AUG_31_END = datetime(2023, 8, 31, 23, 59, 59, tzinfo=UTC)
#: Day 20 of 31 (2023-08-20 12:00 UTC).
RATIO = PeriodRatio(20, 31)


class TestDays:
    def test_started_days_are_counted(self) -> None:
        # Aug 1 00:00 → Aug 31 23:59:59 is 30 days 23:59:59: 31 days begun.
        assert days_between(AUG_1, AUG_31_END, "UTC") == 31
        # Aug 1 00:00 → Aug 20 12:00 is 19.5 days: 20 begun.
        assert days_between(AUG_1, datetime(2023, 8, 20, 12, tzinfo=UTC), "UTC") == 20

    def test_an_end_at_local_midnight_counts_its_day(self) -> None:
        # Aug 1 → Aug 3 00:00 is exactly 2 days; moved one second later: 3 days begun.
        assert days_between(AUG_1, datetime(2023, 8, 3, tzinfo=UTC), "UTC") == 3
        # Not a midnight in New York (20:00 there): exactly 2 days, ceil(2) = 2.
        start = datetime(2023, 8, 1, 4, tzinfo=UTC)
        assert days_between(start, datetime(2023, 8, 3, 4, 0, 0, 1, tzinfo=UTC), "America/New_York") == 3
        assert days_between(start, datetime(2023, 8, 3, 3, 59, 59, tzinfo=UTC), "America/New_York") == 2

    def test_a_daylight_saving_change_does_not_count(self) -> None:
        # March in Paris: Mar 1 00:00 CET (Feb 28 23:00Z) → Mar 31 23:59:59 CEST (21:59:59Z) is
        # 30 d 22:59:59 in UTC, + 1 h of offset change = 30 d 23:59:59: 31 days.
        start = datetime(2023, 2, 28, 23, tzinfo=UTC)
        end = datetime(2023, 3, 31, 21, 59, 59, tzinfo=UTC)
        assert days_between(start, end, "Europe/Paris") == 31


class TestRatio:
    def test_inside_the_period(self) -> None:
        assert period_ratio(AUG_1, AUG_31_END, datetime(2023, 8, 20, 12, tzinfo=UTC), "UTC") == RATIO
        # The very first instant, a local midnight: moved one second later, 1 day begun.
        assert period_ratio(AUG_1, AUG_31_END, AUG_1, "UTC") == PeriodRatio(1, 31)

    def test_outside_the_period(self) -> None:
        assert period_ratio(AUG_1, AUG_31_END, AUG_31_END, "UTC") == PeriodRatio(1, 1)
        before = period_ratio(AUG_1, AUG_31_END, datetime(2023, 7, 1, tzinfo=UTC), "UTC")
        assert not before.projects


class TestUnits:
    def test_units_over_the_ratio_to_two_decimals(self) -> None:
        # 10 / (20/31) = 310/20 = 15.5
        assert projected_units(D(10), RATIO) == D("15.50")
        # 7 / (20/31) = 217/20 = 10.85
        assert projected_units(D(7), RATIO) == D("10.85")
        # 1 / (20/31) = 1.55; 3 / (7/31) = 93/7 = 13.2857… → 13.29 (half-up)
        assert projected_units(D(1), RATIO) == D("1.55")
        assert projected_units(D(3), PeriodRatio(7, 31)) == D("13.29")

    def test_nothing_to_project(self) -> None:
        assert projected_units(D(0), RATIO) == 0
        assert projected_units(D(5), PeriodRatio(0, 31)) == 0
        assert projected_units(D(-5), RATIO) == 0


class TestAmounts:
    def test_standard(self) -> None:
        # 10 units → 15.5 projected, at 0.5 = 7.75
        assert project("standard", {"amount": "0.5"}, units=D(10), amount=D(5), ratio=RATIO) == Projection(
            D("15.50"), D("7.750")
        )

    def test_package(self) -> None:
        properties = {"amount": "3", "package_size": 10, "free_units": 2}
        # 14 units → 14 * 31/20 = 21.7; paid 21.7 - 2 = 19.7; ceil(19.7/10) = 2 packages * 3 = 6
        result = project("package", properties, units=D(14), amount=D(6), ratio=RATIO)
        assert result == Projection(D("21.70"), D(6))
        # 1 unit → 1.55 projected, not above the 2 free units: 0
        assert project("package", properties, units=D(1), amount=D(0), ratio=RATIO).amount == 0

    def test_graduated(self) -> None:
        properties = {
            "graduated_ranges": [
                {"from_value": 0, "to_value": 10, "per_unit_amount": "1", "flat_amount": "2"},
                {"from_value": 11, "to_value": None, "per_unit_amount": "0.5", "flat_amount": "1"},
            ]
        }
        # 10 units → 15.5 projected: first range 10 * 1 + 2 = 12, second 5.5 * 0.5 + 1 = 3.75; 15.75
        result = project("graduated", properties, units=D(10), amount=D(12), ratio=RATIO)
        assert result == Projection(D("15.50"), D("15.75"))
        # 4 units → 6.2 projected, all in the first range: 6.2 * 1 + 2 = 8.2
        assert project("graduated", properties, units=D(4), amount=D(6), ratio=RATIO).amount == D("8.2")

    def test_volume(self) -> None:
        properties = {
            "volume_ranges": [
                {"from_value": 0, "to_value": 10, "per_unit_amount": "1", "flat_amount": "0"},
                {"from_value": 11, "to_value": None, "per_unit_amount": "0.8", "flat_amount": "5"},
            ]
        }
        # 10 units → 15.5 projected: ceil 16 ≥ 11, second range: 15.5 * 0.8 + 5 = 17.4
        result = project("volume", properties, units=D(10), amount=D(10), ratio=RATIO)
        assert result == Projection(D("15.50"), D("17.40"))
        # 6 units → 9.3 projected, first range: 9.3 * 1 + 0 = 9.3
        assert project("volume", properties, units=D(6), amount=D(6), ratio=RATIO).amount == D("9.3")

    @pytest.mark.parametrize("model", ["percentage", "graduated_percentage", "dynamic"])
    def test_scaled_models(self, model: str) -> None:
        # 4.00 so far / (20/31) = 124/20 = 6.2; 12 units → 18.6
        result = project(model, {}, units=D(12), amount=D(4), ratio=RATIO)
        assert result == Projection(D("18.60"), D("6.2"))

    def test_prorated_graduated_is_scaled(self) -> None:
        # 3.10 so far / (20/31) = 96.1/20 = 4.805
        result = project("graduated", {}, units=D(2), amount=D("3.10"), ratio=RATIO, prorated=True)
        assert result.amount == D("4.805")

    def test_a_ratio_that_projects_nothing(self) -> None:
        zero = Projection(D(0), D(0))
        assert project("standard", {"amount": "1"}, units=D(5), amount=D(5), ratio=PeriodRatio(0, 31)) == zero

    def test_unknown_model(self) -> None:
        with pytest.raises(ValueError):
            project("custom", {}, units=D(1), amount=D(1), ratio=RATIO)
