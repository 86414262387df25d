"""The OpenAPI document describes every answer: error responses in Lago's shape on every operation,
and response schemas that require only what the responses carry (issue 9, defect 9). The fuzz test
(``tests/fuzz/``) checks generated requests against the same document."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from billow.errors import ErrorOut
from tests.conftest import Api

ERROR_STATUSES = ["400", "401", "404", "405", "413", "422"]


def _document(client: TestClient) -> dict[str, Any]:
    return client.get("/api/v1/openapi.json").json()


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    return document["components"]["schemas"][ref.rsplit("/", 1)[-1]]


def _response_schema(document: dict[str, Any], path: str, method: str, status: str = "200") -> dict[str, Any]:
    response = document["paths"][path][method]["responses"][status]
    return _resolve(document, response["content"]["application/json"]["schema"])


class TestErrorResponses:
    def test_every_api_operation_documents_lagos_error_shape(self, client: TestClient) -> None:
        document = _document(client)
        operations = [
            (path, method, operation)
            for path, methods in document["paths"].items()
            if path.startswith("/api/v1/")
            for method, operation in methods.items()
        ]
        assert len(operations) > 80
        for path, method, operation in operations:
            responses = operation["responses"]
            assert [s for s in ERROR_STATUSES if s not in responses] == [], (method, path)
            for status in ERROR_STATUSES:
                schema = responses[status]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorOut"}, (method, path, status)
        error = document["components"]["schemas"]["ErrorOut"]
        assert error["required"] == ["status", "error"]

    def test_error_bodies_match_the_error_schema(self, api: Api) -> None:
        not_found = api.get("/customers/nobody")
        invalid = api.post("/taxes", json={"tax": {"code": "vat"}})
        unauthorized = api.client.get("/api/v1/taxes")
        for response, status in ((not_found, 404), (invalid, 422), (unauthorized, 401)):
            assert response.status_code == status
            ErrorOut.model_validate(response.json(), strict=True)
            assert set(response.json()) <= set(ErrorOut.model_fields)

    def test_health_documents_its_unavailable_answer(self, client: TestClient) -> None:
        document = _document(client)
        assert _response_schema(document, "/health", "get", "503")["title"] == "HealthOut"
        properties = _response_schema(document, "/health", "get")["properties"]
        assert set(client.get("/health").json()) <= set(properties)


class TestEventIngestionSchema:
    """``POST /events`` answers Lago's event without Billow's diagnostics; the schema says so."""

    EVENT = {"transaction_id": "tr_1", "external_subscription_id": "sub_1", "code": "calls"}

    def test_single_event_response_has_every_required_field(self, api: Api) -> None:
        document = _document(api.client)
        envelope = _response_schema(document, "/api/v1/events", "post")
        event_schema = _resolve(document, envelope["properties"]["event"])
        response = api.post("/events", json={"event": self.EVENT})
        assert response.status_code == 200
        event = response.json()["event"]
        assert set(event_schema["required"]) <= set(event)
        assert set(event) <= set(event_schema["properties"])

    def test_batch_response_has_every_required_field(self, api: Api) -> None:
        document = _document(api.client)
        envelope = _response_schema(document, "/api/v1/events/batch", "post")
        event_schema = _resolve(document, envelope["properties"]["events"]["items"])
        response = api.post("/events/batch", json={"events": [self.EVENT]})
        assert response.status_code == 200
        (event,) = response.json()["events"]
        assert set(event_schema["required"]) <= set(event)
        assert set(event) <= set(event_schema["properties"])

    def test_read_endpoint_documents_and_answers_the_diagnostics(self, api: Api) -> None:
        api.post("/events", json={"event": self.EVENT})
        document = _document(api.client)
        envelope = _response_schema(document, "/api/v1/events/{transaction_id}", "get")
        event_schema = _resolve(document, envelope["properties"]["event"])
        event = api.get("/events/tr_1").json()["event"]
        diagnostics = {"billable_metric_code_matched", "subscription_matched", "not_aggregated_reason"}
        assert diagnostics <= set(event_schema["required"])
        assert set(event_schema["required"]) <= set(event)
