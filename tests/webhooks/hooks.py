"""Helpers of the webhook payload tests: a receiver listening for the organization, the envelope check,
the outbox's rows."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from billow.db import utcnow
from billow.models.webhooks import Webhook, WebhookEvent
from billow.webhooks import delivery
from tests.conftest import Api
from tests.fixtures.receiver import Receiver


@pytest.fixture
def hooks(api: Api) -> Iterator[Receiver]:
    """A local receiver registered as the organization's webhook endpoint (every type)."""
    receiver = Receiver().start()
    body = {"webhook_endpoint": {"webhook_url": receiver.url, "signature_algo": "hmac"}}
    response = api.post("/webhook_endpoints", body)
    assert response.status_code == 200, response.text
    yield receiver
    receiver.stop()


def of_type(receiver: Receiver, webhook_type: str) -> list[dict[str, Any]]:
    return [r.json for r in receiver.received if r.json["webhook_type"] == webhook_type]


def the_one(receiver: Receiver, api: Api, webhook_type: str, object_type: str) -> dict[str, Any]:
    """The only webhook of ``webhook_type`` received, its envelope checked; its object."""
    [body] = of_type(receiver, webhook_type)
    assert set(body) == {"webhook_type", "object_type", "organization_id", object_type}
    assert body["webhook_type"] == webhook_type
    assert body["object_type"] == object_type
    assert body["organization_id"] == str(api.organization.id)
    return dict(body[object_type])


def outbox_counts(app: FastAPI) -> tuple[int, int]:
    """(webhook_events, webhooks) rows."""
    with app.state.sessionmaker() as session:
        return (
            session.scalar(select(func.count()).select_from(WebhookEvent)) or 0,
            session.scalar(select(func.count()).select_from(Webhook)) or 0,
        )


def deliver(app: FastAPI) -> None:
    """Deliver what work done outside a request (a scan, a bare session) announced: such sessions queue
    no task, the delivery scan finds the webhooks."""
    factory = app.state.dispatcher.session_factory
    now = utcnow()
    for item in delivery.deliver_due(factory, now):
        delivery.deliver_endpoint(factory, uuid.UUID(item), now)
