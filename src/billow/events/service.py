"""Event rules: ingestion (expressions, deduplication, all-or-nothing batches) and diagnostics.

Ingestion costs, whatever the number of events, one query (which authenticates the API key and fetches
the billable metrics of the request's codes) and one ``INSERT`` (see :mod:`billow.events.repository`);
this module holds what happens in between (:meth:`EventService.prepare`) and after
(:meth:`EventService.conclude`). Diagnostics (does the event match a metric, a subscription, is its
aggregation property usable?) are computed when events are read, from the catalog as it is then, so a
metric or subscription created after the event is reflected; reading a page costs one query for its
metrics and one for its subscriptions.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import Row
from sqlalchemy.orm import Session

from billow.db import utcnow
from billow.errors import NotFound, ValidationFailed
from billow.events.repository import CoreIngestionStore, MetricInfo
from billow.events.repository import event_repository as repository
from billow.events.schemas import (
    NewEvent,
    TimestampError,
    iso_millis_utc,
    new_ids,
    parse_event,
    parse_timestamp,
    unix_seconds,
)
from billow.kit import expression as expressions
from billow.kit.schemas import decimal_str, iso_seconds
from billow.models.billable_metrics import NUMERIC_AGGREGATIONS
from billow.models.events import Event

#: Aggregations that only count events whose property is a plain decimal number (Lago's
#: ``^-?\d+(\.\d+)?$`` rule; other values are skipped silently).
_NUMERIC_TEXT = re.compile(r"-?[0-9]+(\.[0-9]+)?")

UNKNOWN_BILLABLE_METRIC = "unknown_billable_metric"
UNKNOWN_SUBSCRIPTION = "unknown_subscription"
OUTSIDE_SUBSCRIPTION_PERIOD = "outside_subscription_period"
MISSING_AGGREGATION_PROPERTY = "missing_aggregation_property"
NON_NUMERIC_AGGREGATION_PROPERTY = "non_numeric_aggregation_property"
#: The event arrived after the invoice of its period was issued: it is stored but never billed.
PERIOD_ALREADY_INVOICED = "period_already_invoiced"
#: Values of ``GET /events?not_aggregated_reason=`` (the reasons a query can select).
FILTERABLE_REASONS = frozenset({PERIOD_ALREADY_INVOICED})


class EventLike(Protocol):
    id: Any
    transaction_id: str
    external_subscription_id: str
    code: str
    timestamp: datetime
    properties: dict[str, Any]
    precise_total_amount_cents: Decimal | None
    created_at: Any


@dataclass(frozen=True, slots=True)
class Diagnosis:
    billable_metric_code_matched: bool
    subscription_matched: bool
    not_aggregated_reason: str | None
    lago_subscription_id: uuid.UUID | None
    lago_customer_id: uuid.UUID | None


def is_numeric_value(value: Any) -> bool:
    """Whether a property value counts for numeric aggregations. JSON numbers always do (the
    database renders them as plain decimals); strings must match ``^-?[0-9]+(\\.[0-9]+)?$``."""
    kind = type(value)
    if kind is str:
        return _NUMERIC_TEXT.fullmatch(value) is not None
    return kind is int or kind is float or kind is Decimal


def _truncated_to_ms(instant: datetime) -> datetime:
    return instant - timedelta(microseconds=instant.microsecond % 1000)


def _covers(subscription: Row[*tuple[Any, ...]], timestamp: datetime) -> bool:
    """Lago's "subscription of an event": started at or before it, not terminated before it
    (bounds truncated to the millisecond, as Lago compares them)."""
    if subscription.started_at is None or _truncated_to_ms(subscription.started_at) > timestamp:
        return False
    return subscription.terminated_at is None or _truncated_to_ms(subscription.terminated_at) >= timestamp


def diagnose(
    event: EventLike, metric: MetricInfo | None, subscriptions: Sequence[Row[*tuple[Any, ...]]]
) -> Diagnosis:
    """Why usage would ignore ``event``, given the live metric of its code and the subscriptions of
    its external id (newest first). The first applicable reason wins, in this order: unknown metric,
    unknown subscription, outside every subscription's period, missing property, non-numeric property.
    """
    covering = [s for s in subscriptions if _covers(s, event.timestamp)]
    chosen = (
        max(covering, key=lambda s: s.started_at)
        if covering
        else next((s for s in subscriptions if s.status == "active"), None)
        or (subscriptions[0] if subscriptions else None)
    )
    reason: str | None = None
    if metric is None:
        reason = UNKNOWN_BILLABLE_METRIC
    elif not subscriptions:
        reason = UNKNOWN_SUBSCRIPTION
    elif not covering:
        reason = OUTSIDE_SUBSCRIPTION_PERIOD
    elif metric.field_name:
        properties = event.properties or {}
        value = properties.get(metric.field_name)
        if value is None:
            reason = MISSING_AGGREGATION_PROPERTY
        elif metric.aggregation_type in NUMERIC_AGGREGATIONS and not is_numeric_value(value):
            reason = NON_NUMERIC_AGGREGATION_PROPERTY
    return Diagnosis(
        billable_metric_code_matched=metric is not None,
        subscription_matched=bool(subscriptions),
        not_aggregated_reason=reason,
        lago_subscription_id=chosen.id if chosen is not None else None,
        lago_customer_id=chosen.customer_id if chosen is not None else None,
    )


def _uuid_text(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)


def event_json(event: EventLike, diagnosis: Diagnosis) -> dict[str, Any]:
    """Lago's event JSON (``V1::EventSerializer``) plus Billow's diagnostics."""
    precise = event.precise_total_amount_cents
    return {
        "lago_id": str(event.id),
        "transaction_id": event.transaction_id,
        "lago_customer_id": _uuid_text(diagnosis.lago_customer_id),
        "code": event.code,
        "timestamp": iso_millis_utc(event.timestamp),
        "precise_total_amount_cents": None if precise is None else decimal_str(precise),
        "properties": event.properties,
        "lago_subscription_id": _uuid_text(diagnosis.lago_subscription_id),
        "external_subscription_id": event.external_subscription_id,
        "created_at": iso_seconds(event.created_at),
        "billable_metric_code_matched": diagnosis.billable_metric_code_matched,
        "subscription_matched": diagnosis.subscription_matched,
        "not_aggregated_reason": diagnosis.not_aggregated_reason,
    }


def new_event_json(event: NewEvent, created_at: str) -> dict[str, Any]:
    """A just-stored event as Lago answers it (``V1::EventSerializer``)."""
    precise = event.precise_total_amount_cents
    return {
        "lago_id": event.id,
        "transaction_id": event.transaction_id,
        "lago_customer_id": None,
        "code": event.code,
        "timestamp": iso_millis_utc(event.timestamp),
        "precise_total_amount_cents": None if precise is None else decimal_str(precise),
        "properties": event.properties,
        "lago_subscription_id": None,
        "external_subscription_id": event.external_subscription_id,
        "created_at": created_at,
    }


def expression_value_text(value: Decimal | str) -> str:
    """An expression result as Lago stores it in ``properties`` and answers it: numbers as Ruby's
    ``BigDecimal#to_s`` (``"2.0"``), strings as they are."""
    return value if isinstance(value, str) else expressions.format_ruby_decimal(value)


class EventService:
    def prepare(self, events: list[NewEvent], metrics: Mapping[str, MetricInfo] | None = None) -> datetime:
        """Ready ``events`` for insertion: ids, creation instant (returned) and, given the live
        billable metrics of their codes, computed properties (:meth:`apply_expressions`)."""
        if metrics:
            self.apply_expressions(events, metrics)
        created_at = utcnow()
        for event, new_id in zip(events, new_ids(len(events)), strict=True):
            event.id = new_id
            event.created_at = created_at
        return created_at

    def record(
        self, session: Session, organization_id: uuid.UUID, raw: Mapping[str, Any], now: datetime
    ) -> NewEvent:
        """Store one event of ``organization_id`` (``raw`` as ``POST /events``' ``event`` object) in the
        session's transaction: the API's parsing (:func:`~billow.events.schemas.parse_event`), metric
        expressions, ids and duplicate rule (422 ``value_already_exist`` on ``transaction_id``), for a
        caller that knows the organization without an API key (the dashboard's test event). Once the
        session commits, the caller queues the follow-up work as the API does
        (``billow.billing.immediate.after_ingestion``)."""
        parsed = parse_event(dict(raw), now, True)
        if isinstance(parsed, dict):
            raise ValidationFailed(parsed)
        events = [parsed]
        metrics = repository.metrics_for_codes(session, organization_id, {parsed.code})
        created_at = self.prepare(events, metrics)
        inserted = CoreIngestionStore(session.connection()).insert(organization_id, events, created_at)
        self.conclude(events, inserted, batch=False)
        return parsed

    def conclude(self, events: list[NewEvent], inserted: set[str], *, batch: bool) -> list[dict[str, Any]]:
        """The JSON of the stored events, or 422 ``value_already_exist`` (keyed by index for a batch)
        for those the database skipped as duplicates: of a stored event, of a concurrent request's, or
        of an earlier event of the same batch. The caller's transaction then rolls back: a request's
        events are stored all or none.

        The JSON is Lago's: the subscription and customer ids are ``null`` (Lago answers before
        resolving them) and the diagnostics are left to the read endpoints."""
        if len(inserted) != len(events):
            if not batch:
                raise ValidationFailed.one("transaction_id", "value_already_exist")
            raise ValidationFailed(
                {
                    str(index): {"transaction_id": ["value_already_exist"]}
                    for index, event in enumerate(events)
                    if event.id not in inserted
                }
            )
        created_at = events[0].created_at if events else None  # set by prepare()
        created = iso_seconds(created_at) if created_at is not None else ""
        return [new_event_json(event, created) for event in events]

    def apply_expressions(self, events: Iterable[NewEvent], metrics: Mapping[str, MetricInfo]) -> None:
        """Write each computed property (metric ``expression``) into ``properties[field_name]``.

        An event the expression cannot be evaluated against is stored without the computed property
        (its diagnosis then says ``missing_aggregation_property``)."""
        computed = {
            code: (m.expression, m.field_name) for code, m in metrics.items() if m.expression and m.field_name
        }
        if not computed:
            return
        for event in events:
            metric = computed.get(event.code)
            if metric is None:
                continue
            expression, field_name = metric
            try:
                value = expressions.parse(expression).evaluate(
                    code=event.code, timestamp=unix_seconds(event.timestamp), properties=event.properties
                )
            except expressions.ExpressionError:
                continue
            event.properties[field_name] = expression_value_text(value)

    def get(
        self,
        session: Session,
        organization_id: uuid.UUID,
        transaction_id: str,
        external_subscription_id: str | None = None,
    ) -> Event:
        event = repository.find(session, organization_id, transaction_id, external_subscription_id)
        if event is None:
            raise NotFound("event")
        return event

    def present(
        self, session: Session, organization_id: uuid.UUID, events: Sequence[EventLike]
    ) -> list[dict[str, Any]]:
        """Events as JSON with their diagnostics: two queries for any number of events, plus one when
        some would be aggregated (are their periods invoiced already?) and one when some are."""
        metrics = repository.metrics_for_codes(session, organization_id, {e.code for e in events})
        subscriptions = repository.subscriptions_for(
            session, organization_id, {e.external_subscription_id for e in events}
        )
        diagnoses = [
            diagnose(event, metrics.get(event.code), subscriptions.get(event.external_subscription_id, []))
            for event in events
        ]
        diagnoses = self._mark_invoiced(session, organization_id, events, diagnoses, subscriptions)
        return [event_json(event, diagnosis) for event, diagnosis in zip(events, diagnoses, strict=True)]

    @staticmethod
    def _mark_invoiced(
        session: Session,
        organization_id: uuid.UUID,
        events: Sequence[EventLike],
        diagnoses: list[Diagnosis],
        subscriptions: Mapping[str, list[Row[*tuple[Any, ...]]]],
    ) -> list[Diagnosis]:
        """``period_already_invoiced`` for the events that would be aggregated but arrived after their
        period's invoice was issued (not a draft, its fees computed before the event was stored): usage
        never bills them.
        Events of a pay-in-advance charge are billed one by one, whatever their period: not these."""
        candidates = [
            index
            for index, diagnosis in enumerate(diagnoses)
            if diagnosis.not_aggregated_reason is None and diagnosis.lago_subscription_id is not None
        ]
        if not candidates:
            return diagnoses
        windows = repository.invoiced_windows(
            session,
            organization_id,
            {diagnoses[index].lago_subscription_id for index in candidates},  # type: ignore[misc]
            min(events[index].timestamp for index in candidates),
            max(events[index].timestamp for index in candidates),
        )
        late = [
            index
            for index in candidates
            if any(
                window.charges_from_datetime <= events[index].timestamp < window.charges_to_datetime
                and window.fees_computed_at < events[index].created_at
                for window in windows.get(diagnoses[index].lago_subscription_id, ())  # type: ignore[arg-type]
            )
        ]
        if not late:
            return diagnoses
        plans = {row.id: row.plan_id for rows in subscriptions.values() for row in rows}
        in_advance = repository.pay_in_advance_codes(
            session,
            organization_id,
            {plans[diagnoses[index].lago_subscription_id] for index in late},
        )
        marked = list(diagnoses)
        for index in late:
            plan_id = plans[diagnoses[index].lago_subscription_id]
            if events[index].code not in in_advance.get(plan_id, ()):
                marked[index] = replace(diagnoses[index], not_aggregated_reason=PERIOD_ALREADY_INVOICED)
        return marked

    def evaluate_expression(self, source: Any, event: Any, now: datetime) -> str:
        """``POST /billable_metrics/evaluate_expression``: the value for a sample event, as text."""
        if not isinstance(source, str) or not source.strip():
            raise ValidationFailed.one("expression", "value_is_mandatory")
        try:
            parsed = expressions.parse(source)
        except expressions.ExpressionError as exc:
            raise ValidationFailed.one("expression", "invalid_expression") from exc
        event = event if isinstance(event, dict) else {}
        code = event.get("code")
        properties = event.get("properties")
        try:
            timestamp = parse_timestamp(event.get("timestamp")) or now
            if properties is not None and not isinstance(properties, dict):
                raise ValueError("properties")
            value = parsed.evaluate(
                code="" if code is None else str(code),
                timestamp=unix_seconds(timestamp),
                properties=properties or {},
            )
        except (ValueError, TimestampError) as exc:
            raise ValidationFailed.one("event", "invalid_event") from exc
        return expression_value_text(value)


event_service = EventService()
