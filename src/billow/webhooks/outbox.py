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

import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, insert, select
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
        rows = session.execute(
            select(WebhookEndpoint.id, WebhookEndpoint.event_types)
            .where(WebhookEndpoint.organization_id == organization_id)
            .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
        ).all()
        found = cache[organization_id] = [(row[0], row[1]) for row in rows]
    return found


def listens(event_types: list[str] | None, webhook_type: str) -> bool:
    """Whether an endpoint with ``event_types`` receives ``webhook_type`` (``None``: every type)."""
    return event_types is None or webhook_type in event_types


def write_pending(session: Session) -> None:
    """Write the transaction's announcements (called just before it commits)."""
    pending: list[Announcement] | None = session.info.pop(_PENDING_KEY, None)
    if not pending:
        return
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
    session.execute(insert(WebhookEvent), events)
    session.execute(insert(Webhook), webhooks)
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
