"""Lago's ``activity_log`` and ``api_log`` objects."""

from __future__ import annotations

import uuid
from typing import Any

from billow.kit.pagination import PageMeta
from billow.kit.schemas import Output, Timestamp
from billow.models.audit import ActivityLog, ApiLog


class ActivityLogOut(Output):
    activity_id: uuid.UUID
    user_email: str | None
    activity_type: str
    activity_source: str
    activity_object: dict[str, Any] | None
    activity_object_changes: dict[str, Any] | None
    external_customer_id: str | None
    external_subscription_id: str | None
    resource_id: uuid.UUID
    resource_type: str
    organization_id: uuid.UUID
    logged_at: Timestamp
    created_at: Timestamp


class ActivityLogEnvelope(Output):
    activity_log: ActivityLogOut


class ActivityLogList(Output):
    activity_logs: list[ActivityLogOut]
    meta: PageMeta


class ApiLogOut(Output):
    request_id: str
    api_version: str
    client: str
    http_method: str
    http_status: int
    request_origin: str
    request_path: str
    request_body: dict[str, Any]
    request_response: dict[str, Any] | None
    logged_at: Timestamp
    created_at: Timestamp


class ApiLogEnvelope(Output):
    api_log: ApiLogOut


class ApiLogList(Output):
    api_logs: list[ApiLogOut]
    meta: PageMeta


def activity_log_out(row: ActivityLog) -> ActivityLogOut:
    return ActivityLogOut(
        activity_id=row.id,
        user_email=row.user_email,
        activity_type=row.activity_type,
        activity_source=row.activity_source,
        activity_object=row.activity_object,
        activity_object_changes=row.activity_object_changes,
        external_customer_id=row.external_customer_id,
        external_subscription_id=row.external_subscription_id,
        resource_id=row.resource_id,
        resource_type=row.resource_type,
        organization_id=row.organization_id,
        logged_at=row.logged_at,
        created_at=row.created_at,
    )


def api_log_out(row: ApiLog) -> ApiLogOut:
    return ApiLogOut(
        request_id=row.request_id,
        api_version=row.api_version,
        client=row.client,
        http_method=row.http_method,
        http_status=row.http_status,
        request_origin=row.request_origin,
        request_path=row.request_path,
        request_body=row.request_body,
        request_response=row.request_response,
        logged_at=row.logged_at,
        created_at=row.created_at,
    )
