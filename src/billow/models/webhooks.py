"""The webhook outbox (:mod:`billow.webhooks.outbox`) and its deliveries (:mod:`billow.webhooks.delivery`).

- :class:`WebhookEvent`: something happened (Lago's webhook type about an object), written in the
  transaction that made it happen. ``position`` orders the events (a time-ordered number, unique per
  process); ``payload`` is the rendered object, set when the event is first delivered (or at once for an
  object that will not exist by then).
- :class:`Webhook`: the event for one endpoint (Lago's ``webhook``; its id is the ``X-Lago-Unique-Key``
  receivers deduplicate on), delivered in ``position`` order per endpoint; ``attempts`` so far and the
  last answer. Statuses: ``pending`` (not tried yet), ``retrying`` (failed, tried again at
  ``next_attempt_at``), ``succeeded``, ``failed`` (every attempt failed; a retry through the API
  re-queues it).
- :class:`WebhookAttempt`: each attempt (status code, duration, answer excerpt, error).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from billow.db import Base, TenantMixin
from billow.kit.db_types import UTCDateTime


class WebhookStatus(StrEnum):
    PENDING = "pending"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


#: Statuses still to deliver.
OPEN_STATUSES = (WebhookStatus.PENDING.value, WebhookStatus.RETRYING.value)


class WebhookEvent(TenantMixin, Base):
    __tablename__ = "webhook_events"

    webhook_type: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(64))
    object_id: Mapped[uuid.UUID | None] = mapped_column()
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    position: Mapped[int] = mapped_column(BigInteger)


class Webhook(TenantMixin, Base):
    __tablename__ = "webhooks"
    __table_args__ = (
        Index("ix_webhooks_endpoint_position", "webhook_endpoint_id", "position"),
        Index("ix_webhooks_status_next_attempt_at", "status", "next_attempt_at"),
    )

    webhook_endpoint_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    webhook_event_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_events.id", ondelete="CASCADE"), index=True
    )
    webhook_type: Mapped[str] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default=WebhookStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    http_status: Mapped[int | None] = mapped_column(Integer)
    response: Mapped[str | None] = mapped_column(Text)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WebhookAttempt(TenantMixin, Base):
    __tablename__ = "webhook_attempts"

    webhook_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    duration_ms: Mapped[int] = mapped_column(Integer)
    http_status: Mapped[int | None] = mapped_column(Integer)
    response: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(String(1024))
