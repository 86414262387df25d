"""The fee of one pay-in-advance event (Lago's ``Fees::EstimatePayInAdvanceService`` and
``Fees::CreatePayInAdvanceService``): what an incoming event would cost (``POST /events/estimate_fees``,
:mod:`billow.usage`) and what a stored event costs (:mod:`billow.billing.pay_in_advance`).

    event_fee(context, graph, metric_filters, event, history) -> EstimatedFee

``context`` (:func:`pricing_context`): the subscription, its charges window containing the event, the tax
sources. ``history`` (:class:`EventHistory`): which events came before the event: for an incoming event
(:class:`IncomingEvent`), the period's events up to now; for a stored one (:class:`StoredEvent`), those
strictly before it in (timestamp, reception, id) order.

For the charge of ``graph``:

1. the bucket of the event: the most specific charge filter it matches, else the default bucket
   (:func:`billow.metering.filters.matching_filter`), priced with that bucket's properties; its group: the
   event's values of the bucket's grouping keys;
2. the bucket and group's aggregation over the charges period up to the event
   (:func:`billow.metering.aggregation.aggregate`, pay-in-advance, without the metric's rounding, which
   Lago does not apply to pay-in-advance fees), then the events tied with it (same timestamp, before it)
   added one by one;
3. the event's contribution: 1 for a count; its value for a sum; for a unique count 1 when it adds a value
   not active in that bucket and group, -1 when it removes an active one, else 0;
4. ``fee = price_in_advance(before, after)`` (:func:`billow.pricing.price_in_advance`), ``before`` being
   the units already billed in the period (the highest total reached, see
   :attr:`billow.metering.aggregation.BucketAggregation.units`) and ``after`` those units plus what the
   event adds above that highest total. ``units`` is that increase; when the event adds nothing above the
   highest total, ``units`` is its own contribution (never negative) and the amount is 0 (Lago's
   ``units_applied``). A prorated charge bills ``ceil5(increase * days left / period days)`` of its units
   (:mod:`billow.metering.proration`), ``units`` staying the full increase;
5. taxes: the charge's, else the plan's, else the customer's, else the organization's defaults
   (:mod:`billow.taxes.rules`), on the fee's rounded amount (``taxes_amount_cents``) and on its precise
   amount (``taxes_precise_amount``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from billow.customers.repository import customer_repository
from billow.events.service import is_numeric_value
from billow.fees.window import filter_specs, group_keys
from billow.kit.money import precise_minor_units, round_minor_units, round_to_currency, to_minor_units
from billow.metering.aggregation import PLAIN, BucketAggregation, aggregate
from billow.metering.filters import ChargeFilterSpec, matching_filter, property_text
from billow.metering.proration import Proration
from billow.metering.repository import usage_repository
from billow.metering.sql import to_decimal
from billow.models.billable_metrics import AggregationType, BillableMetric
from billow.models.customers import Customer
from billow.models.events import Event
from billow.models.organizations import Organization
from billow.models.plans import Charge, Plan, plan_taxes
from billow.models.subscriptions import Subscription
from billow.models.taxes import Tax
from billow.plans.repository import ChargeGraph, FilterGraph, plan_repository
from billow.pricing import Aggregation, price_in_advance, unit_amount
from billow.pricing.percentage import running_totals
from billow.subscriptions.periods import UsageWindow, charges_window
from billow.taxes.repository import tax_repository
from billow.taxes.rules import applicable_charge_taxes, fee_tax_amounts, fee_taxes_amount_cents

ZERO = Decimal(0)
ONE = Decimal(1)
_PER_EVENT_OPTIONS = (
    "free_units_per_events",
    "free_units_per_total_aggregation",
    "per_transaction_min_amount",
    "per_transaction_max_amount",
)
_ONE_MICROSECOND = timedelta(microseconds=1)

#: The aggregations a pay-in-advance charge may have (the others are refused when a charge is written).
IN_ADVANCE_AGGREGATIONS = frozenset(
    {AggregationType.COUNT, AggregationType.SUM, AggregationType.UNIQUE_COUNT}
)


@dataclass(frozen=True)
class EstimatedTax:
    tax: Tax
    amount_cents: int


@dataclass(frozen=True)
class EstimatedFee:
    """One unsaved pay-in-advance fee."""

    charge: Charge
    metric: BillableMetric
    filter: FilterGraph | None
    grouped_by: dict[str, str | None]
    subscription: Subscription
    customer: Customer
    currency: str
    units: Decimal
    amount_cents: int
    precise_amount_cents: Decimal
    unit_amount: Decimal
    amount_details: dict[str, Any]
    taxes_amount_cents: int
    taxes_precise_amount_cents: Decimal
    taxes_rate: Decimal
    applied_taxes: list[EstimatedTax]
    from_datetime: datetime
    to_datetime: datetime
    transaction_id: str
    events_count: int = 1
    invoiceable: bool = True


@dataclass(frozen=True)
class PricedEvent:
    """The event to price (validated)."""

    transaction_id: str
    code: str
    timestamp: datetime
    properties: dict[str, Any]
    precise_total_amount_cents: Decimal


@dataclass
class PricingContext:
    """What pricing a pay-in-advance event of a subscription needs (:func:`pricing_context`)."""

    session: Session
    organization: Organization
    subscription: Subscription
    customer: Customer
    currency: str
    window: UsageWindow
    timezone: str
    plan_taxes: Sequence[Tax] = ()
    customer_taxes: Sequence[Tax] = ()
    organization_taxes: Sequence[Tax] = ()


class EventHistory(Protocol):
    """Which events of the charges period come before the event being priced."""

    def units_until(self, window: UsageWindow) -> datetime:
        """The exclusive end of the events aggregated as the units before the event."""
        ...

    def active_until(self, window: UsageWindow) -> datetime:
        """The exclusive end of the events that tell whether a unique value is active before the event."""
        ...

    def tied_before(self, context: PricingContext, metric: BillableMetric) -> Sequence[PricedEvent]:
        """Events with the event's very timestamp, before it (added to the units one by one, in order)."""
        ...


@dataclass(frozen=True)
class IncomingEvent:
    """The history of an event that is not stored (an estimate): the period's events up to its time
    (included)."""

    timestamp: datetime

    def units_until(self, window: UsageWindow) -> datetime:
        return min(window.to_datetime, self.timestamp + _ONE_MICROSECOND)

    def active_until(self, window: UsageWindow) -> datetime:
        return self.units_until(window)

    def tied_before(self, context: PricingContext, metric: BillableMetric) -> Sequence[PricedEvent]:
        return ()


@dataclass(frozen=True)
class StoredEvent:
    """The history of a stored event: the events strictly before it in (timestamp, reception, id) order."""

    id: uuid.UUID
    timestamp: datetime
    created_at: datetime

    def units_until(self, window: UsageWindow) -> datetime:
        return max(self.timestamp, window.from_datetime)

    def active_until(self, window: UsageWindow) -> datetime:
        return min(window.to_datetime, self.timestamp)

    def tied_before(self, context: PricingContext, metric: BillableMetric) -> Sequence[PricedEvent]:
        rows = context.session.execute(
            select(Event)
            .where(
                Event.organization_id == context.organization.id,
                Event.external_subscription_id == context.subscription.external_id,
                Event.code == metric.code,
                Event.timestamp == self.timestamp,
                tuple_(Event.created_at, Event.id) < tuple_(self.created_at, self.id),
            )
            .order_by(Event.created_at, Event.id)
        ).scalars()
        return [priced_event(row) for row in rows]


def priced_event(event: Event) -> PricedEvent:
    """A stored event, as :func:`event_fee` takes it."""
    return PricedEvent(
        transaction_id=event.transaction_id,
        code=event.code,
        timestamp=event.timestamp,
        properties=dict(event.properties or {}),
        precise_total_amount_cents=event.precise_total_amount_cents or ZERO,
    )


@dataclass(frozen=True)
class _MetricView:
    """What aggregation reads of a metric, without its rounding (Lago does not round pay-in-advance)."""

    id: uuid.UUID
    organization_id: uuid.UUID
    code: str
    name: str
    aggregation_type: str
    field_name: str | None
    recurring: bool
    expression: str | None = None
    rounding_function: str | None = None
    rounding_precision: int | None = None


@dataclass(frozen=True)
class _Contribution:
    """The aggregations to price without and with the event, the ``increase`` of the billed units, and the
    fee's ``units``."""

    before: Aggregation
    after: Aggregation
    increase: Decimal
    units: Decimal


@dataclass(frozen=True)
class _Bucket:
    """The event's bucket and group in one charge."""

    graph: ChargeGraph
    specs: Sequence[ChargeFilterSpec]
    charge_filter: FilterGraph | None
    properties: Mapping[str, Any]
    grouped_by: dict[str, str | None]

    @property
    def filter_id(self) -> uuid.UUID | None:
        return self.charge_filter.filter.id if self.charge_filter else None

    def holds(self, properties: Mapping[str, Any]) -> bool:
        """An event with these properties falls in this bucket and group."""
        index = matching_filter(properties, self.specs)
        if (self.specs[index].id if index is not None else None) != self.filter_id:
            return False
        return all(
            (property_text(properties.get(key)) or None) == wanted for key, wanted in self.grouped_by.items()
        )


def numeric_value(value: Any) -> Decimal:
    """A property as a sum's value: a plain decimal number, else 0 (Lago's ``fetch(field, 0)``)."""
    if value is None or isinstance(value, bool) or not is_numeric_value(value):
        return ZERO
    return to_decimal(value if isinstance(value, Decimal) else str(value)) or ZERO


def pricing_context(
    session: Session,
    organization: Organization,
    subscription: Subscription,
    customer: Customer,
    plan: Plan,
    *,
    at: datetime,
) -> PricingContext:
    """What pricing a pay-in-advance event needs: the charges window containing ``at`` (in the customer's
    zone) and the tax sources."""
    timezone = customer.applicable_timezone(organization)
    window = charges_window(
        subscription,
        plan_interval=plan.interval,
        bill_charges_monthly=plan.bill_charges_monthly,
        timezone=timezone,
        at=at,
    )
    return PricingContext(
        session=session,
        organization=organization,
        subscription=subscription,
        customer=customer,
        currency=plan.amount_currency,
        window=window,
        timezone=timezone,
        plan_taxes=plan_repository.taxes_of(session, plan_taxes, [plan.id])[plan.id],
        customer_taxes=customer_repository.taxes_by_customer(session, [customer.id])[customer.id],
        organization_taxes=tax_repository.organization_default_taxes(session, organization.id),
    )


def event_fee(
    context: PricingContext,
    graph: ChargeGraph,
    metric_filters: Mapping[str, Sequence[Any]],
    event: PricedEvent,
    history: EventHistory,
) -> EstimatedFee:
    """The pay-in-advance fee of ``event`` for the charge of ``graph`` (see the module documentation).
    ``metric_filters``: the charge's metric's filters (values by key)."""
    charge, metric = graph.charge, graph.metric
    specs = filter_specs(graph, metric_filters)
    index = matching_filter(event.properties, specs)
    charge_filter = graph.filters[index] if index is not None else None
    properties = charge_filter.filter.properties if charge_filter else charge.properties
    keys = specs[index].pricing_group_keys if index is not None else group_keys(charge.properties)
    grouped_by = {key: property_text(event.properties.get(key)) or None for key in keys}
    bucket = _Bucket(graph, specs, charge_filter, properties, grouped_by)

    contribution = _contribution(context, bucket, _aggregation(context, bucket, history), event, history)
    currency = context.currency
    if charge.prorated:
        proration = Proration.of_window(context.window, context.timezone)
        days = proration.days_from(proration.day(event.timestamp))
        prorated = proration.units(contribution.increase * days)
        result = price_in_advance(
            charge.charge_model,
            properties,
            Aggregation(units=ZERO),
            Aggregation(units=prorated, events_count=1),
            currency=currency,
        )
    else:
        result = price_in_advance(
            charge.charge_model, properties, contribution.before, contribution.after, currency=currency
        )
    amount_cents = to_minor_units(result.amount, currency)
    precise_amount_cents = precise_minor_units(result.amount, currency)
    units = contribution.units

    taxes = applicable_charge_taxes(
        charge_taxes=graph.taxes,
        plan_taxes=context.plan_taxes,
        customer_taxes=context.customer_taxes,
        organization_taxes=context.organization_taxes,
    )
    rounded_by_tax = fee_tax_amounts(amount_cents, taxes)
    precise_by_tax = fee_tax_amounts(precise_amount_cents, taxes)
    window = context.window
    period = window.period
    to_datetime = period.lago_to_datetime if window.to_datetime == period.end else window.to_datetime
    return EstimatedFee(
        charge=charge,
        metric=metric,
        filter=charge_filter,
        grouped_by=grouped_by,
        subscription=context.subscription,
        customer=context.customer,
        currency=currency,
        units=units,
        amount_cents=amount_cents,
        precise_amount_cents=precise_amount_cents,
        unit_amount=unit_amount(round_to_currency(result.amount, currency), units),
        amount_details=result.amount_details,
        taxes_amount_cents=fee_taxes_amount_cents(amount_cents, taxes),
        taxes_precise_amount_cents=sum(precise_by_tax.values(), ZERO),
        taxes_rate=sum((Decimal(tax.rate) for tax in taxes), ZERO),
        applied_taxes=[EstimatedTax(tax, round_minor_units(rounded_by_tax[tax.id])) for tax in taxes],
        from_datetime=window.from_datetime,
        to_datetime=to_datetime,
        transaction_id=event.transaction_id,
        invoiceable=charge.invoiceable,
    )


def _aggregation(context: PricingContext, bucket: _Bucket, history: EventHistory) -> BucketAggregation:
    """The event's bucket and group, aggregated over the period before the event (``history``), the
    events tied with it included one by one."""
    charge, metric = bucket.graph.charge, bucket.graph.metric
    window = context.window
    buckets = aggregate(
        context.session,
        organization_id=context.organization.id,
        external_subscription_id=context.subscription.external_id,
        metric=_unrounded(metric),  # type: ignore[arg-type]
        from_datetime=window.from_datetime,
        to_datetime=history.units_until(window),
        filters=bucket.specs,
        pricing_group_keys=group_keys(charge.properties),
        with_event_values=charge.charge_model == "percentage" and _needs_values(bucket.properties),
        pay_in_advance=True,
        period_duration_days=window.period.days,
        source=PLAIN,
    )
    found = next(
        (b for b in buckets if b.filter_id == bucket.filter_id and b.grouped_by == bucket.grouped_by),
        BucketAggregation(
            filter_id=bucket.filter_id,
            grouped_by=bucket.grouped_by,
            units=ZERO,
            events_count=0,
            current_usage_units=ZERO,
            total_aggregated_units=ZERO,
        ),
    )
    for tied in history.tied_before(context, metric):
        if not bucket.holds(tied.properties):
            continue
        contribution = _contribution(context, bucket, found, tied, history)
        if metric.aggregation_type == AggregationType.SUM:
            delta = numeric_value(tied.properties.get(metric.field_name or ""))
        elif metric.aggregation_type == AggregationType.COUNT:
            delta = ONE
        else:
            delta = contribution.increase
        after = contribution.after
        found = replace(
            found,
            units=after.units,
            events_count=after.events_count,
            current_usage_units=found.current_usage_units + delta,
            total_aggregated_units=found.total_aggregated_units + delta,
            event_values=after.event_values,
            precise_total_amount_cents=after.precise_total_amount_cents,
        )
    return found


def _contribution(
    context: PricingContext,
    bucket: _Bucket,
    aggregation: BucketAggregation,
    event: PricedEvent,
    history: EventHistory,
) -> _Contribution:
    metric = bucket.graph.metric
    properties = bucket.properties
    kind = metric.aggregation_type
    value = event.properties.get(metric.field_name or "")
    if kind == AggregationType.COUNT:
        delta = ONE
        gap = ZERO
        added: tuple[Decimal, ...] = (ONE,)
    elif kind == AggregationType.SUM:
        delta = numeric_value(value)
        gap = max(aggregation.units - aggregation.current_usage_units, ZERO)
        added = (delta,)
    elif kind == AggregationType.UNIQUE_COUNT:
        text = property_text(value)
        active = text is not None and text != "" and _is_active(context, bucket, text, history)
        if text is None or text == "":
            delta = ZERO
        elif event.properties.get("operation_type", "add") in (None, "add"):
            delta = ZERO if active else ONE
        else:
            delta = -ONE if active else ZERO
        gap = max(aggregation.units - aggregation.current_usage_units, ZERO)
        added = (ONE,) if delta > 0 else ()
    else:  # not payable in advance; charges validation refuses it
        raise ValueError(f"{kind} charges are not priced in advance")

    increase = max(delta - gap, ZERO)
    units = increase if delta > gap else max(delta, ZERO)
    before_values = aggregation.event_values
    after_values = (*before_values, *added) if _needs_values(properties) else ()
    before = Aggregation(
        units=aggregation.units,
        events_count=aggregation.events_count,
        running_totals=_running_totals(metric, properties, before_values),
        event_values=before_values,
        precise_total_amount_cents=aggregation.precise_total_amount_cents,
    )
    after = replace(
        before,
        units=aggregation.units + increase,
        events_count=aggregation.events_count + 1,
        running_totals=_running_totals(metric, properties, after_values),
        event_values=after_values,
        precise_total_amount_cents=aggregation.precise_total_amount_cents + event.precise_total_amount_cents,
    )
    return _Contribution(before=before, after=after, increase=increase, units=units)


def _is_active(context: PricingContext, bucket: _Bucket, value: str, history: EventHistory) -> bool:
    """Whether ``value`` is active in the event's bucket and group before the event: its latest operation
    there adds it."""
    metric = bucket.graph.metric
    window = context.window
    rows = usage_repository.events_with_value(
        context.session,
        organization_id=context.organization.id,
        external_subscription_id=context.subscription.external_id,
        code=metric.code,
        field_name=metric.field_name or "",
        value=value,
        from_datetime=None if metric.recurring else window.from_datetime,
        to_datetime=history.active_until(window),
    )
    for properties, _timestamp in rows:
        if bucket.holds(properties):
            return properties.get("operation_type", "add") in (None, "add")
    return False


def _needs_values(properties: Mapping[str, Any]) -> bool:
    return any(properties.get(option) not in (None, "", 0, "0") for option in _PER_EVENT_OPTIONS)


def _running_totals(
    metric: BillableMetric, properties: Mapping[str, Any], values: Sequence[Decimal]
) -> tuple[Decimal, ...]:
    free_events = properties.get("free_units_per_events")
    free_total = properties.get("free_units_per_total_aggregation")
    if not values or (free_events in (None, "", 0, "0") and free_total in (None, "", 0, "0")):
        return ()
    if metric.aggregation_type in (AggregationType.COUNT, AggregationType.UNIQUE_COUNT):
        return tuple(Decimal(i) for i in range(1, len(values) + 1))
    return running_totals(properties, values)


def _unrounded(metric: BillableMetric) -> _MetricView:
    return _MetricView(
        id=metric.id,
        organization_id=metric.organization_id,
        code=metric.code,
        name=metric.name,
        aggregation_type=metric.aggregation_type,
        field_name=metric.field_name,
        recurring=metric.recurring,
        expression=metric.expression,
    )


__all__ = [
    "IN_ADVANCE_AGGREGATIONS",
    "EstimatedFee",
    "EstimatedTax",
    "EventHistory",
    "IncomingEvent",
    "PricedEvent",
    "PricingContext",
    "StoredEvent",
    "event_fee",
    "numeric_value",
    "priced_event",
    "pricing_context",
]
