"""API logs: one row per mutating /api/v1 request, bodies redacted; none for reads nor event ingestion."""

from __future__ import annotations

from typing import Any

from tests.audit.helpers import api_key_id, api_log_rows
from tests.conftest import Api

TAX = {"name": "VAT", "code": "vat", "rate": "20"}


def api_logs(api: Api, **params: Any) -> list[dict[str, Any]]:
    response = api.get("/api_logs", params=params)
    assert response.status_code == 200, response.text
    return list(response.json()["api_logs"])


class TestRecorded:
    def test_post_is_logged_with_status_and_redacted_body(self, api: Api) -> None:
        body = {
            "tax": TAX,
            "password": "hunter2",
            "webhook_secret": "w",
            "nested": {"secret_key": "s", "my_token": "t", "api_key": "k"},
        }
        response = api.client.post(
            "/api/v1/taxes",
            json=body,
            headers={**api.headers, "X-Request-Id": "req-1", "User-Agent": "lago-python-client/1.55"},
        )
        assert response.status_code == 200
        (log,) = api_logs(api)
        assert log == {
            "request_id": "req-1",
            "api_version": "v1",
            "client": "lago-python-client/1.55",
            "http_method": "post",
            "http_status": 200,
            "request_origin": "http://testserver/",
            "request_path": "/api/v1/taxes",
            "request_body": {
                "tax": TAX,
                "password": "[FILTERED]",
                "webhook_secret": "[FILTERED]",
                "nested": {"secret_key": "[FILTERED]", "my_token": "[FILTERED]", "api_key": "[FILTERED]"},
            },
            "request_response": response.json(),
            "logged_at": log["logged_at"],
            "created_at": log["created_at"],
        }
        (row,) = api_log_rows(api)
        assert str(row.api_key_id) == api_key_id(api)
        assert api.get("/api_logs/req-1").json() == {"api_log": log}

    def test_failed_requests_are_logged_with_their_status(self, api: Api) -> None:
        assert api.post("/taxes", json={"tax": {"name": "VAT"}}).status_code == 422
        assert api.delete("/taxes/nope").status_code == 404
        assert api.post("/taxes", json={"name": "no root"}).status_code == 400
        logs = api_logs(api)
        assert [(log["http_method"], log["http_status"]) for log in logs] == [
            ("post", 400),
            ("delete", 404),
            ("post", 422),
        ]
        assert logs[1]["request_body"] == {}
        assert logs[1]["request_response"] == {"status": 404, "error": "Not Found", "code": "tax_not_found"}

    def test_reads_and_event_ingestion_are_not_logged(self, api: Api) -> None:
        api.post("/taxes", json={"tax": TAX})
        assert api.get("/taxes").status_code == 200
        assert api.get("/taxes/vat").status_code == 200
        event = {"transaction_id": "t1", "external_subscription_id": "s1", "code": "calls"}
        assert api.post("/events", json={"event": event}).status_code == 200
        assert (
            api.post("/events/batch", json={"events": [{**event, "transaction_id": "t2"}]}).status_code == 200
        )
        assert [log["request_path"] for log in api_logs(api)] == ["/api/v1/taxes"]

    def test_unauthenticated_requests_are_not_logged(self, api: Api) -> None:
        response = api.client.post(
            "/api/v1/taxes", json={"tax": TAX}, headers={"Authorization": "Bearer nope"}
        )
        assert response.status_code == 401
        assert api_logs(api) == []

    def test_long_bodies_are_cut(self, api: Api) -> None:
        response = api.post("/taxes", json={"tax": {**TAX, "description": "x" * 1000}, "pad": "y" * 70_000})
        assert response.status_code in (200, 422)
        (log,) = api_logs(api)
        assert log["request_body"]["truncated"] is True
        assert len(log["request_body"]["excerpt"]) == 1024
        assert log["request_body"]["excerpt"].startswith('{"tax"')

    def test_long_bodies_with_secrets_keep_no_excerpt(self, api: Api) -> None:
        body = {"password": "hunter2", "tax": TAX, "pad": "y" * 70_000}
        api.post("/taxes", json=body)
        (log,) = api_logs(api)
        assert log["request_body"] == {"truncated": True}

    def test_a_failure_to_log_never_breaks_the_request(self, api: Api, monkeypatch: Any) -> None:
        from billow.audit import requests

        def broken(*_args: Any) -> Any:
            raise RuntimeError("database gone")

        monkeypatch.setattr(requests, "insert", broken)
        assert api.post("/taxes", json={"tax": TAX}).status_code == 200
        monkeypatch.undo()
        assert api.get("/taxes/vat").status_code == 200
        assert api_logs(api) == []


class TestFilters:
    def test_filters_and_pagination(self, api: Api) -> None:
        for code in ("a", "b", "c"):
            assert api.post("/taxes", json={"tax": {**TAX, "code": code}}).status_code == 200
        assert api.put("/taxes/a", json={"tax": {"name": "A"}}).status_code == 200
        assert api.delete("/taxes/b").status_code == 200
        assert api.delete("/taxes/zz").status_code == 404
        assert [log["request_path"] for log in api_logs(api)] == [
            "/api/v1/taxes/zz",
            "/api/v1/taxes/b",
            "/api/v1/taxes/a",
            "/api/v1/taxes",
            "/api/v1/taxes",
            "/api/v1/taxes",
        ]
        assert len(api_logs(api, **{"http_methods[]": ["delete"]})) == 2
        assert len(api_logs(api, **{"http_methods[]": ["put", "DELETE"]})) == 3
        assert len(api_logs(api, **{"http_statuses[]": ["failed"]})) == 1
        assert len(api_logs(api, **{"http_statuses[]": ["succeeded"]})) == 5
        assert len(api_logs(api, **{"http_statuses[]": ["404", "succeeded"]})) == 6
        assert len(api_logs(api, request_paths="/taxes/a")) == 1
        assert len(api_logs(api, **{"request_paths[]": ["/taxes/b", "/taxes/zz"]})) == 2
        assert len(api_logs(api, api_version="v1")) == 6
        assert api_logs(api, api_version="v2") == []
        assert len(api_logs(api, from_date="2000-01-01", to_date="2999-01-01")) == 6
        assert api_logs(api, to_date="2000-01-01") == []
        page = api.get("/api_logs", params={"per_page": 4, "page": 2}).json()
        assert len(page["api_logs"]) == 2
        assert page["meta"] == {
            "current_page": 2,
            "next_page": None,
            "prev_page": 1,
            "total_pages": 2,
            "total_count": 6,
        }

    def test_unknown_request_id_is_404(self, api: Api) -> None:
        response = api.get("/api_logs/nope")
        assert response.status_code == 404
        assert response.json() == {"status": 404, "error": "Not Found", "code": "api_log_not_found"}


class TestTenancy:
    def test_other_organization_sees_nothing(self, api: Api, other_api: Api) -> None:
        api.client.post("/api/v1/taxes", json={"tax": TAX}, headers={**api.headers, "X-Request-Id": "mine"})
        assert len(api_logs(api)) == 1
        assert api_logs(other_api) == []
        assert other_api.get("/api_logs/mine").status_code == 404
        assert api.get("/api_logs/mine").status_code == 200
