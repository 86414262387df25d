"""The thresholds crossed between two values (pure; every expected list computed by hand)."""

from __future__ import annotations

from decimal import Decimal

from billow.alerts.crossing import Threshold, crossed, crossed_decreasing, crossed_increasing, formatted

D = Decimal


def one_time(*values: int) -> list[Threshold]:
    return [Threshold(f"t{v}", D(v), False) for v in values]


def recurring(step: int, code: str = "every") -> Threshold:
    return Threshold(code, D(step), True)


class TestDecreasing:
    thresholds = one_time(1000, 500)

    def test_a_fall_through_one_threshold(self) -> None:
        # 1000 is in [800, 1200): crossed; 500 is not.
        assert crossed_decreasing(self.thresholds, D(1200), D(800)) == [D(1000)]

    def test_a_fall_through_both(self) -> None:
        # [500, 1200) holds 500 and 1000 (falling exactly to 500 crosses it).
        assert crossed_decreasing(self.thresholds, D(1200), D(500)) == [D(500), D(1000)]

    def test_once_per_crossing(self) -> None:
        # 1200 → 800 crossed 1000; 800 → 700: [700, 800) holds neither.
        assert crossed_decreasing(self.thresholds, D(800), D(700)) == []

    def test_reaching_a_threshold_from_above(self) -> None:
        # 1001 → 1000: 1000 is in [1000, 1001).
        assert crossed_decreasing(self.thresholds, D(1001), D(1000)) == [D(1000)]

    def test_a_value_at_the_threshold_was_not_above_it(self) -> None:
        # 1000 → 999: [999, 1000) excludes 1000.
        assert crossed_decreasing(self.thresholds, D(1000), D(999)) == []

    def test_a_rise_crosses_nothing(self) -> None:
        assert crossed_decreasing(self.thresholds, D(400), D(1200)) == []
        assert crossed_decreasing(self.thresholds, D(500), D(500)) == []

    def test_still_above_the_highest(self) -> None:
        # 1001 > 1000: nothing yet.
        assert crossed_decreasing(self.thresholds, D(5000), D(1001)) == []

    def test_recurring_below_the_lowest_one_time(self) -> None:
        # One-time 1000, every 300 below it: 700, 400, 100, ...
        # 1200 → 350: 1000 (one-time), then 700 and 400 (>= 350); 100 < 350 is not reached.
        thresholds = [*one_time(1000), recurring(300)]
        assert crossed_decreasing(thresholds, D(1200), D(350)) == [D(400), D(700), D(1000)]

    def test_recurring_once_per_step(self) -> None:
        # 400 → 90: 400 was reached before (not above it any more); 100 is in [90, 400).
        thresholds = [*one_time(1000), recurring(300)]
        assert crossed_decreasing(thresholds, D(400), D(90)) == [D(100)]

    def test_recurring_alone_from_zero(self) -> None:
        # No one-time threshold: steps below 0 (-5, -10, ...). 3 → -12: -5 and -10.
        assert crossed_decreasing([recurring(5)], D(3), D(-12)) == [D(-10), D(-5)]

    def test_decimals(self) -> None:
        # Credits: 10.5 → 2.25 crosses 5.5 and 2.25.
        thresholds = [Threshold(None, D("5.5"), False), Threshold(None, D("2.25"), False)]
        assert crossed_decreasing(thresholds, D("10.5"), D("2.25")) == [D("2.25"), D("5.5")]


class TestIncreasing:
    def test_one_time_thresholds(self) -> None:
        # (90, 260] holds 100 and 200.
        assert crossed_increasing(one_time(100, 200), D(90), D(260)) == [D(100), D(200)]

    def test_below_the_lowest(self) -> None:
        assert crossed_increasing(one_time(100, 200), D(0), D(90)) == []

    def test_recurring_above_the_highest(self) -> None:
        # One-time 100, 200; every 50 above 200: 250, 300, ... (90, 260] holds 100, 200, 250.
        thresholds = [*one_time(100, 200), recurring(50)]
        assert crossed_increasing(thresholds, D(90), D(260)) == [D(100), D(200), D(250)]

    def test_recurring_once_per_step(self) -> None:
        # 250 was reached; (250, 349] holds 300 only.
        thresholds = [*one_time(100, 200), recurring(50)]
        assert crossed_increasing(thresholds, D(250), D(349)) == [D(300)]

    def test_no_growth(self) -> None:
        assert crossed_increasing(one_time(100), D(150), D(150)) == []


def test_direction_switch() -> None:
    thresholds = one_time(100)
    assert crossed(thresholds, D(150), D(50), decreasing=True) == [D(100)]
    assert crossed(thresholds, D(50), D(150), decreasing=False) == [D(100)]


def test_formatted() -> None:
    # One-time thresholds in the alert's order, then each recurring value under the recurring code.
    thresholds = [Threshold("warn", D(200), False), Threshold("info", D(100), False), recurring(50, "step")]
    assert formatted(thresholds, [D(100), D(200), D(250), D(300)]) == [
        {"code": "warn", "value": "200.0", "recurring": False},
        {"code": "info", "value": "100.0", "recurring": False},
        {"code": "step", "value": "250.0", "recurring": True},
        {"code": "step", "value": "300.0", "recurring": True},
    ]
