"""``GET /activity_logs[/{activity_id}]`` and ``GET /api_logs[/{request_id}]`` (Lago's), newest first,
scoped to the caller's organization."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from billow.audit.repository import audit_repository
from billow.audit.schemas import (
    ActivityLogEnvelope,
    ActivityLogList,
    ApiLogEnvelope,
    ApiLogList,
    activity_log_out,
    api_log_out,
)
from billow.audit.service import activity_filters, api_log_filters, audit_service
from billow.auth import CurrentOrganization
from billow.db import DbSession
from billow.kit.pagination import Pagination, paginate
from billow.kit.strict_json import StrictJSONRoute

router = APIRouter(tags=["audit_logs"], route_class=StrictJSONRoute)


@router.get("/activity_logs", response_model=ActivityLogList)
def list_activity_logs(
    session: DbSession,
    organization: CurrentOrganization,
    pages: Pagination,
    from_date: str | None = None,
    to_date: str | None = None,
    activity_types: Annotated[list[str] | None, Query(alias="activity_types[]")] = None,
    activity_sources: Annotated[list[str] | None, Query(alias="activity_sources[]")] = None,
    user_emails: Annotated[list[str] | None, Query(alias="user_emails[]")] = None,
    external_customer_id: str | None = None,
    external_subscription_id: str | None = None,
    resource_ids: Annotated[list[str] | None, Query(alias="resource_ids[]")] = None,
    resource_types: Annotated[list[str] | None, Query(alias="resource_types[]")] = None,
) -> ActivityLogList:
    filters = activity_filters(
        from_date=from_date,
        to_date=to_date,
        activity_types=activity_types,
        activity_sources=activity_sources,
        user_emails=user_emails,
        external_customer_id=external_customer_id,
        external_subscription_id=external_subscription_id,
        resource_ids=resource_ids,
        resource_types=resource_types,
    )
    rows, meta = paginate(session, audit_repository.activity_stmt(organization.id, filters), pages)
    return ActivityLogList(activity_logs=[activity_log_out(r) for r in rows], meta=meta)


@router.get("/activity_logs/{activity_id}", response_model=ActivityLogEnvelope)
def show_activity_log(
    activity_id: str, session: DbSession, organization: CurrentOrganization
) -> ActivityLogEnvelope:
    return ActivityLogEnvelope(
        activity_log=activity_log_out(audit_service.activity(session, organization.id, activity_id))
    )


@router.get("/api_logs", response_model=ApiLogList)
def list_api_logs(
    session: DbSession,
    organization: CurrentOrganization,
    pages: Pagination,
    from_date: str | None = None,
    to_date: str | None = None,
    http_methods: Annotated[list[str] | None, Query(alias="http_methods[]")] = None,
    http_statuses: Annotated[list[str] | None, Query(alias="http_statuses[]")] = None,
    api_version: str | None = None,
    # Lago's document names it without brackets; both are read.
    request_paths: Annotated[list[str] | None, Query()] = None,
    request_paths_brackets: Annotated[list[str] | None, Query(alias="request_paths[]")] = None,
) -> ApiLogList:
    filters = api_log_filters(
        from_date=from_date,
        to_date=to_date,
        http_methods=http_methods,
        http_statuses=http_statuses,
        api_version=api_version,
        request_paths=[*(request_paths or []), *(request_paths_brackets or [])],
    )
    rows, meta = paginate(session, audit_repository.api_log_stmt(organization.id, filters), pages)
    return ApiLogList(api_logs=[api_log_out(r) for r in rows], meta=meta)


@router.get("/api_logs/{request_id}", response_model=ApiLogEnvelope)
def show_api_log(request_id: str, session: DbSession, organization: CurrentOrganization) -> ApiLogEnvelope:
    return ApiLogEnvelope(api_log=api_log_out(audit_service.api_log(session, organization.id, request_id)))
