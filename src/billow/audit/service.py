"""Reading the audit log: Lago's query filters into repository filters, lookups (404s), retention."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from billow.audit.repository import ActivityFilters, ApiLogFilters, audit_repository
from billow.errors import NotFound
from billow.kit.ids import parse_uuid
from billow.kit.time import parse_date_or_none
from billow.models.audit import ActivityLog, ApiLog

#: A resource id that names nothing: a ``resource_ids[]`` filter of only non-UUIDs matches no row.
_NO_RESOURCE = uuid.UUID(int=0)


def _clean(values: list[str] | None) -> list[str]:
    return [v.strip() for v in values or [] if v and v.strip()]


def activity_filters(
    *,
    from_date: str | None = None,
    to_date: str | None = None,
    activity_types: list[str] | None = None,
    activity_sources: list[str] | None = None,
    user_emails: list[str] | None = None,
    external_customer_id: str | None = None,
    external_subscription_id: str | None = None,
    resource_ids: list[str] | None = None,
    resource_types: list[str] | None = None,
) -> ActivityFilters:
    """Lago's filters as sent; an unreadable date is ignored (as Lago)."""
    ids = _clean(resource_ids)
    parsed = [u for u in (parse_uuid(i) for i in ids) if u is not None]
    return ActivityFilters(
        from_date=parse_date_or_none(from_date),
        to_date=parse_date_or_none(to_date),
        activity_types=_clean(activity_types),
        activity_sources=_clean(activity_sources),
        user_emails=_clean(user_emails),
        external_customer_id=external_customer_id or None,
        external_subscription_id=external_subscription_id or None,
        resource_ids=parsed or ([_NO_RESOURCE] if ids else []),
        resource_types=_clean(resource_types),
    )


def api_log_filters(
    *,
    from_date: str | None = None,
    to_date: str | None = None,
    http_methods: list[str] | None = None,
    http_statuses: list[str] | None = None,
    api_version: str | None = None,
    request_paths: list[str] | None = None,
) -> ApiLogFilters:
    statuses = _clean(http_statuses)
    return ApiLogFilters(
        from_date=parse_date_or_none(from_date),
        to_date=parse_date_or_none(to_date),
        http_methods=[m.lower() for m in _clean(http_methods)],
        http_statuses=[int(s) for s in statuses if s.isdigit() and 100 <= int(s) <= 599],
        succeeded="succeeded" in statuses,
        failed="failed" in statuses,
        api_version=api_version or None,
        request_paths=_clean(request_paths),
    )


class AuditService:
    def activity(self, session: Session, organization_id: uuid.UUID, activity_id: str) -> ActivityLog:
        parsed = parse_uuid(activity_id)
        found = audit_repository.activity(session, organization_id, parsed) if parsed else None
        if found is None:
            raise NotFound("activity_log")
        return found

    def api_log(self, session: Session, organization_id: uuid.UUID, request_id: str) -> ApiLog:
        found = audit_repository.api_log(session, organization_id, request_id)
        if found is None:
            raise NotFound("api_log")
        return found

    def prune(
        self, session: Session, now: datetime, activity_days: int, api_log_days: int
    ) -> tuple[int, int]:
        return audit_repository.prune(
            session, now - timedelta(days=activity_days), now - timedelta(days=api_log_days)
        )


audit_service = AuditService()
