"""graduated: Lago's graduated_service_spec vectors (reference §3.2, §10 rows 2 and 3)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from billow.pricing import price
from tests.pricing.helpers import agg

INCLUSIVE = {
    "graduated_ranges": [
        {"from_value": 0, "to_value": 10, "per_unit_amount": "10", "flat_amount": "2"},
        {"from_value": 11, "to_value": 20, "per_unit_amount": "5", "flat_amount": "3"},
        {"from_value": 21, "to_value": None, "per_unit_amount": "5", "flat_amount": "3"},
    ]
}
ADJACENT = {
    "graduated_ranges": [
        {"from_value": 0, "to_value": 0.1, "per_unit_amount": "10", "flat_amount": "0"},
        {"from_value": 0.1, "to_value": 1, "per_unit_amount": "5", "flat_amount": "0"},
        {"from_value": 1, "to_value": None, "per_unit_amount": "2", "flat_amount": "0"},
    ]
}


def tier(
    from_value: Any, to_value: Any, flat: str, per_unit: str, units: str, per_unit_total: str, total: str
) -> dict[str, Any]:
    return {
        "from_value": from_value,
        "to_value": to_value,
        "flat_unit_amount": flat,
        "per_unit_amount": per_unit,
        "units": units,
        "per_unit_total_amount": per_unit_total,
        "total_with_flat_amount": total,
    }


FIRST_FULL = tier(0, 10, "2.0", "10.0", "10.0", "100.0", "102.0")


@pytest.mark.parametrize(
    ("units", "amount", "unit_amount", "ranges"),
    [
        ("0", "2", "0", [tier(0, 10, "2.0", "0.0", "0.0", "0.0", "2.0")]),
        ("1", "12", "12", [tier(0, 10, "2.0", "10.0", "1.0", "10.0", "12.0")]),
        ("10", "102", "10.2", [FIRST_FULL]),
        ("11", "110", "10", [FIRST_FULL, tier(11, 20, "3.0", "5.0", "1.0", "5.0", "8.0")]),
        # 115 / 12 = 9.58333...; Lago stores precise_unit_amount as numeric(30,15).
        ("12", "115", "9.583333333333333", [FIRST_FULL, tier(11, 20, "3.0", "5.0", "2.0", "10.0", "13.0")]),
        (
            "21",
            "163",
            "7.761904761904762",
            [
                FIRST_FULL,
                tier(11, 20, "3.0", "5.0", "10.0", "50.0", "53.0"),
                tier(21, None, "3.0", "5.0", "1.0", "5.0", "8.0"),
            ],
        ),
        # Between two inclusive ranges: 10.5 puts 0.5 units in 11-20 (10.5 - 11 + 1).
        (
            "10.5",
            "107.5",
            "10.238095238095238",
            [FIRST_FULL, tier(11, 20, "3.0", "5.0", "0.5", "2.5", "5.5")],
        ),
    ],
)
def test_graduated_inclusive_ranges(units: str, amount: str, unit_amount: str, ranges: list[Any]) -> None:
    result = price("graduated", INCLUSIVE, agg(units), currency="USD")
    assert result.amount == Decimal(amount)
    assert result.unit_amount == Decimal(unit_amount)
    assert result.amount_details == {"graduated_ranges": ranges}


def test_graduated_lago_unit_amounts_rounded_like_the_spec() -> None:
    assert price("graduated", INCLUSIVE, agg(12), currency="USD").unit_amount.quantize(
        Decimal("0.00001")
    ) == Decimal("9.58333")
    assert price("graduated", INCLUSIVE, agg(21), currency="USD").unit_amount.quantize(
        Decimal("0.01")
    ) == Decimal("7.76")


@pytest.mark.parametrize(
    ("units", "amount", "ranges"),
    [
        ("0.05", "0.5", [tier(0, 0.1, "0.0", "10.0", "0.05", "0.5", "0.5")]),
        (
            "0.5",
            "3.0",
            [
                tier(0, 0.1, "0.0", "10.0", "0.1", "1.0", "1.0"),
                tier(0.1, 1, "0.0", "5.0", "0.4", "2.0", "2.0"),
            ],
        ),
        (
            "3",
            "9.5",
            [
                tier(0, 0.1, "0.0", "10.0", "0.1", "1.0", "1.0"),
                tier(0.1, 1, "0.0", "5.0", "0.9", "4.5", "4.5"),
                tier(1, None, "0.0", "2.0", "2.0", "4.0", "4.0"),
            ],
        ),
    ],
)
def test_graduated_adjacent_ranges(units: str, amount: str, ranges: list[Any]) -> None:
    result = price("graduated", ADJACENT, agg(units), currency="USD")
    assert result.amount == Decimal(amount)
    assert result.amount_details == {"graduated_ranges": ranges}


def test_adjacent_integer_ranges_do_not_count_a_boundary_twice() -> None:
    properties = {
        "graduated_ranges": [
            {"from_value": 0, "to_value": 10, "per_unit_amount": "1", "flat_amount": "0"},
            {"from_value": 10, "to_value": None, "per_unit_amount": "2", "flat_amount": "0"},
        ]
    }
    # 10 units at 1, then 5 at 2.
    assert price("graduated", properties, agg(15), currency="USD").amount == Decimal(20)


def test_graduated_first_tier_without_flat_amount_costs_nothing_at_zero() -> None:
    properties = {
        "graduated_ranges": [
            {"from_value": 0, "to_value": 0.01, "per_unit_amount": "0", "flat_amount": "0"},
            {"from_value": 0.01, "to_value": 10, "per_unit_amount": "10", "flat_amount": "2"},
            {"from_value": 11, "to_value": None, "per_unit_amount": "5", "flat_amount": "3"},
        ]
    }
    result = price("graduated", properties, agg(0), currency="USD")
    assert result.amount == 0
    assert result.unit_amount == 0


def test_string_bounds_are_echoed_as_given() -> None:
    properties = {
        "graduated_ranges": [
            {"from_value": "0", "to_value": "10", "per_unit_amount": "1", "flat_amount": "0"},
            {"from_value": "11", "to_value": None, "per_unit_amount": "1", "flat_amount": "0"},
        ]
    }
    details = price("graduated", properties, agg(12), currency="USD").amount_details
    assert [(r["from_value"], r["to_value"]) for r in details["graduated_ranges"]] == [
        ("0", "10"),
        ("11", None),
    ]
