"""The results of an aggregation: :class:`BucketAggregation`, one per bucket and group, rounded with the
metric's rounding, in a stable order (the filters' order, the default bucket last; groups by value)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal

from billow.kit.money import QUANTIZE
from billow.metering.aggregation.query import ONE, ZERO, GroupValues, Layout, Partial
from billow.models.billable_metrics import AggregationType, BillableMetric

ROUNDING_MODES = {"round": ROUND_HALF_UP, "ceil": ROUND_CEILING, "floor": ROUND_FLOOR}


@dataclass(frozen=True)
class BucketAggregation:
    """The usage of one bucket (a charge filter, or ``None`` for the default bucket) and group.

    ``units`` are the units to price (Lago's ``aggregation``). For a pay-in-advance sum or unique count
    they are the largest total reached in the period (what was billed in advance, event by event) while
    ``current_usage_units`` is the total now; otherwise the two are equal. Both are rounded per the metric
    and never negative for pay-in-advance charges.

    ``event_values`` (when asked for): the values of the events in time order (``1`` per event for a count,
    ``1`` per active value for a unique count), for percentage charges.
    ``precise_total_amount_cents``: Σ of the events' ``precise_total_amount_cents`` (dynamic charges).
    """

    filter_id: uuid.UUID | None
    grouped_by: dict[str, str | None]
    units: Decimal
    events_count: int
    current_usage_units: Decimal
    total_aggregated_units: Decimal
    event_values: tuple[Decimal, ...] = ()
    precise_total_amount_cents: Decimal = ZERO
    #: Prorated charges (``proration=``): ``units`` are then the prorated units and ``full_units`` the units
    #: without proration (what ``units`` would be otherwise); ``None`` when not prorated.
    full_units: Decimal | None = None
    #: Prorated charges: per event in time order, (full value, prorated value) (prorated graduated model).
    prorated_values: tuple[tuple[Decimal, Decimal], ...] = ()


def apply_rounding(units: Decimal, function: str | None, precision: int | None) -> Decimal:
    """The metric's rounding (Lago's ``ApplyRoundingService``): ``round`` half-up, ``ceil``, ``floor`` to
    ``precision`` decimals (default 0; negative rounds to tens, hundreds...)."""
    if not function:
        return units
    quantum = ONE.scaleb(-(precision or 0))
    return units.quantize(quantum, rounding=ROUNDING_MODES[function], context=QUANTIZE)


def results(
    metric: BillableMetric,
    layout: Layout,
    partials: dict[tuple[int, GroupValues], Partial],
    *,
    pay_in_advance: bool,
) -> list[BucketAggregation]:
    by_bucket: dict[int, list[tuple[GroupValues, Partial]]] = defaultdict(list)
    for (bucket, values), partial in partials.items():
        by_bucket[bucket].append((values, partial))

    results = []
    for bucket in layout.buckets:
        found = sorted(by_bucket.get(bucket, []), key=lambda item: _group_sort_key(item[0]))
        if not found:
            found = [(layout.null_group(), Partial())]
        for values, partial in found:
            results.append(_finish(metric, layout, bucket, values, partial, pay_in_advance=pay_in_advance))
    return results


def _group_sort_key(values: GroupValues) -> tuple[tuple[bool, str], ...]:
    return tuple((value is not None, value or "") for value in values)


def _finish(
    metric: BillableMetric,
    layout: Layout,
    bucket: int,
    values: GroupValues,
    partial: Partial,
    *,
    pay_in_advance: bool,
) -> BucketAggregation:
    def rounded(units: Decimal) -> Decimal:
        return apply_rounding(units, metric.rounding_function, metric.rounding_precision)

    current = rounded(partial.units)
    units = current
    if pay_in_advance:
        priced = partial.in_advance_units if partial.in_advance_units is not None else partial.units
        units = max(rounded(priced), ZERO)
        current = max(current, ZERO)
    events_count = partial.events_count
    full_units: Decimal | None = None
    if partial.prorated_units is not None:
        # Lago clamps both at 0; a unique count's events_count is its (prorated) units, truncated.
        current = max(current, ZERO)
        full_units = max(units, ZERO)
        units = max(rounded(partial.prorated_units), ZERO)
        if metric.aggregation_type == AggregationType.UNIQUE_COUNT:
            events_count = int(units)
    total_aggregated = (
        partial.total_aggregated_units if partial.total_aggregated_units is not None else current
    )
    return BucketAggregation(
        filter_id=layout.filter_id(bucket),
        grouped_by=layout.grouped_by(bucket, values),
        units=units,
        events_count=events_count,
        current_usage_units=current,
        total_aggregated_units=total_aggregated,
        event_values=tuple(partial.event_values),
        precise_total_amount_cents=partial.precise_total_amount_cents,
        full_units=full_units,
        prorated_values=tuple(partial.prorated_values),
    )
