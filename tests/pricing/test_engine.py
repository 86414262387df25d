"""The public entry points: dispatch, errors, clamping, independence from the caller's context."""

from __future__ import annotations

from decimal import Decimal, localcontext

import pytest

from billow.pricing import CHARGE_MODELS, IN_ADVANCE_CHARGE_MODELS, ChargeAmount, price
from tests.pricing.helpers import agg
from tests.pricing.test_graduated import INCLUSIVE
from tests.pricing.test_volume import RANGES as VOLUME


def test_models() -> None:
    assert sorted(CHARGE_MODELS) == [
        "dynamic",
        "graduated",
        "graduated_percentage",
        "package",
        "percentage",
        "standard",
        "volume",
    ]
    assert sorted(CHARGE_MODELS - IN_ADVANCE_CHARGE_MODELS) == ["volume"]


@pytest.mark.parametrize("model", ["custom", "tiered", ""])
def test_unknown_model(model: str) -> None:
    with pytest.raises(ValueError, match="unknown charge model"):
        price(model, {}, agg(1), currency="USD")


def test_unknown_currency() -> None:
    with pytest.raises(ValueError):
        price("standard", {"amount": "1"}, agg(1), currency="ZZZ")


@pytest.mark.parametrize(
    "properties",
    [{}, {"amount": None}, {"amount": "abc"}, {"amount": "NaN"}, {"amount": True}],
)
def test_malformed_properties(properties: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        price("standard", properties, agg(1), currency="USD")


@pytest.mark.parametrize(
    ("model", "properties", "units"),
    [
        ("standard", {"amount": "2"}, "-5"),
        ("graduated", INCLUSIVE, "-1"),
        ("package", {"amount": "100", "package_size": 10, "free_units": 0}, "-15"),
        ("percentage", {"rate": "1", "fixed_amount": "1"}, "-100"),
        ("volume", VOLUME, "-3"),
        ("dynamic", {}, "-2"),
    ],
)
def test_negative_units_give_a_zero_fee(model: str, properties: dict[str, object], units: str) -> None:
    # Lago (fees/charge_service.rb): negative units or amount → units, amount and unit amount 0.
    result = price(
        model, properties, agg(units, events_count=2, precise_total_amount_cents="-500"), currency="USD"
    )
    assert (result.amount, result.units, result.unit_amount) == (0, 0, 0)


def test_results_are_decimals() -> None:
    result = price("graduated", INCLUSIVE, agg(12), currency="USD")
    assert isinstance(result, ChargeAmount)
    assert all(isinstance(v, Decimal) for v in (result.amount, result.units, result.unit_amount))


def test_independent_of_the_callers_decimal_context() -> None:
    with localcontext() as ctx:
        ctx.prec = 2
        result = price("standard", {"amount": "5.12345"}, agg("123456.789"), currency="USD")
    assert result.amount == Decimal("632524.68560205")


def test_float_bounds_are_read_through_their_text() -> None:
    properties = {
        "graduated_ranges": [
            {"from_value": 0, "to_value": 0.1, "per_unit_amount": "10", "flat_amount": "0"},
            {"from_value": 0.1, "to_value": None, "per_unit_amount": "5", "flat_amount": "0"},
        ]
    }
    assert price("graduated", properties, agg("0.3"), currency="USD").amount == Decimal("2.0")
