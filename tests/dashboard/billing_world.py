"""A small billing world made through the API, for the dashboard's customer-side pages: a metric
``tokens`` (sum of ``properties.tokens``), a plan ``pro`` (49.00 EUR a month, 1.00 EUR per token), a
customer ``acme-1`` subscribed on 2024-03-01 (subscription ``sub-1``), the request clock at
2024-03-10T12:00:00Z."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from billow.subscriptions.dependencies import request_time
from tests.conftest import Api

NOW = "2024-03-10T12:00:00Z"


class BillingWorld:
    def __init__(self, app: FastAPI, api: Api):
        self.app = app
        self.api = api
        self.set_now(NOW)

    def set_now(self, value: str) -> None:
        from datetime import UTC, datetime

        instant = datetime.fromisoformat(value).astimezone(UTC)
        self.app.dependency_overrides[request_time] = lambda: instant

    def ok(self, response: Any) -> dict[str, Any]:
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def metric(self, code: str = "tokens", **overrides: Any) -> dict[str, Any]:
        body = {
            "name": code.capitalize(),
            "code": code,
            "aggregation_type": "sum_agg",
            "field_name": "tokens",
        }
        body.update(overrides)
        return self.ok(self.api.post("/billable_metrics", json={"billable_metric": body}))["billable_metric"]

    def plan(
        self,
        code: str = "pro",
        amount_cents: int = 4900,
        metrics: list[dict[str, Any]] | None = None,
        price: str = "1",
    ) -> dict[str, Any]:
        charges = [
            {"billable_metric_id": m["lago_id"], "charge_model": "standard", "properties": {"amount": price}}
            for m in metrics or []
        ]
        plan = {
            "name": code.capitalize(),
            "code": code,
            "interval": "monthly",
            "amount_cents": amount_cents,
            "amount_currency": "EUR",
            "charges": charges,
        }
        return self.ok(self.api.post("/plans", json={"plan": plan}))["plan"]

    def customer(self, external_id: str = "acme-1", **fields: Any) -> dict[str, Any]:
        body = {"external_id": external_id, "name": "Acme Corp", "currency": "EUR", **fields}
        return self.ok(self.api.post("/customers", json={"customer": body}))["customer"]

    def subscribe(
        self,
        customer: str = "acme-1",
        plan: str = "pro",
        external_id: str = "sub-1",
        subscription_at: str = "2024-03-01T00:00:00Z",
    ) -> dict[str, Any]:
        body = {
            "external_customer_id": customer,
            "plan_code": plan,
            "external_id": external_id,
            "billing_time": "calendar",
            "subscription_at": subscription_at,
        }
        return self.ok(self.api.post("/subscriptions", json={"subscription": body}))["subscription"]

    def event(
        self,
        transaction_id: str,
        timestamp: str,
        code: str = "tokens",
        subscription: str = "sub-1",
        **properties: Any,
    ) -> dict[str, Any]:
        body = {
            "transaction_id": transaction_id,
            "external_subscription_id": subscription,
            "code": code,
            "timestamp": timestamp,
            "properties": properties,
        }
        return self.ok(self.api.post("/events", json={"event": body}))["event"]

    def standard(self) -> dict[str, Any]:
        """Metric, plan, customer, subscription; 1,000 tokens on March 2nd and 250 on March 5th."""
        metric = self.metric()
        self.plan(metrics=[metric])
        customer = self.customer()
        subscription = self.subscribe()
        self.event("t1", "2024-03-02T10:00:00Z", tokens=1000)
        self.event("t2", "2024-03-05T10:00:00Z", tokens=250)
        return {"metric": metric, "customer": customer, "subscription": subscription}

    def one_off_invoice(self, customer: str = "acme-1", amount_cents: int = 10000) -> dict[str, Any]:
        """A finalized one-off invoice of one add-on fee (``setup``)."""
        add_on = {"name": "Setup", "code": "setup", "amount_cents": amount_cents, "amount_currency": "EUR"}
        if self.api.get("/add_ons/setup").status_code != 200:
            self.ok(self.api.post("/add_ons", json={"add_on": add_on}))
        body = {
            "external_customer_id": customer,
            "currency": "EUR",
            "fees": [{"add_on_code": "setup", "unit_amount_cents": amount_cents}],
        }
        return self.ok(self.api.post("/invoices", json={"invoice": body}))["invoice"]

    def credit_note(self, invoice: dict[str, Any], amount_cents: int) -> dict[str, Any]:
        [fee] = invoice["fees"]
        body = {
            "invoice_id": invoice["lago_id"],
            "reason": "other",
            "credit_amount_cents": amount_cents,
            "items": [{"fee_id": fee["lago_id"], "amount_cents": amount_cents}],
        }
        return self.ok(self.api.post("/credit_notes", json={"credit_note": body}))["credit_note"]
