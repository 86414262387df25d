"""Spending minimums of charges and minimum commitments of plans: the true-up amounts. Pure.

**Charge spending minimum** (``charge.min_amount_cents``, Lago's ``Fees::CreateTrueUpService``): the
minimum is owed per charges period, prorated for the days the invoice's usage window covers:
``prorated = min x days_billed / period_days``. When the charge's fees of the window (all its filters
and groups together) amount to less, a true-up fee of ``round_half_up(prorated - used)`` is added
(its precise amount is ``prorated - used_precise``).

**Plan minimum commitment** (``plan.minimum_commitment.amount_cents``, Lago's
``Commitments::Minimum::CalculateTrueUpFeeService``): owed per plan period, prorated for a partial
period and rounded half-up to cents (``Money.from_cents``). The commitment fee is
``commitment - Σ(fees of the period)`` when that is positive, with ``Σ`` the subscription fee, charge
fees (true-ups included) and pay-in-advance charge fees of the period.

Days are local calendar days of the customer's time zone, both ends counted, like the plan fee's
proration (:mod:`billow.billing.proration`): a window ending at local midnight ends the day before.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from billow.billing.proration import inclusive_days
from billow.kit.money import CONTEXT, round_minor_units
from billow.kit.time import local_date

_EPSILON = timedelta(microseconds=1)


@dataclass(frozen=True)
class TrueUp:
    amount_cents: int
    precise_amount_cents: Decimal


def billed_days(start: datetime, end: datetime, timezone: str) -> int:
    """Local days covered by ``[start, end)``, both ends counted (``0`` for an empty span)."""
    if end <= start:
        return 0
    return inclusive_days(local_date(start, timezone), local_date(end - _EPSILON, timezone))


def prorated_amount(amount_cents: int, days: int, period_days: int) -> Decimal:
    """``amount_cents x days / period_days`` unrounded; the whole amount for a full (or longer) span."""
    if period_days <= 0:
        raise ValueError("period_days must be positive")
    if days >= period_days:
        return Decimal(amount_cents)
    if days <= 0:
        return Decimal(0)
    return CONTEXT.divide(CONTEXT.multiply(Decimal(amount_cents), Decimal(days)), Decimal(period_days))


def charge_true_up(
    *,
    min_amount_cents: int,
    used_amount_cents: int,
    used_precise_amount_cents: Decimal,
    days: int,
    period_days: int,
) -> TrueUp | None:
    """The true-up owed by a charge whose fees of the window total ``used``; ``None`` when none is owed.

    A true-up that rounds to 0 cents is not made (Lago would add a 0-cent fee).
    """
    if min_amount_cents <= 0:
        return None
    prorated = prorated_amount(min_amount_cents, days, period_days)
    if Decimal(used_amount_cents) >= prorated:
        return None
    amount = round_minor_units(prorated - Decimal(used_amount_cents))
    if amount <= 0:
        return None
    return TrueUp(amount, CONTEXT.subtract(prorated, used_precise_amount_cents))


def commitment_amount(amount_cents: int, days: int, period_days: int) -> int:
    """The commitment owed for ``days`` of a ``period_days`` plan period, rounded half-up to cents."""
    return round_minor_units(prorated_amount(amount_cents, days, period_days))


def commitment_true_up(
    *,
    commitment_amount_cents: int,
    days: int,
    period_days: int,
    fees_amount_cents: int,
    fees_precise_amount_cents: Decimal,
) -> TrueUp | None:
    """The commitment fee owed when the period's fees total less than the (prorated) commitment."""
    if commitment_amount_cents <= 0:
        return None
    owed = commitment_amount(commitment_amount_cents, days, period_days)
    if fees_amount_cents >= owed:
        return None
    precise = max(CONTEXT.subtract(Decimal(owed), fees_precise_amount_cents), Decimal(0))
    return TrueUp(owed - fees_amount_cents, precise)
