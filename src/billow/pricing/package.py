"""package: units are sold in whole packages. ``properties = {"amount", "package_size", "free_units"}``.

``paid = units - free_units``; ``amount = ceil(paid / package_size) * amount`` (0 when ``paid ≤ 0``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from billow.pricing._common import ZERO, dec, decimal_str, int_or_zero, per_unit
from billow.pricing.types import Aggregation, ChargeAmount


def compute(
    properties: Mapping[str, Any], aggregation: Aggregation, *, currency: str, exclude_event: bool = False
) -> ChargeAmount:
    units = dec(aggregation.units, "units")
    package_amount = dec(properties.get("amount"), "amount")
    package_size = int_or_zero(properties.get("package_size"), "package_size")
    if package_size <= 0:
        raise ValueError("package_size must be a positive integer")
    free_units = int_or_zero(properties.get("free_units"), "free_units")
    paid_units = units - free_units

    if paid_units <= 0:
        amount = ZERO
    else:
        # A package counts from its first unit: ceil(paid / size), with exact integer division.
        whole, rest = divmod(paid_units, package_size)
        amount = (whole + (1 if rest > 0 else 0)) * package_amount

    if units.is_zero():
        details: dict[str, Any] = {
            "free_units": "0.0",
            "paid_units": "0.0",
            "per_package_size": 0,
            "per_package_unit_amount": "0.0",
        }
    else:
        details = {
            "free_units": decimal_str(free_units),
            "paid_units": decimal_str(max(paid_units, ZERO)),
            "per_package_size": package_size,
            "per_package_unit_amount": decimal_str(package_amount),
        }
    # Lago divides by the paid units here, not by all the units.
    unit_amount = per_unit(amount, paid_units) if paid_units > 0 else ZERO
    return ChargeAmount(amount=amount, units=units, unit_amount=unit_amount, amount_details=details)
