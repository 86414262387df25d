"""percentage: Lago's percentage_service_spec vectors (reference §3.5, §10 rows 7 and 8).

Lago's spec hands the charge model an aggregation of 800 units over 4 events with running totals
[50, 150, 400]. Events (50, 100, 250, 400) reproduce it: with ``free_units_per_events = 3`` Lago's sum
aggregator keeps the cumulative sums of the first three events. The min/max vectors use the events
(10, 80, 10000): 10090 units over 3 events; their running totals are () without free units, (10, 90)
with ``free_units_per_total_aggregation = 30`` (sums up to the first one above 30), (10, 90) with
``free_units_per_events = 2``, and (10, 90, 10090) with ``free_units_per_events = 3``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from billow.pricing import Aggregation, price
from billow.pricing.percentage import running_totals
from tests.pricing.helpers import agg

SPEC_EVENTS = (50, 100, 250, 400)
BASE = {
    "rate": "1.3",
    "fixed_amount": "2.0",
    "free_units_per_events": 3,
    "free_units_per_total_aggregation": "250.0",
}


def details(
    units: str,
    free_units: str,
    free_events: int,
    paid_units: str,
    rate: str,
    per_unit_total: str,
    paid_events: int,
    fixed_unit: str,
    fixed_total: str,
    adjustment: str = "0.0",
) -> dict[str, Any]:
    return {
        "units": units,
        "free_units": free_units,
        "free_events": free_events,
        "paid_units": paid_units,
        "rate": rate,
        "per_unit_total_amount": per_unit_total,
        "paid_events": paid_events,
        "fixed_fee_unit_amount": fixed_unit,
        "fixed_fee_total_amount": fixed_total,
        "min_max_adjustment_total_amount": adjustment,
    }


def spec_aggregation(properties: dict[str, Any], units: int = 800) -> Aggregation:
    return agg(
        units, events_count=4, running_totals=running_totals(properties, [Decimal(v) for v in SPEC_EVENTS])
    )


@pytest.mark.parametrize(
    ("overrides", "running", "amount", "unit_amount", "expected_details"),
    [
        pytest.param(
            {},
            (50, 150, 400),
            "11.15",  # (800 - 250) x 1.3 % + (4 - 2) x 2.0
            "0.0139375",
            details("800.0", "250.0", 2, "550.0", "1.3", "7.15", 2, "2.0", "4.0"),
            id="free per events and per total",
        ),
        pytest.param(
            {"free_units_per_events": None},
            (50, 150, 400),
            "11.15",
            "0.0139375",
            details("800.0", "250.0", 2, "550.0", "1.3", "7.15", 2, "2.0", "4.0"),
            id="free per total only",
        ),
        pytest.param(
            {"free_units_per_total_aggregation": None},
            (50, 150, 400),
            "7.2",  # (800 - 400) x 1.3 % + (4 - 3) x 2.0
            "0.009",
            details("800.0", "400.0", 3, "400.0", "1.3", "5.2", 1, "2.0", "2.0"),
            id="free per events only",
        ),
        pytest.param(
            {"free_units_per_total_aggregation": "500.0"},
            (50, 150, 400),
            "7.2",
            "0.009",
            details("800.0", "400.0", 3, "400.0", "1.3", "5.2", 1, "2.0", "2.0"),
            id="free total above the last running total",
        ),
        pytest.param(
            {"free_units_per_events": None, "free_units_per_total_aggregation": None},
            (),
            "18.4",  # 800 x 1.3 % + 4 x 2.0
            "0.023",
            details("800.0", "0.0", 0, "800.0", "1.3", "10.4", 4, "2.0", "8.0"),
            id="no free units",
        ),
        pytest.param(
            {"rate": "0", "free_units_per_events": None, "free_units_per_total_aggregation": None},
            (),
            "8",
            "0.01",
            details("800.0", "0.0", 0, "800.0", "0.0", "0.0", 4, "2.0", "8.0"),
            id="rate 0",
        ),
    ],
)
def test_percentage_spec(
    overrides: dict[str, Any],
    running: tuple[int, ...],
    amount: str,
    unit_amount: str,
    expected_details: dict[str, Any],
) -> None:
    properties = {**BASE, **overrides}
    aggregation = spec_aggregation(properties)
    assert aggregation.running_totals == tuple(Decimal(v) for v in running)
    result = price("percentage", properties, aggregation, currency="USD")
    assert result.amount == Decimal(amount)
    assert result.unit_amount == Decimal(unit_amount)
    assert result.amount_details == expected_details


def test_percentage_zero_units() -> None:
    aggregation = agg(0, events_count=4, running_totals=(50, 150, 400))
    result = price("percentage", BASE, aggregation, currency="USD")
    assert result.amount == 0
    assert result.unit_amount == 0
    # Lago writes per_unit_total_amount as the integer 0 here; Billow writes "0.0" like every other decimal.
    assert result.amount_details == details("0.0", "250.0", 2, "0.0", "1.3", "0.0", 2, "2.0", "0.0")


def test_percentage_small_units() -> None:
    result = price("percentage", {"rate": "2.9"}, agg(4, events_count=4), currency="USD")
    assert result.amount == Decimal("0.116")
    assert result.unit_amount == Decimal("0.029")
    assert result.amount_details == details("4.0", "0.0", 0, "4.0", "2.9", "0.116", 4, "0.0", "0.0")


def test_percentage_more_free_events_than_events() -> None:
    properties = {**BASE, "free_units_per_events": 5, "free_units_per_total_aggregation": None}
    aggregation = agg(400, events_count=4, running_totals=(50, 150, 400))
    assert price("percentage", properties, aggregation, currency="USD").amount == 0


MIN_MAX = {
    "rate": "2.99",
    "fixed_amount": "0",
    "free_units_per_total_aggregation": "0",
    "per_transaction_min_amount": "1.75",
    "per_transaction_max_amount": "12",
}
MIN_MAX_EVENTS = (10, 80, 10_000)


def min_max_aggregation(properties: dict[str, Any]) -> Aggregation:
    values = [Decimal(v) for v in MIN_MAX_EVENTS]
    return agg(
        10_090,
        events_count=3,
        event_values=values,
        running_totals=running_totals(properties, values),
    )


@pytest.mark.parametrize(
    ("overrides", "running", "amount", "adjustment"),
    [
        # 1.75 (10 x 2.99 % = 0.299 < min) + 2.392 + 12 (10000 x 2.99 % = 299 > max)
        pytest.param({}, (), "16.142", "-285.549", id="min and max"),
        # 2.299 + 4.392 + 12
        pytest.param({"fixed_amount": "2.0"}, (), "18.691", "-289.0", id="with fixed amount"),
        # (10 + 80 - 30) x 2.99 % = 1.794, then 12
        pytest.param(
            {"free_units_per_total_aggregation": "30"}, (10, 90), "13.794", "-287.0", id="free total 30"
        ),
        # the first two events are free; 10000 x 2.99 % > 12
        pytest.param({"free_units_per_events": 2}, (10, 90), "12", "-287.0", id="free per events 2"),
        # both: 10000 of free amount is consumed across the events, (10090 - 10000) x 2.99 % = 2.691
        pytest.param(
            {"free_units_per_events": 3, "free_units_per_total_aggregation": "10000"},
            (10, 90, 10_090),
            "2.691",
            "0.0",
            id="free per events and total",
        ),
        pytest.param({"per_transaction_max_amount": None}, (), "303.142", "1.451", id="minimum only"),
    ],
)
def test_percentage_per_transaction_min_max(
    overrides: dict[str, Any], running: tuple[int, ...], amount: str, adjustment: str
) -> None:
    properties = {**MIN_MAX, **overrides}
    aggregation = min_max_aggregation(properties)
    assert aggregation.running_totals == tuple(Decimal(v) for v in running)
    result = price("percentage", properties, aggregation, currency="USD")
    assert result.amount == Decimal(amount)
    assert result.amount_details["min_max_adjustment_total_amount"] == adjustment


def test_percentage_without_min_max_is_lagos_non_premium_figure() -> None:
    properties = {"rate": "2.99", "fixed_amount": "0", "free_units_per_total_aggregation": "0"}
    result = price("percentage", properties, min_max_aggregation(properties), currency="USD")
    assert result.amount == Decimal("301.691")  # (10 + 80 + 10000) x 2.99 %


def test_min_max_details() -> None:
    properties = {**MIN_MAX, "free_units_per_total_aggregation": "30"}
    result = price("percentage", properties, min_max_aggregation(properties), currency="USD")
    assert result.amount_details == details(
        "10090.0", "30.0", 1, "10060.0", "2.99", "300.794", 2, "0.0", "0.0", adjustment="-287.0"
    )


@pytest.mark.parametrize(
    ("properties", "values", "expected"),
    [
        ({}, (5, 10), ()),
        ({"free_units_per_events": 2}, (5, 10, 20), (5, 15)),
        ({"free_units_per_events": 5}, (5, 10), (5, 15)),
        ({"free_units_per_total_aggregation": "12"}, (5, 10, 20), (5, 15)),
        ({"free_units_per_total_aggregation": "15"}, (5, 10, 20), (5, 15, 35)),
        ({"free_units_per_events": 1, "free_units_per_total_aggregation": "100"}, (5, 10), (5,)),
    ],
)
def test_running_totals(
    properties: dict[str, Any], values: tuple[int, ...], expected: tuple[int, ...]
) -> None:
    result = running_totals(properties, [Decimal(v) for v in values])
    assert result == tuple(Decimal(v) for v in expected)
