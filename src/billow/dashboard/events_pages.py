"""``/app/events``: the events debugger. The latest events, newest first, refreshed every 5 s (an htmx
poll of ``/app/events/rows``; ``?paused=1`` stops it), with filters (customer, subscription, metric code,
transaction id); each row says whether the event counts and, if not, why: the diagnostics of
``GET /events`` (:meth:`billow.events.service.EventService.present`), one sentence per reason.
A page per event shows the rest.

No "send a test event" form: ingestion (:mod:`billow.events.endpoints`) authenticates an API key and
writes through its own connection (asynchronous on PostgreSQL), with no entry point for a signed-in
member; the page shows the ``curl`` command instead.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from billow.dashboard import queries
from billow.dashboard.pages import PageNow, not_found, page_links, page_params
from billow.db import DbSession
from billow.events import service as diagnostics
from billow.events.repository import MetricInfo, event_repository
from billow.events.service import event_service
from billow.kit.pagination import paginate
from billow.models.events import Event
from billow.web.auth import Viewer, require
from billow.web.templating import render

router = APIRouter(prefix="/app/events")

View = Annotated[Viewer, Depends(require("events:view"))]

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


@router.get("")
def index(request: Request, session: DbSession, viewer: View, now: PageNow) -> Response:
    return render(request, "events/index.html", _rows(request, session, viewer))


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
