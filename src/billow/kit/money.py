"""Money rounding: one rounding mode, named, used everywhere.

Amounts are ``Decimal`` in currency units (``12.34`` USD); settled amounts are integers in minor units
(``1234`` cents). The number of minor-unit digits comes from :func:`billow.kit.currency.exponent`
(USD 2, JPY 0, KWD 3). Lago rounds a fee's amount to the currency's exponent with BigDecimal's
``ROUND_HALF_UP``, which rounds halves away from zero (``-1.005`` USD → ``-1.01``); Python's
``ROUND_HALF_UP`` is the same rule.

Floats are refused: they cannot represent most prices exactly.
"""

from __future__ import annotations

from decimal import (
    ROUND_HALF_UP,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
    localcontext,
)

from billow.kit.currency import exponent

ROUNDING = ROUND_HALF_UP
"""The rounding mode for money: halves away from zero (BigDecimal's and Python's ``ROUND_HALF_UP``)."""

# Wide enough that scaling by a power of ten never rounds; errors raise instead of returning NaN.
_EXACT = Context(prec=100, rounding=ROUNDING, traps=[InvalidOperation, DivisionByZero, Overflow])


def _decimal(value: Decimal | int) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise TypeError(f"money amounts must be Decimal or int, not {type(value).__name__}")
    result = Decimal(value)
    if not result.is_finite():
        raise ValueError(f"money amounts must be finite, got {result}")
    return result


def round_to_currency(amount: Decimal | int, currency: str) -> Decimal:
    """``amount`` rounded half-up to the currency's minor unit, still in currency units (1.005 USD → 1.01)."""
    digits = exponent(currency)
    with localcontext(_EXACT):
        return _decimal(amount).quantize(Decimal(1).scaleb(-digits), rounding=ROUNDING)


def to_minor_units(amount: Decimal | int, currency: str) -> int:
    """Round half-up to the currency's exponent, then express in minor units: 1.005 USD → 101."""
    digits = exponent(currency)
    with localcontext(_EXACT):
        # round(amount, digits) * 10**digits == round_to_integer(amount * 10**digits), exactly.
        return int(_decimal(amount).scaleb(digits).to_integral_value(rounding=ROUNDING))


def precise_minor_units(amount: Decimal | int, currency: str) -> Decimal:
    """``amount`` * 10**exponent, unrounded (Lago's ``precise_amount_cents``): 1.005 USD → 100.5."""
    digits = exponent(currency)
    with localcontext(_EXACT):
        return _decimal(amount).scaleb(digits)


def from_minor_units(cents: int | Decimal, currency: str) -> Decimal:
    """Minor units back to currency units: 101 USD cents → 1.01; 100.5 → 1.005 (exact)."""
    digits = exponent(currency)
    with localcontext(_EXACT):
        return _decimal(cents).scaleb(-digits)
