"""Webhooks of the billing cycle, each with the object as the API renders it: ``subscription.*``,
``invoice.*`` (drafted, created, one_off_created, payment_status_updated, payment_overdue, voided),
``fee.created`` (a pay-in-advance fee without invoice), ``subscription.usage_threshold_reached``. The test
app delivers right after each commit, to a local receiver."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI

from billow.billing import immediate
from billow.invoices.tasks import mark_overdue
from tests.billing.test_immediate import customer, event, invoices, metric, ok, plan, subscribe, usage_plan
from tests.billing.test_one_off import create_add_on, created
from tests.conftest import Api
from tests.fixtures.receiver import Receiver
from tests.webhooks.test_delivery import add_endpoint


@pytest.fixture(autouse=True)
def _fresh_hints() -> None:
    immediate.hints.invalidate()


@pytest.fixture
def receiver(api: Api) -> Iterator[Receiver]:
    found = Receiver().start()
    add_endpoint(api, found.url)
    yield found
    found.stop()


def sent(receiver: Receiver, prefix: str = "") -> list[tuple[str, str]]:
    """``(webhook_type, lago_id of the object)`` of what arrived, in order."""
    out = []
    for received in receiver.received:
        body = received.json
        if body["webhook_type"].startswith(prefix):
            out.append((body["webhook_type"], body[body["object_type"]]["lago_id"]))
    return out


def objects(receiver: Receiver, webhook_type: str) -> list[dict[str, Any]]:
    return [
        r.json[r.json["object_type"]] for r in receiver.received if r.json["webhook_type"] == webhook_type
    ]


class TestSubscriptionCycle:
    def test_start_invoice_payment_void_and_termination(self, api: Api, receiver: Receiver) -> None:
        plan(api, "adv", amount_cents=3100, pay_in_advance=True)
        subscription = ok(subscribe(api, "cus_1", "adv", "sub_1", billing_time="anniversary"))["subscription"]
        [invoice] = invoices(api)
        assert [t for t, _ in sent(receiver)] == [
            "plan.created",
            "customer.created",
            "subscription.started",
            "invoice.created",
        ]
        [started] = objects(receiver, "subscription.started")
        assert started == ok(api.get("/subscriptions/sub_1"))["subscription"]
        assert started["lago_id"] == subscription["lago_id"] and started["plan"]["code"] == "adv"
        [created_invoice] = objects(receiver, "invoice.created")
        # As the API answered at the time (the payload is rendered at its first delivery).
        assert created_invoice == ok(api.get(f"/invoices/{invoice['lago_id']}"))["invoice"]
        assert created_invoice["total_amount_cents"] == 3100 and created_invoice["status"] == "finalized"

        ok(api.put(f"/invoices/{invoice['lago_id']}", {"invoice": {"payment_status": "succeeded"}}))
        [updated] = objects(receiver, "invoice.payment_status_updated")
        assert updated["payment_status"] == "succeeded"
        ok(api.put(f"/invoices/{invoice['lago_id']}", {"invoice": {"payment_status": "succeeded"}}))
        assert len(objects(receiver, "invoice.payment_status_updated")) == 1  # no change, no webhook

        ok(api.post(f"/invoices/{invoice['lago_id']}/void"))
        [voided] = objects(receiver, "invoice.voided")
        assert voided["lago_id"] == invoice["lago_id"] and voided["status"] == "voided"

        ok(api.delete("/subscriptions/sub_1"))
        types = [t for t, _ in sent(receiver)]
        assert types[-2:] in (
            ["subscription.terminated", "invoice.created"],
            ["invoice.created", "subscription.terminated"],
        )
        [terminated] = objects(receiver, "subscription.terminated")
        assert terminated["status"] == "terminated"
        # Every webhook had its own unique key.
        assert len({r.unique_key for r in receiver.received}) == len(receiver.received)

    def test_upgrade_terminates_one_and_starts_the_other(self, api: Api, receiver: Receiver) -> None:
        plan(api, "basic", amount_cents=1000)
        plan(api, "pro", amount_cents=5000)
        old = ok(subscribe(api, "cus_1", "basic", "sub_1"))["subscription"]
        new = ok(subscribe(api, "cus_1", "pro", "sub_1"))["subscription"]
        assert sent(receiver, "subscription.") == [
            ("subscription.started", old["lago_id"]),
            ("subscription.terminated", old["lago_id"]),
            ("subscription.started", new["lago_id"]),
        ]

    def test_a_pending_subscription_starts_later_and_a_canceled_one_says_so(
        self, api: Api, receiver: Receiver
    ) -> None:
        plan(api, "basic", amount_cents=1000)
        later = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
        pending = ok(subscribe(api, "cus_1", "basic", "sub_1", subscription_at=later))["subscription"]
        assert sent(receiver, "subscription.") == []
        ok(api.delete("/subscriptions/sub_1", params={"status": "pending"}))
        assert sent(receiver, "subscription.") == [("subscription.canceled", pending["lago_id"])]

    def test_update_announces_updated(self, api: Api, receiver: Receiver) -> None:
        plan(api, "basic", amount_cents=1000)
        ok(subscribe(api, "cus_1", "basic", "sub_1"))
        ok(api.put("/subscriptions/sub_1", {"subscription": {"name": "Renamed"}}))
        [updated] = objects(receiver, "subscription.updated")
        assert updated["name"] == "Renamed"


class TestInvoices:
    def test_a_draft_is_drafted_then_created_when_finalized(self, api: Api, receiver: Receiver) -> None:
        plan(api, "arr", amount_cents=3100)
        customer(api, "cus_1", invoice_grace_period=3)
        ok(subscribe(api, "cus_1", "arr", "sub_1"))
        ok(api.delete("/subscriptions/sub_1"))
        [draft] = invoices(api)
        assert draft["status"] == "draft"
        assert sent(receiver, "invoice.") == [("invoice.drafted", draft["lago_id"])]
        assert objects(receiver, "invoice.drafted")[0]["status"] == "draft"
        ok(api.put(f"/invoices/{draft['lago_id']}/finalize"))
        assert sent(receiver, "invoice.") == [
            ("invoice.drafted", draft["lago_id"]),
            ("invoice.created", draft["lago_id"]),
        ]
        assert objects(receiver, "invoice.created")[0]["status"] == "finalized"

    def test_one_off_invoice(self, api: Api, receiver: Receiver) -> None:
        customer(api, "cus_1")
        api.put("/customers/cus_1", {})  # nothing
        create_add_on(api, "setup", 1234)
        invoice = created(api, [{"add_on_code": "setup"}], currency="USD")
        assert sent(receiver, "invoice.") == [("invoice.one_off_created", invoice["lago_id"])]

    def test_overdue_scan_announces_each_invoice(self, api: Api, app: FastAPI, receiver: Receiver) -> None:
        plan(api, "adv", amount_cents=3100, pay_in_advance=True)
        ok(subscribe(api, "cus_1", "adv", "sub_1", billing_time="anniversary"))
        [invoice] = invoices(api)
        factory = app.state.dispatcher.session_factory
        assert mark_overdue(factory, datetime.now(UTC) + timedelta(days=400)) == 1
        # The scan's session has no dispatcher: the delivery scan sends it.
        from tests.webhooks.test_delivery import deliver_due

        deliver_due(app)
        assert sent(receiver, "invoice.payment_overdue") == [("invoice.payment_overdue", invoice["lago_id"])]
        assert mark_overdue(factory, datetime.now(UTC) + timedelta(days=400)) == 0


class TestUsage:
    def test_a_pay_in_advance_fee_without_invoice_is_announced(self, api: Api, receiver: Receiver) -> None:
        units = metric(api, "units")
        charge = {
            "billable_metric_id": units,
            "charge_model": "standard",
            "pay_in_advance": True,
            "invoiceable": False,
            "properties": {"amount": "2"},
        }
        plan(api, "usage", charges=[charge])
        ok(subscribe(api, "cus_1", "usage", "sub_1"))
        event(api, "t1", "sub_1", "units", 3)
        [fee] = objects(receiver, "fee.created")
        assert fee["amount_cents"] == 600 and fee["lago_invoice_id"] is None
        assert fee == ok(api.get(f"/fees/{fee['lago_id']}"))["fee"]

    def test_a_usage_threshold_reached(self, api: Api, receiver: Receiver) -> None:
        units = metric(api, "units")
        usage_plan(api, "usage", units, in_advance=False, thresholds=(1000,))
        subscription = ok(subscribe(api, "cus_1", "usage", "sub_1"))["subscription"]
        event(api, "t1", "sub_1", "units", 6)  # 12.00 crosses 10.00
        assert sent(receiver, "subscription.usage_threshold_reached") == [
            ("subscription.usage_threshold_reached", subscription["lago_id"])
        ]
        [invoice] = objects(receiver, "invoice.created")
        assert invoice["invoice_type"] == "progressive_billing"
