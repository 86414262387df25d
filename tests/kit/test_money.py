"""kit.money: one rounding mode (half-up, halves away from zero), currency exponents from babel."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, localcontext

import pytest

from billow.kit.money import (
    ROUNDING,
    from_minor_units,
    precise_minor_units,
    round_to_currency,
    to_minor_units,
)


def test_rounding_mode_is_named_half_up() -> None:
    assert ROUNDING == ROUND_HALF_UP


@pytest.mark.parametrize(
    ("amount", "currency", "cents"),
    [
        ("1.005", "USD", 101),
        ("1.004", "USD", 100),
        ("51.2345", "USD", 5123),
        ("0", "USD", 0),
        ("12.5", "JPY", 13),
        ("12.4", "JPY", 12),
        ("1.0005", "KWD", 1001),
        ("1.0004", "KWD", 1000),
        # Half-up rounds halves away from zero, for negative amounts too (BigDecimal's ROUND_HALF_UP).
        ("-1.005", "USD", -101),
        ("-1.004", "USD", -100),
        ("-12.5", "JPY", -13),
        ("123456789012345678901234567890.125", "USD", 12345678901234567890123456789013),
    ],
)
def test_to_minor_units(amount: str, currency: str, cents: int) -> None:
    result = to_minor_units(Decimal(amount), currency)
    assert result == cents
    assert type(result) is int


def test_to_minor_units_accepts_int() -> None:
    assert to_minor_units(3, "USD") == 300


@pytest.mark.parametrize(
    ("amount", "currency", "precise"),
    [
        ("1.005", "USD", "100.5"),
        ("51.2345", "USD", "5123.45"),
        ("12.5", "JPY", "12.5"),
        ("1.0005", "KWD", "1000.5"),
        ("-0.001", "USD", "-0.1"),
    ],
)
def test_precise_minor_units(amount: str, currency: str, precise: str) -> None:
    assert precise_minor_units(Decimal(amount), currency) == Decimal(precise)


@pytest.mark.parametrize(
    ("cents", "currency", "amount"),
    [
        (101, "USD", "1.01"),
        (Decimal("100.5"), "USD", "1.005"),
        (13, "JPY", "13"),
        (1001, "KWD", "1.001"),
        (-5, "USD", "-0.05"),
    ],
)
def test_from_minor_units(cents: int | Decimal, currency: str, amount: str) -> None:
    assert from_minor_units(cents, currency) == Decimal(amount)


@pytest.mark.parametrize(
    ("amount", "currency", "rounded"),
    [("1.005", "USD", "1.01"), ("12.5", "JPY", "13"), ("1.0005", "KWD", "1.001"), ("-1.005", "USD", "-1.01")],
)
def test_round_to_currency(amount: str, currency: str, rounded: str) -> None:
    assert round_to_currency(Decimal(amount), currency) == Decimal(rounded)


def test_independent_of_the_callers_decimal_context() -> None:
    with localcontext() as ctx:
        ctx.prec = 3
        assert to_minor_units(Decimal("123456.785"), "USD") == 12345679
        assert precise_minor_units(Decimal("123456.785"), "USD") == Decimal("12345678.5")


def test_floats_are_refused() -> None:
    with pytest.raises(TypeError):
        to_minor_units(1.005, "USD")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        from_minor_units(1.5, "USD")  # type: ignore[arg-type]


def test_unknown_currency() -> None:
    with pytest.raises(ValueError):
        to_minor_units(Decimal(1), "XYZ")
