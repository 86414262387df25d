"""Usage events.

Design overview: an event is immutable once stored. It is identified for deduplication by
``(organization_id, external_subscription_id, transaction_id)``; a unique index enforces it, so a
retried or concurrent duplicate can never be counted twice (``INSERT ... ON CONFLICT DO NOTHING``).
Events are stored whether or not their ``code`` names a billable metric and whether or not a
subscription with that external id exists (Lago's behaviour); the event listing tells which ones
match nothing. ``properties`` is JSONB on PostgreSQL (fast key access for aggregation) and JSON text
on SQLite.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from billow.db import Base, utcnow
from billow.kit.db_types import ExactDecimal, UTCDateTime

PropertiesType = JSON().with_variant(JSONB(), "postgresql")


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        # Deduplication key: one event per transaction id and subscription, per organization. The
        # transaction id comes second so that the index also serves GET /events/{transaction_id}:
        # every index costs ingestion throughput (a separate (organization, transaction id) index
        # took ~20 % more database CPU per inserted event).
        Index(
            "uq_events_org_id_transaction_id_external_subscription_id",
            "organization_id",
            "transaction_id",
            "external_subscription_id",
            unique=True,
        ),
        # Serves aggregation: the events of one subscription and metric code in a period.
        Index("ix_events_usage", "organization_id", "external_subscription_id", "code", "timestamp"),
        # Serves GET /events, newest first.
        Index("ix_events_organization_id_timestamp", "organization_id", "timestamp"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    transaction_id: Mapped[str] = mapped_column(String(255))
    external_subscription_id: Mapped[str] = mapped_column(String(255))
    code: Mapped[str] = mapped_column(String(255))
    #: When the usage happened (the client's timestamp; reception time when absent).
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime())
    properties: Mapped[dict[str, Any]] = mapped_column(PropertiesType, default=dict)
    #: Dynamic pricing: the event's own price in minor units, unrounded.
    precise_total_amount_cents: Mapped[Decimal | None] = mapped_column(ExactDecimal())
    #: When Billow stored the event; breaks ties between events with the same timestamp.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
