"""``plan.*`` and ``billable_metric.*`` webhooks: the object as the API renders it (``GET``, or the
``DELETE`` answer for a deleted one), once per change, nothing for a refused request or an organization
without endpoints."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from tests.conftest import Api
from tests.fixtures.receiver import Receiver
from tests.webhooks.hooks import hooks, of_type, outbox_counts, the_one

__all__ = ["hooks"]


def metric(api: Api, code: str = "api_calls", **fields: Any) -> dict[str, Any]:
    body = {"name": "API calls", "code": code, "aggregation_type": "count_agg", **fields}
    response = api.post("/billable_metrics", {"billable_metric": body})
    assert response.status_code == 200, response.text
    return dict(response.json()["billable_metric"])


def plan(api: Api, code: str = "pro", **fields: Any) -> dict[str, Any]:
    body = {
        "name": "Pro",
        "code": code,
        "interval": "monthly",
        "amount_cents": 1000,
        "amount_currency": "EUR",
        **fields,
    }
    response = api.post("/plans", {"plan": body})
    assert response.status_code == 200, response.text
    return dict(response.json()["plan"])


class TestPlans:
    def test_created_updated_deleted(self, api: Api, hooks: Receiver) -> None:
        bm = metric(api)
        created = plan(
            api,
            charges=[
                {
                    "billable_metric_id": bm["lago_id"],
                    "charge_model": "standard",
                    "properties": {"amount": "2"},
                }
            ],
        )
        assert the_one(hooks, api, "plan.created", "plan") == api.get("/plans/pro").json()["plan"] == created
        assert created["charges"][0]["properties"] == {"amount": "2"}

        response = api.put("/plans/pro", {"plan": {"name": "Pro 2"}})
        assert response.status_code == 200, response.text
        updated = the_one(hooks, api, "plan.updated", "plan")
        assert updated == api.get("/plans/pro").json()["plan"]
        assert updated["name"] == "Pro 2"

        response = api.delete("/plans/pro")
        assert response.status_code == 200, response.text
        deleted = the_one(hooks, api, "plan.deleted", "plan")
        # The deleted plan, as the DELETE answered it (GET is now a 404).
        assert deleted == response.json()["plan"]
        assert deleted["lago_id"] == created["lago_id"]
        assert api.get("/plans/pro").status_code == 404
        assert hooks.types() == ["billable_metric.created", "plan.created", "plan.updated", "plan.deleted"]

    def test_an_update_that_changes_nothing_still_announces(self, api: Api, hooks: Receiver) -> None:
        plan(api)
        assert api.put("/plans/pro", {"plan": {}}).status_code == 200
        assert len(of_type(hooks, "plan.updated")) == 1

    def test_refused_requests_announce_nothing(self, api: Api, app: FastAPI, hooks: Receiver) -> None:
        assert api.post("/plans", {"plan": {"code": "pro"}}).status_code == 422
        plan(api)
        assert api.put("/plans/pro", {"plan": {"amount_currency": "XXX1"}}).status_code == 422
        assert hooks.types() == ["plan.created"]
        assert outbox_counts(app) == (1, 1)

    def test_a_subscription_override_plan_is_not_announced(self, api: Api, hooks: Receiver) -> None:
        plan(api)
        assert api.post("/customers", {"customer": {"external_id": "cus_1"}}).status_code == 200
        body = {
            "external_customer_id": "cus_1",
            "external_id": "sub_1",
            "plan_code": "pro",
            "plan_overrides": {"amount_cents": 500},
        }
        response = api.post("/subscriptions", {"subscription": body})
        assert response.status_code == 200, response.text
        [announced] = of_type(hooks, "plan.created")  # the plan, not the subscription's child plan
        assert announced["plan"]["amount_cents"] == 1000

    def test_no_endpoint_writes_nothing(self, api: Api, app: FastAPI) -> None:
        plan(api)
        api.put("/plans/pro", {"plan": {"name": "Other"}})
        api.delete("/plans/pro")
        assert outbox_counts(app) == (0, 0)

    def test_another_organizations_endpoint_hears_nothing(
        self, api: Api, other_api: Api, app: FastAPI
    ) -> None:
        receiver = Receiver().start()
        try:
            body = {"webhook_endpoint": {"webhook_url": receiver.url, "signature_algo": "hmac"}}
            assert other_api.post("/webhook_endpoints", body).status_code == 200
            plan(api)
            metric(api)
            assert receiver.received == [] and outbox_counts(app) == (0, 0)
        finally:
            receiver.stop()


class TestBillableMetrics:
    def test_created_updated_deleted(self, api: Api, hooks: Receiver) -> None:
        created = metric(api, filters=[{"key": "region", "values": ["eu", "us"]}])
        shown = api.get("/billable_metrics/api_calls").json()["billable_metric"]
        assert the_one(hooks, api, "billable_metric.created", "billable_metric") == shown == created
        assert shown["filters"] == [{"key": "region", "values": ["eu", "us"]}]

        response = api.put("/billable_metrics/api_calls", {"billable_metric": {"name": "Calls"}})
        assert response.status_code == 200, response.text
        updated = the_one(hooks, api, "billable_metric.updated", "billable_metric")
        assert updated == api.get("/billable_metrics/api_calls").json()["billable_metric"]
        assert updated["name"] == "Calls"

        response = api.delete("/billable_metrics/api_calls")
        assert response.status_code == 200, response.text
        deleted = the_one(hooks, api, "billable_metric.deleted", "billable_metric")
        assert deleted == response.json()["billable_metric"]
        assert deleted["lago_id"] == created["lago_id"]
        assert hooks.types() == [
            "billable_metric.created",
            "billable_metric.updated",
            "billable_metric.deleted",
        ]

    def test_refused_requests_announce_nothing(self, api: Api, app: FastAPI, hooks: Receiver) -> None:
        response = api.post(
            "/billable_metrics", {"billable_metric": {"code": "x", "aggregation_type": "nope"}}
        )
        assert response.status_code == 422
        metric(api)
        bad = api.put("/billable_metrics/api_calls", {"billable_metric": {"aggregation_type": "nope"}})
        assert bad.status_code == 422
        # A metric charged by a plan cannot be deleted (405): nothing announced either.
        plan(
            api,
            charges=[
                {
                    "billable_metric_id": api.get("/billable_metrics/api_calls").json()["billable_metric"][
                        "lago_id"
                    ],
                    "charge_model": "standard",
                    "properties": {"amount": "1"},
                }
            ],
        )
        assert api.delete("/billable_metrics/api_calls").status_code == 405
        assert hooks.types() == ["billable_metric.created", "plan.created"]
        assert outbox_counts(app) == (2, 2)

    def test_no_endpoint_writes_nothing(self, api: Api, app: FastAPI) -> None:
        metric(api)
        api.put("/billable_metrics/api_calls", {"billable_metric": {"name": "Calls"}})
        api.delete("/billable_metrics/api_calls")
        assert outbox_counts(app) == (0, 0)
