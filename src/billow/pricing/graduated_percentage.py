"""graduated_percentage: tiers over an aggregated amount, each range bills a percentage of its part.

``properties = {"graduated_percentage_ranges": [{from_value, to_value, rate, flat_amount}, ...]}``;
``rate`` is a percent (``"1"`` = 1 %). A range's amount is ``units * rate / 100 + flat_amount``; the
tiering is graduated's (:mod:`billow.pricing.graduated`), first flat amount included at 0 units.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from billow.kit.money import ROUNDING
from billow.pricing._common import (
    HUNDRED,
    ZERO,
    adjacent_layout,
    bound_json,
    dec,
    decimal_str,
    parse_ranges,
    per_unit,
    touched_ranges,
)
from billow.pricing.types import Aggregation, ChargeAmount


def compute(
    properties: Mapping[str, Any], aggregation: Aggregation, *, currency: str, exclude_event: bool = False
) -> ChargeAmount:
    """``exclude_event`` (pay-in-advance): at 0 units the flat amounts count as 0."""
    units = dec(aggregation.units, "units")
    ranges = parse_ranges(properties, "graduated_percentage_ranges", "rate")
    drop_flat = exclude_event and units.is_zero()
    details = []
    amount = ZERO
    for tier, tier_units in touched_ranges(ranges, units, adjacent_layout(ranges)):
        flat = ZERO if drop_flat else tier.flat_amount
        per_unit_total = tier_units * tier.amount / HUNDRED
        total_with_flat = per_unit_total + flat
        amount += total_with_flat
        details.append(
            {
                "from_value": bound_json(tier.raw_from),
                "to_value": bound_json(tier.raw_to),
                "flat_unit_amount": decimal_str(flat),
                "rate": decimal_str(tier.amount),
                "units": decimal_str(tier_units),
                "per_unit_total_amount": decimal_str(per_unit_total),
                "total_with_flat_amount": decimal_str(total_with_flat),
            }
        )
    return ChargeAmount(
        amount=amount,
        units=units,
        unit_amount=per_unit(amount, units),
        amount_details={"graduated_percentage_ranges": details},
    )


def in_advance_details(after: Mapping[str, Any], before: Mapping[str, Any]) -> dict[str, Any]:
    """amount_details of one pay-in-advance fee: per range reached after the event, what the event added.

    ``per_unit_total_amount`` is, as in Lago, the range's added total (flat included) divided by the added
    units, rounded to 2 decimals half-up (``"0.0"`` when the event added no units to the range).
    """
    previous = {(r["from_value"], r["to_value"]): r for r in before.get("graduated_percentage_ranges", [])}
    ranges = []
    for now in after.get("graduated_percentage_ranges", []):
        then = previous.get((now["from_value"], now["to_value"]))
        units = _added(now, then, "units")
        total = _added(now, then, "total_with_flat_amount")
        per_unit_total = (total / units).quantize(Decimal("0.01"), rounding=ROUNDING) if units > 0 else ZERO
        ranges.append(
            {
                "from_value": now["from_value"],
                "to_value": now["to_value"],
                "flat_unit_amount": decimal_str(_added(now, then, "flat_unit_amount")),
                "rate": now["rate"],
                "units": decimal_str(units),
                "per_unit_total_amount": decimal_str(per_unit_total),
                "total_with_flat_amount": decimal_str(total),
            }
        )
    return {"graduated_percentage_ranges": ranges}


def _added(now: Mapping[str, Any], then: Mapping[str, Any] | None, key: str) -> Decimal:
    """What a range's ``key`` gained with the event (a range the walk did not reach before counts as 0)."""
    return dec(now[key]) - (dec(then[key]) if then is not None else ZERO)
