from __future__ import annotations

import uuid
from typing import Any

from billow.kit.pagination import PageMeta
from billow.kit.schemas import Output, Timestamp
from billow.models.webhooks import Webhook, WebhookAttempt, WebhookEvent


class WebhookAttemptOut(Output):
    number: int
    started_at: Timestamp
    duration_ms: int
    http_status: int | None
    response: str | None
    error: str | None


class WebhookOut(Output):
    """A webhook sent (or to send) to one endpoint; ``lago_id`` is its ``X-Lago-Unique-Key``."""

    lago_id: uuid.UUID
    lago_organization_id: uuid.UUID
    lago_webhook_endpoint_id: uuid.UUID
    webhook_type: str
    object_type: str
    lago_object_id: uuid.UUID | None
    status: str
    #: Attempts made, and Lago's ``retries`` (attempts after the first).
    attempts: int
    retries: int
    http_status: int | None
    response: str | None
    #: The object as sent (``null`` until the first attempt renders it).
    payload: dict[str, Any] | None
    last_retried_at: Timestamp | None
    next_attempt_at: Timestamp | None
    created_at: Timestamp
    updated_at: Timestamp
    #: Every attempt, oldest first (``GET /webhooks/{lago_id}`` only).
    attempt_history: list[WebhookAttemptOut] | None = None


class WebhookEnvelope(Output):
    webhook: WebhookOut


class WebhookList(Output):
    webhooks: list[WebhookOut]
    meta: PageMeta


def webhook_out(
    webhook: Webhook, event: WebhookEvent, attempts: list[WebhookAttempt] | None = None
) -> WebhookOut:
    return WebhookOut(
        lago_id=webhook.id,
        lago_organization_id=webhook.organization_id,
        lago_webhook_endpoint_id=webhook.webhook_endpoint_id,
        webhook_type=webhook.webhook_type,
        object_type=event.object_type,
        lago_object_id=event.object_id,
        status=webhook.status,
        attempts=webhook.attempts,
        retries=max(webhook.attempts - 1, 0),
        http_status=webhook.http_status,
        response=webhook.response,
        payload=event.payload,
        last_retried_at=webhook.last_attempt_at,
        next_attempt_at=webhook.next_attempt_at,
        created_at=webhook.created_at,
        updated_at=webhook.updated_at,
        attempt_history=(
            None
            if attempts is None
            else [
                WebhookAttemptOut(
                    number=a.number,
                    started_at=a.started_at,
                    duration_ms=a.duration_ms,
                    http_status=a.http_status,
                    response=a.response,
                    error=a.error,
                )
                for a in attempts
            ]
        ),
    )
