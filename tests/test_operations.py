"""Liveness, readiness and ``GET /metrics`` (:mod:`billow.operations`, :mod:`billow.kit.metrics`): the
metrics are scraped with the test client after real API calls and read back with prometheus-client's
parser; every assertion is an exact delta."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from billow import __version__
from billow.app import create_app
from billow.config import Settings
from billow.migrate import upgrade
from tests.conftest import Api, ThrowawayDatabase, create_throwaway_database
from tests.fixtures.scrape import moved, scrape

T0 = 1_720_000_000
LATENCY = "billow_http_request_duration_seconds_count"


def event(transaction_id: str) -> dict[str, object]:
    return {
        "transaction_id": transaction_id,
        "external_subscription_id": "sub_1",
        "code": "calls",
        "timestamp": T0,
    }


@pytest.fixture
def migrated(database: ThrowawayDatabase, tmp_path: Path) -> Iterator[TestClient]:
    """An app on a new database of the same backend, migrated to head with Alembic."""
    fresh, drop = create_throwaway_database(database.backend, tmp_path)
    upgrade(fresh.url)
    app = create_app(Settings(database_url=fresh.url), dispatch="sync")
    with TestClient(app) as client:
        yield client
    app.state.engine.dispose()
    drop()


class TestLiveness:
    def test_live_answers_without_the_database(self) -> None:
        app = create_app(Settings(database_url="postgresql://postgres@127.0.0.1:1/nothing"))
        with TestClient(app) as client:
            response = client.get("/health/live")
            assert response.status_code == 200
            assert response.json() == {"status": "ok", "version": __version__}
            # Readiness says why the process must not get traffic.
            ready = client.get("/health/ready")
        assert ready.status_code == 503
        assert ready.json() == {"status": "unavailable", "version": __version__, "database": "unreachable"}


class TestReadiness:
    def test_ready_on_a_database_migrated_to_head(self, migrated: TestClient) -> None:
        response = migrated.get("/health/ready")
        assert response.status_code == 200
        assert response.json() == {"status": "ok", "version": __version__, "database": "ok"}

    def test_the_suites_database_is_ready(self, client: TestClient) -> None:
        # Made from the models and stamped at head (tests/conftest.py).
        response = client.get("/health/ready")
        assert response.status_code == 200
        assert response.json()["database"] == "ok"

    def test_not_ready_while_migrations_are_pending(self, client: TestClient) -> None:
        engine = client.app.state.engine  # type: ignore[attr-defined]
        with engine.begin() as connection:
            [head] = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all()
            connection.exec_driver_sql("UPDATE alembic_version SET version_num = '0001'")
        try:
            response = client.get("/health/ready")
        finally:
            with engine.begin() as connection:
                connection.exec_driver_sql(f"UPDATE alembic_version SET version_num = '{head}'")
        assert response.status_code == 503
        assert response.json() == {
            "status": "unavailable",
            "version": __version__,
            "database": "migrations_pending",
        }
        assert client.get("/health/ready").status_code == 200

    def test_a_database_never_migrated_is_not_ready(self, client: TestClient) -> None:
        engine = client.app.state.engine  # type: ignore[attr-defined]
        with engine.begin() as connection:
            [head] = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all()
            connection.exec_driver_sql("DELETE FROM alembic_version")
        try:
            response = client.get("/health/ready")
        finally:
            with engine.begin() as connection:
                connection.exec_driver_sql(f"INSERT INTO alembic_version (version_num) VALUES ('{head}')")
        assert response.status_code == 503
        assert response.json()["database"] == "migrations_pending"

    def test_public_routes_need_no_api_key(self, client: TestClient) -> None:
        for path in ("/health", "/health/live", "/metrics"):
            assert client.get(path).status_code == 200, path


class TestMetricsEndpoint:
    def test_the_token_protects_it_when_set(self, database: ThrowawayDatabase) -> None:
        app = create_app(Settings(database_url=database.url, metrics_token="s3cret"), dispatch="sync")
        with TestClient(app) as client:
            assert client.get("/metrics").status_code == 401
            assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
            assert client.get("/metrics").json() == {"status": 401, "error": "Unauthorized"}
            samples = scrape(client, headers={"Authorization": "Bearer s3cret"})
        assert any(name == "billow_events_ingested_total" for name, _ in samples)
        app.state.engine.dispose()

    def test_not_in_the_api_document(self, client: TestClient) -> None:
        paths = client.get("/api/v1/openapi.json").json()["paths"]
        assert "/metrics" not in paths
        assert {"/health/live", "/health/ready"} <= set(paths)


class TestRequestLatency:
    def test_counted_per_route_template_and_status_class(self, api: Api) -> None:
        def calls() -> None:
            assert api.get("/customers/cus_404").status_code == 404
            assert api.get("/customers/cus_other").status_code == 404
            assert api.get("/taxes").status_code == 200
            assert api.client.get("/api/v1/customers/cus_1").status_code == 401  # no key: before routing
            assert api.client.get("/no/such/path").status_code == 404

        delta = moved(api.client, calls)
        customer = {"method": "GET", "route": "/api/v1/customers/{external_id}"}
        assert delta(LATENCY, **customer, status="4xx") == 3
        assert delta(LATENCY, method="GET", route="/api/v1/taxes", status="2xx") == 1
        assert delta(LATENCY, method="GET", route="unmatched", status="4xx") == 1
        # No series per raw path.
        samples = scrape(api.client)
        assert not any("cus_404" in value for _, labels in samples for _, value in labels)


class TestEventCounters:
    def test_ingested_and_rejected_by_reason(self, api: Api) -> None:
        def calls() -> None:
            assert api.post("/events", {"event": event("tx_1")}).status_code == 200
            batch = {"events": [event(f"tx_b{n}") for n in range(3)]}
            assert api.post("/events/batch", batch).status_code == 200
            assert api.post("/events", {"event": event("tx_1")}).status_code == 422  # a replay
            assert api.post("/events/batch", {"events": []}).status_code == 422
            wrong = api.client.post(
                "/api/v1/events", json={"event": event("tx_2")}, headers={"Authorization": "Bearer no"}
            )
            assert wrong.status_code == 401

        delta = moved(api.client, calls)
        assert delta("billow_events_ingested_total") == 4
        assert delta("billow_events_rejected_total", reason="value_already_exist") == 1
        assert delta("billow_events_rejected_total", reason="no_events") == 1
        assert delta("billow_events_rejected_total", reason="unauthorized") == 1
        # The event stored once: the replay changed nothing.
        assert len(api.get("/events").json()["events"]) == 4
