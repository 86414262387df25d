from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from billow.errors import Errors, NotFound
from billow.kit.ids import parse_lago_id
from billow.models.organizations import Organization
from billow.models.webhook_endpoints import WEBHOOK_EVENT_TYPES, WebhookEndpoint
from billow.webhook_endpoints.repository import webhook_endpoint_repository as repository
from billow.webhook_endpoints.schemas import WebhookEndpointInput

#: Endpoints per organization (Lago's limit).
LIMIT = 10
SIGNATURE_ALGOS = ("jwt", "hmac")
#: Lago answers these two as sentences rather than codes; they are kept verbatim for compatibility.
EXCEEDED_LIMIT = "Maximum number of webhook endpoints was reached"
INVALID_TYPES = "contains invalid types: {}"

_URL_FORBIDDEN = set('<>"{}|\\^`')


def is_http_url(value: object) -> bool:
    """An absolute ``http``/``https`` URL with a host."""
    if not isinstance(value, str) or not value:
        return False
    if any(ch.isspace() or ord(ch) < 32 or ch in _URL_FORBIDDEN for ch in value):
        return False
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def normalize_event_types(raw: Any) -> tuple[list[str] | None, str | None]:
    """(normalized types, error). Trimmed, lower-cased, blanks and duplicates dropped; ``["*"]`` means all."""
    if not isinstance(raw, list):
        return None, "must_be_array"
    normalized: list[str] = []
    for item in raw:
        if item is None:
            continue
        text = str(item).strip().lower()
        if text and text not in normalized:
            normalized.append(text)
    if normalized == ["*"]:
        return None, None
    invalid = [t for t in normalized if t not in WEBHOOK_EVENT_TYPES]
    if invalid:
        return None, INVALID_TYPES.format(json.dumps(invalid, ensure_ascii=False))
    return normalized, None


class WebhookEndpointService:
    def get(self, session: Session, organization: Organization, lago_id: str) -> WebhookEndpoint:
        endpoint_id = parse_lago_id(lago_id, "webhook_endpoint")
        endpoint = repository.by_id(session, organization.id, endpoint_id)
        if endpoint is None:
            raise NotFound("webhook_endpoint")
        return endpoint

    def create(
        self, session: Session, organization: Organization, data: WebhookEndpointInput
    ) -> WebhookEndpoint:
        event_types = self._validate(session, organization, data, existing=None)
        endpoint = WebhookEndpoint(
            organization_id=organization.id,
            webhook_url=data.webhook_url,
            signature_algo=data.signature_algo or "jwt",
            name=data.name,
            event_types=event_types,
        )
        session.add(endpoint)
        session.flush()
        return endpoint

    def update(
        self, session: Session, organization: Organization, lago_id: str, data: WebhookEndpointInput
    ) -> WebhookEndpoint:
        endpoint = self.get(session, organization, lago_id)
        event_types = self._validate(session, organization, data, existing=endpoint)
        provided = data.provided()
        for key in ("webhook_url", "signature_algo", "name"):
            if key in provided:
                setattr(endpoint, key, provided[key])
        if "event_types" in provided:
            endpoint.event_types = event_types
        session.flush()
        return endpoint

    def delete(self, session: Session, organization: Organization, lago_id: str) -> WebhookEndpoint:
        endpoint = self.get(session, organization, lago_id)
        session.delete(endpoint)
        session.flush()
        return endpoint

    def ensure_url(self, session: Session, organization: Organization, url: str) -> WebhookEndpoint:
        """The endpoint with this URL, created (with the usual validation and limit) if there is none."""
        existing = repository.by_url(session, organization.id, url) if url else None
        if existing is not None:
            return existing
        return self.create(session, organization, WebhookEndpointInput(webhook_url=url))

    def _validate(
        self,
        session: Session,
        organization: Organization,
        data: WebhookEndpointInput,
        existing: WebhookEndpoint | None,
    ) -> list[str] | None:
        """Raise on invalid input; return the normalized ``event_types``."""
        errors = Errors()
        provided = data.provided()
        creating = existing is None
        if creating or "webhook_url" in provided:
            url = data.webhook_url
            if not url:
                errors.add("webhook_url", "value_is_mandatory")
            if not is_http_url(url):
                errors.add("webhook_url", "url_is_invalid")
            elif (
                url
                and (existing is None or url != existing.webhook_url)
                and repository.by_url(session, organization.id, url) is not None
            ):
                errors.add("webhook_url", "value_already_exist")
        if "signature_algo" in provided and data.signature_algo not in SIGNATURE_ALGOS:
            errors.add("signature_algo", "value_is_invalid")
        event_types: list[str] | None = None
        if "event_types" in provided:
            event_types, error = normalize_event_types(data.event_types)
            if error:
                errors.add("event_types", error)
        if creating:
            repository.lock_organization(session, organization.id)
            if repository.count(session, organization.id) >= LIMIT:
                errors.add("base", EXCEEDED_LIMIT)
        errors.raise_if_any()
        return event_types


webhook_endpoint_service = WebhookEndpointService()
