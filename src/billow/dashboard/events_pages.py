"""``/app/events``: the events debugger. The latest events, newest first, refreshed every 5 s (an htmx
poll of ``/app/events/rows``; ``?paused=1`` stops it), with filters (customer, subscription, metric code,
transaction id); each row says whether the event counts and, if not, why: the diagnostics of
``GET /events`` (:meth:`billow.events.service.EventService.present`), one sentence per reason.
A page per event shows the rest.

"Send a test event" (``events:create``) records one event for a subscription and metric the member
picks, through :meth:`billow.events.service.EventService.record` (the API's parsing, expressions and
duplicate rule, the organization taken from the member instead of an API key) in the request's
transaction; once it commits, the API's follow-up (pay-in-advance fees, progressive billing, wallets,
alerts: ``app.state.ingestion_follow_up``) is queued for it.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import event as orm_event
from sqlalchemy import select
from sqlalchemy.orm import Session

from billow.dashboard import queries
from billow.dashboard.catalog_forms import Form, text
from billow.dashboard.pages import PageNow, error_codes, not_found, page_links, page_params, redirect
from billow.db import DbSession
from billow.errors import BillowError, ValidationFailed
from billow.events import service as diagnostics
from billow.events.repository import MetricInfo, event_repository
from billow.events.schemas import NewEvent
from billow.events.service import event_service
from billow.kit.pagination import paginate
from billow.models.billable_metrics import BillableMetric
from billow.models.events import Event
from billow.models.subscriptions import Subscription, SubscriptionStatus
from billow.web.auth import Viewer, require
from billow.web.templating import render

router = APIRouter(prefix="/app/events")

View = Annotated[Viewer, Depends(require("events:view"))]
Create = Annotated[Viewer, Depends(require("events:create"))]

FILTERS = ("external_customer_id", "external_subscription_id", "code", "transaction_id")
POLL_SECONDS = 5


def explain(event: dict[str, Any], metric: MetricInfo | None) -> str:
    """Why the event counts, or does not, in one sentence."""
    reason = event["not_aggregated_reason"]
    code, subscription = event["code"], event["external_subscription_id"]
    field = metric.field_name if metric is not None else None
    if reason is None:
        return f"Counts towards the usage of subscription {subscription}."
    if reason == diagnostics.UNKNOWN_BILLABLE_METRIC:
        return f"No billable metric with code {code}: create it, or fix the event's code."
    if reason == diagnostics.UNKNOWN_SUBSCRIPTION:
        return f"No subscription with external id {subscription}."
    if reason == diagnostics.OUTSIDE_SUBSCRIPTION_PERIOD:
        return (
            f"Subscription {subscription} was not active at this timestamp "
            "(before its start or after its end)."
        )
    if reason == diagnostics.MISSING_AGGREGATION_PROPERTY:
        return f"The metric's field {field} is missing from the properties."
    if reason == diagnostics.NON_NUMERIC_AGGREGATION_PROPERTY:
        value = (event.get("properties") or {}).get(field) if field else None
        return f"The metric's field {field} is not a number ({value!r})."
    if reason == diagnostics.PERIOD_ALREADY_INVOICED:
        return "It arrived after the invoice of its period was issued: stored, never billed."
    return f"Not counted: {reason}."


def _present(session: Session, viewer: Viewer, events: list[Event]) -> list[dict[str, Any]]:
    presented = event_service.present(session, viewer.organization_id, events)
    metrics = event_repository.metrics_for_codes(session, viewer.organization_id, {e.code for e in events})
    customer_ids = {uuid.UUID(row["lago_customer_id"]) for row in presented if row["lago_customer_id"]}
    customers = queries.customer_external_ids(session, viewer.organization_id, customer_ids)
    for row, event in zip(presented, events, strict=True):
        customer_id = row["lago_customer_id"]
        row["external_customer_id"] = customers.get(uuid.UUID(customer_id)) if customer_id else None
        row["explanation"] = explain(row, metrics.get(event.code))
        row["timestamp_text"] = event.timestamp.strftime("%Y-%m-%d %H:%M:%S") + " UTC"
        row["created_text"] = event.created_at.strftime("%Y-%m-%d %H:%M:%S") + " UTC"
    return presented


def _rows(request: Request, session: Session, viewer: Viewer) -> dict[str, Any]:
    filters = {name: request.query_params.get(name, "").strip()[:255] for name in FILTERS}
    stmt = queries.events_stmt(viewer.organization_id, **{k: v or None for k, v in filters.items()})
    events, meta = paginate(session, stmt, page_params(request))
    paused = request.query_params.get("paused") == "1"
    query = urlencode({k: v for k, v in filters.items() if v})
    return {
        "events": _present(session, viewer, events),
        "filters": filters,
        "meta": meta,
        "links": page_links(request, meta, "/app/events"),
        "paused": paused or meta.current_page > 1,
        "filter_query": query,
        "poll_seconds": POLL_SECONDS,
    }


#: The test event's form fields, prefixed so they do not clash with the filters' (``event_code``...).
TEST_FIELDS = ("external_subscription_id", "code", "transaction_id", "timestamp", "properties")


def _test_event_choices(session: Session, viewer: Viewer) -> dict[str, Any]:
    """The subscriptions (active or pending) and live metrics of the organization, for the form."""
    subscriptions = session.scalars(
        select(Subscription.external_id)
        .where(
            Subscription.organization_id == viewer.organization_id,
            Subscription.status.in_([SubscriptionStatus.ACTIVE, SubscriptionStatus.PENDING]),
        )
        .distinct()
        .order_by(Subscription.external_id)
    )
    metrics = session.execute(
        select(BillableMetric.code, BillableMetric.field_name)
        .where(BillableMetric.organization_id == viewer.organization_id, BillableMetric.deleted_at.is_(None))
        .order_by(BillableMetric.code)
    )
    return {
        "subscriptions": [(external_id, external_id) for external_id in subscriptions],
        "metrics": [(code, f"{code} (field: {field})" if field else code) for code, field in metrics],
    }


def _page(
    request: Request,
    session: Session,
    viewer: Viewer,
    values: dict[str, str] | None = None,
    errors: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    context = _rows(request, session, viewer)
    context["test_event"] = {
        **(_test_event_choices(session, viewer) if viewer.can("events:create") else {}),
        "values": values or {"event_transaction_id": f"test-{uuid.uuid4().hex[:12]}"},
        "errors": errors or {},
    }
    return context


def parse_properties(typed: str) -> dict[str, str]:
    """``key: value`` lines (blank lines skipped) as the event's properties (values as text, as Lago's
    clients often send them); a line without ``:`` or a key twice is ``value_is_invalid``."""
    properties: dict[str, str] = {}
    for line in typed.splitlines():
        if not line.strip():
            continue
        key, colon, value = line.partition(":")
        key = key.strip()
        if not colon or not key or key in properties:
            raise ValidationFailed.one("properties", "value_is_invalid")
        properties[key] = value.strip()
    return properties


@router.get("")
def index(request: Request, session: DbSession, viewer: View, now: PageNow) -> Response:
    return render(request, "events/index.html", _page(request, session, viewer))


@router.post("")
def send_test_event(
    request: Request, session: DbSession, form: Form, viewer: Create, now: PageNow
) -> Response:
    """Record one event as ``POST /events`` would (its timestamp defaults to the request time)."""
    values = {f"event_{name}": str(form.get(f"event_{name}") or "") for name in TEST_FIELDS}
    raw: dict[str, Any] = {name: text(form, f"event_{name}") for name in TEST_FIELDS[:4]}
    try:
        raw["properties"] = parse_properties(values["event_properties"])
        recorded = event_service.record(session, viewer.organization_id, raw, now)
    except BillowError as error:
        session.rollback()
        errors = {f"event_{name}": codes for name, codes in error_codes(error).items()}
        return render(request, "events/index.html", _page(request, session, viewer, values, errors), 422)
    _follow_up_after_commit(request, session, viewer.organization_id, recorded)
    query = urlencode({"external_subscription_id": recorded.external_subscription_id, "paused": "1"})
    return redirect(f"/app/events?{query}", f"Test event {recorded.transaction_id} recorded.")


def _follow_up_after_commit(
    request: Request, session: Session, organization_id: uuid.UUID, new: NewEvent
) -> None:
    """Once the request's transaction commits, queue what the API queues after an ingestion."""
    follow_up = getattr(request.app.state, "ingestion_follow_up", None)
    if follow_up is None:
        return

    def queue(_session: Session) -> None:
        follow_up.queue(organization_id, [new])

    orm_event.listen(session, "after_commit", queue, once=True)


@router.get("/rows")
def rows(request: Request, session: DbSession, viewer: View) -> Response:
    """The list alone (htmx polls it)."""
    return render(request, "events/_rows.html", _rows(request, session, viewer))


@router.get("/{lago_id}")
def show(lago_id: str, request: Request, session: DbSession, viewer: View, now: PageNow) -> Response:
    event = queries.event_by_id(session, viewer.organization_id, lago_id)
    if event is None:
        return not_found(request, "event")
    [row] = _present(session, viewer, [event])
    return render(request, "events/show.html", {"event": row})
