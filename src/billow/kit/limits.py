"""The ranges a number sent to the API may have: one place for every bound, and why it is safe.

A number accepted at the API edge is stored, then multiplied, summed and converted during billing. A value
no real bill has (a 10^10-day trial, a price of ``"1e400"``, 10^30 cents) used to be accepted and then
crashed billing (``OverflowError`` in date arithmetic, amounts above PostgreSQL's ``BIGINT``). Every bound
below is far above what a real bill needs and low enough that what billing derives from it still fits:

* **Amounts in minor units** (``amount_cents`` of plans, add-ons, coupons, commitments, thresholds,
  ``min_amount_cents``, credit/refund amounts...): ``0 <= x <= MAX_AMOUNT_CENTS = 10^15`` (10 trillion
  dollars). An invoice adds up fees, taxes and credits: ~9,000 such amounts still fit ``BIGINT``
  (9.2 x 10^18), and 10^15 < 2^53, so every amount is exact in a JavaScript (double) client too.
* **Prices in charge properties** (decimal strings: ``amount``, ``per_unit_amount``, ``flat_amount``,
  ``fixed_amount``, ``rate``, ``per_transaction_min/max_amount``): ``0 <= x <= MAX_PRICE = 10^13`` currency
  units with at most ``MAX_PRICE_DECIMALS = 15`` decimals. 10^13 units are 10^15 cents (the amount bound
  above) in a two-decimal currency and at most 10^17 minor units in any ISO currency (exponent <= 4): one
  unit's fee always fits ``BIGINT``. 15 decimals is the precision Lago stores unit amounts with
  (``numeric(30,15)``); ``"1e400"``, ``"1e-400"``, ``"NaN"`` and ``"Infinity"`` are refused.
* **Quantities** (range bounds ``from_value``/``to_value``, ``free_units``, ``package_size``,
  ``free_units_per_events``, ``free_units_per_total_aggregation``, fee ``units``): ``0 <= x <=
  MAX_QUANTITY = 10^18`` with at most 15 decimals: within ``NUMERIC(38, 18)`` (20 integer digits), where
  Billow stores aggregated units.
* **Durations in days** (``trial_period``, ``net_payment_term``, ``invoice_grace_period``):
  ``0 <= x <= MAX_DAYS = 36,500`` (100 years): ``datetime`` arithmetic ends at year 9999, and a date
  100 years ahead is always representable.
* **Counts of billing periods** (coupon ``frequency_duration``): ``<= MAX_PERIODS = 36,500``.
* **Percentages**: coupon ``percentage_rate`` in ``(0, 100]`` (Lago's rule); tax ``rate`` in
  ``[0, MAX_TAX_RATE = 1000]`` (Lago sets no maximum; no real tax is ten times the amount taxed, and the
  bound keeps taxes within ``BIGINT`` for any amount above).
* **Rounding precision** of a billable metric: ``0 <= x <= MAX_ROUNDING_PRECISION = 15`` decimals.
* **Every other integer** of a body, a path or a query: within ``BIGINT`` (``BIGINT_MIN..BIGINT_MAX``),
  so that nothing reaches the database that its columns cannot hold (:data:`BigInt`).

A value outside its range is answered 422 ``value_is_out_of_range`` (or, inside charge ``properties``,
Lago's code for that property, e.g. ``invalid_amount``), never stored.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import Field

BIGINT_MIN = -(2**63)
BIGINT_MAX = 2**63 - 1

MAX_AMOUNT_CENTS = 10**15
MAX_PRICE = Decimal(10) ** 13
MAX_PRICE_DECIMALS = 15
MAX_QUANTITY = Decimal(10) ** 18
MAX_QUANTITY_DECIMALS = 15
MAX_DAYS = 36_500
MAX_PERIODS = 36_500
MAX_PERCENTAGE = Decimal(100)
MAX_TAX_RATE = Decimal(1000)
MAX_ROUNDING_PRECISION = 15

#: Any integer of a request (body, path or query): what a ``BIGINT`` column holds.
BigInt = Annotated[int, Field(ge=BIGINT_MIN, le=BIGINT_MAX)]

#: The longest numeric text parsed at all (a price of 200 characters is not a price).
_MAX_NUMBER_TEXT = 200


def in_range(value: Decimal | int, low: Decimal | int, high: Decimal | int) -> bool:
    """``low <= value <= high`` for a finite number; False for NaN and infinities."""
    if isinstance(value, Decimal) and not value.is_finite():
        return False
    return low <= value <= high


def decimal_places(value: Decimal) -> int:
    """Decimals written after the point once trailing zeros are dropped: ``1.50`` → 1, ``1e-3`` → 3."""
    exponent = value.normalize().as_tuple().exponent
    assert isinstance(exponent, int)  # finite
    return max(-exponent, 0)


def parse_decimal_text(text: str) -> Decimal | None:
    """A finite decimal written in ASCII (``"0.5"``, ``" 12 "``, ``"1e3"``), or None."""
    if not isinstance(text, str) or len(text) > _MAX_NUMBER_TEXT or not text.isascii():
        return None
    try:
        number = Decimal(text.strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def bounded_decimal(value: Decimal, *, high: Decimal, decimals: int, low: Decimal = Decimal(0)) -> bool:
    """Finite, within ``[low, high]`` and with at most ``decimals`` decimal places."""
    if not in_range(value, low, high):
        return False
    return decimal_places(value) <= decimals


def is_price(value: Any) -> bool:
    """A price as charge properties hold it: a decimal **string** in ``[0, MAX_PRICE]`` with at most
    ``MAX_PRICE_DECIMALS`` decimals. JSON numbers are refused (as Lago does: no float reaches a price)."""
    if not isinstance(value, str):
        return False
    number = parse_decimal_text(value)
    return number is not None and bounded_decimal(number, high=MAX_PRICE, decimals=MAX_PRICE_DECIMALS)


def is_quantity(value: Decimal) -> bool:
    """A number of units in ``[0, MAX_QUANTITY]`` with at most ``MAX_QUANTITY_DECIMALS`` decimals."""
    return bounded_decimal(value, high=MAX_QUANTITY, decimals=MAX_QUANTITY_DECIMALS)


def is_amount_cents(value: int, *, low: int = 0) -> bool:
    """An amount in minor units in ``[low, MAX_AMOUNT_CENTS]``."""
    return low <= value <= MAX_AMOUNT_CENTS


# Pydantic types for request fields. Only the magnitude is checked here (422 ``value_is_out_of_range``,
# reported under the field's own name); the sign and finer rules stay with each service, which knows
# Lago's code for them (a negative ``amount_cents`` of a commitment, a zero threshold...).

#: An amount in minor units, ``|x| <= MAX_AMOUNT_CENTS``.
AmountCents = Annotated[int, Field(ge=-MAX_AMOUNT_CENTS, le=MAX_AMOUNT_CENTS)]
#: A number of days, ``|x| <= MAX_DAYS``.
Days = Annotated[int, Field(ge=-MAX_DAYS, le=MAX_DAYS)]
#: A number of billing periods, ``|x| <= MAX_PERIODS``.
Periods = Annotated[int, Field(ge=-MAX_PERIODS, le=MAX_PERIODS)]
#: Decimals of a rounding, ``0..MAX_ROUNDING_PRECISION``.
RoundingPrecision = Annotated[int, Field(ge=0, le=MAX_ROUNDING_PRECISION)]


def clamp_bigint(value: int) -> int:
    """``value`` brought within ``BIGINT``: for a query filter (``amount_from=10**30``), whose meaning is
    unchanged because no stored amount lies beyond the bounds above."""
    return min(max(value, BIGINT_MIN), BIGINT_MAX)
