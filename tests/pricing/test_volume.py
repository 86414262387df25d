"""volume: Lago's volume_service_spec vectors (reference §3.6, §10 row 9)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billow.pricing import price
from tests.pricing.helpers import agg

RANGES = {
    "volume_ranges": [
        {"from_value": 0, "to_value": 100, "per_unit_amount": "2", "flat_amount": "10"},
        {"from_value": 101, "to_value": 200, "per_unit_amount": "1", "flat_amount": "0"},
        {"from_value": 201, "to_value": None, "per_unit_amount": "0.5", "flat_amount": "50"},
    ]
}


@pytest.mark.parametrize(
    ("units", "amount", "unit_amount", "details"),
    [
        ("0", "10", "0", ("10.0", "0.0", "0.0")),
        ("1", "12", "12", ("10.0", "2.0", "2.0")),
        ("100", "210", "2.1", ("10.0", "2.0", "200.0")),
        ("100.5", "100.5", "1", ("0.0", "1.0", "100.5")),  # ceil(100.5) = 101: the second range
        ("101", "101", "1", ("0.0", "1.0", "101.0")),
        ("200", "200", "1", ("0.0", "1.0", "200.0")),
        ("300", "200", "0.666666666666667", ("50.0", "0.5", "150.0")),
    ],
)
def test_volume(units: str, amount: str, unit_amount: str, details: tuple[str, str, str]) -> None:
    result = price("volume", RANGES, agg(units), currency="USD")
    assert result.amount == Decimal(amount)
    assert result.unit_amount == Decimal(unit_amount)
    flat, per_unit, per_unit_total = details
    assert result.amount_details == {
        "flat_unit_amount": flat,
        "per_unit_amount": per_unit,
        "per_unit_total_amount": per_unit_total,
    }


def test_volume_ranges_are_sorted_by_from_value() -> None:
    shuffled = {"volume_ranges": list(reversed(RANGES["volume_ranges"]))}
    assert price("volume", shuffled, agg(150), currency="USD").amount == Decimal(150)


def test_volume_first_tier_without_flat_amount() -> None:
    properties = {
        "volume_ranges": [
            {"from_value": 0, "to_value": 1, "per_unit_amount": "0", "flat_amount": "0"},
            {"from_value": 2, "to_value": 100, "per_unit_amount": "2", "flat_amount": "10"},
            {"from_value": 101, "to_value": None, "per_unit_amount": "0.5", "flat_amount": "50"},
        ]
    }
    result = price("volume", properties, agg(0), currency="USD")
    assert result.amount == 0
    assert result.amount_details == {
        "flat_unit_amount": "0.0",
        "per_unit_amount": "0.0",
        "per_unit_total_amount": "0.0",
    }
