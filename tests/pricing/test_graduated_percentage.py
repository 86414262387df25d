"""graduated_percentage: Lago's graduated_percentage_service_spec vectors (reference §3.3, §10 row 4)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from billow.pricing import price
from tests.pricing.helpers import agg

RANGES = {
    "graduated_percentage_ranges": [
        {"from_value": 0, "to_value": 10, "flat_amount": "200", "rate": "1"},
        {"from_value": 11, "to_value": 20, "flat_amount": "300", "rate": "2"},
        {"from_value": 21, "to_value": None, "flat_amount": "400", "rate": "3"},
    ]
}


def tier(
    from_value: Any, to_value: Any, flat: str, rate: str, units: str, per_unit_total: str, total: str
) -> Any:
    return {
        "from_value": from_value,
        "to_value": to_value,
        "flat_unit_amount": flat,
        "rate": rate,
        "units": units,
        "per_unit_total_amount": per_unit_total,
        "total_with_flat_amount": total,
    }


FIRST_FULL = tier(0, 10, "200.0", "1.0", "10.0", "0.1", "200.1")


@pytest.mark.parametrize(
    ("units", "amount", "ranges"),
    [
        ("0", "200", [tier(0, 10, "200.0", "1.0", "0.0", "0.0", "200.0")]),
        ("1", "200.01", [tier(0, 10, "200.0", "1.0", "1.0", "0.01", "200.01")]),
        ("10", "200.1", [FIRST_FULL]),
        ("11", "500.12", [FIRST_FULL, tier(11, 20, "300.0", "2.0", "1.0", "0.02", "300.02")]),
        ("12", "500.14", [FIRST_FULL, tier(11, 20, "300.0", "2.0", "2.0", "0.04", "300.04")]),
        (
            "21",
            "900.33",
            [
                FIRST_FULL,
                tier(11, 20, "300.0", "2.0", "10.0", "0.2", "300.2"),
                tier(21, None, "400.0", "3.0", "1.0", "0.03", "400.03"),
            ],
        ),
    ],
)
def test_graduated_percentage(units: str, amount: str, ranges: list[Any]) -> None:
    result = price("graduated_percentage", RANGES, agg(units, events_count=1), currency="USD")
    assert result.amount == Decimal(amount)
    assert result.amount_details == {"graduated_percentage_ranges": ranges}


@pytest.mark.parametrize(
    ("units", "unit_amount", "lago_rounded"),
    [
        ("0", "0", None),
        ("1", "200.01", None),
        ("10", "20.01", None),
        ("11", "45.465454545454545", "45.47"),
        ("12", "41.678333333333333", "41.68"),
        ("21", "42.872857142857143", "42.87"),
    ],
)
def test_graduated_percentage_unit_amount(units: str, unit_amount: str, lago_rounded: str | None) -> None:
    result = price("graduated_percentage", RANGES, agg(units), currency="USD")
    assert result.unit_amount == Decimal(unit_amount)
    if lago_rounded:
        assert result.unit_amount.quantize(Decimal("0.01")) == Decimal(lago_rounded)


def test_first_tier_without_flat_amount_costs_nothing_at_zero() -> None:
    properties = {
        "graduated_percentage_ranges": [
            {"from_value": 0, "to_value": 0.01, "flat_amount": "0", "rate": "0"},
            {"from_value": 0.01, "to_value": 10, "flat_amount": "200", "rate": "1"},
            {"from_value": 11, "to_value": None, "flat_amount": "300", "rate": "2"},
        ]
    }
    assert price("graduated_percentage", properties, agg(0), currency="USD").amount == 0


def test_adjacent_ranges_bill_each_unit_once() -> None:
    # Billow applies graduated's adjacent layout here too (Lago adds one unit per range for this layout).
    properties = {
        "graduated_percentage_ranges": [
            {"from_value": 0, "to_value": 10, "flat_amount": "0", "rate": "1"},
            {"from_value": 10, "to_value": 20, "flat_amount": "0", "rate": "2"},
            {"from_value": 20, "to_value": None, "flat_amount": "0", "rate": "3"},
        ]
    }
    result = price("graduated_percentage", properties, agg(15), currency="USD")
    assert result.amount == Decimal("0.2")  # 10 x 1 % + 5 x 2 %
    assert [r["units"] for r in result.amount_details["graduated_percentage_ranges"]] == ["10.0", "5.0"]
