from __future__ import annotations

import uuid

from sqlalchemy.orm import Session


class WebhookEndpointRepository:
    def urls(self, session: Session, organization_id: uuid.UUID) -> list[str]:
        return []


webhook_endpoint_repository = WebhookEndpointRepository()
