"""dynamic: each event carries its own price. ``properties = {}``.

``amount = Σ events' precise_total_amount_cents / 10**exponent`` (0 when there are no units).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from billow.kit.money import from_minor_units
from billow.pricing._common import ZERO, dec, per_unit
from billow.pricing.types import Aggregation, ChargeAmount


def compute(
    properties: Mapping[str, Any], aggregation: Aggregation, *, currency: str, exclude_event: bool = False
) -> ChargeAmount:
    units = dec(aggregation.units, "units")
    if units.is_zero():
        amount = ZERO
    else:
        amount = from_minor_units(
            dec(aggregation.precise_total_amount_cents, "precise_total_amount_cents"), currency
        )
    return ChargeAmount(amount=amount, units=units, unit_amount=per_unit(amount, units), amount_details={})
