"""graduated: tiers, each range bills its own units at its own price, plus its flat amount.

``properties = {"graduated_ranges": [{from_value, to_value, per_unit_amount, flat_amount}, ...]}``.
Ranges are walked in the given order; the first range's flat amount is charged even at 0 units.
Both layouts are supported: inclusive integers (0-10, 11-20, 21-∞) and adjacent (0-0.1, 0.1-1, 1-∞),
see :func:`billow.pricing._common.adjacent_layout`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from billow.pricing import prorated_graduated
from billow.pricing._common import (
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
    """``exclude_event`` (pay-in-advance): at 0 units the amount is 0, so the first range's flat amount
    is charged by the first event only. A prorated aggregation (``full_units`` set) is priced by
    :mod:`billow.pricing.prorated_graduated`."""
    if aggregation.full_units is not None:
        return prorated_graduated.compute(properties, aggregation, currency=currency)
    units = dec(aggregation.units, "units")
    ranges = parse_ranges(properties, "graduated_ranges", "per_unit_amount")
    details = []
    amount = ZERO
    for tier, tier_units in touched_ranges(ranges, units, adjacent_layout(ranges)):
        per_unit_amount = ZERO if tier_units.is_zero() else tier.amount
        per_unit_total = tier_units * per_unit_amount
        total_with_flat = per_unit_total + tier.flat_amount
        amount += total_with_flat
        details.append(
            {
                "from_value": bound_json(tier.raw_from),
                "to_value": bound_json(tier.raw_to),
                "flat_unit_amount": decimal_str(tier.flat_amount),
                "per_unit_amount": decimal_str(per_unit_amount),
                "units": decimal_str(tier_units),
                "per_unit_total_amount": decimal_str(per_unit_total),
                "total_with_flat_amount": decimal_str(total_with_flat),
            }
        )
    if exclude_event and units.is_zero():
        amount = ZERO
    return ChargeAmount(
        amount=amount,
        units=units,
        unit_amount=per_unit(amount, units),
        amount_details={"graduated_ranges": details},
    )
