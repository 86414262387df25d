"""Scan ``audit.prune``: activity logs past BILLOW_AUDIT_RETENTION_DAYS, API logs past
BILLOW_AUDIT_API_LOG_RETENTION_DAYS."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from billow.audit.tasks import prune
from billow.config import get_settings
from billow.models.audit import ActivityLog, ApiLog
from billow.worker.scans import load_all
from tests.conftest import Api


@pytest.fixture
def retention(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("BILLOW_AUDIT_RETENTION_DAYS", "10")
    monkeypatch.setenv("BILLOW_AUDIT_API_LOG_RETENTION_DAYS", "2")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def test_defaults() -> None:
    settings = get_settings()
    assert (settings.audit_retention_days, settings.audit_api_log_retention_days) == (365, 30)
    assert "audit.prune" in load_all()


@pytest.mark.usefixtures("retention")
def test_prune_deletes_only_the_old_logs(api: Api, factory: sessionmaker[Session]) -> None:
    for code in ("a", "b"):
        assert api.post("/taxes", json={"tax": {"name": "T", "code": code, "rate": "1"}}).status_code == 200
    now = datetime.now(UTC)
    with factory.begin() as session:
        ids = list(session.scalars(select(ActivityLog.id).where(ActivityLog.resource_type == "Tax")))
        session.execute(
            update(ActivityLog).where(ActivityLog.id == ids[0]).values(logged_at=now - timedelta(days=11))
        )
        session.execute(
            update(ActivityLog).where(ActivityLog.id == ids[1]).values(logged_at=now - timedelta(days=9))
        )
        api_ids = list(session.scalars(select(ApiLog.id)))
        session.execute(
            update(ApiLog).where(ApiLog.id == api_ids[0]).values(logged_at=now - timedelta(days=3))
        )
    assert prune(factory, now) == (1, 1)
    with factory() as session:
        assert set(session.scalars(select(ActivityLog.id).where(ActivityLog.resource_type == "Tax"))) == {
            ids[1]
        }
        assert list(session.scalars(select(ApiLog.id))) == [api_ids[1]]
    assert prune(factory, now) == (0, 0)
