"""standard: every unit at one price. ``properties = {"amount": "5.12345"}``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from billow.pricing._common import dec, per_unit
from billow.pricing.types import Aggregation, ChargeAmount


def compute(
    properties: Mapping[str, Any], aggregation: Aggregation, *, currency: str, exclude_event: bool = False
) -> ChargeAmount:
    units = dec(aggregation.units, "units")
    amount = units * dec(properties.get("amount"), "amount")
    # A prorated charge's unit amount is per full unit (Lago's full_units_number).
    full = units if aggregation.full_units is None else dec(aggregation.full_units, "full_units")
    # Lago has no amount_details for standard charges.
    return ChargeAmount(amount=amount, units=units, unit_amount=per_unit(amount, full), amount_details={})
