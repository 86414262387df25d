"""Pay-in-advance fees: price(after) - price(before) with Lago's rules
(charges/apply_pay_in_advance_charge_model_service.rb, pay_in_advance/amount_details_calculator.rb,
spec/scenarios/pay_in_advance_charges_spec.rb)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from billow.kit.money import to_minor_units
from billow.pricing import Aggregation, price, price_in_advance
from billow.pricing.percentage import running_totals
from tests.pricing.helpers import agg
from tests.pricing.test_graduated import INCLUSIVE


def test_standard_delta() -> None:
    result = price_in_advance("standard", {"amount": "2"}, agg(3), agg(5), currency="USD")
    assert result.amount == Decimal(4)
    assert result.units == Decimal(2)
    assert result.unit_amount == Decimal(2)
    assert result.amount_details == {}


def test_in_advance_unit_amount_is_the_rounded_amount_per_unit() -> None:
    result = price_in_advance("standard", {"amount": "0.333"}, agg(0), agg(1), currency="USD")
    assert result.amount == Decimal("0.333")
    assert result.unit_amount == Decimal("0.33")


@pytest.mark.parametrize(
    ("before", "after", "amount"),
    [
        ("0", "1", "12"),  # first event: the first range's flat amount (2) + 1 x 10
        ("1", "2", "10"),  # flat amount not charged again
        ("8", "13", "38"),  # crosses into 11-20: 120 - 82 (2 more at 10, 3 at 5, flat 3)
        ("20", "21", "8"),  # enters 21-inf: 5 + flat 3
        ("0", "0", "0"),  # a zero-valued event
    ],
)
def test_graduated_crossing_tiers(before: str, after: str, amount: str) -> None:
    result = price_in_advance("graduated", INCLUSIVE, agg(before), agg(after), currency="USD")
    assert result.amount == Decimal(amount)
    assert result.amount_details == {}


@pytest.mark.parametrize(
    ("free_units", "before", "after", "amount"),
    [
        (0, "8", "12", "100"),  # crosses into the second package
        (0, "2", "5", "0"),  # inside the first package, already paid
        (0, "0", "1", "100"),  # opens the first package
        (0, "9", "31", "300"),  # opens packages 2, 3 and 4
        (5, "4", "6", "100"),  # leaves the free units
        (5, "0", "5", "0"),
    ],
)
def test_package_crossing_boundaries(free_units: int, before: str, after: str, amount: str) -> None:
    properties = {"amount": "100", "package_size": 10, "free_units": free_units}
    result = price_in_advance("package", properties, agg(before), agg(after), currency="USD")
    assert result.amount == Decimal(amount)


def percentage_steps(properties: dict[str, Any], values: list[int]) -> list[tuple[Aggregation, Aggregation]]:
    """(before, after) aggregations for each event of a sum_agg metric, as metering would build them."""
    steps = []
    for index in range(len(values)):
        sides = []
        for seen in (values[:index], values[: index + 1]):
            decimals = [Decimal(v) for v in seen]
            sides.append(
                agg(
                    sum(decimals, Decimal(0)),
                    events_count=len(decimals),
                    running_totals=running_totals(properties, decimals),
                    event_values=decimals,
                )
            )
        steps.append((sides[0], sides[1]))
    return steps


def percentage_details(
    units: str,
    free_units: str,
    paid_units: str,
    free_events: str,
    paid_events: str,
    fixed_unit: str,
    fixed_total: str,
    per_unit_total: str,
) -> dict[str, str]:
    return {
        "rate": "5.0",
        "fixed_fee_unit_amount": fixed_unit,
        "units": units,
        "free_units": free_units,
        "paid_units": paid_units,
        "free_events": free_events,
        "paid_events": paid_events,
        "fixed_fee_total_amount": fixed_total,
        "min_max_adjustment_total_amount": "0.0",
        "per_unit_total_amount": per_unit_total,
    }


def test_percentage_with_fixed_amount_and_free_events() -> None:
    # Lago scenario "with free_units_per_events": events 8, 5, 3 → 0, 0, 115 cents.
    properties = {"rate": "5", "fixed_amount": "1", "free_units_per_events": 2}
    expected = [
        (0, percentage_details("8.0", "8.0", "0.0", "1.0", "0.0", "0.0", "0.0", "0.0")),
        (0, percentage_details("5.0", "5.0", "0.0", "1.0", "0.0", "0.0", "0.0", "0.0")),
        (115, percentage_details("3.0", "0.0", "3.0", "0.0", "1.0", "1.0", "1.0", "0.15")),
    ]
    for (before, after), (cents, details) in zip(
        percentage_steps(properties, [8, 5, 3]), expected, strict=True
    ):
        result = price_in_advance("percentage", properties, before, after, currency="USD")
        assert to_minor_units(result.amount, "USD") == cents
        assert result.amount_details == details


def test_percentage_with_fixed_amount_and_free_total() -> None:
    # Lago scenario "with free_units_per_total_aggregation": events 100, 10, 20, 20 → 0, 0, 150, 200 cents.
    properties = {"rate": "5", "fixed_amount": "1", "free_units_per_total_aggregation": "120.0"}
    expected = [
        (0, percentage_details("100.0", "100.0", "0.0", "1.0", "0.0", "0.0", "0.0", "0.0")),
        (0, percentage_details("10.0", "10.0", "0.0", "1.0", "0.0", "0.0", "0.0", "0.0")),
        (150, percentage_details("20.0", "10.0", "10.0", "0.0", "1.0", "1.0", "1.0", "0.5")),
        (200, percentage_details("20.0", "0.0", "20.0", "0.0", "1.0", "1.0", "1.0", "1.0")),
    ]
    steps = percentage_steps(properties, [100, 10, 20, 20])
    for (before, after), (cents, details) in zip(steps, expected, strict=True):
        result = price_in_advance("percentage", properties, before, after, currency="USD")
        assert to_minor_units(result.amount, "USD") == cents
        assert result.amount_details == details


def test_percentage_with_fixed_amount_no_free_units() -> None:
    properties = {"rate": "2", "fixed_amount": "0.5"}
    (_, _), (before, after) = percentage_steps(properties, [100, 50])
    result = price_in_advance("percentage", properties, before, after, currency="USD")
    assert result.amount == Decimal("1.5")  # 50 x 2 % + 0.5
    assert result.units == Decimal(50)
    assert result.unit_amount == Decimal("0.03")


def test_percentage_min_max_per_event() -> None:
    properties = {"rate": "2.99", "per_transaction_min_amount": "1.75", "per_transaction_max_amount": "12"}
    fees = [
        price_in_advance("percentage", properties, before, after, currency="USD").amount
        for before, after in percentage_steps(properties, [10, 80, 10_000])
    ]
    assert fees == [Decimal("1.75"), Decimal("2.392"), Decimal("12")]


def graduated_percentage_range(
    from_value: int, to_value: int | None, rate: str, units: str, flat: str, per_unit_total: str, total: str
) -> dict[str, Any]:
    return {
        "from_value": from_value,
        "to_value": to_value,
        "flat_unit_amount": flat,
        "rate": rate,
        "units": units,
        "per_unit_total_amount": per_unit_total,
        "total_with_flat_amount": total,
    }


def test_graduated_percentage_scenario() -> None:
    # Lago scenario "with sum_agg / graduated_percentage": events 50, 100, 300.
    properties = {
        "graduated_percentage_ranges": [
            {"rate": "20", "to_value": 100, "from_value": 0, "flat_amount": "10"},
            {"rate": "30", "to_value": 200, "from_value": 101, "flat_amount": "7"},
            {"rate": "40", "to_value": None, "from_value": 201, "flat_amount": "5"},
        ]
    }
    r = graduated_percentage_range
    expected = [
        ("0", "50", 50 * 20 + 1000, [r(0, 100, "20.0", "50.0", "10.0", "0.4", "20.0")]),
        (
            "50",
            "150",
            50 * 20 + 50 * 30 + 700,
            [
                r(0, 100, "20.0", "50.0", "0.0", "0.2", "10.0"),
                r(101, 200, "30.0", "50.0", "7.0", "0.44", "22.0"),
            ],
        ),
        (
            "150",
            "450",
            50 * 30 + 250 * 40 + 500,
            [
                r(0, 100, "20.0", "0.0", "0.0", "0.0", "0.0"),
                r(101, 200, "30.0", "50.0", "0.0", "0.3", "15.0"),
                r(201, None, "40.0", "250.0", "5.0", "0.42", "105.0"),
            ],
        ),
    ]
    for before, after, cents, ranges in expected:
        result = price_in_advance("graduated_percentage", properties, agg(before), agg(after), currency="USD")
        assert to_minor_units(result.amount, "USD") == cents
        assert result.amount_details == {"graduated_percentage_ranges": ranges}


def test_dynamic_delta() -> None:
    before = agg(3, precise_total_amount_cents="300")
    after = agg(5, precise_total_amount_cents="550")
    assert price_in_advance("dynamic", {}, before, after, currency="USD").amount == Decimal("2.5")


def test_volume_cannot_be_priced_in_advance() -> None:
    properties = {
        "volume_ranges": [{"from_value": 0, "to_value": None, "per_unit_amount": "1", "flat_amount": "0"}]
    }
    with pytest.raises(ValueError, match="in advance"):
        price_in_advance("volume", properties, agg(0), agg(1), currency="USD")


def test_in_advance_fee_is_never_negative() -> None:
    result = price_in_advance("standard", {"amount": "2"}, agg(5), agg(3), currency="USD")
    assert result.amount == 0
    assert result.units == 0
    assert result.unit_amount == 0


def test_graduated_in_advance_sum_equals_the_period_price() -> None:
    total = Decimal(0)
    fees = Decimal(0)
    for value in (1, 4, 5, 1, 7, 3):
        fees += price_in_advance(
            "graduated", INCLUSIVE, agg(total), agg(total + value), currency="USD"
        ).amount
        total += value
    assert fees == price("graduated", INCLUSIVE, agg(total), currency="USD").amount == Decimal(163)


def test_in_advance_unit_amount_has_15_decimals() -> None:
    # 3 x 0.335 = 1.005 → 1.01 after rounding → 1.01 / 3
    result = price_in_advance("standard", {"amount": "0.335"}, agg(0), agg(3), currency="USD")
    assert result.amount == Decimal("1.005")
    assert result.unit_amount == Decimal("0.336666666666667")
