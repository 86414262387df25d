"""Spending-minimum and minimum-commitment true-ups, against hand-computed amounts."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from billow.billing.minimums import (
    TrueUp,
    billed_days,
    charge_true_up,
    commitment_amount,
    commitment_true_up,
    prorated_amount,
)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


class TestBilledDays:
    def test_full_month(self) -> None:
        assert billed_days(utc(2024, 1, 1), utc(2024, 2, 1), "UTC") == 31

    def test_partial_first_period_counts_the_start_day(self) -> None:
        # Started Jan 15 at 10:00: Jan 15..31 = 17 days.
        assert billed_days(utc(2024, 1, 15, 10), utc(2024, 2, 1), "UTC") == 17

    def test_termination_mid_day_counts_that_day(self) -> None:
        # Terminated Feb 25 at 10:00: Feb 1..25 = 25 days.
        assert billed_days(utc(2023, 2, 1), utc(2023, 2, 25, 10), "UTC") == 25

    def test_end_at_local_midnight_is_the_previous_day(self) -> None:
        assert billed_days(utc(2023, 2, 1), utc(2023, 2, 25), "UTC") == 24

    def test_customer_timezone(self) -> None:
        # New York midnights: Jan 15 05:00Z .. Feb 1 05:00Z are Jan 15..31 local.
        assert billed_days(utc(2024, 1, 15, 5), utc(2024, 2, 1, 5), "America/New_York") == 17
        # 03:00Z on Feb 1 is still Jan 31 in New York.
        assert billed_days(utc(2024, 1, 1, 5), utc(2024, 2, 1, 3), "America/New_York") == 31

    def test_empty_span(self) -> None:
        assert billed_days(utc(2024, 1, 2), utc(2024, 1, 2), "UTC") == 0


class TestProratedAmount:
    def test_full_and_longer(self) -> None:
        assert prorated_amount(1000, 31, 31) == Decimal(1000)
        assert prorated_amount(1000, 32, 31) == Decimal(1000)

    def test_partial_is_exact(self) -> None:
        assert prorated_amount(1000, 14, 28) == Decimal(500)
        assert prorated_amount(1000, 25, 28).quantize(Decimal("0.000001")) == Decimal("892.857143")

    def test_no_day(self) -> None:
        assert prorated_amount(1000, 0, 31) == 0

    def test_period_must_have_days(self) -> None:
        with pytest.raises(ValueError):
            prorated_amount(1000, 1, 0)


class TestChargeTrueUp:
    def test_lago_vector_terminated_mid_february(self) -> None:
        # min 10.00, usage 8.00, terminated Feb 25 (25 of 28 days): 1000 x 25/28 = 892.857... - 800 = 93.
        true_up = charge_true_up(
            min_amount_cents=1000,
            used_amount_cents=800,
            used_precise_amount_cents=Decimal(800),
            days=25,
            period_days=28,
        )
        assert true_up is not None
        assert true_up.amount_cents == 93
        assert true_up.precise_amount_cents.quantize(Decimal("0.0001")) == Decimal("92.8571")

    def test_zero_usage_owes_the_whole_minimum(self) -> None:
        true_up = charge_true_up(
            min_amount_cents=1000,
            used_amount_cents=0,
            used_precise_amount_cents=Decimal(0),
            days=31,
            period_days=31,
        )
        assert true_up == TrueUp(1000, Decimal(1000))

    def test_partial_first_period(self) -> None:
        # Jan 15..31: 1000 x 17/31 = 548.387 - 300 = 248.387 -> 248.
        true_up = charge_true_up(
            min_amount_cents=1000,
            used_amount_cents=300,
            used_precise_amount_cents=Decimal("300.4"),
            days=17,
            period_days=31,
        )
        assert true_up is not None
        assert true_up.amount_cents == 248
        assert true_up.precise_amount_cents.quantize(Decimal("0.001")) == Decimal("247.987")

    def test_usage_above_or_at_the_minimum_owes_nothing(self) -> None:
        for used in (1000, 1200):
            assert (
                charge_true_up(
                    min_amount_cents=1000,
                    used_amount_cents=used,
                    used_precise_amount_cents=Decimal(used),
                    days=31,
                    period_days=31,
                )
                is None
            )

    def test_usage_above_the_prorated_minimum_owes_nothing(self) -> None:
        # 1000 x 10/31 = 322.58 < 400.
        assert (
            charge_true_up(
                min_amount_cents=1000,
                used_amount_cents=400,
                used_precise_amount_cents=Decimal(400),
                days=10,
                period_days=31,
            )
            is None
        )

    def test_rounds_half_up(self) -> None:
        # 1000 x 15/16 = 937.5 -> 938 (banker's rounding would give 938 too; 5 x 1/2 = 2.5 -> 3, not 2).
        assert charge_true_up(
            min_amount_cents=1000,
            used_amount_cents=0,
            used_precise_amount_cents=Decimal(0),
            days=15,
            period_days=16,
        ) == TrueUp(938, Decimal("937.5"))
        assert charge_true_up(
            min_amount_cents=5,
            used_amount_cents=0,
            used_precise_amount_cents=Decimal(0),
            days=1,
            period_days=2,
        ) == TrueUp(3, Decimal("2.5"))

    def test_a_true_up_rounding_to_zero_is_not_made(self) -> None:
        # 2801 x 2/7 = 800.29; 800.29 - 800 rounds to 0.
        assert (
            charge_true_up(
                min_amount_cents=2801,
                used_amount_cents=800,
                used_precise_amount_cents=Decimal(800),
                days=2,
                period_days=7,
            )
            is None
        )

    def test_no_minimum(self) -> None:
        assert (
            charge_true_up(
                min_amount_cents=0,
                used_amount_cents=0,
                used_precise_amount_cents=Decimal(0),
                days=31,
                period_days=31,
            )
            is None
        )


class TestCommitment:
    def test_amount_prorated_half_up(self) -> None:
        assert commitment_amount(10000, 31, 31) == 10000
        assert commitment_amount(10000, 17, 31) == 5484  # 5483.87
        assert commitment_amount(5, 1, 2) == 3  # 2.5 -> 3

    def test_true_up_full_period(self) -> None:
        # Commitment 100.00; plan fee 10.00 + usage 16.00 = 26.00 -> 74.00.
        assert commitment_true_up(
            commitment_amount_cents=10000,
            days=29,
            period_days=29,
            fees_amount_cents=2600,
            fees_precise_amount_cents=Decimal(2600),
        ) == TrueUp(7400, Decimal(7400))

    def test_true_up_partial_first_period(self) -> None:
        # Jan 15..31: 10000 x 17/31 = 5484 - (548 + 600) = 4336; precise 5484 - 1148.4 = 4335.6.
        assert commitment_true_up(
            commitment_amount_cents=10000,
            days=17,
            period_days=31,
            fees_amount_cents=1148,
            fees_precise_amount_cents=Decimal("1148.4"),
        ) == TrueUp(4336, Decimal("4335.6"))

    def test_true_up_terminated_mid_period(self) -> None:
        # Terminated Feb 20, 2024 (20 of 29 days): 10000 x 20/29 = 6896.55 -> 6897 - 690 = 6207.
        assert commitment_true_up(
            commitment_amount_cents=10000,
            days=20,
            period_days=29,
            fees_amount_cents=690,
            fees_precise_amount_cents=Decimal(690),
        ) == TrueUp(6207, Decimal(6207))

    def test_fees_reaching_the_commitment_owe_nothing(self) -> None:
        for fees in (10000, 12000):
            assert (
                commitment_true_up(
                    commitment_amount_cents=10000,
                    days=31,
                    period_days=31,
                    fees_amount_cents=fees,
                    fees_precise_amount_cents=Decimal(fees),
                )
                is None
            )

    def test_zero_fees(self) -> None:
        assert commitment_true_up(
            commitment_amount_cents=10000,
            days=31,
            period_days=31,
            fees_amount_cents=0,
            fees_precise_amount_cents=Decimal(0),
        ) == TrueUp(10000, Decimal(10000))
