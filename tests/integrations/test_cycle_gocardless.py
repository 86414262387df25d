"""A whole payment cycle through GoCardless (its stand-in), through the API: customer created and synced, a
mandate signed through the Billing Request Flow (``checkout_url``) and made active by its ``mandates``
event, a finalized invoice collected against it (a Direct Debit: pending until GoCardless confirms it),
then the ``payments`` ``confirmed`` event pays the invoice, once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI

from tests.conftest import Api
from tests.fixtures.receiver import Receiver
from tests.fixtures.standins.gocardless import FakeGoCardless
from tests.integrations.payment_cycle import (
    CUSTOMER,
    PAID_SEQUENCE,
    assert_paid,
    configure,
    invoice,
    one_off,
    paid_webhooks,
    payment_job,
    post_webhook,
    receiver,
    state,
    synced_customer,
)
from tests.integrations.test_jobs import job, run_due_later
from tests.webhooks.test_billing_webhooks import objects

__all__ = ["receiver"]

CODE = "gocardless_eu"


@pytest.fixture
def gc_api() -> Iterator[FakeGoCardless]:
    with FakeGoCardless() as standin:
        yield standin


def setup(api: Api, gc_api: FakeGoCardless) -> str:
    configure(
        api,
        "gocardless",
        CODE,
        gc_api.url,
        {"access_token": gc_api.access_token, "webhook_secret": gc_api.webhook_secret},
        {"environment": "sandbox"},
    )
    customer = synced_customer(api, "gocardless", CODE)
    gc_id = str(customer["billing_configuration"]["provider_customer_id"])
    at_gc = gc_api.customers[gc_id]
    assert (at_gc["email"], at_gc["given_name"], at_gc["family_name"]) == (
        "ada@example.com",
        "Ada",
        "Lovelace",
    )
    return gc_id


def deliver(api: Api, gc_api: FakeGoCardless, *events: dict[str, Any]) -> Any:
    headers, body = gc_api.signed_webhook(list(events))
    return post_webhook(api, "gocardless", CODE, headers, body), headers, body


def mandate_through_checkout(api: Api, gc_api: FakeGoCardless, gc_id: str) -> str:
    """The customer signs a mandate on GoCardless's flow; GoCardless announces it active."""
    answer = api.post(f"/customers/{CUSTOMER}/checkout_url")
    assert answer.status_code == 200, answer.text
    [flow] = gc_api.flows.values()
    assert answer.json()["customer"]["checkout_url"] == flow["authorisation_url"]
    [billing_request] = gc_api.billing_requests.values()
    assert billing_request["links"]["customer"] == gc_id
    done = gc_api.complete_billing_request(billing_request["id"])
    mandate_id = str(done["links"]["mandate_request_mandate"])
    gc_api.mandates[mandate_id]["status"] = "active"
    delivered, _, _ = deliver(api, gc_api, gc_api.event("mandates", "active", {"mandate": mandate_id}))
    assert (delivered.status_code, delivered.json()) == (200, {"applied": 1})
    return mandate_id


def payment_event(gc_api: FakeGoCardless, payment_id: str, action: str, **details: Any) -> dict[str, Any]:
    gc_api.set_payment_status(payment_id, action)
    return gc_api.event("payments", action, {"payment": payment_id}, **details)


class TestCycle:
    def test_mandate_invoice_payment_confirmed(
        self, api: Api, gc_api: FakeGoCardless, receiver: Receiver
    ) -> None:
        gc_id = setup(api, gc_api)
        mandate_id = mandate_through_checkout(api, gc_api, gc_id)
        methods = api.get(f"/customers/{CUSTOMER}/payment_methods")
        assert methods.status_code == 200, methods.text
        [mandate] = methods.json()["payment_methods"]
        assert (mandate["provider_method_id"], mandate["method_type"]) == (mandate_id, "bacs_debit")

        bill = one_off(api, 4599)
        [done] = payment_job(api, CODE, bill["lago_id"])
        assert (done["status"], done["attempts_count"]) == ("succeeded", 1), done
        [payment] = gc_api.payments.values()
        assert (payment["amount"], payment["currency"]) == (4599, "EUR")
        assert payment["links"]["mandate"] == mandate_id
        [created] = gc_api.calls("POST", "/payments")
        assert created.headers["idempotency-key"] == done["idempotency_key"]
        assert bill["lago_id"] in str(payment["metadata"])
        assert str(api.organization.id) in str(payment["metadata"])
        waiting = invoice(api, bill["lago_id"])
        assert (waiting["payment_status"], waiting["total_paid_amount_cents"]) == ("pending", 0)
        assert api.get("/payment_receipts").json()["payment_receipts"] == []

        submitted, _, _ = deliver(api, gc_api, payment_event(gc_api, payment["id"], "submitted"))
        assert submitted.status_code == 200, submitted.text
        answer, headers, body = deliver(api, gc_api, payment_event(gc_api, payment["id"], "confirmed"))
        assert (answer.status_code, answer.json()) == (200, {"applied": 1})
        assert_paid(api, bill["lago_id"], 4599, payment["id"])
        assert paid_webhooks(receiver, bill["lago_id"])[-3:] == PAID_SEQUENCE

        before, received = state(api, bill["lago_id"]), len(receiver.received)
        replay = post_webhook(api, "gocardless", CODE, headers, body)
        assert (replay.status_code, replay.json()) == (200, {"applied": 0})
        # paid_out later: the same payment, already succeeded.
        late, _, _ = deliver(api, gc_api, payment_event(gc_api, payment["id"], "paid_out"))
        assert late.status_code == 200, late.text
        assert state(api, bill["lago_id"]) == before
        assert len(receiver.received) == received


class TestFailures:
    def test_a_500_is_retried_and_pays_once(self, app: FastAPI, api: Api, gc_api: FakeGoCardless) -> None:
        gc_id = setup(api, gc_api)
        gc_api.add_mandate(gc_id)
        gc_api.fail_next(1, status=500)
        bill = one_off(api, 2500)
        [waiting] = payment_job(api, CODE, bill["lago_id"])
        assert (waiting["status"], waiting["attempts_count"]) == ("pending", 1), waiting
        assert api.get("/payments").json()["payments"] == []
        run_due_later(app)
        assert job(api, waiting["lago_id"])["status"] == "succeeded"
        [payment] = gc_api.payments.values()
        deliver(api, gc_api, payment_event(gc_api, payment["id"], "confirmed"))
        assert_paid(api, bill["lago_id"], 2500, payment["id"])

    def test_a_failed_debit_then_a_new_mandate_and_retry(
        self, api: Api, gc_api: FakeGoCardless, receiver: Receiver
    ) -> None:
        gc_id = setup(api, gc_api)
        old = gc_api.add_mandate(gc_id)
        bill = one_off(api, 1900)
        [first] = gc_api.payments.values()
        event = payment_event(gc_api, first["id"], "failed", cause="insufficient_funds")
        answer, _, _ = deliver(api, gc_api, event)
        assert answer.json() == {"applied": 1}
        failed = invoice(api, bill["lago_id"])
        assert (failed["payment_status"], failed["total_paid_amount_cents"]) == ("failed", 0)
        [failure] = objects(receiver, "invoice.payment_failure")
        assert failure["lago_invoice_id"] == bill["lago_id"]

        gc_api.mandates[old["id"]]["status"] = "cancelled"
        mandate_id = mandate_through_checkout(api, gc_api, gc_id)
        retried = api.post(f"/invoices/{bill['lago_id']}/retry_payment")
        assert retried.status_code == 200, retried.text
        [second] = [p for p in gc_api.payments.values() if p["id"] != first["id"]]
        assert second["links"]["mandate"] == mandate_id
        deliver(api, gc_api, payment_event(gc_api, second["id"], "confirmed"))
        shown = invoice(api, bill["lago_id"])
        assert (shown["payment_status"], shown["total_paid_amount_cents"]) == ("succeeded", 1900)
        [receipt] = api.get("/payment_receipts").json()["payment_receipts"]
        assert receipt["payment"]["provider_payment_id"] == second["id"]

    def test_a_forged_webhook_is_refused_and_changes_nothing(
        self, api: Api, gc_api: FakeGoCardless, receiver: Receiver
    ) -> None:
        gc_id = setup(api, gc_api)
        gc_api.add_mandate(gc_id)
        bill = one_off(api, 2000)
        [payment] = gc_api.payments.values()
        before, received = state(api, bill["lago_id"]), len(receiver.received)
        headers, body = gc_api.signed_webhook([payment_event(gc_api, payment["id"], "confirmed")])
        forged = post_webhook(api, "gocardless", CODE, {**headers, "webhook-signature": "0" * 64}, body)
        assert forged.status_code == 400, forged.text
        assert state(api, bill["lago_id"]) == before and len(receiver.received) == received
        assert post_webhook(api, "gocardless", CODE, headers, body).json() == {"applied": 1}


class TestRefund:
    def test_a_credit_note_refunds_the_payment(self, api: Api, gc_api: FakeGoCardless) -> None:
        gc_id = setup(api, gc_api)
        gc_api.add_mandate(gc_id)
        bill = one_off(api, 5000)
        [payment] = gc_api.payments.values()
        deliver(api, gc_api, payment_event(gc_api, payment["id"], "confirmed"))
        fee = invoice(api, bill["lago_id"])["fees"][0]["lago_id"]
        note = {
            "invoice_id": bill["lago_id"],
            "reason": "other",
            "refund_amount_cents": 1250,
            "credit_amount_cents": 0,
            "items": [{"fee_id": fee, "amount_cents": 1250}],
        }
        created = api.post("/credit_notes", {"credit_note": note})
        assert created.status_code == 200, created.text
        note_id = created.json()["credit_note"]["lago_id"]
        shown = api.get(f"/credit_notes/{note_id}").json()["credit_note"]
        assert shown["refund_status"] == "pending"  # GoCardless answers a refund ``created``: pending
        [refund] = gc_api.refunds.values()
        assert (refund["amount"], refund["links"]["payment"]) == (1250, payment["id"])
