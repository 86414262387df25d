"""GET /activity_logs[/{activity_id}]: Lago's filters, pagination, shape and tenancy."""

from __future__ import annotations

import uuid
from typing import Any

from tests.audit.helpers import activities
from tests.conftest import Api


def make_world(api: Api) -> dict[str, Any]:
    customer = api.post("/customers", json={"customer": {"external_id": "c1"}}).json()["customer"]
    api.post("/customers", json={"customer": {"external_id": "c2"}})
    tax = api.post("/taxes", json={"tax": {"name": "VAT", "code": "vat", "rate": "20"}}).json()["tax"]
    api.put("/taxes/vat", json={"tax": {"name": "TVA"}})
    return {"customer": customer, "tax": tax}


def listed(api: Api, **params: Any) -> list[str]:
    return [log["activity_type"] for log in activities(api, **params)]


class TestList:
    def test_newest_first_with_lago_meta(self, api: Api) -> None:
        make_world(api)
        body = api.get("/activity_logs", params={"per_page": 2}).json()
        assert [log["activity_type"] for log in body["activity_logs"]] == ["tax.updated", "tax.created"]
        # 4 of ours, and the fixture's organization and API key.
        assert body["meta"] == {
            "current_page": 1,
            "next_page": 2,
            "prev_page": None,
            "total_pages": 3,
            "total_count": 6,
        }
        last = api.get("/activity_logs", params={"per_page": 2, "page": 3}).json()
        assert {log["resource_type"] for log in last["activity_logs"]} == {"Organization", "ApiKey"}

    def test_filters(self, api: Api) -> None:
        world = make_world(api)
        assert listed(api, **{"activity_types[]": ["tax.updated", "customer.created"]}) == [
            "customer.created",
            "customer.created",
            "tax.updated",
        ]
        assert listed(api, **{"activity_sources[]": ["api"]}) == [
            "customer.created",
            "customer.created",
            "tax.created",
            "tax.updated",
        ]
        assert listed(api, **{"activity_sources[]": ["front"]}) == []
        assert listed(api, **{"user_emails[]": ["x@example.com"]}) == []
        assert listed(api, external_customer_id="c1") == ["customer.created"]
        assert listed(api, external_subscription_id="s1") == []
        assert listed(api, **{"resource_ids[]": [world["tax"]["lago_id"]]}) == ["tax.created", "tax.updated"]
        assert listed(api, **{"resource_ids[]": ["not-a-uuid"]}) == []
        assert listed(api, **{"resource_types[]": ["Customer"]}) == ["customer.created", "customer.created"]
        assert len(listed(api, from_date="2000-01-01", to_date="2999-12-31")) == 4
        assert listed(api, from_date="2999-01-01") == []
        assert len(listed(api, from_date="not a date")) == 4

    def test_show(self, api: Api) -> None:
        world = make_world(api)
        log = activities(api, **{"activity_types[]": ["tax.updated"]})[0]
        response = api.get(f"/activity_logs/{log['activity_id']}")
        assert response.status_code == 200
        assert response.json() == {"activity_log": log}
        assert log["resource_id"] == world["tax"]["lago_id"]
        assert set(log) == {
            "activity_id",
            "user_email",
            "activity_type",
            "activity_source",
            "activity_object",
            "activity_object_changes",
            "external_customer_id",
            "external_subscription_id",
            "resource_id",
            "resource_type",
            "organization_id",
            "logged_at",
            "created_at",
        }

    def test_unknown_id_is_404(self, api: Api) -> None:
        for activity_id in (str(uuid.uuid4()), "nope"):
            response = api.get(f"/activity_logs/{activity_id}")
            assert response.status_code == 404
            assert response.json() == {"status": 404, "error": "Not Found", "code": "activity_log_not_found"}


class TestTenancy:
    def test_other_organization_never_sees_them(self, api: Api, other_api: Api) -> None:
        make_world(api)
        mine = activities(api)
        assert len(mine) == 4
        assert activities(other_api) == []
        for log in mine:
            assert other_api.get(f"/activity_logs/{log['activity_id']}").status_code == 404
        assert (
            other_api.get("/activity_logs", params={"external_customer_id": "c1"}).json()["activity_logs"]
            == []
        )
