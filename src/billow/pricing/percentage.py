"""percentage: a rate on an aggregated amount (typically a sum of transaction amounts), plus a fixed
amount per transaction.

``properties``: ``rate`` (a percent, ``"1.3"`` = 1.3 %), ``fixed_amount``, ``free_units_per_events``,
``free_units_per_total_aggregation``, ``per_transaction_min_amount``, ``per_transaction_max_amount``.

Without a per-transaction minimum or maximum::

    free amount F  (from the running totals, see free_amount)
    free events E  (see free_events)
    amount = max(units - F, 0) * rate / 100  [0 when F > units]
           + (count - E) * fixed_amount      [0 when units = 0 or E ≥ count]

With a per-transaction minimum or maximum, every event is priced on its own, in time order: free events
and the free amount are consumed first, then each event costs ``value * rate / 100 + fixed_amount``
clamped to ``[min, max]``. (Lago reserves this to its premium edition; Billow has no such gating.)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from billow.pricing._common import HUNDRED, ZERO, dec, dec_or_zero, decimal_str, int_or_zero, optional_dec
from billow.pricing.types import Aggregation, ChargeAmount


def running_totals(properties: Mapping[str, Any], event_values: Iterable[Decimal]) -> tuple[Decimal, ...]:
    """The ``Aggregation.running_totals`` Lago's sum aggregator builds for these properties.

    With ``free_units_per_events = N``: the cumulative sums of the first N events. Otherwise, with
    ``free_units_per_total_aggregation = T``: the cumulative sums up to and including the first one above T.
    With neither: empty.
    """
    per_events = int_or_zero(properties.get("free_units_per_events"), "free_units_per_events")
    per_total = dec_or_zero(
        properties.get("free_units_per_total_aggregation"), "free_units_per_total_aggregation"
    )
    totals: list[Decimal] = []
    running = ZERO
    if per_events:
        for value in list(event_values)[:per_events]:
            running += dec(value)
            totals.append(running)
    elif per_total:
        for value in event_values:
            if running > per_total:
                break
            running += dec(value)
            totals.append(running)
    return tuple(totals)


def free_amount(running: Sequence[Decimal], per_events: int, per_total: Decimal) -> Decimal:
    """The free part of the aggregated amount (Lago's ``free_units_value``)."""
    last = running[-1] if running else ZERO
    if last.is_zero():
        return ZERO
    if 0 < per_events < len(running):
        return running[per_events - 1]
    if per_total.is_zero() or last <= per_total:
        return last
    return per_total


def free_events(running: Sequence[Decimal], per_events: int, per_total: Decimal) -> int:
    """The number of free events: the smallest non-zero of ``free_units_per_events`` and the number of
    running totals below ``free_units_per_total_aggregation`` (Lago's ``free_units_count``)."""
    below_total = sum(1 for total in running if total < per_total)
    candidates = [count for count in (per_events, below_total) if count != 0]
    return min(candidates) if candidates else 0


class _Terms:
    def __init__(self, properties: Mapping[str, Any], aggregation: Aggregation) -> None:
        self.units = dec(aggregation.units, "units")
        self.count = aggregation.events_count
        self.rate = dec(properties.get("rate"), "rate")
        self.fixed_amount = dec_or_zero(properties.get("fixed_amount"), "fixed_amount")
        self.per_events = int_or_zero(properties.get("free_units_per_events"), "free_units_per_events")
        self.per_total = dec_or_zero(
            properties.get("free_units_per_total_aggregation"), "free_units_per_total_aggregation"
        )
        self.min_amount = optional_dec(
            properties.get("per_transaction_min_amount"), "per_transaction_min_amount"
        )
        self.max_amount = optional_dec(
            properties.get("per_transaction_max_amount"), "per_transaction_max_amount"
        )
        running = tuple(dec(value, "running_totals") for value in aggregation.running_totals)
        self.free_amount = free_amount(running, self.per_events, self.per_total)
        self.free_events = free_events(running, self.per_events, self.per_total)
        self.event_values = tuple(dec(value, "event_values") for value in aggregation.event_values)

    @property
    def percentage_amount(self) -> Decimal:
        if self.free_amount > self.units:
            return ZERO
        return (self.units - self.free_amount) * self.rate / HUNDRED

    @property
    def fixed_total(self) -> Decimal:
        if self.units.is_zero() or self.free_events >= self.count:
            return ZERO
        return (self.count - self.free_events) * self.fixed_amount

    @property
    def has_min_max(self) -> bool:
        return self.min_amount is not None or self.max_amount is not None

    def per_transaction_amount(self) -> Decimal:
        remaining_events = self.per_events
        remaining_amount = self.per_total
        total = ZERO
        for event_value in self.event_values:
            value = event_value
            if remaining_events > 0 or remaining_amount > 0:
                remaining_events -= 1
                if remaining_amount <= 0:
                    continue  # a free event
                if remaining_amount > value:
                    remaining_amount -= value
                    continue  # entirely inside the free amount
                value -= remaining_amount
                remaining_amount = ZERO
                remaining_events = 0
            fee = value * self.rate / HUNDRED + self.fixed_amount
            if self.min_amount is not None and fee < self.min_amount:
                fee = self.min_amount
            elif self.max_amount is not None and fee > self.max_amount:
                fee = self.max_amount
            total += fee
        return total


def compute(
    properties: Mapping[str, Any], aggregation: Aggregation, *, currency: str, exclude_event: bool = False
) -> ChargeAmount:
    terms = _Terms(properties, aggregation)
    percentage_amount = terms.percentage_amount
    fixed_total = terms.fixed_total
    if terms.has_min_max:
        amount = terms.per_transaction_amount()
        adjustment = amount - percentage_amount - fixed_total
    else:
        amount = percentage_amount + fixed_total
        adjustment = ZERO

    count = terms.count
    free_event_count = terms.free_events if count >= terms.free_events else count
    paid_events = count - free_event_count
    details = {
        "units": decimal_str(terms.units),
        "free_units": decimal_str(terms.free_amount),
        "free_events": free_event_count,
        "paid_units": decimal_str(max(terms.units - terms.free_amount, ZERO)),
        "rate": decimal_str(terms.rate),
        "per_unit_total_amount": decimal_str(percentage_amount),
        "paid_events": paid_events,
        "fixed_fee_unit_amount": decimal_str(terms.fixed_amount if paid_events > 0 else ZERO),
        "fixed_fee_total_amount": decimal_str(fixed_total),
        "min_max_adjustment_total_amount": decimal_str(adjustment),
    }
    unit_amount = ZERO if terms.units.is_zero() else amount / terms.units
    return ChargeAmount(amount=amount, units=terms.units, unit_amount=unit_amount, amount_details=details)


_DELTA_KEYS = (
    "units",
    "free_units",
    "paid_units",
    "free_events",
    "paid_events",
    "fixed_fee_total_amount",
    "min_max_adjustment_total_amount",
    "per_unit_total_amount",
)


def in_advance_details(after: Mapping[str, Any], before: Mapping[str, Any]) -> dict[str, Any]:
    """amount_details of one pay-in-advance fee: what the event added to each quantity (all as decimal
    strings, counts too), with the rate and the fixed fee per event as they stand after the event.
    ``free_units`` is the event's units minus its paid units."""
    details: dict[str, Any] = {"rate": after["rate"], "fixed_fee_unit_amount": after["fixed_fee_unit_amount"]}
    for key in _DELTA_KEYS:
        details[key] = decimal_str(dec(after[key]) - dec(before[key]))
    details["free_units"] = decimal_str(dec(details["units"]) - dec(details["paid_units"]))
    return details
