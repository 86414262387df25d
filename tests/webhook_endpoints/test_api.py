from __future__ import annotations

import uuid
from typing import Any

import pytest
from lago_python_client.models.webhook_endpoint import WebhookEndpointResponse
from sqlalchemy import func, select

from billow.errors import ValidationFailed
from billow.models.webhook_endpoints import WEBHOOK_EVENT_TYPES, WebhookEndpoint
from billow.webhook_endpoints.repository import webhook_endpoint_repository
from billow.webhook_endpoints.service import is_http_url, normalize_event_types, webhook_endpoint_service
from tests.conftest import Api

ENDPOINT = {
    "webhook_url": "https://hooks.example.com/lago",
    "signature_algo": "hmac",
    "name": "Main",
    "event_types": ["invoice.created", "customer.created"],
}


def create_endpoint(api: Api, **overrides: Any) -> dict:
    response = api.post("/webhook_endpoints", json={"webhook_endpoint": {**ENDPOINT, **overrides}})
    assert response.status_code == 200, response.text
    return response.json()["webhook_endpoint"]


def count(api: Api) -> int:
    with api.client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
        return session.scalar(select(func.count()).select_from(WebhookEndpoint)) or 0


def errors(response: Any) -> dict:
    assert response.status_code == 422, response.text
    body = response.json()
    assert (
        body["status"] == 422
        and body["error"] == "Unprocessable Entity"
        and body["code"] == "validation_errors"
    )
    return body["error_details"]


class TestCreate:
    def test_returns_lago_body(self, api: Api) -> None:
        endpoint = create_endpoint(api)
        assert endpoint == {
            "lago_id": endpoint["lago_id"],
            "lago_organization_id": str(api.organization.id),
            "webhook_url": "https://hooks.example.com/lago",
            "signature_algo": "hmac",
            "name": "Main",
            "event_types": ["invoice.created", "customer.created"],
            "created_at": endpoint["created_at"],
            "updated_at": endpoint["created_at"],
        }
        assert endpoint["created_at"].endswith("Z") and len(endpoint["created_at"]) == 20
        WebhookEndpointResponse.parse_obj(endpoint)

    def test_defaults(self, api: Api) -> None:
        endpoint = create_endpoint(api, signature_algo=None, name=None, event_types=None)
        assert endpoint["signature_algo"] == "jwt"
        assert endpoint["name"] is None
        assert endpoint["event_types"] is None
        WebhookEndpointResponse.parse_obj(endpoint)

    def test_plain_http_is_accepted(self, api: Api) -> None:
        assert create_endpoint(api, webhook_url="http://localhost:8080/hook")["webhook_url"] == (
            "http://localhost:8080/hook"
        )

    def test_event_types_are_normalized(self, api: Api) -> None:
        endpoint = create_endpoint(
            api, event_types=[" Customer.Created ", "invoice.drafted ", " Invoice.DRAFTED", None, "  ", ""]
        )
        assert endpoint["event_types"] == ["customer.created", "invoice.drafted"]

    def test_star_means_every_type(self, api: Api) -> None:
        assert create_endpoint(api, event_types=["*"])["event_types"] is None

    def test_empty_list_is_kept(self, api: Api) -> None:
        assert create_endpoint(api, event_types=[])["event_types"] == []

    def test_missing_url(self, api: Api) -> None:
        response = api.post("/webhook_endpoints", json={"webhook_endpoint": {"name": "x"}})
        assert errors(response) == {"webhook_url": ["value_is_mandatory", "url_is_invalid"]}
        response = api.post("/webhook_endpoints", json={"webhook_endpoint": {"webhook_url": None}})
        assert errors(response) == {"webhook_url": ["value_is_mandatory", "url_is_invalid"]}
        response = api.post("/webhook_endpoints", json={"webhook_endpoint": {"webhook_url": ""}})
        assert errors(response) == {"webhook_url": ["value_is_mandatory", "url_is_invalid"]}

    @pytest.mark.parametrize(
        "url",
        [
            "foobar",
            "ftp://example.com/x",
            "https://",
            "//example.com/x",
            "https://exa mple.com",
            "http://x:port/",
        ],
    )
    def test_invalid_url(self, api: Api, url: str) -> None:
        response = api.post("/webhook_endpoints", json={"webhook_endpoint": {**ENDPOINT, "webhook_url": url}})
        assert errors(response) == {"webhook_url": ["url_is_invalid"]}

    def test_duplicate_url(self, api: Api) -> None:
        create_endpoint(api)
        response = api.post("/webhook_endpoints", json={"webhook_endpoint": {**ENDPOINT, "name": "again"}})
        assert errors(response) == {"webhook_url": ["value_already_exist"]}
        assert count(api) == 1

    def test_invalid_signature_algo(self, api: Api) -> None:
        response = api.post(
            "/webhook_endpoints", json={"webhook_endpoint": {**ENDPOINT, "signature_algo": "rsa"}}
        )
        assert errors(response) == {"signature_algo": ["value_is_invalid"]}

    def test_event_types_not_a_list(self, api: Api) -> None:
        for value in ("wrong", {"a": 1}, 3):
            response = api.post(
                "/webhook_endpoints", json={"webhook_endpoint": {**ENDPOINT, "event_types": value}}
            )
            assert errors(response) == {"event_types": ["must_be_array"]}

    def test_unknown_event_types(self, api: Api) -> None:
        response = api.post(
            "/webhook_endpoints",
            json={"webhook_endpoint": {**ENDPOINT, "event_types": ["invoice.created", "wrong.type", "Nope"]}},
        )
        assert errors(response) == {"event_types": ['contains invalid types: ["wrong.type", "nope"]']}

    def test_star_with_other_types_is_invalid(self, api: Api) -> None:
        response = api.post(
            "/webhook_endpoints",
            json={"webhook_endpoint": {**ENDPOINT, "event_types": ["*", "customer.created"]}},
        )
        assert errors(response) == {"event_types": ['contains invalid types: ["*"]']}

    def test_every_error_at_once(self, api: Api) -> None:
        response = api.post(
            "/webhook_endpoints",
            json={"webhook_endpoint": {"webhook_url": "nope", "signature_algo": "x", "event_types": "x"}},
        )
        assert errors(response) == {
            "webhook_url": ["url_is_invalid"],
            "signature_algo": ["value_is_invalid"],
            "event_types": ["must_be_array"],
        }
        assert count(api) == 0

    def test_limit_of_ten(self, api: Api) -> None:
        for i in range(10):
            create_endpoint(api, webhook_url=f"https://hooks.example.com/{i}")
        response = api.post(
            "/webhook_endpoints",
            json={"webhook_endpoint": {**ENDPOINT, "webhook_url": "https://hooks.example.com/x"}},
        )
        assert errors(response) == {"base": ["Maximum number of webhook endpoints was reached"]}
        assert count(api) == 10
        # Updates are not creations.
        first = api.get("/webhook_endpoints").json()["webhook_endpoints"][0]
        assert (
            api.put(
                f"/webhook_endpoints/{first['lago_id']}", json={"webhook_endpoint": {"name": "n"}}
            ).status_code
            == 200
        )
        # Deleting one frees a slot.
        assert api.delete(f"/webhook_endpoints/{first['lago_id']}").status_code == 200
        create_endpoint(api, webhook_url="https://hooks.example.com/x")

    def test_too_long(self, api: Api) -> None:
        response = api.post(
            "/webhook_endpoints",
            json={
                "webhook_endpoint": {
                    **ENDPOINT,
                    "webhook_url": "https://e.com/" + "a" * 1020,
                    "name": "n" * 256,
                }
            },
        )
        assert errors(response) == {"webhook_url": ["value_is_too_long"], "name": ["value_is_too_long"]}

    def test_missing_root_key(self, api: Api) -> None:
        response = api.post("/webhook_endpoints", json=ENDPOINT)
        assert response.status_code == 400
        assert response.json() == {
            "status": 400,
            "error": "BadRequest: param is missing or the value is empty or invalid: webhook_endpoint",
        }


class TestRead:
    def test_find(self, api: Api) -> None:
        created = create_endpoint(api)
        response = api.get(f"/webhook_endpoints/{created['lago_id']}")
        assert response.status_code == 200
        assert response.json() == {"webhook_endpoint": created}

    @pytest.mark.parametrize("lago_id", ["00000000-0000-4000-8000-000000000000", "not-a-uuid"])
    def test_unknown(self, api: Api, lago_id: str) -> None:
        response = api.get(f"/webhook_endpoints/{lago_id}")
        assert response.status_code == 404
        assert response.json() == {"status": 404, "error": "Not Found", "code": "webhook_endpoint_not_found"}

    def test_list_is_ordered_by_url_and_paginated(self, api: Api) -> None:
        for path in ("b", "c", "a"):
            create_endpoint(api, webhook_url=f"https://hooks.example.com/{path}")
        body = api.get("/webhook_endpoints", params={"per_page": 2}).json()
        assert [e["webhook_url"] for e in body["webhook_endpoints"]] == [
            "https://hooks.example.com/a",
            "https://hooks.example.com/b",
        ]
        assert body["meta"] == {
            "current_page": 1,
            "next_page": 2,
            "prev_page": None,
            "total_pages": 2,
            "total_count": 3,
        }
        page2 = api.get("/webhook_endpoints", params={"per_page": 2, "page": 2}).json()
        assert [e["webhook_url"] for e in page2["webhook_endpoints"]] == ["https://hooks.example.com/c"]
        for endpoint in body["webhook_endpoints"]:
            WebhookEndpointResponse.parse_obj(endpoint)

    def test_empty_list(self, api: Api) -> None:
        assert api.get("/webhook_endpoints").json() == {
            "webhook_endpoints": [],
            "meta": {
                "current_page": 0,
                "next_page": None,
                "prev_page": None,
                "total_pages": 0,
                "total_count": 0,
            },
        }

    def test_organization_lists_urls_oldest_first(self, api: Api) -> None:
        assert api.get("/organizations").json()["organization"]["webhook_urls"] == []
        create_endpoint(api, webhook_url="https://hooks.example.com/z")
        create_endpoint(api, webhook_url="https://hooks.example.com/a")
        assert api.get("/organizations").json()["organization"]["webhook_urls"] == [
            "https://hooks.example.com/z",
            "https://hooks.example.com/a",
        ]


class TestUpdate:
    def test_partial_update(self, api: Api) -> None:
        created = create_endpoint(api)
        response = api.put(
            f"/webhook_endpoints/{created['lago_id']}",
            json={"webhook_endpoint": {"webhook_url": "https://new.example.com", "signature_algo": "jwt"}},
        )
        assert response.status_code == 200, response.text
        updated = response.json()["webhook_endpoint"]
        assert updated == {
            **created,
            "webhook_url": "https://new.example.com",
            "signature_algo": "jwt",
            "updated_at": updated["updated_at"],
        }
        assert updated["updated_at"] >= created["updated_at"]

    def test_nulls_keep_values(self, api: Api) -> None:
        created = create_endpoint(api)
        response = api.put(
            f"/webhook_endpoints/{created['lago_id']}",
            json={"webhook_endpoint": {"webhook_url": None, "name": None, "event_types": None}},
        )
        assert response.status_code == 200
        assert response.json()["webhook_endpoint"]["event_types"] == created["event_types"]
        assert response.json()["webhook_endpoint"]["name"] == "Main"

    def test_event_types(self, api: Api) -> None:
        created = create_endpoint(api)
        path = f"/webhook_endpoints/{created['lago_id']}"
        response = api.put(path, json={"webhook_endpoint": {"event_types": ["Plan.Created"]}})
        assert response.json()["webhook_endpoint"]["event_types"] == ["plan.created"]
        response = api.put(path, json={"webhook_endpoint": {"event_types": ["*"]}})
        assert response.json()["webhook_endpoint"]["event_types"] is None
        response = api.put(path, json={"webhook_endpoint": {"event_types": "wrong"}})
        assert errors(response) == {"event_types": ["must_be_array"]}
        response = api.put(path, json={"webhook_endpoint": {"event_types": ["wrong.type"]}})
        assert errors(response) == {"event_types": ['contains invalid types: ["wrong.type"]']}
        assert api.get(path).json()["webhook_endpoint"]["event_types"] is None

    def test_invalid_values_change_nothing(self, api: Api) -> None:
        created = create_endpoint(api)
        path = f"/webhook_endpoints/{created['lago_id']}"
        response = api.put(
            path, json={"webhook_endpoint": {"webhook_url": "", "signature_algo": "md5", "name": "x"}}
        )
        assert errors(response) == {
            "webhook_url": ["value_is_mandatory", "url_is_invalid"],
            "signature_algo": ["value_is_invalid"],
        }
        assert api.get(path).json()["webhook_endpoint"] == created

    def test_same_url_is_fine_and_taken_url_is_not(self, api: Api) -> None:
        created = create_endpoint(api)
        other = create_endpoint(api, webhook_url="https://other.example.com")
        path = f"/webhook_endpoints/{created['lago_id']}"
        assert (
            api.put(path, json={"webhook_endpoint": {"webhook_url": ENDPOINT["webhook_url"]}}).status_code
            == 200
        )
        response = api.put(path, json={"webhook_endpoint": {"webhook_url": other["webhook_url"]}})
        assert errors(response) == {"webhook_url": ["value_already_exist"]}

    def test_unknown(self, api: Api) -> None:
        response = api.put(f"/webhook_endpoints/{uuid.uuid4()}", json={"webhook_endpoint": {"name": "x"}})
        assert response.status_code == 404
        assert response.json()["code"] == "webhook_endpoint_not_found"


class TestDelete:
    def test_hard_delete(self, api: Api) -> None:
        created = create_endpoint(api)
        path = f"/webhook_endpoints/{created['lago_id']}"
        response = api.delete(path)
        assert response.status_code == 200
        assert response.json() == {"webhook_endpoint": created}
        assert api.get(path).status_code == 404
        assert api.delete(path).json()["code"] == "webhook_endpoint_not_found"
        assert count(api) == 0
        # The URL can be registered again.
        create_endpoint(api)


class TestTenancy:
    def test_other_organization_sees_nothing(self, api: Api, other_api: Api) -> None:
        created = create_endpoint(api)
        path = f"/webhook_endpoints/{created['lago_id']}"
        assert other_api.get(path).status_code == 404
        assert other_api.get("/webhook_endpoints").json()["webhook_endpoints"] == []
        assert other_api.put(path, json={"webhook_endpoint": {"name": "x"}}).status_code == 404
        assert other_api.delete(path).status_code == 404
        assert other_api.get("/organizations").json()["organization"]["webhook_urls"] == []
        # The same URL is free in the other organization, and limits are per organization.
        assert other_api.post("/webhook_endpoints", json={"webhook_endpoint": ENDPOINT}).status_code == 200
        assert api.get(path).json()["webhook_endpoint"]["name"] == "Main"


class TestEnsureUrl:
    def test_creates_once(self, api: Api) -> None:
        sessionmaker = api.client.app.state.sessionmaker  # type: ignore[attr-defined]
        with sessionmaker.begin() as session:
            first = webhook_endpoint_service.ensure_url(session, api.organization, "https://a.example.com")
            assert first.signature_algo == "jwt" and first.event_types is None
        with sessionmaker.begin() as session:
            again = webhook_endpoint_service.ensure_url(session, api.organization, "https://a.example.com")
            assert again.id == first.id
            webhook_endpoint_service.ensure_url(session, api.organization, "https://b.example.com")
        with sessionmaker() as session:
            assert webhook_endpoint_repository.urls(session, api.organization.id) == [
                "https://a.example.com",
                "https://b.example.com",
            ]

    def test_validates(self, api: Api) -> None:
        sessionmaker = api.client.app.state.sessionmaker  # type: ignore[attr-defined]
        with sessionmaker() as session:
            with pytest.raises(ValidationFailed) as error:
                webhook_endpoint_service.ensure_url(session, api.organization, "not a url")
            assert error.value.error_details == {"webhook_url": ["url_is_invalid"]}
            session.rollback()
        assert count(api) == 0


class TestHelpers:
    def test_event_types_cover_lago_reference(self) -> None:
        assert len(WEBHOOK_EVENT_TYPES) == 75
        assert {
            "invoice.created",
            "subscription.usage_threshold_reached",
            "events.errors",
        } <= WEBHOOK_EVENT_TYPES

    def test_normalize(self) -> None:
        assert normalize_event_types(None) == (None, "must_be_array")
        assert normalize_event_types([]) == ([], None)
        assert normalize_event_types([" *"]) == (None, None)

    @pytest.mark.parametrize(
        ("url", "valid"),
        [
            ("https://example.com", True),
            ("HTTPS://EXAMPLE.COM/a?b=c#d", True),
            ("http://127.0.0.1:3000", True),
            ("https://user:pw@example.com/x", True),
            ("mailto:a@example.com", False),
            ("https://example.com/<script>", False),
            ("https://example.com:99999", False),
            (None, False),
        ],
    )
    def test_is_http_url(self, url: str | None, valid: bool) -> None:
        assert is_http_url(url) is valid
