"""Events API: ``POST /events``, ``POST /events/batch``, ``GET /events``, ``GET /events/{transaction_id}``,
and ``POST /billable_metrics/evaluate_expression`` (it evaluates against an event). ``POST
/events/estimate_fees`` is :mod:`billow.usage.endpoints`.

The two ingestion endpoints read their body by hand (see :mod:`billow.events.schemas`) and answer
with pre-serialized JSON: per event, a Pydantic round trip would cost more than the database insert.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from billow.auth import CurrentOrganization, RecentKeys, bearer_key, digest_key
from billow.db import DbSession, utcnow
from billow.errors import BillowError, Unauthorized, ValidationFailed
from billow.events.repository import IngestionPool, ingestion_store
from billow.events.repository import event_repository as repository
from billow.events.schemas import (
    EvaluateExpressionRequest,
    EventBatchOut,
    EventBatchRequest,
    EventEnvelope,
    EventList,
    EventRequest,
    ExpressionResultEnvelope,
    NewEvent,
    NewEventEnvelope,
    TimestampError,
    load_json,
    parse_event,
    parse_iso_datetime,
    request_body_doc,
    root_object,
    unstorable_fields,
)
from billow.events.service import FILTERABLE_REASONS, PERIOD_ALREADY_INVOICED
from billow.events.service import event_service as service
from billow.kit.metrics import EVENTS_INGESTED, EVENTS_REJECTED
from billow.kit.pagination import Pagination, paginate
from billow.kit.strict_json import StrictJSONRoute

router = APIRouter(tags=["events"], route_class=StrictJSONRoute)


def _json_response(payload: Any) -> Response:
    return Response(
        json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode(),
        media_type="application/json",
    )


#: How a body can carry a character no database stores: the escapes ``\\u0000`` (NUL) and
#: ``\\ud800``-``\\udfff`` (surrogates; a valid pair matches too: the scan then finds nothing), and a
#: surrogate encoded in the raw bytes (``ED A0``-``ED BF``: Python's JSON parser lets it through). A raw
#: NUL byte is malformed JSON.
_UNSTORABLE_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89abcdefABCDEF])|\xed[\xa0-\xbf]")


class JsonBody:
    """The parsed JSON body, and whether its raw text has an escape of a character the databases
    refuse (see ``_UNSTORABLE_ESCAPE``): strings are scanned for them only then, keeping ingestion fast
    (an escaped ``\\u00e9`` costs no scan)."""

    __slots__ = ("data", "has_escapes")

    def __init__(self, body: bytes) -> None:
        self.data = load_json(body)
        self.has_escapes = (b"\\u" in body or b"\xed" in body) and _UNSTORABLE_ESCAPE.search(body) is not None


async def json_body(request: Request) -> JsonBody:
    """The body of the endpoints that read an event without storing it; like every body, a string
    that cannot be stored is refused (``value_is_invalid`` on the field of the root object)."""
    body = JsonBody(await request.body())
    if body.has_escapes:
        unstorable_fields(body.data)
    return body


Body = Annotated[JsonBody, Depends(json_body)]


# Ingestion. The body is parsed before authenticating because the authentication query also fetches
# the billable metrics of the events' codes; a bad body is reported only once the key is known to be
# valid (401 comes first, as in Lago). A wrong key must not make the server read a body, though: the
# key's digest is first checked against the keys this process found valid lately (RecentKeys: no query
# on the hot path), and an unknown digest is looked up alone before the body is read. On PostgreSQL
# everything runs on the event loop with an asynchronous connection (see
# billow.events.repository.IngestionPool); elsewhere one hop to a worker thread runs it on a bare
# SQLAlchemy connection. Neither uses FastAPI dependencies: each sync dependency is a thread hop, which
# on a busy server costs more than the work itself.

Parser = Callable[[JsonBody], list[NewEvent]]


def _parse(parser: Parser, body: bytes) -> tuple[list[NewEvent], BillowError | None]:
    try:
        return parser(JsonBody(body)), None
    except BillowError as exc:
        return [], exc


def _codes(events: list[NewEvent]) -> set[str]:
    return {event.code for event in events}


async def _counted(request: Request, parser: Parser, *, batch: bool) -> Response:
    """:func:`_ingest`, counted: the events stored, or the request refused and why (``/metrics``)."""
    try:
        return await _ingest(request, parser, batch=batch)
    except (BillowError, HTTPException) as refusal:
        EVENTS_REJECTED.labels(rejection_reason(refusal)).inc()
        raise


def rejection_reason(refusal: Exception) -> str:
    """The first error code of a refused ingestion (``value_already_exist``...), ``unauthorized``..."""
    if isinstance(refusal, Unauthorized):
        return "unauthorized"
    if isinstance(refusal, HTTPException):
        return "payload_too_large" if refusal.status_code == 413 else f"http_{refusal.status_code}"
    details: Any = getattr(refusal, "error_details", None)
    while isinstance(details, dict | list) and details:
        details = next(iter(details.values())) if isinstance(details, dict) else details[0]
    if isinstance(details, str):
        return details
    return getattr(refusal, "code", None) or "invalid"


async def _ingest(request: Request, parser: Parser, *, batch: bool) -> Response:
    digest = digest_key(bearer_key(request))
    engine: Engine = request.app.state.engine
    recent_keys: RecentKeys = request.app.state.recent_keys
    if digest not in recent_keys:
        if not await _key_exists(request, engine, digest):
            raise Unauthorized()  # the body is left unread
        recent_keys.add(digest)
    body = await request.body()
    if engine.dialect.name != "postgresql":
        return await run_in_threadpool(
            _ingest_in_thread, engine, digest, body, parser, batch, _follow_up(request), recent_keys
        )
    events, failure = _parse(parser, body)
    async with _ingestion_pool(request).store(atomic=batch) as store:
        if failure is not None:
            organization_id, _ = await store.authenticate(digest, ())
            if organization_id is None:
                recent_keys.discard(digest)
                raise Unauthorized()
            raise failure
        # Usually one round trip; a second one when a metric of these codes has an expression.
        created_at = service.prepare(events)
        organization_id, inserted = await store.authenticate_and_insert(digest, events, created_at)
        if organization_id is None:
            recent_keys.discard(digest)
            raise Unauthorized()
        if inserted is None:
            _, metrics = await store.authenticate(digest, _codes(events))
            service.apply_expressions(events, metrics)
            inserted = await store.insert(organization_id, events, created_at)
        created = service.conclude(events, inserted, batch=batch)
    # Committed: pay-in-advance fees and progressive billing follow (billow.billing.immediate).
    follow_up = _follow_up(request)
    if follow_up is not None:
        await follow_up.queue_async(organization_id, events)
    EVENTS_INGESTED.inc(len(created))
    return _json_response({"events": created} if batch else {"event": created[0]})


async def _key_exists(request: Request, engine: Engine, digest: str) -> bool:
    """Whether an unrevoked API key has this digest (one indexed query, before the body is read)."""
    if engine.dialect.name != "postgresql":
        return await run_in_threadpool(_key_exists_in_thread, engine, digest)
    async with _ingestion_pool(request).store(atomic=False) as store:
        organization_id, _ = await store.authenticate(digest, ())
    return organization_id is not None


def _key_exists_in_thread(engine: Engine, digest: str) -> bool:
    with ingestion_store(engine) as store:
        organization_id, _ = store.authenticate(digest, ())
    return organization_id is not None


def _ingest_in_thread(
    engine: Engine,
    digest: str,
    body: bytes,
    parser: Parser,
    batch: bool,
    follow_up: IngestionFollowUp | None = None,
    recent_keys: RecentKeys | None = None,
) -> Response:
    events, failure = _parse(parser, body)
    with ingestion_store(engine) as store:
        organization_id, metrics = store.authenticate(digest, _codes(events))
        if organization_id is None:
            if recent_keys is not None:
                recent_keys.discard(digest)
            raise Unauthorized()
        if failure is not None:
            raise failure
        created_at = service.prepare(events, metrics)
        inserted = store.insert(organization_id, events, created_at)
        created = service.conclude(events, inserted, batch=batch)
    if follow_up is not None:  # committed (see _ingest)
        follow_up.queue(organization_id, events)
    EVENTS_INGESTED.inc(len(created))
    return _json_response({"events": created} if batch else {"event": created[0]})


class IngestionFollowUp(Protocol):
    """What follows an ingestion once it commits (pay-in-advance fees, progressive billing): the billing
    layer's :class:`billow.billing.immediate.IngestionFollowUp`, wired by :func:`billow.app.create_app`
    (``app.state.ingestion_follow_up``). Never raises: a failure is left to the scans."""

    def queue(self, organization_id: uuid.UUID, events: Sequence[NewEvent]) -> None: ...

    async def queue_async(self, organization_id: uuid.UUID, events: Sequence[NewEvent]) -> None: ...


def _follow_up(request: Request) -> IngestionFollowUp | None:
    return getattr(request.app.state, "ingestion_follow_up", None)


def _ingestion_pool(request: Request) -> IngestionPool:
    """The pool of this server process. It belongs to the event loop that created it; a request
    running on another loop (test clients run the app on loops of their own) replaces it if that
    loop is gone, or else gets a one-off connection."""
    state = request.app.state
    pool: IngestionPool | None = getattr(state, "ingestion_pool", None)
    if pool is not None and pool.loop is asyncio.get_running_loop():
        return pool
    if pool is None or pool.loop.is_closed():
        if pool is not None:
            pool.discard()
        pool = state.ingestion_pool = IngestionPool.for_engine(state.engine)
        return pool
    return IngestionPool.for_engine(state.engine, reuse=False)


async def close_ingestion_pool(app: Any) -> None:
    """Close the pooled connections (application shutdown), unless they belong to another event
    loop that still runs (test clients on other threads)."""
    pool: IngestionPool | None = getattr(app.state, "ingestion_pool", None)
    if pool is None:
        return
    if pool.loop is asyncio.get_running_loop():
        app.state.ingestion_pool = None
        await pool.close()
    elif pool.loop.is_closed():
        app.state.ingestion_pool = None
        pool.discard()


def _parse_one(body: JsonBody) -> list[NewEvent]:
    parsed = parse_event(root_object(body.data, "event"), utcnow(), body.has_escapes)
    if isinstance(parsed, dict):
        raise ValidationFailed(parsed)
    return [parsed]


def _batch_parser(max_events: int) -> Parser:
    def parse(body: JsonBody) -> list[NewEvent]:
        data = body.data
        items = data.get("events") if isinstance(data, dict) else None
        if items is None or items == []:
            raise ValidationFailed.one("events", "no_events")
        if not isinstance(items, list):
            raise ValidationFailed.one("events", "value_is_invalid")
        if len(items) > max_events:
            raise ValidationFailed.one("events", "too_many_events")
        now = utcnow()
        check_strings = body.has_escapes
        events = []
        errors: dict[str, Any] = {}
        for index, raw in enumerate(items):
            parsed = parse_event(raw, now, check_strings)
            if isinstance(parsed, dict):
                errors[str(index)] = parsed
            else:
                events.append(parsed)
        if errors:
            raise ValidationFailed(errors)
        return events

    return parse


@router.post(
    "/events",
    response_model=NewEventEnvelope,
    openapi_extra=request_body_doc(EventRequest),
    summary="Ingest one event",
)
async def create(request: Request) -> Response:
    return await _counted(request, _parse_one, batch=False)


@router.post(
    "/events/batch",
    response_model=EventBatchOut,
    openapi_extra=request_body_doc(EventBatchRequest),
    summary="Ingest events, all or none",
)
async def batch(request: Request) -> Response:
    parser = _batch_parser(request.app.state.settings.max_batch_events)
    return await _counted(request, parser, batch=True)


def _datetime_filter(value: str | None, field: str) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        return parse_iso_datetime(value.strip())
    except TimestampError as exc:
        raise ValidationFailed.one(field, "invalid_date") from exc


@router.get("/events", response_model=EventList, summary="List events, newest first")
def index(
    session: DbSession,
    organization: CurrentOrganization,
    pages: Pagination,
    code: str | None = None,
    external_subscription_id: str | None = None,
    timestamp_from: str | None = None,
    timestamp_to: str | None = None,
    timestamp_from_started_at: Annotated[bool, Query()] = False,
    not_aggregated_reason: Annotated[
        str | None,
        Query(description="Billow: only the events with this diagnosis (period_already_invoiced)."),
    ] = None,
) -> Response:
    if not_aggregated_reason is not None and not_aggregated_reason not in FILTERABLE_REASONS:
        raise ValidationFailed.one("not_aggregated_reason", "value_is_invalid")
    start = _datetime_filter(timestamp_from, "timestamp_from")
    end = _datetime_filter(timestamp_to, "timestamp_to")
    if timestamp_from_started_at:
        if start is not None:
            raise ValidationFailed.one("timestamp_from", "cannot_be_used_with_timestamp_from_started_at")
        if not external_subscription_id:
            raise ValidationFailed.one("external_subscription_id", "value_is_mandatory")
        start = repository.subscription_started_at(session, organization.id, external_subscription_id)
    stmt = repository.list_stmt(
        organization.id,
        code=code,
        external_subscription_id=external_subscription_id,
        timestamp_from=start,
        timestamp_to=end,
        period_already_invoiced=not_aggregated_reason == PERIOD_ALREADY_INVOICED,
    )
    events, meta = paginate(session, stmt, pages)
    return _json_response(
        {"events": service.present(session, organization.id, events), "meta": meta.model_dump()}
    )


@router.get("/events/{transaction_id}", response_model=EventEnvelope, summary="Find an event")
def show(
    transaction_id: str,
    session: DbSession,
    organization: CurrentOrganization,
    external_subscription_id: str | None = None,
) -> Response:
    event = service.get(session, organization.id, transaction_id, external_subscription_id or None)
    return _json_response({"event": service.present(session, organization.id, [event])[0]})


@router.post(
    "/billable_metrics/evaluate_expression",
    response_model=ExpressionResultEnvelope,
    openapi_extra=request_body_doc(EvaluateExpressionRequest),
    tags=["billable_metrics"],
    summary="Evaluate an expression against a sample event",
)
def evaluate_expression(organization: CurrentOrganization, body: Body) -> Response:
    data = body.data if isinstance(body.data, dict) else {}
    value = service.evaluate_expression(data.get("expression"), data.get("event"), utcnow())
    return _json_response({"expression_result": {"value": value}})
