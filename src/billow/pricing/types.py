"""The values the pricing engine takes and returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any


class ChargeModel(StrEnum):
    """How a charge prices its units (Lago's ``charge_model``). Lago's ``custom`` model (a customer
    script) is not one of them."""

    STANDARD = "standard"
    GRADUATED = "graduated"
    GRADUATED_PERCENTAGE = "graduated_percentage"
    PACKAGE = "package"
    PERCENTAGE = "percentage"
    VOLUME = "volume"
    DYNAMIC = "dynamic"


@dataclass(frozen=True)
class Aggregation:
    """What metering measured for one charge (or one filter / group of it) over a period.

    ``running_totals`` (percentage free units only) are the cumulative sums of the event values in time
    order, as Lago's sum aggregator builds them: with ``free_units_per_events = N`` the sums of the first N
    events; otherwise, with ``free_units_per_total_aggregation = T``, the sums up to and including the first
    one that exceeds T; with neither option, empty. :func:`billow.pricing.percentage.running_totals`
    computes them from ``event_values``.

    ``event_values`` are the per-event values in time order (percentage with a per-transaction minimum or
    maximum prices each event on its own).

    Prorated charges (``prorated: true``): ``units`` are the prorated units and ``full_units`` the units
    without proration (``None`` when the charge is not prorated): standard divides its unit amount by them,
    volume picks its range with them, and graduated then prices ``prorated_values``, the (full, prorated)
    value of each event in time order (:mod:`billow.pricing.prorated_graduated`).
    """

    units: Decimal
    events_count: int = 0
    running_totals: tuple[Decimal, ...] = ()
    event_values: tuple[Decimal, ...] = ()
    precise_total_amount_cents: Decimal = Decimal(0)
    full_units: Decimal | None = None
    prorated_values: tuple[tuple[Decimal, Decimal], ...] = ()


@dataclass(frozen=True)
class ChargeAmount:
    """A charge model's result.

    ``amount`` is in currency units and unrounded: the fee's ``amount_cents`` is
    ``kit.money.to_minor_units(amount, currency)`` and its ``precise_amount_cents`` is
    ``kit.money.precise_minor_units(amount, currency)``.
    ``unit_amount`` is Lago's ``precise_unit_amount`` (``amount / units``; package divides by the paid
    units); Lago stores it with 15 decimals.
    ``amount_details`` is Lago's ``fee.amount_details`` for the model, JSON-ready (decimals as strings in
    Ruby's ``BigDecimal#to_s`` form, e.g. ``"10.0"``, ``"0.05"``).
    """

    amount: Decimal
    units: Decimal
    unit_amount: Decimal
    amount_details: dict[str, Any] = field(default_factory=dict)
