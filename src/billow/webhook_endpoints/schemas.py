from __future__ import annotations

import uuid
from typing import Any

from pydantic import Field

from billow.kit.pagination import PageMeta
from billow.kit.schemas import Input, Output, Timestamp
from billow.kit.strings import URL_MAX_LENGTH
from billow.models.webhook_endpoints import WebhookEndpoint


class WebhookEndpointInput(Input):
    webhook_url: str | None = Field(default=None, max_length=URL_MAX_LENGTH)
    signature_algo: str | None = None
    name: str | None = Field(default=None, max_length=255)
    # Any JSON: the service answers ``must_be_array`` for a non-list, as Lago.
    event_types: Any = None


class WebhookEndpointRequest(Input):
    webhook_endpoint: WebhookEndpointInput


class WebhookEndpointOut(Output):
    lago_id: uuid.UUID
    lago_organization_id: uuid.UUID
    webhook_url: str
    signature_algo: str
    name: str | None
    event_types: list[str] | None
    created_at: Timestamp
    updated_at: Timestamp


class WebhookEndpointEnvelope(Output):
    webhook_endpoint: WebhookEndpointOut


class WebhookEndpointList(Output):
    webhook_endpoints: list[WebhookEndpointOut]
    meta: PageMeta


def webhook_endpoint_out(endpoint: WebhookEndpoint) -> WebhookEndpointOut:
    return WebhookEndpointOut(
        lago_id=endpoint.id,
        lago_organization_id=endpoint.organization_id,
        webhook_url=endpoint.webhook_url,
        signature_algo=endpoint.signature_algo,
        name=endpoint.name,
        event_types=endpoint.event_types,
        created_at=endpoint.created_at,
        updated_at=endpoint.updated_at,
    )
