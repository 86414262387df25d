"""A whole payment cycle through Stripe (its stand-in), through the API: integration configured, customer
created and synced, a card saved through Checkout (setup mode) and its webhooks, a pay-in-advance
subscription's invoice finalized and collected off-session, Stripe's signed webhooks applied once, the
company's webhooks in order; then the failure paths (a 500, a declined card, a forged signature) and a
refund through a credit note."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI

from tests.billing.test_immediate import ok, plan, subscribe
from tests.conftest import Api
from tests.fixtures.receiver import Receiver
from tests.fixtures.standins.stripe import API_KEY, WEBHOOK_SECRET, FakeStripe
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
from tests.webhooks.test_billing_webhooks import objects, sent

__all__ = ["receiver"]  # the fixture, used by the tests below

CODE = "stripe_eu"


@pytest.fixture
def stripe_api() -> Iterator[FakeStripe]:
    with FakeStripe() as standin:
        yield standin


def setup(api: Api, stripe_api: FakeStripe) -> str:
    """The integration and a synced customer; Stripe's customer id."""
    configure(api, "stripe", CODE, stripe_api.url, {"secret_key": API_KEY, "webhook_secret": WEBHOOK_SECRET})
    customer = synced_customer(api, "stripe", CODE)
    stripe_id = str(customer["billing_configuration"]["provider_customer_id"])
    at_stripe = stripe_api.customers[stripe_id]
    assert (at_stripe["email"], at_stripe["name"]) == ("ada@example.com", "Ada Lovelace")
    assert at_stripe["metadata"]["billow_customer_id"] == customer["lago_id"]
    return stripe_id


def deliver(api: Api, stripe_api: FakeStripe, event: dict[str, Any]) -> Any:
    headers, body = stripe_api.sign(event)
    return post_webhook(api, "stripe", CODE, headers, body)


def events_of(stripe_api: FakeStripe, event_type: str) -> list[dict[str, Any]]:
    return [event for event in stripe_api.events if event["type"] == event_type]


class TestCycle:
    def test_customer_card_invoice_payment_webhooks(
        self, api: Api, stripe_api: FakeStripe, receiver: Receiver
    ) -> None:
        stripe_id = setup(api, stripe_api)
        # The customer saves a card on Stripe's hosted page (Checkout, setup mode).
        answer = api.post(f"/customers/{CUSTOMER}/checkout_url")
        assert answer.status_code == 200, answer.text
        url = answer.json()["customer"]["checkout_url"]
        [session_id] = stripe_api.sessions
        assert url == stripe_api.sessions[session_id]["url"]
        stripe_api.complete_checkout(session_id)
        for event_type in ("setup_intent.succeeded", "checkout.session.completed"):
            [event] = events_of(stripe_api, event_type)
            delivered = deliver(api, stripe_api, event)
            assert delivered.status_code == 200, delivered.text
        methods = api.get(f"/customers/{CUSTOMER}/payment_methods")
        assert methods.status_code == 200, methods.text
        [card] = methods.json()["payment_methods"]
        assert (card["method_type"], card["details"]["last4"]) == ("card", "4242")

        # A pay-in-advance plan: the subscription's invoice is finalized and collected.
        plan(api, "adv", amount_cents=3100, pay_in_advance=True, amount_currency="EUR")
        ok(subscribe(api, CUSTOMER, "adv", "sub_1", billing_time="anniversary"))
        [bill] = api.get("/invoices").json()["invoices"]
        assert (bill["status"], bill["total_amount_cents"]) == ("finalized", 3100)
        [done] = payment_job(api, CODE, bill["lago_id"])
        assert (done["status"], done["attempts_count"]) == ("succeeded", 1), done
        [intent] = stripe_api.payment_intents.values()
        assert (intent["amount"], intent["currency"], intent["customer"]) == (3100, "eur", stripe_id)
        assert intent["status"] == "succeeded"
        [created] = stripe_api.calls("POST", "/v1/payment_intents")
        assert created.headers["idempotency-key"] == done["idempotency_key"]
        metadata = intent["metadata"]
        assert bill["lago_id"] in metadata.values()
        assert str(api.organization.id) in metadata.values()
        payment = assert_paid(api, bill["lago_id"], 3100, intent["id"])
        assert (payment["payment_provider_code"], payment["payment_provider_type"]) == (CODE, "stripe")
        assert paid_webhooks(receiver, bill["lago_id"]) == ["invoice.created", *PAID_SEQUENCE]
        [updated] = objects(receiver, "invoice.payment_status_updated")
        assert (updated["payment_status"], updated["total_paid_amount_cents"]) == ("succeeded", 3100)

        # Stripe's webhook of the same payment: nothing more happens, twice.
        before, received = state(api, bill["lago_id"]), len(receiver.received)
        [succeeded] = events_of(stripe_api, "payment_intent.succeeded")
        for _ in range(2):
            delivered = deliver(api, stripe_api, succeeded)
            assert delivered.status_code == 200, delivered.text
        assert state(api, bill["lago_id"]) == before
        assert len(receiver.received) == received

    def test_a_payment_paid_by_the_webhook(
        self, api: Api, stripe_api: FakeStripe, receiver: Receiver
    ) -> None:
        """3-D Secure: the intent waits for the customer; Stripe's webhook pays the invoice."""
        stripe_id = setup(api, stripe_api)
        stripe_api.attach_card(stripe_id, "3ds", default=True)
        bill = one_off(api, 4200)
        [done] = payment_job(api, CODE, bill["lago_id"])
        assert done["status"] == "succeeded", done
        [intent] = stripe_api.payment_intents.values()
        waiting = invoice(api, bill["lago_id"])
        assert (waiting["payment_status"], waiting["total_paid_amount_cents"]) == ("pending", 0)
        [pending] = api.get("/payments").json()["payments"]
        assert pending["payment_status"] == "requires_action"
        assert ("payment.requires_action", pending["lago_id"]) in sent(receiver)
        assert api.get("/payment_receipts").json()["payment_receipts"] == []

        stripe_api.complete_payment(intent["id"])
        [succeeded] = events_of(stripe_api, "payment_intent.succeeded")
        delivered = deliver(api, stripe_api, succeeded)
        assert (delivered.status_code, delivered.json()) == (200, {"applied": 1})
        payment = assert_paid(api, bill["lago_id"], 4200, intent["id"])
        assert payment["lago_id"] == pending["lago_id"]
        types = paid_webhooks(receiver, bill["lago_id"])
        assert types[-3:] == PAID_SEQUENCE, types

        before, received = state(api, bill["lago_id"]), len(receiver.received)
        replay = deliver(api, stripe_api, succeeded)
        assert (replay.status_code, replay.json()) == (200, {"applied": 0})
        assert state(api, bill["lago_id"]) == before
        assert len(receiver.received) == received


class TestFailures:
    def test_a_500_is_retried_and_pays_once(
        self, app: FastAPI, api: Api, stripe_api: FakeStripe, receiver: Receiver
    ) -> None:
        stripe_id = setup(api, stripe_api)
        stripe_api.attach_card(stripe_id, default=True)
        # The customer's default method is read first: the fault hits that read, then the intent.
        stripe_api.fail_next(1, status=500)
        bill = one_off(api, 2500)
        [waiting] = payment_job(api, CODE, bill["lago_id"])
        assert (waiting["status"], waiting["attempts_count"]) == ("pending", 1), waiting
        assert waiting["last_error"]["http_status"] == 500
        shown = invoice(api, bill["lago_id"])
        assert (shown["payment_status"], shown["total_paid_amount_cents"]) == ("pending", 0)
        assert api.get("/payments").json()["payments"] == []
        run_due_later(app)
        detail = job(api, waiting["lago_id"])
        assert (detail["status"], detail["attempts_count"]) == ("succeeded", 2)
        [intent] = stripe_api.payment_intents.values()
        assert_paid(api, bill["lago_id"], 2500, intent["id"])

    def test_an_answer_lost_after_the_intent_was_created(
        self, app: FastAPI, api: Api, stripe_api: FakeStripe
    ) -> None:
        """Stripe created the intent but Billow timed out: the retry sends the same Idempotency-Key and
        Stripe answers with the same intent (one charge, one payment)."""
        stripe_id = setup(api, stripe_api)
        stripe_api.attach_card(stripe_id, default=True)
        stripe_api.fail_next(1, status=None)  # the default method's read passes
        stripe_api.fail_next(1, status=None, delay=1.0)  # the intent is created, answered too late
        bill = one_off(api, 2700)
        [waiting] = payment_job(api, CODE, bill["lago_id"])
        assert (waiting["status"], waiting["last_error"]["code"]) == ("pending", "timeout"), waiting
        assert api.get("/payments").json()["payments"] == []
        run_due_later(app)
        assert job(api, waiting["lago_id"])["status"] == "succeeded"
        [intent] = stripe_api.payment_intents.values()
        posts = stripe_api.calls("POST", "/v1/payment_intents")
        assert [r.headers["idempotency-key"] for r in posts] == [waiting["idempotency_key"]] * 2
        assert_paid(api, bill["lago_id"], 2700, intent["id"])

    def test_a_declined_card_then_a_new_card_and_retry(
        self, api: Api, stripe_api: FakeStripe, receiver: Receiver
    ) -> None:
        stripe_id = setup(api, stripe_api)
        stripe_api.attach_card(stripe_id, "declined", default=True)
        bill = one_off(api, 1900)
        [failed_job] = payment_job(api, CODE, bill["lago_id"])
        failed = invoice(api, bill["lago_id"])
        assert (failed["payment_status"], failed["total_paid_amount_cents"]) == ("failed", 0), failed_job
        [failure] = objects(receiver, "invoice.payment_failure")
        assert failure["lago_invoice_id"] == bill["lago_id"]
        assert api.get("/payment_receipts").json()["payment_receipts"] == []

        stripe_api.attach_card(stripe_id, "mastercard", default=True)
        retried = api.post(f"/invoices/{bill['lago_id']}/retry_payment")
        assert retried.status_code == 200, retried.text
        succeeded = [i for i in stripe_api.payment_intents.values() if i["status"] == "succeeded"]
        [intent] = succeeded
        shown = invoice(api, bill["lago_id"])
        assert (shown["payment_status"], shown["total_paid_amount_cents"]) == ("succeeded", 1900)
        payments = api.get("/payments").json()["payments"]
        assert sorted(p["payment_status"] for p in payments) == ["failed", "succeeded"]
        [receipt] = api.get("/payment_receipts").json()["payment_receipts"]
        assert receipt["payment"]["provider_payment_id"] == intent["id"]
        again = api.post(f"/invoices/{bill['lago_id']}/retry_payment")
        assert again.status_code == 405, again.text

    def test_a_forged_webhook_is_refused_and_changes_nothing(
        self, api: Api, stripe_api: FakeStripe, receiver: Receiver
    ) -> None:
        stripe_id = setup(api, stripe_api)
        stripe_api.attach_card(stripe_id, "3ds", default=True)
        bill = one_off(api, 4200)
        [intent] = stripe_api.payment_intents.values()
        stripe_api.complete_payment(intent["id"])
        [succeeded] = events_of(stripe_api, "payment_intent.succeeded")
        before, received = state(api, bill["lago_id"]), len(receiver.received)
        headers, body = stripe_api.sign(succeeded, secret="whsec_someone_else")
        forged = post_webhook(api, "stripe", CODE, headers, body)
        assert forged.status_code == 400, forged.text
        stale_headers, stale_body = stripe_api.sign(succeeded, timestamp=1_000_000_000)
        assert post_webhook(api, "stripe", CODE, stale_headers, stale_body).status_code == 400
        assert state(api, bill["lago_id"]) == before
        assert len(receiver.received) == received
        # The genuine one, later, is still applied (the forgery recorded nothing under its id).
        assert deliver(api, stripe_api, succeeded).json() == {"applied": 1}


class TestRefund:
    def test_a_credit_note_refunds_at_stripe(self, api: Api, stripe_api: FakeStripe) -> None:
        stripe_id = setup(api, stripe_api)
        stripe_api.attach_card(stripe_id, default=True)
        bill = one_off(api, 5000)
        [intent] = stripe_api.payment_intents.values()
        fee = invoice(api, bill["lago_id"])["fees"][0]["lago_id"]
        note = {
            "invoice_id": bill["lago_id"],
            "reason": "other",
            "refund_amount_cents": 1200,
            "credit_amount_cents": 0,
            "items": [{"fee_id": fee, "amount_cents": 1200}],
        }
        created = api.post("/credit_notes", {"credit_note": note})
        assert created.status_code == 200, created.text
        note_id = created.json()["credit_note"]["lago_id"]
        shown = api.get(f"/credit_notes/{note_id}").json()["credit_note"]
        assert shown["refund_status"] == "succeeded"
        [refund] = stripe_api.refunds.values()
        assert (refund["payment_intent"], refund["amount"], refund["currency"]) == (intent["id"], 1200, "eur")
        credit_note_id = created.json()["credit_note"]["lago_id"]
        assert refund["metadata"]["billow_credit_note_id"] == credit_note_id
