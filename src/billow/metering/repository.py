"""Event reads outside the aggregation (:mod:`billow.metering.aggregation`): one unique-count value's
history, for pay-in-advance fees."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from billow.metering.sql import metering_dialect
from billow.models.events import Event


class UsageRepository:
    def events_with_value(
        self,
        session: Session,
        *,
        organization_id: uuid.UUID,
        external_subscription_id: str,
        code: str,
        field_name: str,
        value: str,
        from_datetime: datetime | None,
        to_datetime: datetime,
    ) -> list[tuple[dict[str, Any], datetime]]:
        """``(properties, timestamp)`` of the events whose ``properties[field_name]`` is ``value`` (as text),
        latest first (timestamp, then reception, then id): a unique count's history of one value."""
        dialect = metering_dialect(session.get_bind().dialect.name)
        stmt = select(Event.properties, Event.timestamp).where(
            Event.organization_id == organization_id,
            Event.external_subscription_id == external_subscription_id,
            Event.code == code,
            Event.timestamp < to_datetime,
            dialect.text(field_name) == value,
        )
        if from_datetime is not None:
            stmt = stmt.where(Event.timestamp >= from_datetime)
        rows = session.execute(
            stmt.order_by(Event.timestamp.desc(), Event.created_at.desc(), Event.id.desc())
        )
        return [(row.properties or {}, row.timestamp) for row in rows]


usage_repository = UsageRepository()
