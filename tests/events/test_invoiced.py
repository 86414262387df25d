"""Events stored after the invoice of their period was issued are never billed: their diagnosis says
``period_already_invoiced`` (also a ``GET /events`` filter)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI

from billow.billing.run import bill_due
from tests.conftest import Api

# The subscription starts in January 2024 and its past is billed on purpose.
pytestmark = pytest.mark.usefixtures("bill_backdated_periods")

FEBRUARY = datetime(2024, 2, 1, tzinfo=UTC)


def ts(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


def setup(api: Api, *, grace_period: int = 0) -> None:
    if grace_period:
        body = {"organization": {"billing_configuration": {"invoice_grace_period": grace_period}}}
        assert api.put("/organizations", json=body).status_code == 200
    ids = {}
    for code in ("calls", "seats"):
        metric = {"name": code, "code": code, "aggregation_type": "sum_agg", "field_name": "value"}
        response = api.post("/billable_metrics", json={"billable_metric": metric})
        assert response.status_code == 200, response.text
        ids[code] = response.json()["billable_metric"]["lago_id"]
    plan = {
        "name": "Pro",
        "code": "pro",
        "interval": "monthly",
        "amount_cents": 1000,
        "amount_currency": "USD",
        "charges": [
            {"billable_metric_id": ids["calls"], "charge_model": "standard", "properties": {"amount": "1"}},
            {
                "billable_metric_id": ids["seats"],
                "charge_model": "standard",
                "pay_in_advance": True,
                "invoiceable": False,
                "properties": {"amount": "1"},
            },
        ],
    }
    assert api.post("/plans", json={"plan": plan}).status_code == 200
    subscription = {
        "external_customer_id": "cus_1",
        "plan_code": "pro",
        "external_id": "sub_1",
        "subscription_at": "2024-01-01T00:00:00Z",
    }
    assert (
        api.post("/customers", json={"customer": {"external_id": "cus_1", "currency": "USD"}}).status_code
        == 200
    )
    assert api.post("/subscriptions", json={"subscription": subscription}).status_code == 200


def send(api: Api, transaction_id: str, when: str, code: str = "calls") -> None:
    event = {
        "transaction_id": transaction_id,
        "external_subscription_id": "sub_1",
        "code": code,
        "timestamp": ts(when),
        "properties": {"value": 1},
    }
    assert api.post("/events", json={"event": event}).status_code == 200


def reason(api: Api, transaction_id: str) -> Any:
    return api.get(f"/events/{transaction_id}").json()["event"]["not_aggregated_reason"]


def listed(api: Api, **params: Any) -> list[str]:
    response = api.get("/events", params=params)
    assert response.status_code == 200, response.text
    return [event["transaction_id"] for event in response.json()["events"]]


class TestPeriodAlreadyInvoiced:
    def test_late_events_are_reported_and_filtered(self, app: FastAPI, api: Api, other_api: Api) -> None:
        setup(api)
        send(api, "on_time", "2024-01-10T00:00:00")
        assert bill_due(app.state.sessionmaker, FEBRUARY).invoices_created == 1
        [invoice] = api.get("/invoices").json()["invoices"]
        assert invoice["status"] == "finalized"
        send(api, "late", "2024-01-20T00:00:00")
        send(api, "current", "2024-02-05T00:00:00")
        send(api, "late_in_advance", "2024-01-20T00:00:00", code="seats")  # billed per event
        assert reason(api, "on_time") is None
        assert reason(api, "late") == "period_already_invoiced"
        assert reason(api, "current") is None
        assert reason(api, "late_in_advance") is None
        by_id = {e["transaction_id"]: e["not_aggregated_reason"] for e in api.get("/events").json()["events"]}
        assert by_id == {
            "on_time": None,
            "late": "period_already_invoiced",
            "current": None,
            "late_in_advance": None,
        }
        assert listed(api, not_aggregated_reason="period_already_invoiced") == ["late"]
        assert listed(api, not_aggregated_reason="period_already_invoiced", code="seats") == []
        assert listed(other_api, not_aggregated_reason="period_already_invoiced") == []

    def test_unknown_filter_value(self, api: Api) -> None:
        response = api.get("/events", params={"not_aggregated_reason": "sometimes"})
        assert response.status_code == 422
        assert response.json()["error_details"] == {"not_aggregated_reason": ["value_is_invalid"]}

    def test_a_draft_still_takes_events_until_finalized(self, app: FastAPI, api: Api) -> None:
        setup(api, grace_period=3)
        assert bill_due(app.state.sessionmaker, FEBRUARY).invoices_created == 1
        [invoice] = api.get("/invoices").json()["invoices"]
        assert invoice["status"] == "draft"
        send(api, "during_draft", "2024-01-20T00:00:00")
        assert reason(api, "during_draft") is None
        assert listed(api, not_aggregated_reason="period_already_invoiced") == []
        response = api.put(f"/invoices/{invoice['lago_id']}/finalize")
        assert response.status_code == 200, response.text
        # Finalizing refreshed the draft: the event is billed.
        assert response.json()["invoice"]["fees_amount_cents"] == 1000 + 100
        assert reason(api, "during_draft") is None
        send(api, "after_finalize", "2024-01-21T00:00:00")
        assert reason(api, "after_finalize") == "period_already_invoiced"
        assert listed(api, not_aggregated_reason="period_already_invoiced") == ["after_finalize"]
