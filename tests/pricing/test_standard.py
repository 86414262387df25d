"""standard: units x amount (Lago's standard_service_spec)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billow.kit.money import to_minor_units
from billow.pricing import price
from tests.pricing.helpers import agg


@pytest.mark.parametrize(
    ("amount", "units", "expected", "unit_amount"),
    [
        ("5.12345", "10", "51.2345", "5.12345"),  # reference §3.1 / §10 row 1
        ("5.12345", "0", "0", "0"),
        ("0.01", "3.5", "0.035", "0.01"),
        ("100", "1", "100", "100"),
    ],
)
def test_standard(amount: str, units: str, expected: str, unit_amount: str) -> None:
    result = price("standard", {"amount": amount}, agg(units), currency="USD")
    assert result.amount == Decimal(expected)
    assert result.units == Decimal(units)
    assert result.unit_amount == Decimal(unit_amount)
    assert result.amount_details == {}


def test_standard_fee_rounds_once_half_up() -> None:
    result = price("standard", {"amount": "5.12345"}, agg(10), currency="USD")
    assert to_minor_units(result.amount, "USD") == 5123
