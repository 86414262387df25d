"""The bounds of numbers a price can be built from (``billow.kit.limits``) and their use by the charge rules.

The API refuses what lies beyond them (tests/kit/test_hardening_numbers.py); these prove the bounds
themselves and that pricing anything within them keeps every amount within ``BIGINT`` minor units.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from billow.kit import limits
from billow.kit.money import to_minor_units
from billow.plans.charge_rules import validate_properties
from billow.pricing import Aggregation, price


class TestIsPrice:
    @pytest.mark.parametrize(
        "value",
        ["0", "0.5", "1e3", " 12 ", "10000000000000", "10000000000000.000", "0.000000000000001", "1E-15"],
    )
    def test_accepted(self, value: str) -> None:
        assert limits.is_price(value)

    @pytest.mark.parametrize(
        "value",
        [
            "1e400",
            "1e14",
            "10000000000000.01",
            "1" + "0" * 30,
            "NaN",
            "nan",
            "sNaN",
            "Infinity",
            "-Infinity",
            "inf",
            "1e-400",
            "0.0000000000000001",  # 16 decimals
            "-1",
            "-0.5",
            "",
            "abc",
            "\uff11",  # FULLWIDTH DIGIT ONE: not ASCII
            "1" * 201,
            "1" * 5000,
        ],
    )
    def test_refused(self, value: str) -> None:
        assert not limits.is_price(value)

    @pytest.mark.parametrize("value", [1, 0.5, Decimal("1"), None, True, ["1"]])
    def test_only_strings(self, value: Any) -> None:
        assert not limits.is_price(value)


class TestQuantitiesAndHelpers:
    def test_quantity_bounds(self) -> None:
        assert limits.is_quantity(Decimal(10) ** 18)
        assert limits.is_quantity(Decimal("0.000000000000001"))
        assert not limits.is_quantity(Decimal(10) ** 18 + 1)
        assert not limits.is_quantity(Decimal("1e-16"))
        assert not limits.is_quantity(Decimal(-1))
        assert not limits.is_quantity(Decimal("NaN"))
        assert not limits.is_quantity(Decimal("Infinity"))

    def test_decimal_places(self) -> None:
        assert limits.decimal_places(Decimal("1.50")) == 1
        assert limits.decimal_places(Decimal("1e-3")) == 3
        assert limits.decimal_places(Decimal("1e3")) == 0
        assert limits.decimal_places(Decimal("100")) == 0

    def test_amount_cents(self) -> None:
        assert limits.is_amount_cents(0)
        assert limits.is_amount_cents(10**15)
        assert not limits.is_amount_cents(10**15 + 1)
        assert not limits.is_amount_cents(-1)
        assert limits.is_amount_cents(-1, low=-5)

    def test_clamp_bigint(self) -> None:
        assert limits.clamp_bigint(10**30) == 2**63 - 1
        assert limits.clamp_bigint(-(10**30)) == -(2**63)
        assert limits.clamp_bigint(42) == 42

    def test_in_range_refuses_non_finite(self) -> None:
        assert not limits.in_range(Decimal("NaN"), 0, 10)
        assert not limits.in_range(Decimal("Infinity"), 0, 10)
        assert limits.in_range(Decimal("10"), 0, 10)


class TestBoundsKeepAmountsWithinBigint:
    """The bounds are chosen so that what billing derives from one bounded value fits ``BIGINT``."""

    def test_one_unit_at_the_largest_price_in_any_currency(self) -> None:
        for currency in ("USD", "JPY", "KWD", "CLF"):
            amount = price(
                "standard",
                {"amount": str(limits.MAX_PRICE)},
                Aggregation(units=Decimal(1)),
                currency=currency,
            )
            assert to_minor_units(amount.amount, currency) <= 10**17 < limits.BIGINT_MAX

    def test_thousands_of_largest_amounts_sum_within_bigint(self) -> None:
        assert 9_000 * limits.MAX_AMOUNT_CENTS < limits.BIGINT_MAX
        assert limits.MAX_AMOUNT_CENTS < 2**53  # exact in a JavaScript number

    def test_largest_tax_on_largest_amount(self) -> None:
        assert limits.MAX_AMOUNT_CENTS * limits.MAX_TAX_RATE / 100 < limits.BIGINT_MAX

    def test_largest_duration_is_a_date(self) -> None:
        from datetime import UTC, datetime, timedelta

        assert datetime(2200, 1, 1, tzinfo=UTC) + timedelta(days=limits.MAX_DAYS) < datetime.max.replace(
            tzinfo=UTC
        )


def _codes(model: str, properties: dict[str, Any]) -> list[str]:
    return validate_properties(model, properties, aggregation_type="sum_agg")[1].get("properties", [])


def _range(**fields: Any) -> dict[str, Any]:
    return {"from_value": 0, "to_value": None, "per_unit_amount": "1", "flat_amount": "0", **fields}


class TestChargeRulesUseTheBounds:
    @pytest.mark.parametrize("bad", ["1e400", "10000000000000.5", "NaN", "Infinity", "1e-400"])
    def test_prices(self, bad: str) -> None:
        assert _codes("standard", {"amount": bad}) == ["invalid_amount"]
        assert _codes("package", {"amount": bad, "package_size": 1, "free_units": 0}) == ["invalid_amount"]
        assert _codes("graduated", {"graduated_ranges": [_range(per_unit_amount=bad)]}) == ["invalid_amount"]
        assert _codes("volume", {"volume_ranges": [_range(flat_amount=bad)]}) == ["invalid_amount"]
        assert _codes("percentage", {"rate": bad}) == ["invalid_rate"]
        assert _codes("percentage", {"rate": "1", "fixed_amount": bad}) == ["invalid_fixed_amount"]
        assert _codes("percentage", {"rate": "1", "per_transaction_min_amount": bad}) == ["invalid_amount"]
        percentage_ranges = [{"from_value": 0, "to_value": None, "rate": bad, "flat_amount": "0"}]
        assert _codes("graduated_percentage", {"graduated_percentage_ranges": percentage_ranges}) == [
            "invalid_rate"
        ]

    def test_largest_price_accepted(self) -> None:
        assert _codes("standard", {"amount": "10000000000000"}) == []
        assert _codes("standard", {"amount": "0.123456789012345"}) == []

    @pytest.mark.parametrize("bound", [10**19, "1e30", "1e400", 1e30, "NaN", "0.0000000000000001"])
    def test_range_bounds(self, bound: Any) -> None:
        ranges = [_range(to_value=bound), _range(from_value=bound)]
        assert _codes("graduated", {"graduated_ranges": ranges}) == ["invalid_graduated_ranges"]

    def test_largest_range_bound_accepted(self) -> None:
        ranges = [_range(to_value=10**18), _range(from_value=10**18)]
        assert _codes("graduated", {"graduated_ranges": ranges}) == []

    def test_integer_quantities(self) -> None:
        assert _codes("package", {"amount": "1", "package_size": 10**19, "free_units": 0}) == [
            "invalid_package_size"
        ]
        assert _codes("package", {"amount": "1", "package_size": 1, "free_units": 10**19}) == [
            "invalid_free_units"
        ]
        assert _codes("package", {"amount": "1", "package_size": 10**18, "free_units": 10**18}) == []
        assert _codes("percentage", {"rate": "1", "free_units_per_events": 10**30}) == [
            "invalid_free_units_per_events"
        ]
