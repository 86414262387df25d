"""Work that follows an API call runs right after its commit (:mod:`billow.worker.dispatch`; the test app
runs tasks synchronously after the commit, so these tests are deterministic): first and final invoices
of subscriptions, pay-in-advance fees and progressive invoices after event ingestion, drafts finalized
when the grace period is lowered. No billing run is called unless said."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from billow.billing import immediate
from billow.billing.run import bill_due
from billow.models.invoices import Invoice, InvoiceSubscription
from tests.conftest import Api


@pytest.fixture(autouse=True)
def _fresh_hints() -> None:
    immediate.hints.invalidate()


def ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return response.json()


def metric(api: Api, code: str) -> str:
    body = {
        "billable_metric": {"name": code, "code": code, "aggregation_type": "sum_agg", "field_name": "units"}
    }
    return ok(api.post("/billable_metrics", body))["billable_metric"]["lago_id"]


def plan(api: Api, code: str, *, amount_cents: int = 0, pay_in_advance: bool = False, **extra: Any) -> None:
    body = {
        "name": code,
        "code": code,
        "interval": "monthly",
        "amount_cents": amount_cents,
        "amount_currency": "USD",
        "pay_in_advance": pay_in_advance,
        **extra,
    }
    ok(api.post("/plans", {"plan": body}))


def usage_plan(
    api: Api, code: str, metric_id: str, *, in_advance: bool, thresholds: tuple[int, ...] = ()
) -> None:
    charge = {
        "billable_metric_id": metric_id,
        "charge_model": "standard",
        "pay_in_advance": in_advance,
        "properties": {"amount": "2"},
    }
    if in_advance:
        charge["invoiceable"] = True
    extra: dict[str, Any] = {"charges": [charge]}
    if thresholds:
        extra["usage_thresholds"] = [{"amount_cents": amount} for amount in thresholds]
    plan(api, code, **extra)


def customer(api: Api, external_id: str, **billing: Any) -> None:
    body: dict[str, Any] = {"external_id": external_id, "currency": "USD"}
    if billing:
        body["billing_configuration"] = billing
    ok(api.post("/customers", {"customer": body}))


def subscribe(api: Api, customer_id: str, plan_code: str, external_id: str, **extra: Any) -> Any:
    body = {"external_customer_id": customer_id, "plan_code": plan_code, "external_id": external_id, **extra}
    return api.post("/subscriptions", {"subscription": body})


def invoices(api: Api, customer_id: str | None = None) -> list[dict[str, Any]]:
    params = {"external_customer_id": customer_id} if customer_id else {}
    found = ok(api.get("/invoices", params=params))["invoices"]
    return sorted(found, key=lambda invoice: invoice["sequential_id"] or 0)


def event(api: Api, transaction_id: str, subscription: str, code: str, units: int) -> None:
    body = {"transaction_id": transaction_id, "external_subscription_id": subscription, "code": code}
    ok(api.post("/events", {"event": {**body, "properties": {"units": units}}}))


class TestSubscriptions:
    def test_pay_in_advance_subscription_billed_on_creation(self, api: Api, app: FastAPI) -> None:
        plan(api, "adv", amount_cents=3100, pay_in_advance=True)
        ok(subscribe(api, "cus_1", "adv", "sub_1", billing_time="anniversary"))
        [invoice] = invoices(api)
        assert (invoice["invoice_type"], invoice["status"], invoice["fees_amount_cents"]) == (
            "subscription",
            "finalized",
            3100,
        )
        # The billing run finds nothing left to do.
        assert bill_due(app.state.sessionmaker, datetime.now(UTC)).invoices_created == 0

    def test_in_arrears_subscription_bills_nothing_at_creation(self, api: Api, app: FastAPI) -> None:
        plan(api, "arr", amount_cents=3100)
        runs = dict(app.state.dispatcher.runs)
        ok(subscribe(api, "cus_1", "arr", "sub_1"))
        assert invoices(api) == []
        assert app.state.dispatcher.runs == runs  # no task queued

    def test_failed_request_runs_nothing(self, api: Api, app: FastAPI) -> None:
        plan(api, "adv", amount_cents=3100, pay_in_advance=True)
        runs = dict(app.state.dispatcher.runs)
        response = subscribe(api, "cus_1", "adv", "sub_1", billing_time="sometimes")
        assert response.status_code == 422
        assert app.state.dispatcher.runs == runs and invoices(api) == []

    def test_termination_bills_the_final_invoice(self, api: Api) -> None:
        plan(api, "arr", amount_cents=3100)
        ok(subscribe(api, "cus_1", "arr", "sub_1"))
        ok(api.delete("/subscriptions/sub_1"))
        [invoice] = invoices(api)
        assert (invoice["invoice_type"], invoice["status"]) == ("subscription", "finalized")

    def test_termination_with_skip_bills_nothing(self, api: Api) -> None:
        plan(api, "arr", amount_cents=3100)
        ok(subscribe(api, "cus_1", "arr", "sub_1"))
        ok(api.delete("/subscriptions/sub_1", params={"on_termination_invoice": "skip"}))
        assert invoices(api) == []

    def test_upgrade_bills_both_subscriptions(self, api: Api, app: FastAPI) -> None:
        plan(api, "basic", amount_cents=1000, pay_in_advance=True)
        plan(api, "pro", amount_cents=5000, pay_in_advance=True)
        ok(subscribe(api, "cus_1", "basic", "sub_1", billing_time="anniversary"))
        ok(subscribe(api, "cus_1", "pro", "sub_1", billing_time="anniversary"))
        with app.state.sessionmaker() as session:
            reasons = sorted(session.scalars(select(InvoiceSubscription.invoicing_reason)).all())
        # The old subscription's first and final invoices, the new one's first.
        assert reasons == ["subscription_starting", "subscription_starting", "subscription_terminating"]
        assert bill_due(app.state.sessionmaker, datetime.now(UTC)).invoices_created == 0


class TestEvents:
    def test_pay_in_advance_charge_billed_after_ingestion(self, api: Api) -> None:
        units = metric(api, "units")
        usage_plan(api, "usage", units, in_advance=True)
        ok(subscribe(api, "cus_1", "usage", "sub_1"))
        event(api, "t1", "sub_1", "units", 3)
        assert [(i["invoice_type"], i["fees_amount_cents"]) for i in invoices(api)] == [("subscription", 600)]
        body = {
            "events": [
                {
                    "transaction_id": f"b{n}",
                    "external_subscription_id": "sub_1",
                    "code": "units",
                    "properties": {"units": 1},
                }
                for n in range(3)
            ]
        }
        ok(api.post("/events/batch", body))
        assert sorted(i["fees_amount_cents"] for i in invoices(api)) == [200, 200, 200, 600]

    def test_hints_follow_catalog_changes(self, api: Api) -> None:
        units = metric(api, "units")
        usage_plan(api, "arrears", units, in_advance=False)
        ok(subscribe(api, "cus_1", "arrears", "sub_1"))
        event(api, "t1", "sub_1", "units", 3)  # loads the hints: no pay-in-advance charge
        assert immediate.hints.fresh(api.organization.id) is not None
        assert invoices(api) == []
        # A plan with a pay-in-advance charge on the code, created in this process: the hints are dropped.
        usage_plan(api, "advance", units, in_advance=True)
        assert immediate.hints.fresh(api.organization.id) is None
        ok(subscribe(api, "cus_2", "advance", "sub_2"))
        event(api, "t2", "sub_2", "units", 4)
        assert [(i["invoice_type"], i["fees_amount_cents"]) for i in invoices(api, "cus_2")] == [
            ("subscription", 800)
        ]

    def test_events_of_other_codes_queue_nothing(self, api: Api, app: FastAPI) -> None:
        units = metric(api, "units")
        metric(api, "other")
        usage_plan(api, "usage", units, in_advance=True)
        ok(subscribe(api, "cus_1", "usage", "sub_1"))
        runs = dict(app.state.dispatcher.runs)
        event(api, "t1", "sub_1", "other", 3)
        assert app.state.dispatcher.runs == runs

    def test_crossed_threshold_billed_after_ingestion(self, api: Api) -> None:
        units = metric(api, "units")
        usage_plan(api, "usage", units, in_advance=False, thresholds=(1000,))
        ok(subscribe(api, "cus_1", "usage", "sub_1"))
        event(api, "t1", "sub_1", "units", 4)  # 8.00
        assert invoices(api) == []
        event(api, "t2", "sub_1", "units", 2)  # 12.00
        assert [(i["invoice_type"], i["fees_amount_cents"]) for i in invoices(api)] == [
            ("progressive_billing", 1200)
        ]


def _expected_finalization(app: FastAPI, invoice_id: str) -> date | None:
    with app.state.sessionmaker() as session:
        invoice = session.get(Invoice, uuid.UUID(invoice_id))
        assert invoice is not None
        return invoice.expected_finalization_date


class TestGracePeriod:
    def _draft(self, api: Api, customer_id: str, **billing: Any) -> dict[str, Any]:
        plan(api, f"adv_{customer_id}", amount_cents=1000, pay_in_advance=True)
        customer(api, customer_id, **billing)
        ok(
            subscribe(
                api, customer_id, f"adv_{customer_id}", f"sub_{customer_id}", billing_time="anniversary"
            )
        )
        [draft] = invoices(api, customer_id)
        assert draft["status"] == "draft"
        return draft

    def test_customer_grace_lowered(self, api: Api, app: FastAPI) -> None:
        draft = self._draft(api, "cus_1", invoice_grace_period=5)
        today = datetime.now(UTC).date()
        assert _expected_finalization(app, draft["lago_id"]) == today + timedelta(days=5)
        assert draft["issuing_date"] == (today + timedelta(days=5)).isoformat()
        # Lowered but not expired: the draft's dates move, it stays a draft.
        customer(api, "cus_1", invoice_grace_period=2)
        [moved] = invoices(api, "cus_1")
        assert moved["status"] == "draft" and moved["issuing_date"] == (today + timedelta(days=2)).isoformat()
        assert _expected_finalization(app, draft["lago_id"]) == today + timedelta(days=2)
        # Expired: finalized right after the commit.
        customer(api, "cus_1", invoice_grace_period=0)
        [final] = invoices(api, "cus_1")
        assert (final["lago_id"], final["status"], final["issuing_date"]) == (
            draft["lago_id"],
            "finalized",
            today.isoformat(),
        )

    def test_unchanged_grace_runs_nothing(self, api: Api, app: FastAPI) -> None:
        self._draft(api, "cus_1", invoice_grace_period=5)
        runs = dict(app.state.dispatcher.runs)
        customer(api, "cus_1", invoice_grace_period=5)
        assert app.state.dispatcher.runs == runs

    def test_organization_grace_lowered(self, api: Api) -> None:
        ok(
            api.put(
                "/organizations", {"organization": {"billing_configuration": {"invoice_grace_period": 5}}}
            )
        )
        inherits = self._draft(api, "cus_1")
        own = self._draft(api, "cus_2", invoice_grace_period=5)
        ok(
            api.put(
                "/organizations", {"organization": {"billing_configuration": {"invoice_grace_period": 0}}}
            )
        )
        statuses = {i["lago_id"]: i["status"] for i in invoices(api)}
        assert statuses == {inherits["lago_id"]: "finalized", own["lago_id"]: "draft"}
