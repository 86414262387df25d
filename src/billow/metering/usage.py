"""Current usage: what a subscription's charges cost so far in the current charges period
(``GET /customers/{external_customer_id}/current_usage``, Lago's ``Invoices::CustomerUsageService``).

Nothing is stored. For each live charge of the subscription's plan (or the one asked for with
``charge_id`` / ``charge_code`` / ``billable_metric_code``):

1. aggregate the events of the charges window (:func:`billow.subscriptions.periods.charges_window` at
   ``now``, in the customer's applicable time zone) per bucket (charge filter or default) and group;
2. price each bucket/group with :func:`billow.pricing.price`: a filter with its own properties, the default
   bucket with the charge's; each fee's ``amount_cents`` is rounded on its own
   (:func:`billow.kit.money.to_minor_units`);
3. keep, as Lago does, the fees with units, an amount or events; a bucket left without any gets one zero
   fee (all its grouping keys ``None``);
4. taxes (``apply_taxes``, default true): :mod:`billow.taxes.rules` (charge, else plan, else customer,
   else organization default taxes).

Pay-in-advance sum and unique-count charges are priced on the largest total the period reached (what was
billed event by event) while ``units`` shows the current total, as Lago. ``prorated`` charges are priced on
their prorated units (:mod:`billow.metering.proration`) while ``units`` and ``total_aggregated_units`` show
the full units, as Lago. Charges are listed by billable metric name (case-insensitive), as Lago sorts its
fees. Not computed: ``custom_agg`` charges (Billow runs no aggregation scripts: they are left out),
pricing units and presentation breakdowns (always ``null`` / ``[]``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from billow.customers.repository import customer_repository
from billow.errors import NotAllowed, NotFound
from billow.kit.money import ROUNDING, to_minor_units
from billow.metering.aggregation import AGGREGATION_TYPES, BucketAggregation, UsageSource, aggregate
from billow.metering.filters import ChargeFilterSpec, resolve_values
from billow.metering.proration import Proration
from billow.metering.repository import usage_repository
from billow.metering.sources import usage_source
from billow.models.billable_metrics import BillableMetric
from billow.models.customers import Customer
from billow.models.organizations import Organization
from billow.models.plans import Charge, Plan, plan_taxes
from billow.models.subscriptions import Subscription
from billow.models.taxes import Tax
from billow.plans.repository import ChargeGraph, FilterGraph, plan_repository
from billow.pricing import Aggregation, price
from billow.pricing._common import CONTEXT, UNIT_AMOUNT_QUANTUM
from billow.pricing.percentage import running_totals
from billow.subscriptions.periods import charges_window
from billow.taxes.rules import applicable_charge_taxes, taxes_of_fees

ZERO = Decimal(0)

#: Percentage properties that need the per-event values.
_PER_EVENT_OPTIONS = (
    "free_units_per_events",
    "free_units_per_total_aggregation",
    "per_transaction_min_amount",
    "per_transaction_max_amount",
)


@dataclass(frozen=True)
class UsageFilters:
    """Restrict the usage to one charge (Lago's ``charge_id``, ``charge_code``, ``billable_metric_code``)."""

    charge_id: str | None = None
    charge_code: str | None = None
    billable_metric_code: str | None = None

    @property
    def any(self) -> bool:
        return bool(self.charge_id or self.charge_code or self.billable_metric_code)


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
class ChargeUsage:
    charge: Charge
    metric: BillableMetric
    has_filters: bool
    fees: list[FeeUsage]
    taxes: Sequence[Tax]


@dataclass(frozen=True)
class CurrentUsage:
    from_datetime: datetime
    to_datetime: datetime
    issuing_date: date
    currency: str
    amount_cents: int
    taxes_amount_cents: int
    total_amount_cents: int
    charges: list[ChargeUsage] = field(default_factory=list)


class UsageService:
    def current_usage(
        self,
        session: Session,
        organization: Organization,
        *,
        external_customer_id: str,
        external_subscription_id: str | None,
        now: datetime,
        apply_taxes: bool = True,
        filters: UsageFilters | None = None,
        source: UsageSource | None = None,
    ) -> CurrentUsage:
        """The current usage of the customer's active subscription ``external_subscription_id``.

        404 ``customer_not_found``; 405 ``no_active_subscription``; 404 ``charge_not_found`` when a charge
        filter matches no charge. ``source``: the event store (default: the session's,
        :func:`billow.metering.sources.usage_source`).
        """
        filters = filters or UsageFilters()
        customer = customer_repository.by_external_id(session, organization.id, external_customer_id)
        if customer is None:
            raise NotFound("customer")
        subscription = (
            usage_repository.active_subscription(session, customer, external_subscription_id)
            if external_subscription_id
            else None
        )
        if subscription is None:
            raise NotAllowed(code="no_active_subscription")
        plan = usage_repository.plan(session, organization.id, subscription.plan_id)
        if plan is None:  # cannot happen: subscriptions keep their plan
            raise NotAllowed(code="no_active_subscription")
        graphs = self._charges(session, plan, filters)
        if filters.any and not graphs:
            raise NotFound("charge")
        return self.compute(
            session,
            organization,
            customer=customer,
            subscription=subscription,
            plan=plan,
            charges=graphs,
            now=now,
            apply_taxes=apply_taxes,
            source=source,
        )

    def compute(
        self,
        session: Session,
        organization: Organization,
        *,
        customer: Customer,
        subscription: Subscription,
        plan: Plan,
        charges: Sequence[ChargeGraph],
        now: datetime,
        apply_taxes: bool = True,
        source: UsageSource | None = None,
    ) -> CurrentUsage:
        """The usage of ``charges`` for the subscription's charges period containing ``now``."""
        window = charges_window(
            subscription,
            plan_interval=plan.interval,
            bill_charges_monthly=plan.bill_charges_monthly,
            timezone=customer.applicable_timezone(organization),
            at=now,
        )
        currency = plan.amount_currency
        metric_filters = usage_repository.metric_filters(
            session, organization.id, list({g.metric.id for g in charges})
        )
        tax_sources = _TaxSources(session, organization, customer, plan) if apply_taxes else None
        proration = Proration.of_window(window, customer.applicable_timezone(organization))
        source = source or usage_source(session)

        usages = []
        for graph in charges:
            fees = self._fees(
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
            )
            taxes = tax_sources.for_charge(graph) if tax_sources else ()
            usages.append(ChargeUsage(graph.charge, graph.metric, bool(graph.filters), fees, taxes))

        amount_cents = sum(fee.amount_cents for usage in usages for fee in usage.fees)
        taxes_amount_cents = 0
        if apply_taxes:
            fee_lines = [(fee.amount_cents, usage.taxes) for usage in usages for fee in usage.fees]
            taxes_amount_cents = taxes_of_fees(fee_lines).taxes_amount_cents
        period = window.period
        to_datetime = period.lago_to_datetime if window.to_datetime == period.end else window.to_datetime
        # Lago's issuing date is the last day of the plan's billing period, even when charges are billed
        # monthly on a yearly or semiannual plan.
        billing_period = charges_window(
            subscription,
            plan_interval=plan.interval,
            bill_charges_monthly=False,
            timezone=customer.applicable_timezone(organization),
            at=now,
        ).period
        return CurrentUsage(
            from_datetime=window.from_datetime,
            to_datetime=to_datetime,
            issuing_date=billing_period.end_date - timedelta(days=1),
            currency=currency,
            amount_cents=amount_cents,
            taxes_amount_cents=taxes_amount_cents,
            total_amount_cents=amount_cents + taxes_amount_cents,
            charges=usages,
        )

    # ------------------------------------------------------------------------------------------------

    def _charges(self, session: Session, plan: Plan, filters: UsageFilters) -> list[ChargeGraph]:
        charges = plan_repository.charges_of(session, plan)
        if filters.charge_id:
            charges = [charge for charge in charges if str(charge.id) == filters.charge_id]
        elif filters.charge_code:
            charges = [charge for charge in charges if charge.code == filters.charge_code]
        graphs = [
            graph
            for graph in plan_repository.load_charges(session, charges)
            if graph.metric.aggregation_type in AGGREGATION_TYPES
        ]
        if not filters.charge_id and not filters.charge_code and filters.billable_metric_code:
            graphs = [graph for graph in graphs if graph.metric.code == filters.billable_metric_code]
        positions = {graph.charge.id: index for index, graph in enumerate(graphs)}
        return sorted(graphs, key=lambda g: (g.metric.name.lower(), positions[g.charge.id]))

    def needs_event_values(self, graph: ChargeGraph) -> bool:
        """A percentage charge (or one of its filters) with free units or per-transaction limits prices
        the events one by one."""
        properties = [graph.charge.properties, *(item.filter.properties for item in graph.filters)]
        return graph.charge.charge_model == "percentage" and any(
            (props or {}).get(option) not in (None, "", 0, "0")
            for props in properties
            for option in _PER_EVENT_OPTIONS
        )

    def _fees(
        self,
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
        """``buckets``: the charge's aggregation when the caller already has it (a billing run aggregates
        many subscriptions in one query, :mod:`billow.metering.window`); computed here otherwise."""
        charge, metric = graph.charge, graph.metric
        specs = filter_specs(graph, metric_filters)
        properties_of: dict[uuid.UUID | None, Mapping[str, Any]] = {None: charge.properties}
        filter_of: dict[uuid.UUID | None, FilterGraph | None] = {None: None}
        for item in graph.filters:
            properties_of[item.filter.id] = item.filter.properties
            filter_of[item.filter.id] = item
        with_event_values = self.needs_event_values(graph)
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
                kept = [
                    _price(charge, metric, empty, properties_of[filter_id], filter_of[filter_id], currency)
                ]
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
        bucket.total_aggregated_units if metric.aggregation_type == "weighted_sum_agg" else units
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
    if metric.aggregation_type in ("count_agg", "unique_count_agg"):
        return tuple(Decimal(i) for i in range(1, len(bucket.event_values) + 1))
    return running_totals(properties, bucket.event_values)


class _TaxSources:
    """The taxes that may apply to the usage's fees, loaded once."""

    def __init__(self, session: Session, organization: Organization, customer: Customer, plan: Plan) -> None:
        self.plan_taxes = plan_repository.taxes_of(session, plan_taxes, [plan.id])[plan.id]
        self.customer_taxes = customer_repository.taxes_by_customer(session, [customer.id])[customer.id]
        self.organization_taxes = usage_repository.organization_default_taxes(session, organization.id)

    def for_charge(self, graph: ChargeGraph) -> Sequence[Tax]:
        return applicable_charge_taxes(
            charge_taxes=graph.taxes,
            plan_taxes=self.plan_taxes,
            customer_taxes=self.customer_taxes,
            organization_taxes=self.organization_taxes,
        )


usage_service = UsageService()
