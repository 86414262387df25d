"""Fee estimates: what would one event cost if it were ingested now? (``POST /events/estimate_fees``,
Lago's ``Fees::EstimatePayInAdvanceService``.)

Nothing is stored. The event is checked as Lago checks it, in this order: the active subscription with
its ``external_subscription_id`` (404 ``subscription_not_found``), ``timestamp`` (422), the live billable
metric with its ``code`` (404 ``billable_metric_not_found``), ``properties`` (422; for ``sum_agg``,
``max_agg`` and ``latest_agg`` a present value of the metric's field must be a number:
``value_is_not_valid_number``), ``precise_total_amount_cents`` (422), the metric's expression (422
``expression_evaluation_failed`` under ``properties``), then the plan's pay-in-advance charges on the
metric (none: 422 ``{"code": ["does_not_match_an_instant_charge"]}``).

One fee per such charge (in the plan's order):

1. the bucket of the event: the most specific charge filter it matches, else the default bucket
   (:func:`billow.metering.filters.matching_filter`), priced with that bucket's properties; its group: the
   event's values of the bucket's grouping keys;
2. the bucket and group's aggregation over the charges period up to now (:func:`billow.metering.aggregate`,
   pay-in-advance, without the metric's rounding, which Lago does not apply to pay-in-advance fees);
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

The event is estimated at the request time, as Lago does (``timestamp`` is validated, not used).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy.orm import Session

from billow.billable_metrics.repository import billable_metric_repository
from billow.customers.repository import customer_repository
from billow.errors import NotFound, ValidationFailed
from billow.events.schemas import (
    TimestampError,
    parse_precise_amount,
    parse_timestamp,
    root_object,
    unix_seconds,
)
from billow.events.service import expression_value_text, is_numeric_value
from billow.kit import expression as expressions
from billow.kit.money import precise_minor_units, round_to_currency, to_minor_units
from billow.metering.aggregation import PLAIN, BucketAggregation, aggregate
from billow.metering.filters import ChargeFilterSpec, matching_filter, property_text, resolve_values
from billow.metering.proration import Proration
from billow.metering.repository import usage_repository
from billow.metering.sql import to_decimal
from billow.models.billable_metrics import BillableMetric
from billow.models.customers import Customer
from billow.models.organizations import Organization
from billow.models.plans import Charge, Plan, plan_taxes
from billow.models.subscriptions import Subscription
from billow.models.taxes import Tax
from billow.plans.repository import ChargeGraph, FilterGraph, plan_repository
from billow.pricing import Aggregation, price_in_advance
from billow.pricing._common import per_unit
from billow.pricing.percentage import running_totals
from billow.subscriptions.periods import UsageWindow, charges_window
from billow.subscriptions.repository import subscription_repository
from billow.taxes.rules import applicable_charge_taxes, fee_tax_amounts, fee_taxes_amount_cents

ZERO = Decimal(0)
ONE = Decimal(1)
_NUMERIC_FIELDS = frozenset({"sum_agg", "max_agg", "latest_agg"})
_PER_EVENT_OPTIONS = (
    "free_units_per_events",
    "free_units_per_total_aggregation",
    "per_transaction_min_amount",
    "per_transaction_max_amount",
)
_ONE_MICROSECOND = timedelta(microseconds=1)


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
class _Event:
    """The simulated event, validated."""

    transaction_id: str
    code: str
    timestamp: datetime
    properties: dict[str, Any]
    precise_total_amount_cents: Decimal


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


@dataclass
class _Context:
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


def _identifier(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _numeric(value: Any) -> Decimal:
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
) -> _Context:
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
    return _Context(
        session=session,
        organization=organization,
        subscription=subscription,
        customer=customer,
        currency=plan.amount_currency,
        window=window,
        timezone=timezone,
        plan_taxes=plan_repository.taxes_of(session, plan_taxes, [plan.id])[plan.id],
        customer_taxes=customer_repository.taxes_by_customer(session, [customer.id])[customer.id],
        organization_taxes=usage_repository.organization_default_taxes(session, organization.id),
    )


class EstimateService:
    def estimate_fees(
        self, session: Session, organization: Organization, data: Any, now: datetime
    ) -> list[EstimatedFee]:
        raw = root_object(data, "event")
        external_id = _identifier(raw.get("external_subscription_id"))
        subscription = (
            subscription_repository.active_by_external_id(session, organization.id, external_id)
            if external_id
            else None
        )
        if subscription is None:
            raise NotFound("subscription")
        try:
            parse_timestamp(raw.get("timestamp"))
        except TimestampError as exc:
            raise ValidationFailed.one("timestamp", exc.code) from exc
        code = _identifier(raw.get("code"))
        metric = billable_metric_repository.by_code(session, organization.id, code) if code else None
        if metric is None:
            raise NotFound("billable_metric")
        event = self._event(raw, metric, code or "", now)

        plan = usage_repository.plan(session, organization.id, subscription.plan_id)
        charges = [
            charge
            for charge in (plan_repository.charges_of(session, plan) if plan is not None else [])
            if charge.pay_in_advance and charge.billable_metric_id == metric.id
        ]
        if plan is None or not charges:
            raise ValidationFailed.one("code", "does_not_match_an_instant_charge")

        customer = session.get(Customer, subscription.customer_id)
        if customer is None:  # cannot happen: subscriptions keep their customer
            raise NotFound("subscription")
        context = pricing_context(session, organization, subscription, customer, plan, at=now)
        graphs = plan_repository.load_charges(session, charges)
        metric_filters = usage_repository.metric_filters(session, organization.id, [metric.id]).get(
            metric.id, {}
        )
        return [self._fee(context, graph, metric_filters, event) for graph in graphs]

    # ------------------------------------------------------------------------------------------ input

    def _event(self, raw: Mapping[str, Any], metric: BillableMetric, code: str, now: datetime) -> _Event:
        properties = raw.get("properties")
        if properties is None:
            properties = {}
        if not isinstance(properties, dict):
            raise ValidationFailed.one("properties", "value_is_invalid")
        properties = dict(properties)
        field_name = metric.field_name
        if metric.aggregation_type in _NUMERIC_FIELDS and field_name:
            value = properties.get(field_name)
            if value is not None and not is_numeric_value(value):
                raise ValidationFailed.one("properties", "value_is_not_valid_number")
        precise = ZERO
        if raw.get("precise_total_amount_cents") is not None:
            try:
                precise = parse_precise_amount(raw.get("precise_total_amount_cents"))
            except ValueError as exc:
                raise ValidationFailed.one("precise_total_amount_cents", str(exc)) from exc
        if metric.expression and field_name:
            try:
                value = expressions.parse(metric.expression).evaluate(
                    code=code, timestamp=unix_seconds(now), properties=properties
                )
            except expressions.ExpressionError as exc:
                raise ValidationFailed.one("properties", "expression_evaluation_failed") from exc
            properties[field_name] = expression_value_text(value)
        transaction_id = _identifier(raw.get("transaction_id")) or str(uuid.uuid4())
        return _Event(transaction_id, code, now, properties, precise)

    # ------------------------------------------------------------------------------------------- fees

    def _fee(
        self,
        context: _Context,
        graph: ChargeGraph,
        metric_filters: Mapping[str, Sequence[Any]],
        event: _Event,
    ) -> EstimatedFee:
        charge, metric = graph.charge, graph.metric
        specs = [
            ChargeFilterSpec(
                id=item.filter.id,
                values=resolve_values(item.values, metric_filters),
                pricing_group_keys=_group_keys(item.filter.properties),
            )
            for item in graph.filters
        ]
        index = matching_filter(event.properties, specs)
        charge_filter = graph.filters[index] if index is not None else None
        properties = charge_filter.filter.properties if charge_filter else charge.properties
        group_keys = specs[index].pricing_group_keys if index is not None else _group_keys(charge.properties)
        grouped_by = {key: property_text(event.properties.get(key)) or None for key in group_keys}

        bucket = self._bucket(context, graph, specs, properties, charge_filter, grouped_by, event)
        contribution = self._contribution(
            context, graph, specs, charge_filter, grouped_by, bucket, event, properties
        )
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
        unit_amount = per_unit(round_to_currency(result.amount, currency), units)

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
            unit_amount=unit_amount,
            amount_details=result.amount_details,
            taxes_amount_cents=fee_taxes_amount_cents(amount_cents, taxes),
            taxes_precise_amount_cents=sum(precise_by_tax.values(), ZERO),
            taxes_rate=sum((Decimal(tax.rate) for tax in taxes), ZERO),
            applied_taxes=[EstimatedTax(tax, _round_half_up(rounded_by_tax[tax.id])) for tax in taxes],
            from_datetime=window.from_datetime,
            to_datetime=to_datetime,
            transaction_id=event.transaction_id,
            invoiceable=charge.invoiceable,
        )

    def _bucket(
        self,
        context: _Context,
        graph: ChargeGraph,
        specs: Sequence[ChargeFilterSpec],
        properties: Mapping[str, Any],
        charge_filter: FilterGraph | None,
        grouped_by: dict[str, str | None],
        event: _Event,
    ) -> BucketAggregation:
        """The event's bucket and group, aggregated over the period up to the event (included)."""
        charge, metric = graph.charge, graph.metric
        with_event_values = charge.charge_model == "percentage" and _needs_values(properties)
        window = context.window
        buckets = aggregate(
            context.session,
            organization_id=context.organization.id,
            external_subscription_id=context.subscription.external_id,
            metric=_unrounded(metric),  # type: ignore[arg-type]
            from_datetime=window.from_datetime,
            to_datetime=min(window.to_datetime, event.timestamp + _ONE_MICROSECOND),
            filters=specs,
            pricing_group_keys=_group_keys(charge.properties),
            with_event_values=with_event_values,
            pay_in_advance=True,
            period_duration_days=window.period.days,
            source=PLAIN,
        )
        filter_id = charge_filter.filter.id if charge_filter else None
        for bucket in buckets:
            if bucket.filter_id == filter_id and bucket.grouped_by == grouped_by:
                return bucket
        return BucketAggregation(
            filter_id=filter_id,
            grouped_by=grouped_by,
            units=ZERO,
            events_count=0,
            current_usage_units=ZERO,
            total_aggregated_units=ZERO,
        )

    def _contribution(
        self,
        context: _Context,
        graph: ChargeGraph,
        specs: Sequence[ChargeFilterSpec],
        charge_filter: FilterGraph | None,
        grouped_by: dict[str, str | None],
        bucket: BucketAggregation,
        event: _Event,
        properties: Mapping[str, Any],
    ) -> _Contribution:
        metric = graph.metric
        kind = metric.aggregation_type
        value = event.properties.get(metric.field_name or "")
        if kind == "count_agg":
            delta = ONE
            gap = ZERO
            added: tuple[Decimal, ...] = (ONE,)
        elif kind == "sum_agg":
            delta = _numeric(value)
            gap = max(bucket.units - bucket.current_usage_units, ZERO)
            added = (delta,)
        elif kind == "unique_count_agg":
            text = property_text(value)
            active = (
                text is not None
                and text != ""
                and self._is_active(context, metric, specs, charge_filter, grouped_by, text, event)
            )
            if text is None or text == "":
                delta = ZERO
            elif event.properties.get("operation_type", "add") in (None, "add"):
                delta = ZERO if active else ONE
            else:
                delta = -ONE if active else ZERO
            gap = max(bucket.units - bucket.current_usage_units, ZERO)
            added = (ONE,) if delta > 0 else ()
        else:  # not payable in advance; charges validation refuses it
            raise ValidationFailed.one("code", "does_not_match_an_instant_charge")

        increase = max(delta - gap, ZERO)
        units = increase if delta > gap else max(delta, ZERO)
        before_values = bucket.event_values
        after_values = (*before_values, *added) if _needs_values(properties) else ()
        before = Aggregation(
            units=bucket.units,
            events_count=bucket.events_count,
            running_totals=_running_totals(metric, properties, before_values),
            event_values=before_values,
            precise_total_amount_cents=bucket.precise_total_amount_cents,
        )
        after = replace(
            before,
            units=bucket.units + increase,
            events_count=bucket.events_count + 1,
            running_totals=_running_totals(metric, properties, after_values),
            event_values=after_values,
            precise_total_amount_cents=bucket.precise_total_amount_cents + event.precise_total_amount_cents,
        )
        return _Contribution(before=before, after=after, increase=increase, units=units)

    def _is_active(
        self,
        context: _Context,
        metric: BillableMetric,
        specs: Sequence[ChargeFilterSpec],
        charge_filter: FilterGraph | None,
        grouped_by: dict[str, str | None],
        value: str,
        event: _Event,
    ) -> bool:
        """Whether ``value`` is active in the event's bucket and group: its latest operation there adds it."""
        window = context.window
        rows = usage_repository.events_with_value(
            context.session,
            organization_id=context.organization.id,
            external_subscription_id=context.subscription.external_id,
            code=metric.code,
            field_name=metric.field_name or "",
            value=value,
            from_datetime=None if metric.recurring else window.from_datetime,
            to_datetime=min(window.to_datetime, event.timestamp + _ONE_MICROSECOND),
        )
        target = charge_filter.filter.id if charge_filter else None
        for properties, _timestamp in rows:
            index = matching_filter(properties, specs)
            bucket = specs[index].id if index is not None else None
            if bucket != target:
                continue
            if any(
                (property_text(properties.get(key)) or None) != wanted for key, wanted in grouped_by.items()
            ):
                continue
            return properties.get("operation_type", "add") in (None, "add")
        return False


def _round_half_up(amount: Decimal) -> int:
    return int(amount.to_integral_value(rounding=ROUND_HALF_UP))


def _needs_values(properties: Mapping[str, Any]) -> bool:
    return any(properties.get(option) not in (None, "", 0, "0") for option in _PER_EVENT_OPTIONS)


def _running_totals(
    metric: BillableMetric, properties: Mapping[str, Any], values: Sequence[Decimal]
) -> tuple[Decimal, ...]:
    free_events = properties.get("free_units_per_events")
    free_total = properties.get("free_units_per_total_aggregation")
    if not values or (free_events in (None, "", 0, "0") and free_total in (None, "", 0, "0")):
        return ()
    if metric.aggregation_type in ("count_agg", "unique_count_agg"):
        return tuple(Decimal(i) for i in range(1, len(values) + 1))
    return running_totals(properties, values)


def _group_keys(properties: Mapping[str, Any] | None) -> list[str]:
    keys = (properties or {}).get("pricing_group_keys") or (properties or {}).get("grouped_by") or []
    return [str(key) for key in keys] if isinstance(keys, list) else []


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


estimate_service = EstimateService()
