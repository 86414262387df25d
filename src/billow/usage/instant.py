"""Instant fee estimates (``POST /events/estimate_instant_fees`` and ``/events/batch_estimate_instant_fees``,
Lago's ``Fees::EstimateInstant::PayInAdvanceService`` and ``BatchPayInAdvanceService``): what one event
would cost under each pay-in-advance **standard** or **percentage** charge of its subscription's plan on
its metric, from the event alone (no history, no proration, no taxes); nothing is stored.

One event: the active subscription with its ``external_subscription_id`` (404 ``subscription_not_found``),
then its plan's pay-in-advance standard and percentage charges on the live metric with the event's
``code`` (none: 422 ``{"code": ["does_not_match_an_instant_charge"]}``); one fee per such charge, in the
plan's order. A batch groups its events by ``external_subscription_id`` (in order of first appearance):
per group the same two checks (the second on the plan's instant charges of any metric), then each event's
fees under the charges on its metric (an event matching none adds nothing); the first failing group fails
the request.

A fee (:func:`instant_fee`): the event's bucket is the most specific charge filter it matches (its
properties), else the charge's; ``units`` is the event's value of the metric's field (after the metric's
expression; absent, or a metric without field such as ``count_agg``: 0, as Lago), rounded with the metric's
rounding; the amount is :func:`instant_amount` in currency units, rounded half-up to the currency for
``amount_cents``; the unit price ``precise_unit_amount`` is that rounded amount per unit, in minor units
(0 when the rounded amount or the units are 0).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from billow.billable_metrics.repository import billable_metric_repository
from billow.errors import BadRequest, NotFound, ValidationFailed
from billow.events.schemas import root_object, unix_seconds
from billow.events.service import expression_value_text, is_numeric_value
from billow.fees.window import filter_specs
from billow.kit import expression as expressions
from billow.kit.currency import exponent
from billow.kit.limits import MAX_AMOUNT_CENTS, MAX_QUANTITY, in_range, parse_decimal_text
from billow.kit.money import CONTEXT, round_to_currency, to_minor_units
from billow.metering.aggregation.result import apply_rounding
from billow.metering.filters import matching_filter
from billow.models.customers import Customer
from billow.models.organizations import Organization
from billow.models.subscriptions import Subscription
from billow.plans.repository import ChargeGraph, FilterGraph, plan_repository
from billow.pricing import ChargeModel
from billow.subscriptions.repository import subscription_repository

ZERO = Decimal(0)
HUNDRED = Decimal(100)
#: The charge models Lago estimates instantly.
INSTANT_MODELS = frozenset({ChargeModel.STANDARD, ChargeModel.PERCENTAGE})


# ------------------------------------------------------------------------------------------ pure rules


def _number(properties: Mapping[str, Any], key: str) -> Decimal | None:
    """A price of the charge's properties (stored as strings); absent or blank: ``None``."""
    value = properties.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        return None
    number = parse_decimal_text(value if isinstance(value, str) else str(value))
    return number


def instant_amount(charge_model: str, properties: Mapping[str, Any], units: Decimal) -> Decimal:
    """What ``units`` cost, in currency units, unrounded (Lago's ``Charges::EstimateInstant``): negative
    units cost 0; standard ``units * amount``; percentage ``units * rate / 100 + fixed_amount``, brought
    within ``[per_transaction_min_amount, per_transaction_max_amount]`` (each bound when set)."""
    if units < 0:
        return ZERO
    if charge_model == ChargeModel.STANDARD:
        return CONTEXT.multiply(units, _number(properties, "amount") or ZERO)
    rate = _number(properties, "rate") or ZERO
    amount = CONTEXT.add(
        CONTEXT.divide(CONTEXT.multiply(units, rate), HUNDRED), _number(properties, "fixed_amount") or ZERO
    )
    low, high = (
        _number(properties, "per_transaction_min_amount"),
        _number(properties, "per_transaction_max_amount"),
    )
    if low is not None and amount < low:
        amount = low
    if high is not None and amount > high:
        amount = high
    return amount


def unit_amount_cents(rounded_amount: Decimal, units: Decimal, currency: str) -> Decimal:
    """The rounded amount per unit, in minor units (Lago's ``precise_unit_amount`` of an instant fee):
    0 when the rounded amount or the units are 0."""
    if not rounded_amount or not units:
        return ZERO
    return CONTEXT.divide(rounded_amount, units).scaleb(exponent(currency))


# ------------------------------------------------------------------------------------------ use case


@dataclass(frozen=True)
class InstantFee:
    graph: ChargeGraph
    filter: FilterGraph | None
    subscription: Subscription
    customer: Customer
    currency: str
    units: Decimal
    #: Unrounded, in currency units.
    amount: Decimal
    amount_cents: int
    unit_amount_cents: Decimal
    transaction_id: str


@dataclass(frozen=True)
class _Event:
    code: str | None
    external_subscription_id: str | None
    properties: dict[str, Any]
    transaction_id: str


@dataclass(frozen=True)
class _Subject:
    """A subscription and its plan's instant charges."""

    subscription: Subscription
    customer: Customer
    currency: str
    graphs: list[ChargeGraph]
    metric_filters: dict[uuid.UUID, dict[str, list[Any]]]


def estimate_instant_fees(
    session: Session, organization: Organization, data: Any, now: datetime
) -> list[InstantFee]:
    """The instant fees of ``{"event": {...}}`` (see the module documentation)."""
    event = _event(root_object(data, "event"))
    subject = _subject(session, organization, event.external_subscription_id)
    graphs = [g for g in subject.graphs if g.metric.code == event.code]
    if not graphs:
        raise ValidationFailed.one("code", "does_not_match_an_instant_charge")
    return [instant_fee(subject, graph, event, now) for graph in graphs]


def batch_estimate_instant_fees(
    session: Session, organization: Organization, data: Any, now: datetime
) -> list[InstantFee]:
    """The instant fees of ``{"events": [...]}`` (see the module documentation)."""
    raw = data.get("events") if isinstance(data, dict) else None
    if not isinstance(raw, list):
        raise BadRequest("param is missing or the value is empty or invalid: events")
    groups: dict[str | None, list[_Event]] = {}
    for item in raw:
        if not isinstance(item, dict):
            raise BadRequest("param is missing or the value is empty or invalid: events")
        event = _event(item)
        groups.setdefault(event.external_subscription_id, []).append(event)
    fees: list[InstantFee] = []
    for external_id, events in groups.items():
        subject = _subject(session, organization, external_id)
        if not subject.graphs:
            raise ValidationFailed.one("code", "does_not_match_an_instant_charge")
        for event in events:
            fees.extend(
                instant_fee(subject, graph, event, now)
                for graph in subject.graphs
                if graph.metric.code == event.code
            )
    return fees


def instant_fee(subject: _Subject, graph: ChargeGraph, event: _Event, now: datetime) -> InstantFee:
    charge, metric = graph.charge, graph.metric
    specs = filter_specs(graph, subject.metric_filters.get(metric.id, {}))
    index = matching_filter(event.properties, specs)
    charge_filter = graph.filters[index] if index is not None else None
    properties = charge_filter.filter.properties if charge_filter else charge.properties
    units = apply_rounding(
        _units(metric.code, metric.field_name, metric.expression, event, now),
        metric.rounding_function,
        metric.rounding_precision,
    )
    amount = instant_amount(charge.charge_model, properties or {}, units)
    currency = subject.currency
    amount_cents = to_minor_units(amount, currency)
    if abs(amount_cents) > MAX_AMOUNT_CENTS:
        raise ValidationFailed.one("properties", "value_is_out_of_range")
    return InstantFee(
        graph=graph,
        filter=charge_filter,
        subscription=subject.subscription,
        customer=subject.customer,
        currency=currency,
        units=units,
        amount=amount,
        amount_cents=amount_cents,
        unit_amount_cents=unit_amount_cents(round_to_currency(amount, currency), units, currency),
        transaction_id=event.transaction_id,
    )


def _event(raw: Mapping[str, Any]) -> _Event:
    properties = raw.get("properties")
    if properties is None:
        properties = {}
    if not isinstance(properties, dict):
        raise ValidationFailed.one("properties", "value_is_invalid")
    return _Event(
        code=_identifier(raw.get("code")),
        external_subscription_id=_identifier(raw.get("external_subscription_id")),
        properties=dict(properties),
        transaction_id=_identifier(raw.get("transaction_id")) or str(uuid.uuid4()),
    )


def _subject(session: Session, organization: Organization, external_id: str | None) -> _Subject:
    subscription = (
        subscription_repository.active_by_external_id(session, organization.id, external_id)
        if external_id
        else None
    )
    if subscription is None:
        raise NotFound("subscription")
    plan = plan_repository.by_id(session, organization.id, subscription.plan_id)
    customer = session.get(Customer, subscription.customer_id)
    if plan is None or customer is None:  # cannot happen: subscriptions keep their plan and customer
        raise NotFound("subscription")
    charges = [
        charge
        for charge in plan_repository.charges_of(session, plan)
        if charge.pay_in_advance and charge.charge_model in INSTANT_MODELS
    ]
    graphs = [g for g in plan_repository.load_charges(session, charges) if g.metric.deleted_at is None]
    metric_ids = list({g.metric.id for g in graphs})
    return _Subject(
        subscription=subscription,
        customer=customer,
        currency=plan.amount_currency,
        graphs=graphs,
        metric_filters=billable_metric_repository.filter_values(session, organization.id, metric_ids),
    )


def _units(
    code: str, field_name: str | None, expression: str | None, event: _Event, now: datetime
) -> Decimal:
    """The event's value of the metric's field (after its expression), 0 when absent."""
    properties = event.properties
    if expression and field_name:
        try:
            result = expressions.parse(expression).evaluate(
                code=code, timestamp=unix_seconds(now), properties=properties
            )
        except expressions.ExpressionError as exc:
            raise ValidationFailed.one("properties", "expression_evaluation_failed") from exc
        properties = {**properties, field_name: expression_value_text(result)}
    value: Any = properties.get(field_name) if field_name else None
    if value is None:
        return ZERO
    if isinstance(value, bool) or not is_numeric_value(value):
        raise ValidationFailed.one("properties", "value_is_not_valid_number")
    units = parse_decimal_text(repr(value) if isinstance(value, float) else str(value))
    if units is None or not in_range(units, -MAX_QUANTITY, MAX_QUANTITY):
        raise ValidationFailed.one("properties", "value_is_out_of_range")
    return units


def _identifier(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None
