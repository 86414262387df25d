"""All SQL of the audit log: listing with Lago's filters, lookups, retention."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, delete, or_, select
from sqlalchemy.orm import Session

from billow.models.audit import ActivityLog, ApiLog


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


@dataclass(frozen=True)
class ActivityFilters:
    from_date: date | None = None
    to_date: date | None = None
    activity_types: list[str] = field(default_factory=list)
    activity_sources: list[str] = field(default_factory=list)
    user_emails: list[str] = field(default_factory=list)
    external_customer_id: str | None = None
    external_subscription_id: str | None = None
    resource_ids: list[uuid.UUID] = field(default_factory=list)
    resource_types: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ApiLogFilters:
    from_date: date | None = None
    to_date: date | None = None
    http_methods: list[str] = field(default_factory=list)
    #: Exact statuses, and ``succeeded`` (< 400) / ``failed`` (>= 400).
    http_statuses: list[int] = field(default_factory=list)
    succeeded: bool = False
    failed: bool = False
    api_version: str | None = None
    request_paths: list[str] = field(default_factory=list)


def _dates(stmt: Select[Any], column: Any, start: date | None, end: date | None) -> Select[Any]:
    if start is not None:
        stmt = stmt.where(column >= _day_start(start))
    if end is not None:
        stmt = stmt.where(column < _day_start(end) + timedelta(days=1))
    return stmt


class AuditRepository:
    def activity_stmt(self, organization_id: uuid.UUID, filters: ActivityFilters) -> Select[Any]:
        stmt = select(ActivityLog).where(ActivityLog.organization_id == organization_id)
        stmt = _dates(stmt, ActivityLog.logged_at, filters.from_date, filters.to_date)
        if filters.activity_types:
            stmt = stmt.where(ActivityLog.activity_type.in_(filters.activity_types))
        if filters.activity_sources:
            stmt = stmt.where(ActivityLog.activity_source.in_(filters.activity_sources))
        if filters.user_emails:
            stmt = stmt.where(ActivityLog.user_email.in_(filters.user_emails))
        if filters.external_customer_id:
            stmt = stmt.where(ActivityLog.external_customer_id == filters.external_customer_id)
        if filters.external_subscription_id:
            stmt = stmt.where(ActivityLog.external_subscription_id == filters.external_subscription_id)
        if filters.resource_ids:
            stmt = stmt.where(ActivityLog.resource_id.in_(filters.resource_ids))
        if filters.resource_types:
            stmt = stmt.where(ActivityLog.resource_type.in_(filters.resource_types))
        return stmt.order_by(ActivityLog.logged_at.desc(), ActivityLog.id.desc())

    def activity(
        self, session: Session, organization_id: uuid.UUID, activity_id: uuid.UUID
    ) -> ActivityLog | None:
        return session.scalar(
            select(ActivityLog).where(
                ActivityLog.organization_id == organization_id, ActivityLog.id == activity_id
            )
        )

    def api_log_stmt(self, organization_id: uuid.UUID, filters: ApiLogFilters) -> Select[Any]:
        stmt = select(ApiLog).where(ApiLog.organization_id == organization_id)
        stmt = _dates(stmt, ApiLog.logged_at, filters.from_date, filters.to_date)
        if filters.http_methods:
            stmt = stmt.where(ApiLog.http_method.in_(filters.http_methods))
        statuses: list[Any] = []
        if filters.http_statuses:
            statuses.append(ApiLog.http_status.in_(filters.http_statuses))
        if filters.succeeded:
            statuses.append(ApiLog.http_status < 400)
        if filters.failed:
            statuses.append(ApiLog.http_status >= 400)
        if statuses:
            stmt = stmt.where(or_(*statuses))
        if filters.api_version:
            stmt = stmt.where(ApiLog.api_version == filters.api_version)
        if filters.request_paths:
            stmt = stmt.where(
                or_(*(ApiLog.request_path.contains(path, autoescape=True) for path in filters.request_paths))
            )
        return stmt.order_by(ApiLog.logged_at.desc(), ApiLog.id.desc())

    def api_log(self, session: Session, organization_id: uuid.UUID, request_id: str) -> ApiLog | None:
        """The newest log of ``request_id`` (a client may send the same id twice)."""
        return session.scalar(
            select(ApiLog)
            .where(ApiLog.organization_id == organization_id, ApiLog.request_id == request_id)
            .order_by(ApiLog.logged_at.desc(), ApiLog.id.desc())
            .limit(1)
        )

    def prune(
        self, session: Session, activity_before: datetime, api_logs_before: datetime
    ) -> tuple[int, int]:
        """Delete the logs older than the retention; the numbers deleted (activity, api)."""
        activity = session.execute(delete(ActivityLog).where(ActivityLog.logged_at < activity_before))
        api = session.execute(delete(ApiLog).where(ApiLog.logged_at < api_logs_before))
        return int(getattr(activity, "rowcount", 0) or 0), int(getattr(api, "rowcount", 0) or 0)


audit_repository = AuditRepository()
