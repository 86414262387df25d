"""Amounts typed in the currency's major unit, converted exactly to minor units and back."""

from __future__ import annotations

import pytest

from billow.errors import ValidationFailed
from billow.web.amounts import to_major_units, to_minor_units


@pytest.mark.parametrize(
    ("text", "currency", "cents"),
    [
        ("49.5", "EUR", 4950),
        ("49.50", "EUR", 4950),
        ("49", "EUR", 4900),
        ("0.01", "USD", 1),
        (".5", "USD", 50),
        ("5.", "USD", 500),
        (" 12.34 ", "EUR", 1234),
        ("0", "EUR", 0),
        ("-3.20", "EUR", -320),
        ("1000", "JPY", 1000),
        ("1.250", "KWD", 1250),
        ("0.001", "KWD", 1),
        ("10000000000000.00", "EUR", 1_000_000_000_000_000),
    ],
)
def test_an_amount_becomes_exact_minor_units(text: str, currency: str, cents: int) -> None:
    assert to_minor_units(text, currency) == cents


@pytest.mark.parametrize(
    ("text", "currency"),
    [
        ("49.505", "EUR"),  # a third decimal in a two-decimal currency
        ("49.500", "EUR"),  # even a zero: more decimals than the currency has
        ("10.5", "JPY"),
        ("10.0", "JPY"),
        ("1.2345", "KWD"),
        ("", "EUR"),
        ("abc", "EUR"),
        ("1e3", "EUR"),
        ("1,000", "EUR"),
        ("49,50", "EUR"),
        ("NaN", "EUR"),
        ("Infinity", "EUR"),
        ("1.2.3", "EUR"),
        ("12", "XXX1"),
        ("12", "ZZZ"),
        ("1" * 29, "EUR"),
    ],
)
def test_anything_else_is_value_is_invalid_on_the_field(text: str, currency: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        to_minor_units(text, currency, field="amount")
    assert refused.value.error_details == {"amount": ["value_is_invalid"]}


def test_the_default_field_is_amount_cents() -> None:
    with pytest.raises(ValidationFailed) as refused:
        to_minor_units("x", "EUR")
    assert refused.value.error_details == {"amount_cents": ["value_is_invalid"]}


@pytest.mark.parametrize(
    ("cents", "currency", "text"),
    [
        (4950, "EUR", "49.50"),
        (1, "USD", "0.01"),
        (0, "EUR", "0.00"),
        (1000, "JPY", "1000"),
        (1250, "KWD", "1.250"),
    ],
)
def test_a_stored_amount_is_shown_in_major_units(cents: int, currency: str, text: str) -> None:
    assert to_major_units(cents, currency) == text
    assert to_minor_units(text, currency) == cents
