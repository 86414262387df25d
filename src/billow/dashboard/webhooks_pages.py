"""Dashboard pages of webhooks (``/app/webhooks``): the endpoints (``webhooks:view``; changing them
needs ``webhooks:manage``), each endpoint's deliveries, one delivery's payload and attempts, and its
replay, which is ``webhook_service.retry`` (the API's ``POST /webhooks/{lago_id}/retry``: a failed or
retrying delivery is sent again now, with the same ``X-Lago-Unique-Key``)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from billow.dashboard.catalog_area import Area, Field, mount
from billow.dashboard.catalog_forms import errors_of, not_found, organization_of, redirect, segment, text
from billow.dashboard.catalog_pages import F
from billow.db import DbSession
from billow.errors import BillowError, NotFound
from billow.models.organizations import Organization
from billow.models.webhook_endpoints import WEBHOOK_EVENT_TYPES, WebhookEndpoint
from billow.models.webhooks import Webhook, WebhookStatus
from billow.web.auth import Viewer, require
from billow.web.templating import render
from billow.webhook_endpoints.repository import webhook_endpoint_repository
from billow.webhook_endpoints.schemas import WebhookEndpointInput
from billow.webhook_endpoints.service import SIGNATURE_ALGOS, webhook_endpoint_service
from billow.webhooks.repository import WebhookFilters, webhook_repository
from billow.webhooks.service import webhook_service

router = APIRouter()

PATH = "/app/webhooks"
#: Deliveries listed per page of an endpoint.
DELIVERIES_SHOWN = 100
#: Statuses a replay accepts (``webhook_service.retry``).
REPLAYABLE = (WebhookStatus.FAILED.value, WebhookStatus.RETRYING.value)


def _fields(session: Session, organization: Organization) -> list[Field]:
    return [
        F("webhook_url", "URL", required=True, hint="https://..."),
        F("name", "Name"),
        F("signature_algo", "Signature", "select", options=[(algo, algo) for algo in SIGNATURE_ALGOS]),
        F(
            "event_types",
            "Event types sent (none selected: every type)",
            "multiselect",
            options=[(kind, kind) for kind in sorted(WEBHOOK_EVENT_TYPES)],
        ),
    ]


def _typed(form: FormData) -> dict[str, Any]:
    values: dict[str, Any] = {name: text(form, name) for name in ("webhook_url", "name", "signature_algo")}
    values["event_types"] = [kind for kind in form.getlist("event_types") if isinstance(kind, str)]
    return values


def _build(values: dict[str, Any]) -> WebhookEndpointInput:
    """The API's input; no type selected is Lago's ``["*"]`` (every type, stored as ``null``)."""
    return WebhookEndpointInput.model_validate({**values, "event_types": values["event_types"] or ["*"]})


def _values(session: Session, endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {
        "webhook_url": endpoint.webhook_url,
        "name": endpoint.name,
        "signature_algo": endpoint.signature_algo,
        "event_types": list(endpoint.event_types or []),
    }


def _event_types_cell(endpoint: WebhookEndpoint) -> str:
    if endpoint.event_types is None:
        return "all"
    return ", ".join(endpoint.event_types) or "none"


mount(
    router,
    Area(
        path=PATH,
        permission="webhooks",
        title="Webhook endpoints",
        singular="webhook endpoint",
        columns=[{"label": "URL"}, {"label": "Name"}, {"label": "Signature"}, {"label": "Event types"}],
        objects=lambda session, org: list(session.scalars(webhook_endpoint_repository.list_stmt(org.id))),
        cells=lambda session, endpoint: [
            endpoint.webhook_url,
            endpoint.name or "",
            endpoint.signature_algo,
            _event_types_cell(endpoint),
        ],
        key=lambda endpoint: str(endpoint.id),
        fields=_fields,
        values=_values,
        typed=_typed,
        build=_build,
        get=webhook_endpoint_service.get,
        create=webhook_endpoint_service.create,
        update=webhook_endpoint_service.update,
        delete=webhook_endpoint_service.delete,
        create_permission="manage",
        update_permission="manage",
        delete_permission="manage",
        links=lambda endpoint: [(f"{PATH}/{endpoint.id}/deliveries", "Deliveries")],
    ),
)


def _endpoint(session: Session, organization: Organization, key: str) -> WebhookEndpoint | None:
    try:
        return webhook_endpoint_service.get(session, organization, key)
    except NotFound:
        return None


def _delivery(
    session: Session, organization: Organization, endpoint: WebhookEndpoint, delivery_id: str
) -> Webhook | None:
    try:
        webhook = webhook_service.get(session, organization, delivery_id)
    except NotFound:
        return None
    return webhook if webhook.webhook_endpoint_id == endpoint.id else None


def _rows(session: Session, organization: Organization, webhooks: list[Webhook]) -> list[dict[str, Any]]:
    events = webhook_repository.events_by_id(session, organization.id, [w.webhook_event_id for w in webhooks])
    rows = []
    for webhook in webhooks:
        event = events[webhook.webhook_event_id]
        rows.append(
            {
                "id": str(webhook.id),
                "webhook_type": webhook.webhook_type,
                "object": f"{event.object_type} {event.object_id or ''}".strip(),
                "status": webhook.status,
                "attempts": webhook.attempts,
                "last_error": _last_error(webhook),
                "time": (webhook.last_attempt_at or webhook.created_at).strftime("%Y-%m-%d %H:%M:%S UTC"),
                "replayable": webhook.status in REPLAYABLE,
            }
        )
    return rows


def _last_error(webhook: Webhook) -> str:
    if webhook.status == WebhookStatus.SUCCEEDED or webhook.attempts == 0:
        return ""
    if webhook.http_status is not None:
        return f"HTTP {webhook.http_status}"
    return (webhook.response or "no answer")[:120]


@router.get(f"{PATH}/{{key}}/deliveries", name="webhook_deliveries")
def deliveries(
    key: str, request: Request, session: DbSession, viewer: Viewer = Depends(require("webhooks:view"))
) -> Response:
    organization = organization_of(session, viewer)
    endpoint = _endpoint(session, organization, key)
    if endpoint is None:
        return not_found(request, "webhook endpoint")
    stmt = webhook_repository.list_stmt(organization.id, WebhookFilters(webhook_endpoint_id=endpoint.id))
    webhooks = list(session.scalars(stmt.limit(DELIVERIES_SHOWN)))
    context = {
        "endpoint": endpoint,
        "rows": _rows(session, organization, webhooks),
        "shown": DELIVERIES_SHOWN,
    }
    return render(request, "webhooks/deliveries.html", context)


def _delivery_page(
    request: Request,
    session: Session,
    organization: Organization,
    endpoint: WebhookEndpoint,
    webhook: Webhook,
    errors: dict[str, list[str]],
    status_code: int = 200,
) -> Response:
    [row] = _rows(session, organization, [webhook])
    event = webhook_repository.events_by_id(session, organization.id, [webhook.webhook_event_id])[
        webhook.webhook_event_id
    ]
    context = {
        "endpoint": endpoint,
        "row": row,
        "payload": None if event.payload is None else json.dumps(event.payload, indent=2, ensure_ascii=False),
        "attempts": webhook_repository.attempts(session, organization.id, webhook.id),
        "errors": errors,
    }
    return render(request, "webhooks/delivery.html", context, status_code=status_code)


@router.get(f"{PATH}/{{key}}/deliveries/{{delivery_id}}", name="webhook_delivery")
def delivery(
    key: str,
    delivery_id: str,
    request: Request,
    session: DbSession,
    viewer: Viewer = Depends(require("webhooks:view")),
) -> Response:
    organization = organization_of(session, viewer)
    endpoint = _endpoint(session, organization, key)
    webhook = _delivery(session, organization, endpoint, delivery_id) if endpoint else None
    if endpoint is None or webhook is None:
        return not_found(request, "webhook delivery")
    return _delivery_page(request, session, organization, endpoint, webhook, {})


@router.post(f"{PATH}/{{key}}/deliveries/{{delivery_id}}/replay", name="webhook_replay")
def replay(
    key: str,
    delivery_id: str,
    request: Request,
    session: DbSession,
    viewer: Viewer = Depends(require("webhooks:manage")),
) -> Response:
    organization = organization_of(session, viewer)
    endpoint = _endpoint(session, organization, key)
    webhook = _delivery(session, organization, endpoint, delivery_id) if endpoint else None
    if endpoint is None or webhook is None:
        return not_found(request, "webhook delivery")
    try:
        webhook_service.retry(session, organization, delivery_id)
    except BillowError as exc:  # 405 is_succeeded / is_pending: nothing to replay
        session.rollback()
        return _delivery_page(request, session, organization, endpoint, webhook, errors_of(exc), 422)
    return redirect(
        f"{PATH}/{segment(str(endpoint.id))}/deliveries/{segment(delivery_id)}", "Delivery queued again."
    )
