"""graduated, prorated (Lago's ``ProratedGraduatedService``): the tiers are reached by the full units, but
each unit is billed at its tier's price times the proration of the event that brought it.

``aggregation.prorated_values`` holds, per event in time order, its full value and its prorated value
(:mod:`billow.metering.proration`; a recurring total carried from earlier periods comes first). Walking
them, each event occupies the band of cumulative full units between the total before it and the total
after it; the part of the band inside a tier costs ``units * per_unit_amount * prorated / full``. A
negative event (units removed) walks back down and takes its units out of the tiers it crosses, at its
own proration. Flat amounts are those of every tier the highest cumulative total reached (the first tier's
at least).

As Lago: 0 prorated units cost the first tier's flat amount; a negative final total costs 0; an event
whose prorated value is 0 (a value that stopped before the window) is skipped, and so is a removal that
would take the total below 0 with a 0 prorated value (the removal of such a skipped value). The unit
amount divides by the full units. No ``amount_details`` (Lago has none for this model).

Lago computes each event's share with floats; Billow with exact decimals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from billow.pricing._common import ZERO, Range, adjacent_layout, dec, parse_ranges, per_unit, touched_ranges
from billow.pricing.types import Aggregation, ChargeAmount


def _tier_units(ranges: Sequence[Range], total: Decimal, adjacent: bool) -> list[Decimal]:
    units = [ZERO] * len(ranges)
    for index, (_tier, tier_units) in enumerate(touched_ranges(ranges, total, adjacent)):
        units[index] = tier_units
    return units


def compute(
    properties: Mapping[str, Any], aggregation: Aggregation, *, currency: str, exclude_event: bool = False
) -> ChargeAmount:
    units = dec(aggregation.units, "units")
    ranges = parse_ranges(properties, "graduated_ranges", "per_unit_amount")
    adjacent = adjacent_layout(ranges)
    values = [
        (dec(full, "full value"), dec(prorated, "prorated value"))
        for full, prorated in aggregation.prorated_values
    ]
    full_units = sum((full for full, _ in values), ZERO)

    if units.is_zero():
        amount = ranges[0].flat_amount
    else:
        total = ZERO
        highest = ZERO
        per_unit_total = ZERO
        for full, prorated in values:
            if full.is_zero() or (prorated.is_zero() and (full > 0 or total + full < 0)):
                continue
            before = _tier_units(ranges, total, adjacent)
            total += full
            after = _tier_units(ranges, total, adjacent)
            highest = max(highest, total)
            for tier, old, new in zip(ranges, before, after, strict=True):
                if new != old:
                    per_unit_total += (new - old) * tier.amount * prorated / full
        if total < 0:
            amount = ZERO
        else:
            flat = sum((tier.flat_amount for tier, _ in touched_ranges(ranges, highest, adjacent)), ZERO)
            amount = max(per_unit_total, ZERO) + flat
    unit_amount = per_unit(amount, full_units) if full_units > 0 else ZERO
    return ChargeAmount(amount=amount, units=units, unit_amount=unit_amount, amount_details={})
