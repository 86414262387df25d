"""volume: the single range that holds the total prices every unit.

``properties = {"volume_ranges": [{from_value, to_value, per_unit_amount, flat_amount}, ...]}``; ranges are
sorted by ``from_value``; the matching range is the first with ``from ≤ ceil(units)`` and
``units ≤ to`` (or an open ``to``), so 100.5 units fall in 101-200.
``amount = units * per_unit_amount + flat_amount``.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_CEILING
from typing import Any

from billow.pricing._common import ZERO, dec, decimal_str, parse_ranges, per_unit
from billow.pricing.types import Aggregation, ChargeAmount


def compute(
    properties: Mapping[str, Any], aggregation: Aggregation, *, currency: str, exclude_event: bool = False
) -> ChargeAmount:
    units = dec(aggregation.units, "units")
    ranges = sorted(parse_ranges(properties, "volume_ranges", "per_unit_amount"), key=lambda r: r.from_value)
    ceiled = units.to_integral_value(rounding=ROUND_CEILING)
    matching = next(
        (r for r in ranges if r.from_value <= ceiled and (r.to_value is None or units <= r.to_value)),
        None,
    )
    if matching is None:
        # Only below the first range (negative units): no price applies. Lago fails here; the fee is 0.
        per_unit_amount = flat_amount = ZERO
    else:
        per_unit_amount, flat_amount = matching.amount, matching.flat_amount
    per_unit_total = units * per_unit_amount
    amount = per_unit_total + flat_amount
    details = {
        "flat_unit_amount": decimal_str(flat_amount),
        "per_unit_amount": decimal_str(ZERO if units.is_zero() else per_unit_amount),
        "per_unit_total_amount": decimal_str(per_unit_total),
    }
    return ChargeAmount(
        amount=amount, units=units, unit_amount=per_unit(amount, units), amount_details=details
    )
