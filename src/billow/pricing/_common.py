"""Helpers shared by the charge models: decimal parsing and formatting, ranges (tiers)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Context, Decimal, DivisionByZero, InvalidOperation, Overflow
from itertools import pairwise
from typing import Any

from billow.kit.money import ROUNDING

# Every model runs under this context (see ``billow.pricing.price``), whatever the caller's context is:
# 50 significant digits keep sums and products of prices exact in practice; only divisions
# (unit amounts) round, half-up like BigDecimal. Invalid operations raise instead of yielding NaN.
CONTEXT = Context(prec=50, rounding=ROUNDING, traps=[InvalidOperation, DivisionByZero, Overflow])

ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)


def dec(value: Any, name: str = "value") -> Decimal:
    """Parse a property or quantity as ``Decimal(str(value))``; None, bools, non-finite: ValueError."""
    if value is None or isinstance(value, bool):
        raise ValueError(f"{name} is missing or not a number: {value!r}")
    try:
        result = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation as error:
        raise ValueError(f"{name} is not a decimal: {value!r}") from error
    if not result.is_finite():
        raise ValueError(f"{name} is not a finite decimal: {value!r}")
    return result


def optional_dec(value: Any, name: str = "value") -> Decimal | None:
    """Like :func:`dec`, with ``None`` and ``""`` meaning absent."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return dec(value, name)


def dec_or_zero(value: Any, name: str = "value") -> Decimal:
    parsed = optional_dec(value, name)
    return ZERO if parsed is None else parsed


def int_or_zero(value: Any, name: str = "value") -> int:
    """An integer property (``free_units_per_events``...): absent → 0, like Ruby's ``nil.to_i``."""
    parsed = optional_dec(value, name)
    if parsed is None:
        return 0
    if parsed != parsed.to_integral_value():
        raise ValueError(f"{name} must be an integer: {value!r}")
    return int(parsed)


def decimal_str(value: Decimal | int) -> str:
    """A decimal as Rails writes a BigDecimal to JSON: fixed point, no trailing zeros, at least one
    decimal: ``100`` → ``"100.0"``, ``Decimal("0.050")`` → ``"0.05"``, ``-3`` → ``"-3.0"``."""
    number = Decimal(value)
    if number.is_zero():
        return "0.0"
    text = format(number, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text if "." in text else text + ".0"


def bound_json(value: Any) -> Any:
    """A range bound echoed into amount_details as the charge's properties hold it (Lago echoes the JSON
    value); a ``Decimal`` becomes an int when integral, else its decimal string."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else decimal_str(value)
    return value


@dataclass(frozen=True)
class Range:
    """One tier. ``amount`` is ``per_unit_amount`` (graduated, volume) or ``rate`` (graduated_percentage)."""

    from_value: Decimal
    to_value: Decimal | None
    amount: Decimal
    flat_amount: Decimal
    raw_from: Any
    raw_to: Any


def parse_ranges(properties: Mapping[str, Any], key: str, amount_key: str) -> tuple[Range, ...]:
    raw_ranges = properties.get(key)
    if not raw_ranges or not isinstance(raw_ranges, Sequence) or isinstance(raw_ranges, str):
        raise ValueError(f"{key} is missing")
    ranges = []
    for index, raw in enumerate(raw_ranges):
        where = f"{key}[{index}]"
        to_raw = raw.get("to_value")
        ranges.append(
            Range(
                from_value=dec(raw.get("from_value"), f"{where}.from_value"),
                to_value=optional_dec(to_raw, f"{where}.to_value"),
                amount=dec_or_zero(raw.get(amount_key), f"{where}.{amount_key}"),
                flat_amount=dec_or_zero(raw.get("flat_amount"), f"{where}.flat_amount"),
                raw_from=raw.get("from_value"),
                raw_to=to_raw,
            )
        )
    return tuple(ranges)


def adjacent_layout(ranges: Sequence[Range]) -> bool:
    """True when every range starts where the previous one ends (0-0.1, 0.1-1, 1-∞): the "adjacent"
    layout, where a range holds ``min(total, to) - from`` units. Otherwise the inclusive integer layout
    (0-10, 11-20, 21-∞) adds one unit to every range that does not start at 0."""
    if len(ranges) < 2:
        return False
    return all(
        current.from_value == (previous.to_value if previous.to_value is not None else ZERO)
        for previous, current in pairwise(ranges)
    )


def touched_ranges(ranges: Sequence[Range], total: Decimal, adjacent: bool) -> list[tuple[Range, Decimal]]:
    """The ranges a graduated walk reaches for ``total`` units, each with the units it bills.

    The walk always reaches the first range (its flat amount applies even at 0 units) and stops after the
    range whose ``to_value`` is open or at least ``total``.
    """
    touched = []
    for tier in ranges:
        ceiling = tier.to_value
        effective = ceiling if ceiling is not None and total >= ceiling else total
        if tier.from_value.is_zero():
            units = effective
        else:
            units = effective - tier.from_value + (ZERO if adjacent else ONE)
        touched.append((tier, units))
        if ceiling is None or ceiling >= total:
            break
    return touched


UNIT_AMOUNT_QUANTUM = Decimal("1e-15")
"""Lago stores ``precise_unit_amount`` as ``numeric(30,15)``: unit amounts are given with 15 decimals."""


def per_unit(amount: Decimal, units: Decimal) -> Decimal:
    """``amount / units`` rounded half-up to 15 decimals (Lago's stored precision); 0 when units is 0."""
    if units.is_zero():
        return ZERO
    return (amount / units).quantize(UNIT_AMOUNT_QUANTUM, rounding=ROUNDING)
