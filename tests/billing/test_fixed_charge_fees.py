"""The pure rules of fixed-charge fees (:mod:`billow.billing.fixed_charge_fees`): which span an invoice
bills, prorated units, and what the units cost. Every amount hand-computed next to it."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from billow.billing.fixed_charge_fees import (
    PlanCalendar,
    fixed_charge_amount,
    fixed_charge_span,
    fixed_charges_interval,
    paid_share_cents,
    prorated_units,
    span_days,
)
from billow.billing.schedule import DueInvoice, InvoicingReason
from billow.kit.money import to_minor_units
from tests.fixtures.factories import at

GRADUATED = {
    "graduated_ranges": [
        {"from_value": 0, "to_value": 10, "per_unit_amount": "5", "flat_amount": "1"},
        {"from_value": 11, "to_value": None, "per_unit_amount": "2", "flat_amount": "0"},
    ]
}
VOLUME = {
    "volume_ranges": [
        {"from_value": 0, "to_value": 10, "per_unit_amount": "5", "flat_amount": "1"},
        {"from_value": 11, "to_value": None, "per_unit_amount": "2", "flat_amount": "3"},
    ]
}


def cents(model: str, properties: dict, units: str, prorated: str | None = None) -> int:
    result = fixed_charge_amount(
        model,
        properties,
        Decimal(units),
        currency="EUR",
        prorated=None if prorated is None else Decimal(prorated),
    )
    return to_minor_units(result.amount, "EUR")


class TestAmount:
    def test_standard(self) -> None:
        # 3 units x 10.00 = 30.00 -> 3000 cents.
        assert cents("standard", {"amount": "10.00"}, "3") == 3000

    def test_standard_decimal_units(self) -> None:
        # 2.5 units x 0.333 = 0.8325 -> 83.25 cents -> 83.
        assert cents("standard", {"amount": "0.333"}, "2.5") == 83

    def test_graduated(self) -> None:
        # 12 units: 10 x 5 + flat 1 = 51 in the first tier, 2 x 2 = 4 in the second: 55.00 -> 5500.
        assert cents("graduated", GRADUATED, "12") == 5500
        # 0 units: the first tier's flat amount, 1.00 -> 100.
        assert cents("graduated", GRADUATED, "0") == 100

    def test_volume(self) -> None:
        # 12 units fall in 11-∞: 12 x 2 + flat 3 = 27.00 -> 2700.
        assert cents("volume", VOLUME, "12") == 2700
        # 4 units in 0-10: 4 x 5 + 1 = 21.00 -> 2100.
        assert cents("volume", VOLUME, "4") == 2100

    def test_prorated_standard(self) -> None:
        # 3 units for 15 of 31 days: 1.451613 units x 10.00 = 14.51613 -> 1451.613 cents -> 1452.
        assert cents("standard", {"amount": "10.00"}, "3", prorated="1.451613") == 1452

    def test_prorated_volume_prices_in_the_range_of_the_full_units(self) -> None:
        # 12 units (range 11-∞) for 15/31: 5.806452 x 2 + 3 = 14.612904 -> 1461.2904 -> 1461.
        assert cents("volume", VOLUME, "12", prorated="5.806452") == 1461

    def test_prorated_graduated(self) -> None:
        # Tiers of the full 12 units, each unit at its tier's price x 5.806452 / 12:
        # (10 x 5 + 2 x 2) x 5.806452 / 12 = 54 x 0.483871 = 26.129034, + flat 1 = 27.129034 -> 2713.
        assert cents("graduated", GRADUATED, "12", prorated="5.806452") == 2713


class TestProratedUnits:
    def test_share_of_days(self) -> None:
        # 3 x 15 / 31 = 1.45161290... -> 1.451613 (6 decimals, half-up).
        assert prorated_units(Decimal(3), 15, 31) == Decimal("1.451613")
        # 12 x 15 / 31 = 5.80645161... -> 5.806452.
        assert prorated_units(Decimal(12), 15, 31) == Decimal("5.806452")
        # 1 x 1 / 8 = 0.125 exactly.
        assert prorated_units(Decimal(1), 1, 8) == Decimal("0.125000")

    def test_whole_period_and_nothing(self) -> None:
        assert prorated_units(Decimal("3.5"), 31, 31) == Decimal("3.5")
        assert prorated_units(Decimal(3), 0, 31) == 0


class TestPaidShare:
    def test_days_already_paid(self) -> None:
        # 3000 paid for 31 days, 10 of them: 3000 x 10 / 31 = 967.74 -> 968.
        assert paid_share_cents(3000, 31, 10) == 968
        # 1000 for 8 days, 1 of them: 125 exactly; 999 for 2 days, 1: 499.5 -> 500 (half-up).
        assert paid_share_cents(1000, 8, 1) == 125
        assert paid_share_cents(999, 2, 1) == 500
        assert paid_share_cents(1000, 0, 3) == 0


def due(reason: InvoicingReason, due_at: str, period_start: str | None = None) -> DueInvoice:
    return DueInvoice("sub", reason, at(period_start or due_at), at(due_at), None, None, None)


MONTHLY = PlanCalendar("monthly", "calendar", "UTC", at("2024-01-15"))


def span(
    calendar: PlanCalendar, reason: InvoicingReason, due_at: str, *, advance: bool
) -> tuple[datetime, datetime, int, int] | None:
    found = fixed_charge_span(due(reason, due_at), calendar, pay_in_advance=advance)
    if found is None:
        return None
    return (found.from_datetime, found.to_datetime, span_days(found, calendar.timezone), found.period.days)


class TestSpan:
    def test_in_arrears_bills_the_period_that_ended(self) -> None:
        # Started Jan 15: the first invoice (Feb 1) bills Jan 15-31, 17 of 31 days.
        assert span(MONTHLY, InvoicingReason.SUBSCRIPTION_PERIODIC, "2024-02-01", advance=False) == (
            at("2024-01-15"),
            at("2024-02-01"),
            17,
            31,
        )
        # Then whole months: February 2024 has 29 days.
        assert span(MONTHLY, InvoicingReason.SUBSCRIPTION_PERIODIC, "2024-03-01", advance=False) == (
            at("2024-02-01"),
            at("2024-03-01"),
            29,
            29,
        )

    def test_in_advance_bills_the_period_that_starts(self) -> None:
        assert span(MONTHLY, InvoicingReason.SUBSCRIPTION_STARTING, "2024-01-15", advance=True) == (
            at("2024-01-15"),
            at("2024-02-01"),
            17,
            31,
        )
        assert span(MONTHLY, InvoicingReason.SUBSCRIPTION_PERIODIC, "2024-02-01", advance=True) == (
            at("2024-02-01"),
            at("2024-03-01"),
            29,
            29,
        )

    def test_starting_invoice_has_no_arrears_fee(self) -> None:
        assert span(MONTHLY, InvoicingReason.SUBSCRIPTION_STARTING, "2024-01-15", advance=False) is None

    def test_termination(self) -> None:
        # In arrears: March 1 to the termination on the 10th at noon, 10 days of 31.
        assert span(
            MONTHLY, InvoicingReason.SUBSCRIPTION_TERMINATING, "2024-03-10T12:00:00", advance=False
        ) == (
            at("2024-03-01"),
            at("2024-03-10T12:00:00"),
            10,
            31,
        )
        # In advance: the period was billed at its start.
        assert span(MONTHLY, InvoicingReason.SUBSCRIPTION_TERMINATING, "2024-03-10", advance=True) is None

    @pytest.mark.parametrize("advance", [True, False])
    def test_yearly_plan_billing_charges_monthly(self, advance: bool) -> None:
        yearly = PlanCalendar("yearly", "calendar", "UTC", at("2024-01-01"))
        # A monthly invoice inside the year bills no fixed charge.
        assert span(yearly, InvoicingReason.SUBSCRIPTION_PERIODIC, "2024-03-01", advance=advance) is None
        # The year boundary: the year that ended (arrears), the year that starts (advance).
        year = (at("2024-01-01"), at("2025-01-01"), 366, 366)
        next_year = (at("2025-01-01"), at("2026-01-01"), 365, 365)
        expected = next_year if advance else year
        assert span(yearly, InvoicingReason.SUBSCRIPTION_PERIODIC, "2025-01-01", advance=advance) == expected

    def test_anniversary_in_a_time_zone(self) -> None:
        # Anniversary on the 15th in Paris (UTC+1 in winter): periods start at 23:00 UTC the day before.
        paris = PlanCalendar("monthly", "anniversary", "Europe/Paris", at("2024-01-14T23:00:00"))
        assert span(paris, InvoicingReason.SUBSCRIPTION_PERIODIC, "2024-02-14T23:00:00", advance=False) == (
            at("2024-01-14T23:00:00"),
            at("2024-02-14T23:00:00"),
            31,
            31,
        )


def test_fixed_charges_interval() -> None:
    assert fixed_charges_interval("yearly", True, True) == "monthly"
    assert fixed_charges_interval("semiannual", True, True) == "monthly"
    # Without monthly usage charges there is no monthly invoice to carry them: the plan interval.
    assert fixed_charges_interval("yearly", False, True) == "yearly"
    assert fixed_charges_interval("yearly", True, False) == "yearly"
    assert fixed_charges_interval("monthly", True, True) == "monthly"
    assert fixed_charges_interval("quarterly", None, None) == "quarterly"
