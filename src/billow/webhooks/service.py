"""Inspecting and replaying webhooks: ``GET /webhooks``, ``GET /webhooks/{lago_id}``,
``POST /webhooks/{lago_id}/retry``."""

from __future__ import annotations

from sqlalchemy.orm import Session

from billow.errors import NotAllowed, NotFound, ValidationFailed
from billow.kit.ids import parse_lago_id
from billow.models.organizations import Organization
from billow.models.webhooks import Webhook, WebhookStatus
from billow.webhooks.outbox import DELIVER_TASK
from billow.webhooks.repository import webhook_repository
from billow.worker.dispatch import after_commit

STATUSES = tuple(status.value for status in WebhookStatus)


def parse_status(value: str | None) -> str | None:
    if value is None:
        return None
    if value not in STATUSES:
        raise ValidationFailed({"status": ["value_is_invalid"]})
    return value


class WebhookService:
    def get(self, session: Session, organization: Organization, lago_id: str) -> Webhook:
        webhook = webhook_repository.by_id(session, organization.id, parse_lago_id(lago_id, "webhook"))
        if webhook is None:
            raise NotFound("webhook")
        return webhook

    def retry(self, session: Session, organization: Organization, lago_id: str) -> Webhook:
        """Send a webhook again now (with the same unique key): a failed one, or one waiting for its next
        attempt. A succeeded one is 405 ``is_succeeded`` (Lago); one not tried yet is already on its way
        (405 ``is_pending``)."""
        webhook = self.get(session, organization, lago_id)
        if webhook.status == WebhookStatus.SUCCEEDED:
            raise NotAllowed(code="is_succeeded")
        if webhook.status == WebhookStatus.PENDING:
            raise NotAllowed(code="is_pending")
        webhook.status = WebhookStatus.PENDING
        webhook.next_attempt_at = None
        session.flush()
        after_commit(session, DELIVER_TASK, str(webhook.webhook_endpoint_id))
        return webhook


webhook_service = WebhookService()
