"""What a subscription's charges cost over a window: the per-charge pricing of current usage and of the
invoices, and the usage fees over an explicit, closed window (what an invoice bills).

    charge_fees(session, subscription, graph, metric_filters, currency=..., from_datetime=...,
                to_datetime=..., period_days=..., source=...) -> [FeeUsage]
    window_fees(session, subscription=..., charges=[ChargeGraph...], window=UsageWindow(...),
                timezone=..., currency=...) -> [ChargeWindowFees]

:func:`charge_fees` prices one charge: its events are aggregated per bucket (charge filter or default)
and group (:func:`billow.metering.aggregation.aggregate`), and each is priced with
:func:`billow.pricing.price`, a filter with its own properties, the default bucket with the charge's; each
fee's ``amount_cents`` is rounded on its own (:func:`billow.kit.money.to_minor_units`); as Lago, the fees
with units, an amount or events are kept, and a bucket left without any gets one zero fee (all its
grouping keys ``None``).

:func:`window_fees`: for every charge given (the caller passes the non-pay-in-advance ones:
pay-in-advance charges are billed when their events arrive), the events of ``[window.from_datetime,
window.to_datetime)`` are aggregated per bucket (charge filter or default) and group, and each is priced
by :mod:`billow.pricing` exactly as current usage prices it (:func:`charge_fees`): prorated charges on
their prorated units (the proration of ``window`` inside ``window.period``), recurring sums and unique counts
over all history up to the window's end, weighted sums over ``window.period``'s days, percentage with
per-event values. Each fee carries its units, ``total_aggregated_units``, ``events_count``, the exact
amount (currency units), ``amount_cents`` (half-up to the currency's exponent, Lago §5.5), the unit
amount (Lago's ``precise_unit_amount``) and the charge model's ``amount_details`` as Lago's fee JSON has
them. As Lago, fees with no units, no amount and no events are kept only as the single zero fee of a
bucket (callers that persist fees drop them, ``should_persist_fee?``).

The window is closed, so the plain SQL aggregation answers (one scan of the window's events per charge,
served by ``ix_events_usage``); usage rollups (:mod:`billow.metering.rollups`) are not built for it:
a rollup pays off on a period that is queried again and again while it is open, not on one read of a
finished period, and building one per subscription would write rows for every subscription of a billing
run: the window passes the plain source (:data:`billow.metering.aggregation.PLAIN`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from billow.billable_metrics.repository import billable_metric_repository
from billow.kit.money import ROUNDING, precise_minor_units, to_minor_units
from billow.metering import batch
from billow.metering.aggregation import PLAIN, BucketAggregation, UsageSource, aggregate
from billow.metering.filters import ChargeFilterSpec, resolve_values
from billow.metering.proration import Proration
from billow.models.billable_metrics import AggregationType, BillableMetric
from billow.models.plans import Charge
from billow.models.subscriptions import Subscription
from billow.models.taxes import Tax
from billow.plans.repository import ChargeGraph, FilterGraph
from billow.pricing import CONTEXT, UNIT_AMOUNT_QUANTUM, Aggregation, price
from billow.pricing.percentage import running_totals
from billow.subscriptions.periods import UsageWindow

ZERO = Decimal(0)

#: Percentage properties that need the per-event values.
_PER_EVENT_OPTIONS = (
    "free_units_per_events",
    "free_units_per_total_aggregation",
    "per_transaction_min_amount",
    "per_transaction_max_amount",
)


@dataclass(frozen=True)
class FeeUsage:
    """One fee of the usage: a bucket (charge filter or default) and group of a charge."""

    filter: FilterGraph | None
    grouped_by: dict[str, str | None]
    units: Decimal
    total_aggregated_units: Decimal
    events_count: int
    amount_cents: int
    #: The charge model's amount in currency units, unrounded (``amount_cents`` is it rounded).
    amount: Decimal = ZERO
    #: Lago's ``precise_unit_amount`` (currency units, 15 decimals at most).
    unit_amount: Decimal = ZERO
    #: Lago's ``fee.amount_details`` for the charge model (JSON-ready).
    amount_details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WindowFee:
    """One priced bucket/group of a charge over the window."""

    filter: FilterGraph | None
    grouped_by: dict[str, str | None]
    units: Decimal
    total_aggregated_units: Decimal
    events_count: int
    #: The charge model's amount in currency units, unrounded.
    amount: Decimal
    #: ``amount`` * 10**exponent, unrounded (Lago's ``precise_amount_cents``).
    precise_amount_cents: Decimal
    #: ``amount`` rounded half-up to the currency's exponent, in minor units.
    amount_cents: int
    #: Lago's ``precise_unit_amount`` (currency units).
    unit_amount: Decimal
    amount_details: dict[str, Any] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        """No units, no amount, no events: Lago does not persist such a fee."""
        return self.units == 0 and self.amount_cents == 0 and self.events_count == 0


@dataclass(frozen=True)
class ChargeWindowFees:
    charge: Charge
    metric: BillableMetric
    #: The charge's own taxes (the caller falls back to the plan's, customer's, organization's).
    taxes: Sequence[Tax]
    fees: list[WindowFee]


def needs_event_values(graph: ChargeGraph) -> bool:
    """A percentage charge (or one of its filters) with free units or per-transaction limits prices
    the events one by one."""
    properties = [graph.charge.properties, *(item.filter.properties for item in graph.filters)]
    return graph.charge.charge_model == "percentage" and any(
        (props or {}).get(option) not in (None, "", 0, "0")
        for props in properties
        for option in _PER_EVENT_OPTIONS
    )


def charge_fees(
    session: Session,
    subscription: Subscription,
    graph: ChargeGraph,
    metric_filters: Mapping[str, Sequence[Any]],
    *,
    currency: str,
    from_datetime: datetime,
    to_datetime: datetime,
    period_days: int,
    proration: Proration | None = None,
    buckets: Sequence[BucketAggregation] | None = None,
    source: UsageSource,
) -> list[FeeUsage]:
    """The fees of one charge of ``subscription`` over ``[from_datetime, to_datetime)`` (see the module
    documentation). ``metric_filters``: its metric's filters (values by key); ``period_days``: the charges
    period's days (weighted sums); ``proration``: for a prorated charge; ``source``: the event store.
    ``buckets``: the charge's aggregation when the caller already has it (a billing run aggregates many
    subscriptions in one query, :func:`window_fees_many`); computed here otherwise."""
    charge, metric = graph.charge, graph.metric
    specs = filter_specs(graph, metric_filters)
    properties_of: dict[uuid.UUID | None, Mapping[str, Any]] = {None: charge.properties}
    filter_of: dict[uuid.UUID | None, FilterGraph | None] = {None: None}
    for item in graph.filters:
        properties_of[item.filter.id] = item.filter.properties
        filter_of[item.filter.id] = item
    with_event_values = needs_event_values(graph)
    if buckets is None:
        buckets = aggregate(
            session,
            organization_id=subscription.organization_id,
            external_subscription_id=subscription.external_id,
            metric=metric,
            from_datetime=from_datetime,
            to_datetime=to_datetime,
            filters=specs,
            pricing_group_keys=_group_keys(charge.properties),
            with_event_values=with_event_values,
            pay_in_advance=charge.pay_in_advance,
            period_duration_days=period_days,
            proration=proration,
            source=source,
        )

    fees: list[FeeUsage] = []
    kept_by_bucket: dict[uuid.UUID | None, list[FeeUsage]] = {}
    order: list[uuid.UUID | None] = []
    for bucket in buckets:
        if bucket.filter_id not in kept_by_bucket:
            kept_by_bucket[bucket.filter_id] = []
            order.append(bucket.filter_id)
        fee = _price(
            charge, metric, bucket, properties_of[bucket.filter_id], filter_of[bucket.filter_id], currency
        )
        if fee.units != 0 or fee.amount_cents != 0 or fee.events_count != 0:
            kept_by_bucket[bucket.filter_id].append(fee)
    for filter_id in order:
        kept = kept_by_bucket[filter_id]
        if not kept:
            empty = _empty_bucket(filter_id, specs, _group_keys(charge.properties))
            kept = [_price(charge, metric, empty, properties_of[filter_id], filter_of[filter_id], currency)]
        fees.extend(kept)
    return fees


def filter_specs(graph: ChargeGraph, metric_filters: Mapping[str, Sequence[Any]]) -> list[ChargeFilterSpec]:
    """The charge's filters as the aggregation takes them (``metric_filters``: its metric's filters)."""
    return [
        ChargeFilterSpec(
            id=item.filter.id,
            values=resolve_values(item.values, metric_filters),
            pricing_group_keys=_group_keys(item.filter.properties),
        )
        for item in graph.filters
    ]


def group_keys(properties: Mapping[str, Any] | None) -> list[str]:
    """The pricing group keys of charge (or filter) properties."""
    return _group_keys(properties)


def _group_keys(properties: Mapping[str, Any] | None) -> list[str]:
    keys = (properties or {}).get("pricing_group_keys") or (properties or {}).get("grouped_by") or []
    return [str(key) for key in keys] if isinstance(keys, list) else []


def _empty_bucket(
    filter_id: uuid.UUID | None, specs: Sequence[ChargeFilterSpec], default_keys: Sequence[str]
) -> BucketAggregation:
    keys = next((spec.pricing_group_keys for spec in specs if spec.id == filter_id), default_keys)
    return BucketAggregation(
        filter_id=filter_id,
        grouped_by=dict.fromkeys(keys),
        units=ZERO,
        events_count=0,
        current_usage_units=ZERO,
        total_aggregated_units=ZERO,
    )


def _price(
    charge: Charge,
    metric: BillableMetric,
    bucket: BucketAggregation,
    properties: Mapping[str, Any],
    charge_filter: FilterGraph | None,
    currency: str,
) -> FeeUsage:
    result = price(
        charge.charge_model,
        properties,
        Aggregation(
            units=bucket.units,
            events_count=bucket.events_count,
            running_totals=_running_totals(metric, properties, bucket),
            event_values=bucket.event_values,
            precise_total_amount_cents=bucket.precise_total_amount_cents,
            full_units=bucket.full_units,
            prorated_values=bucket.prorated_values,
        ),
        currency=currency,
    )
    prorated = bucket.full_units is not None
    units = bucket.current_usage_units if charge.pay_in_advance or prorated else result.units
    total_aggregated = (
        bucket.total_aggregated_units if metric.aggregation_type == AggregationType.WEIGHTED_SUM else units
    )
    return FeeUsage(
        filter=charge_filter,
        grouped_by=bucket.grouped_by,
        units=units,
        total_aggregated_units=total_aggregated,
        events_count=bucket.events_count,
        amount_cents=to_minor_units(result.amount, currency),
        amount=result.amount,
        unit_amount=result.unit_amount.quantize(UNIT_AMOUNT_QUANTUM, rounding=ROUNDING, context=CONTEXT),
        amount_details=result.amount_details,
    )


def _running_totals(
    metric: BillableMetric, properties: Mapping[str, Any], bucket: BucketAggregation
) -> tuple[Decimal, ...]:
    """Lago's running totals: none without free units; for a count or unique count, 1..units; for a sum,
    the cumulative sums of the events (see :func:`billow.pricing.percentage.running_totals`)."""
    if not bucket.event_values:
        return ()
    free_events = properties.get("free_units_per_events")
    free_total = properties.get("free_units_per_total_aggregation")
    if free_events in (None, "", 0, "0") and free_total in (None, "", 0, "0"):
        return ()
    if metric.aggregation_type in (AggregationType.COUNT, AggregationType.UNIQUE_COUNT):
        return tuple(Decimal(i) for i in range(1, len(bucket.event_values) + 1))
    return running_totals(properties, bucket.event_values)


def window_fees(
    session: Session,
    *,
    subscription: Subscription,
    charges: Sequence[ChargeGraph],
    window: UsageWindow,
    timezone: str,
    currency: str,
    metric_filters: Mapping[uuid.UUID, Mapping[str, Sequence[Any]]] | None = None,
) -> list[ChargeWindowFees]:
    """Price ``charges`` of ``subscription`` over ``[window.from_datetime, window.to_datetime)``.

    ``window.period`` is the charges period the window lies in (its days are the denominator of
    prorations and weighted sums); ``timezone`` the customer's applicable time zone (proration days).
    ``metric_filters`` (the metrics' declared filter values, by metric id) may be passed by a caller that
    prices many subscriptions of the same plans; they are loaded otherwise.
    """
    if window.to_datetime < window.from_datetime:
        raise ValueError("the window ends before it starts")
    priced = charges_usage(
        session,
        subscription,
        charges,
        window,
        timezone=timezone,
        currency=currency,
        source=PLAIN,
        metric_filters=metric_filters,
    )
    return [
        ChargeWindowFees(graph.charge, graph.metric, graph.taxes, [window_fee(u, currency) for u in usages])
        for graph, usages in priced
    ]


def charges_usage(
    session: Session,
    subscription: Subscription,
    charges: Sequence[ChargeGraph],
    window: UsageWindow,
    *,
    timezone: str,
    currency: str,
    source: UsageSource,
    metric_filters: Mapping[uuid.UUID, Mapping[str, Sequence[Any]]] | None = None,
) -> list[tuple[ChargeGraph, list[FeeUsage]]]:
    """Each charge's fees over ``window`` (one per filter and group, unrounded), the events read from
    ``source``: the loop shared by an invoice's closed window (:func:`window_fees`) and current usage
    (:mod:`billow.fees.usage`). ``metric_filters`` are loaded when not given."""
    if metric_filters is None:
        metric_filters = billable_metric_repository.filter_values(
            session, subscription.organization_id, list({g.metric.id for g in charges})
        )
    proration = Proration.of_window(window, timezone)
    return [
        (
            graph,
            charge_fees(
                session,
                subscription,
                graph,
                metric_filters.get(graph.metric.id, {}),
                currency=currency,
                from_datetime=window.from_datetime,
                to_datetime=window.to_datetime,
                period_days=window.period.days,
                proration=proration if graph.charge.prorated else None,
                source=source,
            ),
        )
        for graph in charges
    ]


def window_fees_many(
    session: Session,
    *,
    subscriptions: Sequence[Subscription],
    charges: Sequence[ChargeGraph],
    window: UsageWindow,
    timezone: str,
    currency: str,
    metric_filters: Mapping[uuid.UUID, Mapping[str, Sequence[Any]]] | None = None,
) -> dict[uuid.UUID, list[ChargeWindowFees]]:
    """:func:`window_fees` for many subscriptions of one plan over the same window, by subscription id.

    Count, sum, max, latest and unique-count charges are aggregated with one query per charge for all the
    subscriptions (:mod:`billow.metering.batch`); the others, per subscription. The subscriptions must
    have distinct external ids and belong to one organization.
    """
    if not subscriptions:
        return {}
    if len({s.external_id for s in subscriptions}) != len(subscriptions):
        raise ValueError("subscriptions of one batch must have distinct external ids")
    organization_id = subscriptions[0].organization_id
    if any(s.organization_id != organization_id for s in subscriptions):
        raise ValueError("subscriptions of one batch must belong to one organization")
    if metric_filters is None:
        metric_filters = billable_metric_repository.filter_values(
            session, organization_id, list({g.metric.id for g in charges})
        )
    proration = Proration.of_window(window, timezone)
    result: dict[uuid.UUID, list[ChargeWindowFees]] = {s.id: [] for s in subscriptions}
    for graph in charges:
        charge, metric = graph.charge, graph.metric
        filters = metric_filters.get(metric.id, {})
        buckets: dict[str, list[BucketAggregation]] | None = None
        if batch.supported(
            metric,
            with_event_values=needs_event_values(graph),
            pay_in_advance=charge.pay_in_advance,
            prorated=charge.prorated,
        ):
            buckets = batch.aggregate_many(
                session,
                organization_id=organization_id,
                external_subscription_ids=[s.external_id for s in subscriptions],
                metric=metric,
                from_datetime=window.from_datetime,
                to_datetime=window.to_datetime,
                filters=filter_specs(graph, filters),
                pricing_group_keys=group_keys(charge.properties),
            )
        for subscription in subscriptions:
            usages = charge_fees(
                session,
                subscription,
                graph,
                filters,
                currency=currency,
                from_datetime=window.from_datetime,
                to_datetime=window.to_datetime,
                period_days=window.period.days,
                proration=proration if charge.prorated else None,
                buckets=buckets[subscription.external_id] if buckets is not None else None,
                source=PLAIN,
            )
            result[subscription.id].append(
                ChargeWindowFees(charge, metric, graph.taxes, [window_fee(u, currency) for u in usages])
            )
    return result


def window_fee(usage: FeeUsage, currency: str) -> WindowFee:
    return WindowFee(
        filter=usage.filter,
        grouped_by=dict(usage.grouped_by),
        units=usage.units,
        total_aggregated_units=usage.total_aggregated_units,
        events_count=usage.events_count,
        amount=usage.amount,
        precise_amount_cents=precise_minor_units(usage.amount, currency),
        amount_cents=usage.amount_cents,
        unit_amount=usage.unit_amount,
        amount_details=dict(usage.amount_details),
    )


__all__ = [
    "ChargeWindowFees",
    "FeeUsage",
    "WindowFee",
    "charge_fees",
    "filter_specs",
    "group_keys",
    "needs_event_values",
    "window_fee",
    "window_fees",
    "window_fees_many",
]
