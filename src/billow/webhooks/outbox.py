"""The webhook outbox: what happened, written in the transaction that made it happen.

A domain announces a change with :func:`emit` inside its transaction. Nothing is written at once: the
announcements of a transaction are written together just before it commits (one ``webhook_events`` row
each, one ``webhooks`` row per endpoint of the organization that listens to the type, in two multi-row
inserts), so they commit or roll back with the change; a rolled-back transaction announced nothing.
After the commit, the delivery of each endpoint concerned is queued (:mod:`billow.webhooks.delivery`,
task ``webhooks.deliver``); the delivery scan catches up whatever a lost task left.

An organization without endpoints pays one query per transaction that announces something.

The object is rendered as the API renders it, when the event is first delivered (as Lago, whose webhook
jobs load the object when they run): registered renderers (:mod:`billow.webhooks.payloads`) do it.
``payload`` gives it at once for an object that will not exist by then.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, event, select, text
from sqlalchemy.orm import Session, SessionTransaction

from billow.db import utcnow
from billow.models.webhook_endpoints import WebhookEndpoint
from billow.models.webhooks import Webhook, WebhookEvent, WebhookStatus
from billow.worker.dispatch import after_commit

_PENDING_KEY = "billow.webhooks.pending"
_ENDPOINTS_KEY = "billow.webhooks.endpoints"

#: The delivery task (:mod:`billow.webhooks.delivery`).
DELIVER_TASK = "webhooks.deliver"


@dataclass(frozen=True)
class Announcement:
    organization_id: uuid.UUID
    webhook_type: str
    object_type: str
    object_id: uuid.UUID | None
    payload: dict[str, Any] | None


def emit(
    session: Session,
    organization_id: uuid.UUID,
    webhook_type: str,
    object_type: str,
    object_id: uuid.UUID | None = None,
    *,
    payload: dict[str, Any] | None = None,
) -> None:
    """Announce ``webhook_type`` (Lago's name, e.g. ``invoice.created``) about the object ``object_type``
    ``object_id`` of ``organization_id``, in ``session``'s transaction. The object is rendered as the API
    renders it when the webhook is first delivered; ``payload`` (the rendered object) is for an object
    that will not exist by then."""
    pending: list[Announcement] | None = session.info.get(_PENDING_KEY)
    if pending is None:
        pending = session.info[_PENDING_KEY] = []
    pending.append(Announcement(organization_id, webhook_type, object_type, object_id, payload))


class _Positions:
    """Time-ordered positions: microseconds since the epoch times 1,000, plus a counter, increasing within
    the process (two processes' positions interleave by time)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = 0

    def take(self, count: int) -> list[int]:
        with self._lock:
            first = max(self._last + 1, time.time_ns() // 1000 * 1000)
            self._last = first + count - 1
        return list(range(first, first + count))


positions = _Positions()


def endpoints_of(session: Session, organization_id: uuid.UUID) -> list[tuple[uuid.UUID, list[str] | None]]:
    """The organization's endpoints and the types each listens to (``None``: all), read once per
    transaction."""
    cache: dict[uuid.UUID, list[tuple[uuid.UUID, list[str] | None]]] | None = session.info.get(_ENDPOINTS_KEY)
    if cache is None:
        cache = session.info[_ENDPOINTS_KEY] = {}
    found = cache.get(organization_id)
    if found is None:
        rows = session.connection().execute(_ENDPOINTS, {"organization_id": organization_id}).all()
        found = cache[organization_id] = [(row[0], row[1]) for row in rows]
    return found


# Built once (Core, bound parameters): this read and the two inserts are the outbox's whole cost in the
# changing transaction.
_ENDPOINTS = (
    select(WebhookEndpoint.id, WebhookEndpoint.event_types)
    .where(WebhookEndpoint.organization_id == bindparam("organization_id"))
    .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
)
_INSERT_EVENTS = WebhookEvent.__table__.insert()
_INSERT_WEBHOOKS = Webhook.__table__.insert()


def listens(event_types: list[str] | None, webhook_type: str) -> bool:
    """Whether an endpoint with ``event_types`` receives ``webhook_type`` (``None``: every type)."""
    return event_types is None or webhook_type in event_types


def write_pending(session: Session) -> None:
    """Write the transaction's announcements (called just before it commits)."""
    pending: list[Announcement] | None = session.info.pop(_PENDING_KEY, None)
    if not pending:
        return
    connection = session.connection()
    now = utcnow()
    events: list[dict[str, Any]] = []
    webhooks: list[dict[str, Any]] = []
    touched: dict[uuid.UUID, None] = {}
    order = positions.take(len(pending))
    for announcement, position in zip(pending, order, strict=True):
        targets = [
            endpoint_id
            for endpoint_id, types in endpoints_of(session, announcement.organization_id)
            if listens(types, announcement.webhook_type)
        ]
        if not targets:
            continue
        event_id = uuid.uuid4()
        events.append(
            {
                "id": event_id,
                "organization_id": announcement.organization_id,
                "webhook_type": announcement.webhook_type,
                "object_type": announcement.object_type,
                "object_id": announcement.object_id,
                "payload": announcement.payload,
                "position": position,
                "created_at": now,
                "updated_at": now,
            }
        )
        for endpoint_id in targets:
            touched[endpoint_id] = None
            webhooks.append(
                {
                    "id": uuid.uuid4(),
                    "organization_id": announcement.organization_id,
                    "webhook_endpoint_id": endpoint_id,
                    "webhook_event_id": event_id,
                    "webhook_type": announcement.webhook_type,
                    "position": position,
                    "status": WebhookStatus.PENDING.value,
                    "attempts": 0,
                    "created_at": now,
                    "updated_at": now,
                }
            )
    if not events:
        return
    if connection.dialect.name == "postgresql":
        _write_postgresql(connection, events, webhooks)  # one round trip
    else:
        connection.execute(_INSERT_EVENTS, events)
        connection.execute(_INSERT_WEBHOOKS, webhooks)
    for endpoint_id in touched:
        after_commit(session, DELIVER_TASK, str(endpoint_id), from_tasks=True)


@event.listens_for(Session, "before_commit")
def _write_before_commit(session: Session) -> None:
    # Flush first: an announcement may follow writes still in the unit of work, and the organization's
    # endpoints are read in the same transaction.
    if session.info.get(_PENDING_KEY):
        session.flush()
        write_pending(session)


@event.listens_for(Session, "after_transaction_end")
def _forget(session: Session, transaction: SessionTransaction) -> None:
    # The endpoints read are valid for one transaction; announcements of a rolled-back one are dropped.
    if transaction.parent is None and transaction.nested is False:
        session.info.pop(_ENDPOINTS_KEY, None)
        session.info.pop(_PENDING_KEY, None)


__all__ = ["DELIVER_TASK", "emit", "endpoints_of"]


#: PostgreSQL: the events and their webhooks in one statement (a data-modifying CTE; the webhooks'
#: foreign keys are checked at the statement's end, when the events are there).
_WRITE_POSTGRESQL = text(
    """
WITH events AS (
    INSERT INTO webhook_events
        (id, organization_id, webhook_type, object_type, object_id, payload, position, created_at, updated_at)
    SELECT e.id, e.organization_id, e.webhook_type, e.object_type, e.object_id, CAST(e.payload AS json),
           e.position, :now, :now
    FROM unnest(
        CAST(:event_ids AS uuid[]), CAST(:organization_ids AS uuid[]), CAST(:webhook_types AS text[]),
        CAST(:object_types AS text[]), CAST(:object_ids AS uuid[]), CAST(:payloads AS text[]),
        CAST(:positions AS bigint[])
    ) AS e(id, organization_id, webhook_type, object_type, object_id, payload, position)
)
INSERT INTO webhooks
    (id, organization_id, webhook_endpoint_id, webhook_event_id, webhook_type, position, status, attempts,
     created_at, updated_at)
SELECT w.id, w.organization_id, w.endpoint_id, w.event_id, w.webhook_type, w.position, 'pending', 0,
       :now, :now
FROM unnest(
    CAST(:webhook_ids AS uuid[]), CAST(:webhook_organization_ids AS uuid[]), CAST(:endpoint_ids AS uuid[]),
    CAST(:webhook_event_ids AS uuid[]), CAST(:webhook_webhook_types AS text[]),
    CAST(:webhook_positions AS bigint[])
) AS w(id, organization_id, endpoint_id, event_id, webhook_type, position)
"""
)


def _write_postgresql(connection: Any, events: list[dict[str, Any]], webhooks: list[dict[str, Any]]) -> None:
    connection.execute(
        _WRITE_POSTGRESQL,
        {
            "event_ids": [e["id"] for e in events],
            "organization_ids": [e["organization_id"] for e in events],
            "webhook_types": [e["webhook_type"] for e in events],
            "object_types": [e["object_type"] for e in events],
            "object_ids": [e["object_id"] for e in events],
            "payloads": [json.dumps(e["payload"]) if e["payload"] is not None else None for e in events],
            "positions": [e["position"] for e in events],
            "webhook_ids": [w["id"] for w in webhooks],
            "webhook_organization_ids": [w["organization_id"] for w in webhooks],
            "endpoint_ids": [w["webhook_endpoint_id"] for w in webhooks],
            "webhook_event_ids": [w["webhook_event_id"] for w in webhooks],
            "webhook_webhook_types": [w["webhook_type"] for w in webhooks],
            "webhook_positions": [w["position"] for w in webhooks],
            "now": events[0]["created_at"],
        },
    )
