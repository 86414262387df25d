"""Money rounding: one rounding mode, named, used everywhere; and the named decimal contexts.

Amounts are ``Decimal`` in currency units (``12.34`` USD); settled amounts are integers in minor units
(``1234`` cents). The number of minor-unit digits comes from :func:`billow.kit.currency.exponent`
(USD 2, JPY 0, KWD 3). Lago rounds a fee's amount to the currency's exponent with BigDecimal's
``ROUND_HALF_UP``, which rounds halves away from zero (``-1.005`` USD → ``-1.01``); Python's
``ROUND_HALF_UP`` is the same rule.

Floats are refused: they cannot represent most prices exactly.

Decimal contexts, each named once: :data:`CONTEXT` (money arithmetic: prorations, shares),
:data:`EXACT` (sums and products that must not round: taxes, usage), :data:`QUANTIZE` and
:data:`USAGE_DIVISION` (usage: Lago's ceilings). Pricing keeps its own (:data:`billow.pricing.CONTEXT`,
50 digits) and the expression evaluator its unbounded one.
"""

from __future__ import annotations

from decimal import (
    ROUND_CEILING,
    ROUND_HALF_UP,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
    localcontext,
)

from billow.kit.currency import exponent

ROUNDING = ROUND_HALF_UP
"""The rounding mode for money: halves away from zero (BigDecimal's and Python's ``ROUND_HALF_UP``)."""

#: Money arithmetic (prorations, a total's shares, scaling by a power of ten): 100 significant digits,
#: half-up; an invalid operation, a division by zero or an overflow raises instead of giving NaN or
#: Infinity. Wide enough that scaling by a power of ten never rounds.
CONTEXT = Context(prec=100, rounding=ROUNDING, traps=[InvalidOperation, DivisionByZero, Overflow])
#: Exact arithmetic (sums of taxes, of usage): a result that would need more than 400 digits raises
#: ``Inexact`` instead of rounding.
EXACT = Context(prec=400, traps=[InvalidOperation, Inexact])
#: For ``quantize`` calls, which name their own rounding: 400 digits, so that only the quantum rounds.
QUANTIZE = Context(prec=400, traps=[InvalidOperation])
#: Divisions of usage (weighted sums by the period, prorated units by the period's days): 80 digits,
#: rounded up, like the ceilings that follow them (Lago's ``ceil(5)`` of prorated units).
USAGE_DIVISION = Context(prec=80, rounding=ROUND_CEILING, traps=[InvalidOperation])


def _decimal(value: Decimal | int) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise TypeError(f"money amounts must be Decimal or int, not {type(value).__name__}")
    result = Decimal(value)
    if not result.is_finite():
        raise ValueError(f"money amounts must be finite, got {result}")
    return result


def round_minor_units(precise: Decimal | int) -> int:
    """A precise amount in minor units rounded half-up to whole minor units: ``100.5`` → ``101``,
    ``-100.5`` → ``-101`` (a fee's, a tax's, a proration's ``amount_cents`` from its precise amount)."""
    return int(_decimal(precise).to_integral_value(rounding=ROUNDING, context=CONTEXT))


def round_to_currency(amount: Decimal | int, currency: str) -> Decimal:
    """``amount`` rounded half-up to the currency's minor unit, still in currency units (1.005 USD → 1.01)."""
    digits = exponent(currency)
    with localcontext(CONTEXT):
        return _decimal(amount).quantize(Decimal(1).scaleb(-digits), rounding=ROUNDING)


def to_minor_units(amount: Decimal | int, currency: str) -> int:
    """Round half-up to the currency's exponent, then express in minor units: 1.005 USD → 101."""
    digits = exponent(currency)
    with localcontext(CONTEXT):
        # round(amount, digits) * 10**digits == round_to_integer(amount * 10**digits), exactly.
        return int(_decimal(amount).scaleb(digits).to_integral_value(rounding=ROUNDING))


def precise_minor_units(amount: Decimal | int, currency: str) -> Decimal:
    """``amount`` * 10**exponent, unrounded (Lago's ``precise_amount_cents``): 1.005 USD → 100.5."""
    digits = exponent(currency)
    with localcontext(CONTEXT):
        return _decimal(amount).scaleb(digits)


def from_minor_units(cents: int | Decimal, currency: str) -> Decimal:
    """Minor units back to currency units: 101 USD cents → 1.01; 100.5 → 1.005 (exact)."""
    digits = exponent(currency)
    with localcontext(CONTEXT):
        return _decimal(cents).scaleb(-digits)
