"""Credits ↔ money of a wallet (Lago's ``WalletCredit``, reference §6). Pure: no database, no clock.

* ``rate_amount`` is the currency value of one credit.
* Credits sent to the API are floored to 5 decimals (:func:`floor_credits`).
* The amount of ``credits`` is ``round(credits x rate_amount, exponent)`` half-up, in currency units;
  its minor units are that amount x 10^exponent (:func:`credit_value`).
* An invoiceable transaction (paid, granted, consumed) keeps the credits of its *rounded* amount:
  ``amount / rate_amount``, stored with 5 decimals (half-up), so that only whole minor units are ever
  credited; a voided one keeps the credits it was given.
* From minor units (a consumption): ``credits = (cents / 10^exponent) / rate_amount`` (5 decimals).

Lago does the last two divisions in floats; Billow in decimals rounded to the 5 decimals its columns keep.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal, localcontext

from billow.kit.money import CONTEXT, from_minor_units, round_to_currency, to_minor_units

#: Decimals of a number of credits (Lago's ``decimal(30, 5)`` columns).
CREDIT_DECIMALS = 5
_CREDIT_QUANTUM = Decimal(1).scaleb(-CREDIT_DECIMALS)


def floor_credits(credits: Decimal) -> Decimal:
    """``credits`` floored to 5 decimals: ``1.234569`` → ``1.23456``."""
    with localcontext(CONTEXT):
        return credits.quantize(_CREDIT_QUANTUM, rounding=ROUND_FLOOR)


def round_credits(credits: Decimal) -> Decimal:
    """``credits`` rounded half-up to 5 decimals (a division's result, stored)."""
    with localcontext(CONTEXT):
        return credits.quantize(_CREDIT_QUANTUM, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class CreditValue:
    """A number of credits and what they are worth in the wallet's currency."""

    credits: Decimal
    amount: Decimal
    """In currency units, rounded to the currency's exponent."""
    amount_cents: int


def credit_value(
    credits: Decimal, rate_amount: Decimal, currency: str, *, invoiceable: bool = True
) -> CreditValue:
    """The value of ``credits`` (floored to 5 decimals first) at ``rate_amount``; ``invoiceable``: the
    credits become those of the rounded amount."""
    floored = floor_credits(credits)
    with localcontext(CONTEXT):
        amount = round_to_currency(floored * rate_amount, currency)
        kept = round_credits(amount / rate_amount) if invoiceable else floored
    return CreditValue(credits=kept, amount=amount, amount_cents=to_minor_units(amount, currency))


def value_of_cents(amount_cents: int, rate_amount: Decimal, currency: str) -> CreditValue:
    """The credits worth ``amount_cents`` at ``rate_amount`` (a consumption)."""
    amount = from_minor_units(amount_cents, currency)
    with localcontext(CONTEXT):
        credits = round_credits(amount / rate_amount)
    return CreditValue(credits=credits, amount=amount, amount_cents=amount_cents)


def rounds_to_zero(credits: Decimal, rate_amount: Decimal, currency: str) -> bool:
    """Positive credits whose value is less than half a minor unit (Lago's ``amount_rounds_to_zero``)."""
    floored = floor_credits(credits)
    return floored > 0 and credit_value(floored, rate_amount, currency).amount_cents == 0
