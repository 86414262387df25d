from __future__ import annotations

import uuid

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from billow.models.organizations import Organization
from billow.models.webhook_endpoints import WebhookEndpoint


class WebhookEndpointRepository:
    def by_id(
        self, session: Session, organization_id: uuid.UUID, endpoint_id: uuid.UUID
    ) -> WebhookEndpoint | None:
        return session.scalars(
            select(WebhookEndpoint).where(
                WebhookEndpoint.organization_id == organization_id, WebhookEndpoint.id == endpoint_id
            )
        ).first()

    def by_url(self, session: Session, organization_id: uuid.UUID, url: str) -> WebhookEndpoint | None:
        return session.scalars(
            select(WebhookEndpoint).where(
                WebhookEndpoint.organization_id == organization_id, WebhookEndpoint.webhook_url == url
            )
        ).first()

    def count(self, session: Session, organization_id: uuid.UUID) -> int:
        return (
            session.scalar(
                select(func.count())
                .select_from(WebhookEndpoint)
                .where(WebhookEndpoint.organization_id == organization_id)
            )
            or 0
        )

    def lock_organization(self, session: Session, organization_id: uuid.UUID) -> None:
        """Serialize endpoint creation per organization (PostgreSQL; SQLite writers are serialized anyway)."""
        session.execute(select(Organization.id).where(Organization.id == organization_id).with_for_update())

    def list_stmt(self, organization_id: uuid.UUID) -> Select[WebhookEndpoint]:
        """Lago's order: by URL, then newest first."""
        return (
            select(WebhookEndpoint)
            .where(WebhookEndpoint.organization_id == organization_id)
            .order_by(WebhookEndpoint.webhook_url, WebhookEndpoint.created_at.desc(), WebhookEndpoint.id)
        )

    def urls(self, session: Session, organization_id: uuid.UUID) -> list[str]:
        """The URLs of the organization's endpoints, oldest first."""
        return list(
            session.scalars(
                select(WebhookEndpoint.webhook_url)
                .where(WebhookEndpoint.organization_id == organization_id)
                .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
            )
        )


webhook_endpoint_repository = WebhookEndpointRepository()
