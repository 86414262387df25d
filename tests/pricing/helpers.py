"""Shared test helpers for the pricing engine."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from billow.pricing import Aggregation


def agg(units: Any, **fields: Any) -> Aggregation:
    """An Aggregation from plain literals: units and values as decimal strings or ints."""
    for name in ("running_totals", "event_values"):
        if name in fields:
            fields[name] = tuple(Decimal(str(v)) for v in fields[name])
    if "precise_total_amount_cents" in fields:
        fields["precise_total_amount_cents"] = Decimal(str(fields["precise_total_amount_cents"]))
    return Aggregation(units=Decimal(str(units)), **fields)
