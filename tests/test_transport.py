"""The transport around the API (billow.transport): authentication before the body, the body-size limit
while streaming, request ids, unexpected errors as Lago-shaped JSON."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event

from billow.app import create_app
from billow.auth import RecentKeys
from billow.config import Settings
from tests.conftest import Api, ThrowawayDatabase, _wipe, make_organization

UNAUTHORIZED = {"status": 401, "error": "Unauthorized"}
TOO_LARGE = {"status": 413, "error": "Payload Too Large", "code": "payload_too_large"}
INTERNAL = {"status": 500, "error": "Internal Server Error", "code": "internal_error"}
JSON = {"Content-Type": "application/json"}


class Body:
    """A chunked request body (a generator: no ``Content-Length``) that records whether it was read."""

    def __init__(self, data: bytes, chunk: int = 1024) -> None:
        self.data = data
        self.chunk = chunk
        self.read = False

    def chunks(self) -> Iterator[bytes]:
        self.read = True
        for start in range(0, len(self.data), self.chunk):
            yield self.data[start : start + self.chunk]


def padded(payload: Any, size: int) -> bytes:
    """``payload`` as JSON, padded with trailing whitespace to exactly ``size`` bytes."""
    raw = json.dumps(payload).encode()
    assert len(raw) <= size
    return raw + b" " * (size - len(raw))


def tax(code: str) -> dict[str, Any]:
    return {"tax": {"name": "VAT", "code": code, "rate": "20.0"}}


def one_event(transaction_id: str) -> dict[str, Any]:
    return {
        "event": {
            "transaction_id": transaction_id,
            "external_subscription_id": "sub_1",
            "code": "calls",
            "timestamp": 1_700_000_000,
        }
    }


# --------------------------------------------------------------------------------------------------
# Authentication before the body
# --------------------------------------------------------------------------------------------------


WRONG_KEYS: list[dict[str, str]] = [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}]


class TestAuthenticationFirst:
    @pytest.mark.parametrize("headers", WRONG_KEYS)
    def test_malformed_json_without_a_valid_key_is_401(self, api: Api, headers: dict[str, str]) -> None:
        for path in ("/api/v1/taxes", "/api/v1/customers", "/api/v1/events/estimate_fees"):
            response = api.client.post(path, content=b"{not json", headers={**headers, **JSON})
            assert response.status_code == 401, path
            assert response.json() == UNAUTHORIZED

    def test_malformed_json_with_a_valid_key_is_400(self, api: Api) -> None:
        response = api.client.post("/api/v1/taxes", content=b"{not json", headers={**api.headers, **JSON})
        assert response.status_code == 400
        assert response.json()["status"] == 400

    @pytest.mark.parametrize("headers", WRONG_KEYS)
    @pytest.mark.parametrize(
        "path", ["/api/v1/taxes", "/api/v1/plans", "/api/v1/events", "/api/v1/events/batch"]
    )
    def test_a_wrong_key_never_reads_the_body(self, api: Api, path: str, headers: dict[str, str]) -> None:
        body = Body(b'{"x": "' + b"a" * 100_000 + b'"}')
        response = api.client.post(path, content=body.chunks(), headers={**headers, **JSON})
        assert response.status_code == 401
        assert response.json() == UNAUTHORIZED
        assert not body.read

    def test_a_valid_key_reads_the_body(self, api: Api) -> None:
        body = Body(json.dumps(tax("vat_body")).encode())
        response = api.client.post("/api/v1/taxes", content=body.chunks(), headers={**api.headers, **JSON})
        assert response.status_code == 200
        assert body.read

    def test_unknown_route_needs_a_key(self, api: Api) -> None:
        assert api.client.get("/api/v1/nothing_here").status_code == 401
        assert api.get("/nothing_here").status_code == 404

    def test_public_documents_need_no_key(self, client: TestClient) -> None:
        assert client.get("/api/v1/openapi.json").status_code == 200
        assert client.get("/api/v1/docs").status_code == 200
        assert client.get("/api/v1/docs/assets/swagger-ui.css").status_code == 200

    def test_other_methods_on_ingestion_paths_are_authenticated(self, api: Api) -> None:
        assert api.client.get("/api/v1/events").status_code == 401
        assert api.get("/events").status_code == 200

    def test_one_authentication_query_per_request(self, api: Api, app: FastAPI) -> None:
        statements: list[str] = []

        def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            statements.append(statement)

        event.listen(app.state.engine, "before_cursor_execute", record)
        try:
            # The key's first use also records last_used_at (one UPDATE, at most once a minute).
            assert api.get("/taxes").status_code == 200
            assert sum(s.startswith("UPDATE api_keys") for s in statements) == 1, statements
            statements.clear()
            assert api.get("/taxes").status_code == 200
            assert api.post("/taxes", tax("vat_count")).status_code == 200
        finally:
            event.remove(app.state.engine, "before_cursor_execute", record)
        assert sum("api_keys" in s for s in statements) == 2, statements

    def test_the_organization_is_the_keys(self, api: Api, other_api: Api) -> None:
        api.post("/taxes", tax("vat_mine"))
        assert [t["code"] for t in api.get("/taxes").json()["taxes"]] == ["vat_mine"]
        assert other_api.get("/taxes").json()["taxes"] == []

    def test_organization_update_is_written(self, api: Api) -> None:
        """The organization is attached to the request's session: an update of it is committed."""
        response = api.put("/organizations", {"organization": {"legal_name": "Acme Inc."}})
        assert response.status_code == 200
        assert api.get("/organizations").json()["organization"]["legal_name"] == "Acme Inc."


class TestRecentKeys:
    def test_added_keys_are_known_until_they_expire(self) -> None:
        keys = RecentKeys(ttl=60)
        assert "a" not in keys
        keys.add("a")
        assert "a" in keys
        keys.discard("a")
        assert "a" not in keys
        expired = RecentKeys(ttl=-1)
        expired.add("a")
        assert "a" not in expired

    def test_bounded(self) -> None:
        keys = RecentKeys(size=3)
        for digest in "abcd":
            keys.add(digest)
        assert len(keys._expiry) <= 3
        assert "d" in keys

    def test_a_revoked_key_is_forgotten(self, api: Api, app: FastAPI) -> None:
        from billow.auth import digest_key
        from billow.db import utcnow
        from billow.models.organizations import ApiKey

        assert api.post("/events", one_event("tx_before")).status_code == 200
        assert digest_key(api.key) in app.state.recent_keys
        with app.state.sessionmaker.begin() as session:
            session.query(ApiKey).filter_by(value_digest=digest_key(api.key)).update({"revoked_at": utcnow()})
        assert api.post("/events", one_event("tx_after")).status_code == 401
        assert digest_key(api.key) not in app.state.recent_keys
        body = Body(json.dumps(one_event("tx_later")).encode())
        response = api.client.post("/api/v1/events", content=body.chunks(), headers={**api.headers, **JSON})
        assert response.status_code == 401
        assert not body.read


# --------------------------------------------------------------------------------------------------
# Body-size limit while streaming
# --------------------------------------------------------------------------------------------------

LIMIT = 4096


@pytest.fixture
def small_api(database: ThrowawayDatabase) -> Iterator[Api]:
    """An app whose body limit is :data:`LIMIT` bytes."""
    app = create_app(Settings(database_url=database.url, max_body_bytes=LIMIT), dispatch="sync")
    with TestClient(app) as client:
        organization, key = make_organization(app, "Small")
        yield Api(client, key, organization)
    _wipe(app.state.engine)
    app.state.engine.dispose()


class TestBodyLimit:
    def post_chunked(self, api: Api, path: str, data: bytes) -> Any:
        return api.client.post(f"/api/v1{path}", content=Body(data).chunks(), headers={**api.headers, **JSON})

    def test_chunked_body_at_the_limit_is_accepted(self, small_api: Api) -> None:
        response = self.post_chunked(small_api, "/taxes", padded(tax("vat_at"), LIMIT))
        assert response.status_code == 200
        assert response.json()["tax"]["code"] == "vat_at"

    def test_chunked_body_over_the_limit_is_413_and_writes_nothing(self, small_api: Api) -> None:
        response = self.post_chunked(small_api, "/taxes", padded(tax("vat_over"), LIMIT + 1))
        assert response.status_code == 413
        assert response.json() == TOO_LARGE
        assert response.headers["content-type"] == "application/json"
        assert "x-request-id" in response.headers
        assert small_api.get("/taxes").json()["taxes"] == []

    def test_ingestion_at_and_over_the_limit(self, small_api: Api) -> None:
        assert self.post_chunked(small_api, "/events", padded(one_event("tx_at"), LIMIT)).status_code == 200
        response = self.post_chunked(small_api, "/events", padded(one_event("tx_over"), LIMIT + 1))
        assert response.status_code == 413
        assert response.json() == TOO_LARGE
        batch = {"events": [one_event("tx_b")["event"]]}
        response = self.post_chunked(small_api, "/events/batch", padded(batch, 3 * LIMIT))
        assert response.status_code == 413
        assert small_api.get("/events/tx_over").status_code == 404
        assert small_api.get("/events/tx_b").status_code == 404
        assert small_api.get("/events/tx_at").status_code == 200

    def test_declared_length_over_the_limit_is_413(self, small_api: Api) -> None:
        response = small_api.client.post(
            "/api/v1/taxes",
            content=padded(tax("vat_declared"), LIMIT + 1),
            headers={**small_api.headers, **JSON},
        )
        assert response.status_code == 413
        assert response.json() == TOO_LARGE
        assert "x-request-id" in response.headers

    def test_declared_length_at_the_limit_is_accepted(self, small_api: Api) -> None:
        response = small_api.client.post(
            "/api/v1/taxes", content=padded(tax("vat_decl_at"), LIMIT), headers={**small_api.headers, **JSON}
        )
        assert response.status_code == 200


# --------------------------------------------------------------------------------------------------
# Request ids and unexpected errors
# --------------------------------------------------------------------------------------------------


class TestRequestId:
    def test_every_response_has_one(self, api: Api) -> None:
        for response in (api.get("/taxes"), api.client.get("/api/v1/taxes"), api.client.get("/health")):
            uuid.UUID(response.headers["x-request-id"])

    def test_a_sane_client_id_is_kept(self, api: Api) -> None:
        response = api.client.get("/api/v1/taxes", headers={**api.headers, "X-Request-Id": "req-42_abc.def"})
        assert response.headers["x-request-id"] == "req-42_abc.def"

    @pytest.mark.parametrize("value", ["has space", "x" * 129, "<bad>", ""])
    def test_an_insane_client_id_is_replaced(self, api: Api, value: str) -> None:
        response = api.client.get("/api/v1/taxes", headers={**api.headers, "X-Request-Id": value})
        uuid.UUID(response.headers["x-request-id"])


class TestUnexpectedError:
    @pytest.fixture
    def broken_create(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from billow.taxes.service import tax_service

        create = tax_service.create

        def create_then_fail(*args: Any, **kwargs: Any) -> Any:
            create(*args, **kwargs)  # written (flushed), then the request fails
            raise RuntimeError("boom")

        monkeypatch.setattr(tax_service, "create", create_then_fail)

    def test_500_in_lagos_shape_logged_with_the_request_id(
        self, api: Api, broken_create: None, caplog: pytest.LogCaptureFixture
    ) -> None:
        # The default TestClient re-raises what escapes the app: nothing does (a server keeps the
        # connection only when nothing escapes).
        with caplog.at_level(logging.ERROR, logger="billow"):
            response = api.client.post(
                "/api/v1/taxes", json=tax("vat_boom"), headers={**api.headers, "X-Request-Id": "req-boom"}
            )
        assert response.status_code == 500
        assert response.json() == INTERNAL
        assert response.headers["content-type"] == "application/json"
        assert response.headers["x-request-id"] == "req-boom"
        records = [r for r in caplog.records if getattr(r, "request_id", None) == "req-boom"]
        assert len(records) == 1
        assert records[0].exc_info is not None and isinstance(records[0].exc_info[1], RuntimeError)
        assert "req-boom" in records[0].getMessage()

    def test_nothing_written_and_the_client_goes_on(self, api: Api, broken_create: None) -> None:
        with TestClient(api.client.app, raise_server_exceptions=False) as client:
            response = client.post("/api/v1/taxes", json=tax("vat_boom"), headers=api.headers)
            assert response.status_code == 500
            assert response.json() == INTERNAL
            uuid.UUID(response.headers["x-request-id"])
            listed = client.get("/api/v1/taxes", headers=api.headers)
        assert listed.status_code == 200
        assert listed.json()["taxes"] == []

    def test_unexpected_error_in_ingestion(self, api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
        from billow.events import endpoints

        def fail(*_args: Any, **_kwargs: Any) -> Any:
            raise RuntimeError("boom")

        monkeypatch.setattr(endpoints.service, "conclude", fail)
        response = api.post("/events", one_event("tx_boom"))
        assert response.status_code == 500
        assert response.json() == INTERNAL


@pytest.fixture
def served(database: ThrowawayDatabase) -> Iterator[tuple[str, Api]]:
    """A fresh app behind a real uvicorn server in a thread: its base URL, and an organization."""
    import socket
    import threading
    import time

    import uvicorn

    app = create_app(Settings(database_url=database.url), dispatch="sync")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, port=port, lifespan="off", log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    organization, key = make_organization(app, "Served")
    try:
        yield f"http://127.0.0.1:{port}", Api(None, key, organization)  # type: ignore[arg-type]
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        _wipe(app.state.engine)
        app.state.engine.dispose()


def test_a_500_keeps_the_connection(served: tuple[str, Api], monkeypatch: pytest.MonkeyPatch) -> None:
    """Through a real server: the 500 is JSON and the same keep-alive connection serves the next request."""
    import httpx

    from billow.taxes.service import tax_service

    def fail(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(tax_service, "create", fail)
    base_url, api = served
    ports = []
    with httpx.Client(base_url=base_url, headers=api.headers) as client:
        for _ in range(3):
            response = client.post("/api/v1/taxes", json=tax("vat_boom"))
            assert response.status_code == 500
            assert response.json() == INTERNAL
            assert response.headers["x-request-id"]
            ports.append(response.extensions["network_stream"].get_extra_info("client_addr")[1])
        listed = client.get("/api/v1/taxes")
        ports.append(listed.extensions["network_stream"].get_extra_info("client_addr")[1])
    assert listed.json()["taxes"] == []
    assert len(set(ports)) == 1, ports  # one connection throughout: never closed by the server
