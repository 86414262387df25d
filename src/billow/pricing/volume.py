"""volume: the single range that holds the total prices every unit.

``properties = {"volume_ranges": [{from_value, to_value, per_unit_amount, flat_amount}, ...]}``; ranges are
sorted by ``from_value``; the matching range is the first with ``from ≤ ceil(units)`` and
``units ≤ to`` (or an open ``to``), so 100.5 units fall in 101-200.
``amount = units * per_unit_amount + flat_amount``. A prorated charge picks the range of its full units and
prices its prorated units in it.
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
    # Prorated: the range is the one of the full units; the prorated units are priced in it (Lago).
    full = units if aggregation.full_units is None else dec(aggregation.full_units, "full_units")
    ranges = sorted(parse_ranges(properties, "volume_ranges", "per_unit_amount"), key=lambda r: r.from_value)
    ceiled = full.to_integral_value(rounding=ROUND_CEILING)
    matching = next(
        (r for r in ranges if r.from_value <= ceiled and (r.to_value is None or full <= r.to_value)),
        None,
    )
    if matching is None:
        # Only below the first range (negative units): no price applies. Lago fails here; the fee is 0.
        per_unit_amount = flat_amount = ZERO
    else:
        per_unit_amount, flat_amount = matching.amount, matching.flat_amount
    per_unit_total = units * per_unit_amount
    amount = per_unit_total + flat_amount
    if aggregation.full_units is None:
        shown_per_unit = ZERO if units.is_zero() else per_unit_amount
    else:  # Lago: the prorated total divided by the full units
        shown_per_unit = per_unit(per_unit_total, full)
    details = {
        "flat_unit_amount": decimal_str(flat_amount),
        "per_unit_amount": decimal_str(shown_per_unit),
        "per_unit_total_amount": decimal_str(per_unit_total),
    }
    return ChargeAmount(
        amount=amount, units=units, unit_amount=per_unit(amount, full), amount_details=details
    )
