"""Subscriptions with ``plan_overrides``: a child plan of the plan, with the overridden values."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from lago_python_client.models.subscription import SubscriptionResponse
from sqlalchemy import func, select

from billow.billing.run import bill_due
from billow.models.invoices import Fee, Invoice
from billow.models.plans import Charge, Plan
from billow.models.subscriptions import Subscription
from tests.conftest import Api

# These tests subscribe in the past and bill the periods since (off by default, as Lago).
pytestmark = pytest.mark.usefixtures("bill_backdated_periods")


def catalog(api: Api) -> dict[str, Any]:
    """A metric and plan ``pro`` (1000 cents monthly, a standard charge at 2 per unit)."""
    metric = api.post(
        "/billable_metrics",
        {
            "billable_metric": {
                "name": "Calls",
                "code": "calls",
                "aggregation_type": "sum_agg",
                "field_name": "value",
            }
        },
    )
    assert metric.status_code == 200, metric.text
    plan = api.post(
        "/plans",
        {
            "plan": {
                "name": "Pro",
                "code": "pro",
                "interval": "monthly",
                "amount_cents": 1000,
                "amount_currency": "EUR",
                "charges": [
                    {
                        "billable_metric_id": metric.json()["billable_metric"]["lago_id"],
                        "charge_model": "standard",
                        "properties": {"amount": "2"},
                    }
                ],
            }
        },
    )
    assert plan.status_code == 200, plan.text
    return plan.json()["plan"]


def subscribe(api: Api, overrides: dict[str, Any] | None, **fields: Any) -> Any:
    body: dict[str, Any] = {"external_customer_id": "cus_1", "plan_code": "pro", "external_id": "sub_1"}
    if overrides is not None:
        body["plan_overrides"] = overrides
    return api.post("/subscriptions", {"subscription": {**body, **fields}})


def overrides_for(plan: dict[str, Any]) -> dict[str, Any]:
    return {
        "amount_cents": 2500,
        "name": "Pro (custom)",
        "charges": [{"id": plan["charges"][0]["lago_id"], "properties": {"amount": "5"}}],
    }


def counts(app: FastAPI) -> tuple[int, int, int]:
    with app.state.sessionmaker() as session:
        return (
            session.scalar(select(func.count()).select_from(Plan)),
            session.scalar(select(func.count()).select_from(Charge)),
            session.scalar(select(func.count()).select_from(Subscription)),
        )


class TestCreate:
    def test_subscription_shows_the_overridden_plan(self, api: Api) -> None:
        plan = catalog(api)
        response = subscribe(api, overrides_for(plan))
        assert response.status_code == 200, response.text
        subscription = response.json()["subscription"]
        assert subscription["plan_code"] == "pro"
        assert subscription["plan_amount_cents"] == 2500
        child = subscription["plan"]
        assert child["code"] == "pro"
        assert child["name"] == "Pro (custom)"
        assert child["amount_cents"] == 2500
        assert child["parent_id"] == plan["lago_id"]
        assert child["lago_id"] != plan["lago_id"]
        [charge] = child["charges"]
        assert charge["properties"] == {"amount": "5"}
        assert charge["lago_id"] != plan["charges"][0]["lago_id"]
        assert charge["code"] == plan["charges"][0]["code"]
        assert charge["charge_model"] == "standard"
        # The official client reads it.
        parsed = SubscriptionResponse.parse_obj(subscription)
        assert (parsed.plan_code, parsed.lago_id) == ("pro", subscription["lago_id"])

    def test_parent_plan_is_unchanged_and_children_are_not_listed(self, api: Api) -> None:
        plan = catalog(api)
        assert subscribe(api, overrides_for(plan)).status_code == 200
        listed = api.get("/plans").json()
        assert [p["lago_id"] for p in listed["plans"]] == [plan["lago_id"]]
        assert listed["meta"]["total_count"] == 1
        parent = api.get("/plans/pro").json()["plan"]
        assert parent["amount_cents"] == 1000
        assert parent["parent_id"] is None
        assert parent["charges"][0]["properties"] == {"amount": "2"}

    def test_without_overrides_the_plan_itself(self, api: Api) -> None:
        plan = catalog(api)
        subscription = subscribe(api, None).json()["subscription"]
        assert subscription["plan"]["lago_id"] == plan["lago_id"]

    def test_subscription_list_filter_by_plan_code_finds_it(self, api: Api) -> None:
        plan = catalog(api)
        subscribe(api, overrides_for(plan))
        listed = api.get("/subscriptions", params={"plan_code": "pro"}).json()["subscriptions"]
        assert [s["external_id"] for s in listed] == ["sub_1"]

    def test_invalid_override_is_422_and_nothing_written(self, app: FastAPI, api: Api) -> None:
        plan = catalog(api)
        before = counts(app)
        bad = {
            "amount_cents": -1,
            "charges": [{"id": plan["charges"][0]["lago_id"], "properties": {"amount": "abc"}}],
        }
        response = subscribe(api, bad)
        assert response.status_code == 422, response.text
        details = response.json()["error_details"]
        assert details["amount_cents"] == ["value_is_out_of_range"]
        assert "properties" in details or "amount" in details
        assert counts(app) == before
        assert api.get("/customers/cus_1").status_code == 404

    def test_invalid_currency_is_422(self, api: Api) -> None:
        catalog(api)
        response = subscribe(api, {"amount_currency": "XXXX"})
        assert response.status_code == 422
        assert response.json()["error_details"] == {"amount_currency": ["value_is_invalid"]}


class TestPlanChange:
    def test_upgrade_with_overrides_uses_a_child_of_the_new_plan(self, api: Api) -> None:
        catalog(api)
        assert subscribe(api, None).status_code == 200
        body = {"name": "Max", "code": "max", "interval": "monthly", "amount_cents": 5000}
        assert api.post("/plans", {"plan": {**body, "amount_currency": "EUR"}}).status_code == 200
        response = subscribe(api, {"amount_cents": 4000}, plan_code="max")
        assert response.status_code == 200, response.text
        subscription = response.json()["subscription"]
        assert (subscription["plan_code"], subscription["plan_amount_cents"]) == ("max", 4000)
        assert subscription["previous_plan_code"] == "pro"
        assert subscription["plan"]["parent_id"] == api.get("/plans/max").json()["plan"]["lago_id"]


class TestUpdate:
    def test_put_updates_the_child_plan(self, app: FastAPI, api: Api) -> None:
        plan = catalog(api)
        created = subscribe(api, overrides_for(plan)).json()["subscription"]
        child_id = created["plan"]["lago_id"]
        response = api.put(
            "/subscriptions/sub_1",
            {
                "subscription": {
                    "plan_overrides": {
                        "amount_cents": 3000,
                        "charges": [
                            {"id": created["plan"]["charges"][0]["lago_id"], "min_amount_cents": 100}
                        ],
                    }
                }
            },
        )
        assert response.status_code == 200, response.text
        child = response.json()["subscription"]["plan"]
        assert child["lago_id"] == child_id
        assert child["amount_cents"] == 3000
        assert child["name"] == "Pro (custom)"
        [charge] = child["charges"]
        assert charge["properties"] == {"amount": "5"}
        assert charge["min_amount_cents"] == 100
        assert api.get("/plans/pro").json()["plan"]["amount_cents"] == 1000
        with app.state.sessionmaker() as session:
            assert session.scalar(select(func.count()).select_from(Plan)) == 2

    def test_put_without_a_child_creates_one(self, api: Api) -> None:
        plan = catalog(api)
        subscribe(api, None)
        response = api.put(
            "/subscriptions/sub_1",
            {
                "subscription": {
                    "plan_overrides": {
                        "charges": [{"id": plan["charges"][0]["lago_id"], "properties": {"amount": "7"}}]
                    }
                }
            },
        )
        assert response.status_code == 200, response.text
        subscription = response.json()["subscription"]
        assert subscription["plan_code"] == "pro"
        assert subscription["plan"]["parent_id"] == plan["lago_id"]
        assert subscription["plan"]["charges"][0]["properties"] == {"amount": "7"}
        assert api.get("/plans/pro").json()["plan"]["charges"][0]["properties"] == {"amount": "2"}

    def test_invalid_update_is_422_and_nothing_written(self, app: FastAPI, api: Api) -> None:
        plan = catalog(api)
        subscribe(api, overrides_for(plan))
        response = api.put(
            "/subscriptions/sub_1",
            {"subscription": {"name": "Renamed", "plan_overrides": {"amount_cents": -5}}},
        )
        assert response.status_code == 422
        assert response.json()["error_details"] == {"amount_cents": ["value_is_out_of_range"]}
        subscription = api.get("/subscriptions/sub_1").json()["subscription"]
        assert subscription["plan_amount_cents"] == 2500
        assert subscription["name"] in ("", None)


class TestPlanDeletion:
    def test_parent_with_subscriptions_on_a_child_cannot_be_deleted(self, api: Api) -> None:
        plan = catalog(api)
        subscribe(api, overrides_for(plan))
        response = api.delete("/plans/pro")
        assert response.status_code == 405
        assert response.json()["code"] == "plan_has_active_subscriptions"


class TestTenancy:
    def test_other_organization_cannot_use_or_see_it(self, api: Api, other_api: Api) -> None:
        plan = catalog(api)
        subscribe(api, overrides_for(plan))
        assert subscribe(other_api, overrides_for(plan)).status_code == 404
        assert other_api.get("/plans").json()["plans"] == []
        assert other_api.get("/subscriptions/sub_1").status_code == 404

    def test_other_organizations_charge_ids_are_ignored(self, api: Api, other_api: Api) -> None:
        plan = catalog(api)
        catalog(other_api)
        response = subscribe(other_api, overrides_for(plan))
        assert response.status_code == 200, response.text
        # The charge id is not one of other_api's plan: its charge keeps the plan's price.
        assert response.json()["subscription"]["plan"]["charges"][0]["properties"] == {"amount": "2"}


class TestBilling:
    @pytest.mark.parametrize("with_overrides", [True, False])
    def test_invoice_uses_the_overridden_amounts(self, app: FastAPI, api: Api, with_overrides: bool) -> None:
        plan = catalog(api)
        response = subscribe(
            api, overrides_for(plan) if with_overrides else None, subscription_at="2024-01-01T00:00:00Z"
        )
        assert response.status_code == 200, response.text
        event = {
            "transaction_id": "tr_1",
            "external_subscription_id": "sub_1",
            "code": "calls",
            "timestamp": int(datetime(2024, 1, 20, tzinfo=UTC).timestamp()),
            "properties": {"value": 3},
        }
        assert api.post("/events", {"event": event}).status_code == 200
        bill_due(app.state.sessionmaker, datetime(2024, 2, 1, 1, tzinfo=UTC))
        with app.state.sessionmaker() as session:
            [invoice] = session.scalars(
                select(Invoice).where(Invoice.organization_id == api.organization.id)
            ).all()
            fees = session.scalars(select(Fee).where(Fee.invoice_id == invoice.id)).all()
            by_type = {fee.fee_type: fee.amount_cents for fee in fees if fee.invoice_id == invoice.id}
        if with_overrides:
            # 2500 plan fee; 3 units at 5 = 1500.
            assert by_type == {"subscription": 2500, "charge": 1500}
        else:
            assert by_type == {"subscription": 1000, "charge": 600}
