"""Which thresholds a value crossed since the previous evaluation (pure, ``Decimal`` only).

Lago's rules (``UsageMonitoring::Alert#find_thresholds_crossed``):

- **increasing** (subscription alerts): nothing unless the value grew. The one-time thresholds crossed
  are those in ``(previous, current]``, and none while the value is still below the lowest one. A
  recurring threshold of step ``s`` repeats above the highest one-time threshold (or 0): every
  ``top + k*s`` (``k >= 1``) in ``(previous, current]``.
- **decreasing** (wallet alerts): nothing unless the value fell. The one-time thresholds crossed are
  those in ``[current, previous)``, and none while the value is still above the highest one. A recurring
  threshold repeats below the lowest one-time threshold (or 0): every ``bottom - k*s`` (``k >= 1``) in
  ``[current, previous)``.

The result is sorted and without duplicates; :func:`formatted` gives Lago's ``crossed_thresholds``.

One departure: a recurring value equal to ``previous`` is not crossed again (Lago's step arithmetic
counts it a second time); like the one-time thresholds, a value triggers once per crossing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from billow.kit.schemas import decimal_str


@dataclass(frozen=True)
class Threshold:
    code: str | None
    value: Decimal
    recurring: bool


def _one_time(thresholds: Sequence[Threshold]) -> list[Decimal]:
    return sorted({t.value for t in thresholds if not t.recurring})


def _step(thresholds: Sequence[Threshold]) -> Decimal | None:
    return next((t.value for t in thresholds if t.recurring), None)


def _floor(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_FLOOR))


def crossed_increasing(thresholds: Sequence[Threshold], previous: Decimal, current: Decimal) -> list[Decimal]:
    if current <= previous:
        return []
    one_time = _one_time(thresholds)
    crossed: set[Decimal] = set()
    if one_time:
        if current < one_time[0]:
            return []
        if previous < one_time[-1]:
            crossed.update(v for v in one_time if previous < v <= current)
    step = _step(thresholds)
    if step is not None and step > 0:
        initial = one_time[-1] if one_time else Decimal(0)
        first = initial + max(_floor((previous - initial) / step) + 1, 1) * step
        last = initial + _floor((current - initial) / step) * step
        value = first
        while value <= last:
            crossed.add(value)
            value += step
    return sorted(crossed)


def crossed_decreasing(thresholds: Sequence[Threshold], previous: Decimal, current: Decimal) -> list[Decimal]:
    if current >= previous:
        return []
    one_time = _one_time(thresholds)
    crossed: set[Decimal] = set()
    if one_time:
        if current > one_time[-1]:
            return []
        if previous > one_time[0]:
            crossed.update(v for v in one_time if current <= v < previous)
    step = _step(thresholds)
    if step is not None and step > 0:
        initial = one_time[0] if one_time else Decimal(0)
        first = initial - max(_floor((initial - previous) / step) + 1, 1) * step
        last = initial - _floor((initial - current) / step) * step
        value = last
        while value <= first:
            crossed.add(value)
            value += step
    return sorted(crossed)


def crossed(
    thresholds: Sequence[Threshold], previous: Decimal, current: Decimal, *, decreasing: bool
) -> list[Decimal]:
    if decreasing:
        return crossed_decreasing(thresholds, previous, current)
    return crossed_increasing(thresholds, previous, current)


def formatted(thresholds: Sequence[Threshold], values: Sequence[Decimal]) -> list[dict[str, Any]]:
    """Lago's ``crossed_thresholds``: the one-time thresholds crossed (in the alert's order), then one
    entry per recurring value crossed, under the recurring threshold's code. Values are decimal strings."""
    one_time = set(_one_time(thresholds))
    regular = [v for v in values if v in one_time]
    repeated = [v for v in values if v not in one_time]
    recurring_code = next((t.code for t in thresholds if t.recurring), None)
    out: list[dict[str, Any]] = [
        {"code": t.code, "value": decimal_str(t.value), "recurring": False}
        for t in thresholds
        if not t.recurring and t.value in regular
    ]
    out += [{"code": recurring_code, "value": decimal_str(v), "recurring": True} for v in repeated]
    return out
