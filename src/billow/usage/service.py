"""The customer-usage API's rules: the current usage of a customer's subscription
(``GET /customers/{external_customer_id}/current_usage``) and the fee estimate of an event
(``POST /events/estimate_fees``, Lago's ``Fees::EstimatePayInAdvanceService``), and the projected usage
(``GET /customers/{external_customer_id}/projected_usage``, :mod:`billow.usage.projected`): finding the
objects and validating the request, in Lago's order, with its errors; the computations are
:mod:`billow.fees`.

Current usage: 404 ``customer_not_found``; 405 ``no_active_subscription`` (no active subscription with
``external_subscription_id``); 404 ``charge_not_found`` when ``charge_id`` / ``charge_code`` /
``billable_metric_code`` match no charge; then :meth:`billow.fees.usage.UsageService.compute`.

Estimate: nothing is stored. The event is checked as Lago checks it, in this order: the active
subscription with its ``external_subscription_id`` (404 ``subscription_not_found``), ``timestamp`` (422),
the live billable metric with its ``code`` (404 ``billable_metric_not_found``), ``properties`` (422; for
``sum_agg``, ``max_agg`` and ``latest_agg`` a present value of the metric's field must be a number:
``value_is_not_valid_number``), ``precise_total_amount_cents`` (422), the metric's expression (422
``expression_evaluation_failed`` under ``properties``), then the plan's pay-in-advance charges on the
metric (none: 422 ``{"code": ["does_not_match_an_instant_charge"]}``). One fee per such charge (in the
plan's order, :func:`billow.fees.in_advance.event_fee`). The event is estimated at the request time, as
Lago does (``timestamp`` is validated, not used).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from billow.billable_metrics.repository import billable_metric_repository
from billow.customers.repository import customer_repository
from billow.errors import NotAllowed, NotFound, ValidationFailed
from billow.events.schemas import (
    TimestampError,
    parse_precise_amount,
    parse_timestamp,
    root_object,
    unix_seconds,
)
from billow.events.service import expression_value_text, is_numeric_value
from billow.fees.in_advance import (
    IN_ADVANCE_AGGREGATIONS,
    EstimatedFee,
    IncomingEvent,
    PricedEvent,
    event_fee,
    pricing_context,
)
from billow.fees.usage import CurrentUsage, UsageFilters, usage_charges, usage_service
from billow.kit import expression as expressions
from billow.metering.aggregation import UsageSource
from billow.models.billable_metrics import AggregationType, BillableMetric
from billow.models.customers import Customer
from billow.models.organizations import Organization
from billow.models.plans import Plan
from billow.models.subscriptions import Subscription
from billow.plans.repository import plan_repository
from billow.subscriptions.repository import subscription_repository
from billow.usage.projected import ProjectedUsage, project_usage

ZERO = Decimal(0)
_NUMERIC_FIELDS = frozenset({AggregationType.SUM, AggregationType.MAX, AggregationType.LATEST})


class CustomerUsageService:
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
        customer, subscription, plan = self._subscription(
            session, organization, external_customer_id, external_subscription_id
        )
        graphs = usage_charges(session, plan, filters)
        if filters.any and not graphs:
            raise NotFound("charge")
        return usage_service.compute(
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

    def projected_usage(
        self,
        session: Session,
        organization: Organization,
        *,
        external_customer_id: str,
        external_subscription_id: str | None,
        now: datetime,
        apply_taxes: bool = True,
    ) -> ProjectedUsage:
        """The current usage of the customer's active subscription, each fee projected to the end of the
        charges period (:mod:`billow.usage.projected`). Errors as :meth:`current_usage`."""
        customer, subscription, plan = self._subscription(
            session, organization, external_customer_id, external_subscription_id
        )
        usage = usage_service.compute(
            session,
            organization,
            customer=customer,
            subscription=subscription,
            plan=plan,
            charges=usage_charges(session, plan, UsageFilters()),
            now=now,
            apply_taxes=apply_taxes,
        )
        return project_usage(usage, now=now, timezone=customer.applicable_timezone(organization))

    def _subscription(
        self,
        session: Session,
        organization: Organization,
        external_customer_id: str,
        external_subscription_id: str | None,
    ) -> tuple[Customer, Subscription, Plan]:
        """404 ``customer_not_found``; 405 ``no_active_subscription``."""
        customer = customer_repository.by_external_id(session, organization.id, external_customer_id)
        if customer is None:
            raise NotFound("customer")
        subscription = (
            subscription_repository.active_of_customer(session, customer, external_subscription_id)
            if external_subscription_id
            else None
        )
        if subscription is None:
            raise NotAllowed(code="no_active_subscription")
        plan = plan_repository.by_id(session, organization.id, subscription.plan_id)
        if plan is None:  # cannot happen: subscriptions keep their plan
            raise NotAllowed(code="no_active_subscription")
        return customer, subscription, plan

    # ----------------------------------------------------------------------------------------- estimate

    def estimate_fees(
        self, session: Session, organization: Organization, data: Any, now: datetime
    ) -> list[EstimatedFee]:
        """The fees ``data`` (``{"event": {...}}``) would have if it were ingested now (see the module
        documentation for the checks, in their order)."""
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

        plan = plan_repository.by_id(session, organization.id, subscription.plan_id)
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
        metric_filters = billable_metric_repository.filter_values(session, organization.id, [metric.id]).get(
            metric.id, {}
        )
        if metric.aggregation_type not in IN_ADVANCE_AGGREGATIONS:  # refused when charges are written
            raise ValidationFailed.one("code", "does_not_match_an_instant_charge")
        history = IncomingEvent(event.timestamp)
        return [event_fee(context, graph, metric_filters, event, history) for graph in graphs]

    # ------------------------------------------------------------------------------------------ input

    def _event(self, raw: Mapping[str, Any], metric: BillableMetric, code: str, now: datetime) -> PricedEvent:
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
        return PricedEvent(transaction_id, code, now, properties, precise)


def _identifier(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


customer_usage_service = CustomerUsageService()
