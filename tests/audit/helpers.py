"""Reading the audit log in tests."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from billow.models.audit import ActivityLog, ApiLog
from tests.conftest import Api


def activities(api: Api, **params: Any) -> list[dict[str, Any]]:
    """The organization's activity logs through the API, oldest first, without the fixture's own
    (``organization.created``, ``api_key.created``)."""
    response = api.get("/activity_logs", params={"per_page": 1000, **params})
    assert response.status_code == 200, response.text
    logs = response.json()["activity_logs"]
    return [log for log in reversed(logs) if log["resource_type"] not in ("Organization", "ApiKey")]


def activity_rows(api: Api) -> list[ActivityLog]:
    with api.client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
        return list(
            session.scalars(
                select(ActivityLog)
                .where(ActivityLog.organization_id == api.organization.id)
                .order_by(ActivityLog.logged_at, ActivityLog.id)
            )
        )


def api_log_rows(api: Api) -> list[ApiLog]:
    with api.client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
        return list(
            session.scalars(
                select(ApiLog).where(ApiLog.organization_id == api.organization.id).order_by(ApiLog.logged_at)
            )
        )


def api_key_id(api: Api) -> str:
    from billow.auth import digest_key
    from billow.models.organizations import ApiKey

    with api.client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
        return str(session.scalars(select(ApiKey.id).where(ApiKey.value_digest == digest_key(api.key))).one())
