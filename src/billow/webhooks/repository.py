from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from billow.models.webhooks import Webhook, WebhookAttempt, WebhookEvent


@dataclass(frozen=True)
class WebhookFilters:
    status: str | None = None
    webhook_type: str | None = None
    webhook_endpoint_id: uuid.UUID | None = None
    object_id: uuid.UUID | None = None


class WebhookRepository:
    def by_id(self, session: Session, organization_id: uuid.UUID, webhook_id: uuid.UUID) -> Webhook | None:
        return session.scalars(
            select(Webhook).where(Webhook.organization_id == organization_id, Webhook.id == webhook_id)
        ).first()

    def list_stmt(self, organization_id: uuid.UUID, filters: WebhookFilters) -> Select[Webhook]:
        """Newest first."""
        stmt = select(Webhook).where(Webhook.organization_id == organization_id)
        if filters.status is not None:
            stmt = stmt.where(Webhook.status == filters.status)
        if filters.webhook_type is not None:
            stmt = stmt.where(Webhook.webhook_type == filters.webhook_type)
        if filters.webhook_endpoint_id is not None:
            stmt = stmt.where(Webhook.webhook_endpoint_id == filters.webhook_endpoint_id)
        if filters.object_id is not None:
            stmt = stmt.where(
                Webhook.webhook_event_id.in_(
                    select(WebhookEvent.id).where(
                        WebhookEvent.organization_id == organization_id,
                        WebhookEvent.object_id == filters.object_id,
                    )
                )
            )
        return stmt.order_by(Webhook.position.desc(), Webhook.id)

    def events_by_id(
        self, session: Session, organization_id: uuid.UUID, ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, WebhookEvent]:
        if not ids:
            return {}
        rows = session.scalars(
            select(WebhookEvent).where(
                WebhookEvent.organization_id == organization_id, WebhookEvent.id.in_(set(ids))
            )
        )
        return {row.id: row for row in rows}

    def attempts(
        self, session: Session, organization_id: uuid.UUID, webhook_id: uuid.UUID
    ) -> list[WebhookAttempt]:
        return list(
            session.scalars(
                select(WebhookAttempt)
                .where(
                    WebhookAttempt.organization_id == organization_id, WebhookAttempt.webhook_id == webhook_id
                )
                .order_by(WebhookAttempt.number)
            )
        )


webhook_repository = WebhookRepository()
