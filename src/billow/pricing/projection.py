"""Projected usage: what a fee will amount to at the end of its period if usage keeps the pace it had so
far (Lago's ``Fees::ProjectionService`` and the charge models' ``compute_projected_amount``). Pure.

    period_ratio(from_datetime, to_datetime, now, timezone)       -> PeriodRatio(elapsed, total)
    project(charge_model, properties, units=..., amount=..., ratio=..., prorated=...) -> Projection

**The ratio** is the share of the period's days that have begun: ``elapsed / total`` days, each counted
as Lago's ``Utils::Datetime.date_diff_with_timezone`` counts them (:func:`days_between`: started days,
rounded up, in the customer's zone); 1 once ``now`` reaches the period's end, 0 before its start. Lago
divides by the ratio as a float; Billow keeps it an exact fraction (``units * total / elapsed``).

**Units**: ``round(units / ratio, 2)`` (0 for 0 units, never negative).

**Amount** (currency units, unrounded, never negative), by charge model:

- standard: projected units * ``amount``;
- package: ``ceil((projected units - free_units) / package_size) * amount`` (0 when not above the free
  units);
- graduated: the projected units walked through the ranges in order, each range holding at most
  ``to_value`` minus the units already priced, and a range that gets units adds its ``flat_amount``
  (Lago's projection walk, not the invoice's);
- volume: the first range (by ``from_value``) with ``from_value ≤ ceil(projected)`` and ``projected ≤
  to_value`` (or open): ``projected * per_unit_amount + flat_amount``; none: 0;
- percentage, graduated_percentage, dynamic and prorated graduated: the current amount / ratio.

A recurring metric is not projected (its fee is what it is): the caller keeps the current units and
amount. A ratio outside ``(0, 1]`` projects nothing (0 units, 0 amount).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import ROUND_CEILING, Decimal, localcontext
from typing import Any
from zoneinfo import ZoneInfo

from billow.kit.money import ROUNDING
from billow.pricing._common import CONTEXT, ZERO, dec, int_or_zero, parse_ranges
from billow.pricing.types import ChargeModel

_DAY_US = 86_400 * 1_000_000
_UNITS_QUANTUM = Decimal("0.01")
#: Models whose projection is the current amount scaled by the ratio (Lago's ``current_amount / ratio``).
_SCALED_MODELS = frozenset({ChargeModel.PERCENTAGE, ChargeModel.GRADUATED_PERCENTAGE, ChargeModel.DYNAMIC})


@dataclass(frozen=True)
class PeriodRatio:
    """``elapsed / total``, the share of the period gone (exact)."""

    elapsed: int
    total: int

    @property
    def projects(self) -> bool:
        """A ratio in ``(0, 1]``: anything else projects nothing."""
        return 0 < self.elapsed <= self.total

    def scale(self, value: Decimal) -> Decimal:
        """``value / ratio``."""
        return value * self.total / self.elapsed


@dataclass(frozen=True)
class Projection:
    units: Decimal
    #: Currency units, unrounded; the fee's ``projected_amount_cents`` is it rounded half-up.
    amount: Decimal


def days_between(start: datetime, end: datetime, timezone: str) -> int:
    """Lago's day count between two instants: the days begun, rounded up (``ceil``), measured as local
    days in ``timezone`` (a change of UTC offset in between, daylight saving time, does not count), an
    ``end`` at a local midnight counting the day it starts."""
    zone = ZoneInfo(timezone)
    end_local = end.astimezone(zone)
    if end_local.timetz().replace(tzinfo=None) == time(0):
        end = end + timedelta(seconds=1)
        end_local = end.astimezone(zone)
    start_offset = start.astimezone(zone).utcoffset() or timedelta(0)
    end_offset = end_local.utcoffset() or timedelta(0)
    elapsed = end - start - (start_offset - end_offset)
    microseconds = elapsed // timedelta(microseconds=1)
    return -(-microseconds // _DAY_US)


def period_ratio(from_datetime: datetime, to_datetime: datetime, now: datetime, timezone: str) -> PeriodRatio:
    """The share of ``[from_datetime, to_datetime]`` gone at ``now``, clamped to ``[0, 1]``."""
    if now >= to_datetime:
        return PeriodRatio(1, 1)
    if now < from_datetime:
        return PeriodRatio(0, 1)
    total = days_between(from_datetime, to_datetime, timezone)
    elapsed = days_between(from_datetime, now, timezone)
    if total <= 0:
        return PeriodRatio(1 if elapsed > 0 else 0, 1)
    return PeriodRatio(min(max(elapsed, 0), total), total)


def projected_units(units: Decimal, ratio: PeriodRatio) -> Decimal:
    """``units / ratio`` rounded half-up to 2 decimals; 0 for no units or a ratio that projects nothing."""
    if units.is_zero() or not ratio.projects:
        return ZERO
    with localcontext(CONTEXT):
        return max(ratio.scale(units).quantize(_UNITS_QUANTUM, rounding=ROUNDING), ZERO)


def project(
    charge_model: str,
    properties: Mapping[str, Any],
    *,
    units: Decimal,
    amount: Decimal,
    ratio: PeriodRatio,
    prorated: bool = False,
) -> Projection:
    """One fee's projection: ``units`` and ``amount`` (currency units) so far, ``properties`` the
    charge's (or its filter's). See the module documentation for the rules; ValueError on an unknown
    model or malformed properties."""
    if not ratio.projects:
        return Projection(ZERO, ZERO)
    projected = projected_units(units, ratio)
    with localcontext(CONTEXT):
        if charge_model in _SCALED_MODELS or (charge_model == ChargeModel.GRADUATED and prorated):
            value = ZERO if amount.is_zero() else ratio.scale(amount)
        elif charge_model == ChargeModel.STANDARD:
            value = projected * dec(properties.get("amount"), "amount")
        elif charge_model == ChargeModel.PACKAGE:
            value = _package(properties, projected)
        elif charge_model == ChargeModel.GRADUATED:
            value = _graduated(properties, projected)
        elif charge_model == ChargeModel.VOLUME:
            value = _volume(properties, projected)
        else:
            raise ValueError(f"unknown charge model {charge_model!r}")
    return Projection(projected, max(value, ZERO))


def _package(properties: Mapping[str, Any], projected: Decimal) -> Decimal:
    if projected.is_zero():
        return ZERO
    size = int_or_zero(properties.get("package_size"), "package_size")
    if size <= 0:
        raise ValueError("package_size must be a positive integer")
    paid = projected - int_or_zero(properties.get("free_units"), "free_units")
    if paid <= 0:
        return ZERO
    packages = (paid / size).to_integral_value(rounding=ROUND_CEILING)
    return packages * dec(properties.get("amount"), "amount")


def _graduated(properties: Mapping[str, Any], projected: Decimal) -> Decimal:
    if projected.is_zero():
        return ZERO
    remaining, priced, total = projected, ZERO, ZERO
    for tier in parse_ranges(properties, "graduated_ranges", "per_unit_amount"):
        capacity = None if tier.to_value is None else tier.to_value - priced
        units = remaining if capacity is None else min(remaining, capacity)
        if units > 0:
            total += units * tier.amount + tier.flat_amount
            remaining -= units
            priced += units
        if remaining <= 0:
            break
    return total


def _volume(properties: Mapping[str, Any], projected: Decimal) -> Decimal:
    if projected.is_zero():
        return ZERO
    ranges = sorted(parse_ranges(properties, "volume_ranges", "per_unit_amount"), key=lambda r: r.from_value)
    ceiled = projected.to_integral_value(rounding=ROUND_CEILING)
    for tier in ranges:
        if tier.from_value <= ceiled and (tier.to_value is None or projected <= tier.to_value):
            return projected * tier.amount + tier.flat_amount
    return ZERO
