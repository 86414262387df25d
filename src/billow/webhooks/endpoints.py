"""``GET /webhooks/public_key`` (deprecated by Lago: the key as plain text) and
``GET /webhooks/json_public_key``: the public key that verifies the organization's ``jwt`` webhook
signatures, base64 of its PEM (:mod:`billow.webhooks.keys`). Billow's own: ``GET /webhooks`` (what was
sent, or is to be), ``GET /webhooks/{lago_id}`` (with every attempt), ``POST /webhooks/{lago_id}/retry``.
The key routes are declared first: ``/webhooks/public_key`` is not a webhook id."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import PlainTextResponse
from sqlalchemy.orm import Session

from billow.auth import CurrentOrganization
from billow.db import DbSession
from billow.errors import ValidationFailed
from billow.kit.ids import parse_uuid
from billow.kit.pagination import Pagination, paginate
from billow.kit.schemas import Output
from billow.kit.strict_json import StrictJSONRoute
from billow.models.organizations import Organization
from billow.models.webhooks import Webhook
from billow.webhooks.keys import signing_keys
from billow.webhooks.repository import WebhookFilters, webhook_repository
from billow.webhooks.schemas import WebhookEnvelope, WebhookList, webhook_out
from billow.webhooks.service import parse_status, webhook_service

router = APIRouter(tags=["webhooks"], route_class=StrictJSONRoute)


class PublicKeyOut(Output):
    public_key: str


class PublicKeyEnvelope(Output):
    webhook: PublicKeyOut


@router.get("/webhooks/json_public_key", response_model=PublicKeyEnvelope)
def json_public_key(session: DbSession, organization: CurrentOrganization) -> PublicKeyEnvelope:
    keys = signing_keys(session, organization)
    return PublicKeyEnvelope(webhook=PublicKeyOut(public_key=keys.public_key_base64))


@router.get(
    "/webhooks/public_key",
    response_model=None,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    deprecated=True,
)
def public_key(session: DbSession, organization: CurrentOrganization) -> PlainTextResponse:
    return PlainTextResponse(signing_keys(session, organization).public_key_base64)


def webhook_filters(
    status: str | None = None,
    webhook_type: str | None = None,
    webhook_endpoint_id: str | None = None,
    lago_object_id: str | None = None,
) -> WebhookFilters:
    return WebhookFilters(
        status=parse_status(status),
        webhook_type=webhook_type,
        webhook_endpoint_id=_uuid_filter(webhook_endpoint_id, "webhook_endpoint_id"),
        object_id=_uuid_filter(lago_object_id, "lago_object_id"),
    )


def _uuid_filter(value: str | None, field: str) -> uuid.UUID | None:
    if value is None:
        return None
    found = parse_uuid(value)
    if found is None:
        raise ValidationFailed({field: ["value_is_invalid"]})
    return found


def _envelope(session: Session, organization: Organization, webhook: Webhook) -> WebhookEnvelope:
    events = webhook_repository.events_by_id(session, organization.id, [webhook.webhook_event_id])
    attempts = webhook_repository.attempts(session, organization.id, webhook.id)
    return WebhookEnvelope(webhook=webhook_out(webhook, events[webhook.webhook_event_id], attempts))


@router.get("/webhooks", response_model=WebhookList)
def index(
    session: DbSession,
    organization: CurrentOrganization,
    pages: Pagination,
    filters: Annotated[WebhookFilters, Depends(webhook_filters)],
) -> WebhookList:
    """The webhooks sent or to send, newest first; filters: ``status`` (``pending``, ``retrying``,
    ``succeeded``, ``failed``), ``webhook_type``, ``webhook_endpoint_id``, ``lago_object_id``."""
    webhooks, meta = paginate(session, webhook_repository.list_stmt(organization.id, filters), pages)
    events = webhook_repository.events_by_id(session, organization.id, [w.webhook_event_id for w in webhooks])
    return WebhookList(webhooks=[webhook_out(w, events[w.webhook_event_id]) for w in webhooks], meta=meta)


@router.get("/webhooks/{lago_id}", response_model=WebhookEnvelope)
def show(lago_id: str, session: DbSession, organization: CurrentOrganization) -> WebhookEnvelope:
    """One webhook with every attempt (``attempt_history``)."""
    return _envelope(session, organization, webhook_service.get(session, organization, lago_id))


@router.post("/webhooks/{lago_id}/retry", response_model=WebhookEnvelope)
def retry(lago_id: str, session: DbSession, organization: CurrentOrganization) -> WebhookEnvelope:
    """Send a failed webhook again now, with the same ``X-Lago-Unique-Key``."""
    return _envelope(session, organization, webhook_service.retry(session, organization, lago_id))
