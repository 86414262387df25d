"""``/app/audit_logs``: the organization's activity logs (:mod:`billow.audit`), newest first, filtered by
type, source, e-mail and object id, each row opening onto its before/after changes. Permission
``audit_logs:view``; read-only (nothing to post)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from billow.audit.repository import audit_repository
from billow.audit.service import activity_filters
from billow.db import DbSession
from billow.kit.pagination import PageParams, paginate
from billow.models.audit import ActivityLog
from billow.web.auth import Viewer, require
from billow.web.templating import render

router = APIRouter()

PER_PAGE = 50
SOURCES = ("api", "front", "system")


def _shown(value: Any) -> str:
    """A logged value as the page shows it (JSON for objects and lists, empty for ``null``)."""
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _row(log: ActivityLog) -> dict[str, Any]:
    changes = log.activity_object_changes or {}
    return {
        "log": log,
        "actor": log.user_email or (f"API key {str(log.api_key_id)[:8]}" if log.api_key_id else "Billow"),
        "changes": [(name, _shown(pair[0]), _shown(pair[1])) for name, pair in sorted(changes.items())],
        "object": [(name, _shown(value)) for name, value in sorted((log.activity_object or {}).items())],
    }


@router.get("/app/audit_logs", response_class=HTMLResponse)
def audit_logs(
    request: Request,
    session: DbSession,
    viewer: Annotated[Viewer, Depends(require("audit_logs:view"))],
    activity_type: Annotated[str, Query(max_length=64)] = "",
    source: Annotated[str, Query(max_length=16)] = "",
    user_email: Annotated[str, Query(max_length=255)] = "",
    resource_id: Annotated[str, Query(max_length=64)] = "",
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
) -> HTMLResponse:
    filters = activity_filters(
        activity_types=[activity_type],
        activity_sources=[source] if source in SOURCES else [],
        user_emails=[user_email],
        resource_ids=[resource_id],
    )
    logs, meta = paginate(
        session, audit_repository.activity_stmt(viewer.organization_id, filters), PageParams(page, PER_PAGE)
    )
    query = {
        "activity_type": activity_type,
        "source": source,
        "user_email": user_email,
        "resource_id": resource_id,
    }
    return render(
        request,
        "audit/list.html",
        {
            "rows": [_row(log) for log in logs],
            "meta": meta,
            "query": query,
            "sources": SOURCES,
        },
    )
