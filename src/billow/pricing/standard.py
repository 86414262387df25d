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
    # Lago has no amount_details for standard charges.
    return ChargeAmount(amount=amount, units=units, unit_amount=per_unit(amount, units), amount_details={})
