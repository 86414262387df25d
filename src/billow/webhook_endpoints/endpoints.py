from __future__ import annotations

from fastapi import APIRouter

from billow.auth import CurrentOrganization
from billow.db import DbSession
from billow.kit.pagination import Pagination, paginate
from billow.kit.strict_json import StrictJSONRoute
from billow.webhook_endpoints.repository import webhook_endpoint_repository
from billow.webhook_endpoints.schemas import (
    WebhookEndpointEnvelope,
    WebhookEndpointList,
    WebhookEndpointRequest,
    webhook_endpoint_out,
)
from billow.webhook_endpoints.service import webhook_endpoint_service

router = APIRouter(tags=["webhook_endpoints"], route_class=StrictJSONRoute)


@router.post("/webhook_endpoints", response_model=WebhookEndpointEnvelope)
def create(
    body: WebhookEndpointRequest, session: DbSession, organization: CurrentOrganization
) -> WebhookEndpointEnvelope:
    endpoint = webhook_endpoint_service.create(session, organization, body.webhook_endpoint)
    return WebhookEndpointEnvelope(webhook_endpoint=webhook_endpoint_out(endpoint))


@router.get("/webhook_endpoints", response_model=WebhookEndpointList)
def index(session: DbSession, organization: CurrentOrganization, pages: Pagination) -> WebhookEndpointList:
    endpoints, meta = paginate(session, webhook_endpoint_repository.list_stmt(organization.id), pages)
    return WebhookEndpointList(webhook_endpoints=[webhook_endpoint_out(e) for e in endpoints], meta=meta)


@router.get("/webhook_endpoints/{lago_id}", response_model=WebhookEndpointEnvelope)
def show(lago_id: str, session: DbSession, organization: CurrentOrganization) -> WebhookEndpointEnvelope:
    endpoint = webhook_endpoint_service.get(session, organization, lago_id)
    return WebhookEndpointEnvelope(webhook_endpoint=webhook_endpoint_out(endpoint))


@router.put("/webhook_endpoints/{lago_id}", response_model=WebhookEndpointEnvelope)
def update(
    lago_id: str, body: WebhookEndpointRequest, session: DbSession, organization: CurrentOrganization
) -> WebhookEndpointEnvelope:
    endpoint = webhook_endpoint_service.update(session, organization, lago_id, body.webhook_endpoint)
    return WebhookEndpointEnvelope(webhook_endpoint=webhook_endpoint_out(endpoint))


@router.delete("/webhook_endpoints/{lago_id}", response_model=WebhookEndpointEnvelope)
def destroy(lago_id: str, session: DbSession, organization: CurrentOrganization) -> WebhookEndpointEnvelope:
    endpoint = webhook_endpoint_service.delete(session, organization, lago_id)
    return WebhookEndpointEnvelope(webhook_endpoint=webhook_endpoint_out(endpoint))
