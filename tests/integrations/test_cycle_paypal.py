"""A whole payment cycle through PayPal (its stand-in), through the API. PayPal has no customer object:
the customer's ``provider_customer_id`` is its vault customer (given on ``POST /customers``, as Lago takes
it), a vaulted wallet is announced by ``VAULT.PAYMENT-TOKEN.CREATED``, a finalized invoice is captured
off-session with the vault's token, and PayPal's webhooks (verified through its verification API) are
applied once. Without a saved method, the invoice is paid through the approval link (``payment_url``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI

from tests.conftest import Api
from tests.fixtures.receiver import Receiver
from tests.fixtures.standins.paypal import FakePayPal
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
)
from tests.integrations.test_jobs import job, job_list, run_due_later
from tests.webhooks.test_billing_webhooks import objects

__all__ = ["receiver"]

CODE = "paypal_eu"
VAULT_CUSTOMER = "VAULTCUST1"


@pytest.fixture
def paypal_api() -> Iterator[FakePayPal]:
    with FakePayPal() as standin:
        yield standin


def setup(api: Api, paypal_api: FakePayPal, vault_customer: str | None = VAULT_CUSTOMER) -> dict[str, Any]:
    configure(
        api,
        "paypal",
        CODE,
        paypal_api.url,
        {"client_id": paypal_api.client_id, "client_secret": paypal_api.client_secret},
        {"webhook_id": paypal_api.webhook_id, "environment": "sandbox"},
    )
    config: dict[str, Any] = {
        "payment_provider": "paypal",
        "payment_provider_code": CODE,
        "sync_with_provider": True,
    }
    if vault_customer:
        config["provider_customer_id"] = vault_customer
    body = {
        "external_id": CUSTOMER,
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "currency": "EUR",
        "billing_configuration": config,
    }
    response = api.post("/customers", {"customer": body})
    assert response.status_code == 200, response.text
    shown = response.json()["customer"]
    assert shown["billing_configuration"]["provider_customer_id"] == vault_customer
    # PayPal has no customer to create: no job (it could only fail), no error webhook.
    assert job_list(api, CODE) == []
    return dict(shown)


def deliver(api: Api, paypal_api: FakePayPal, event_type: str, resource: dict[str, Any], **kw: Any) -> Any:
    headers, body = paypal_api.signed_webhook(event_type, resource, **kw)
    return post_webhook(api, "paypal", CODE, headers, body), headers, body


class TestCycle:
    def test_vaulted_wallet_invoice_capture_webhooks(
        self, api: Api, paypal_api: FakePayPal, receiver: Receiver
    ) -> None:
        setup(api, paypal_api)
        token = paypal_api.add_payment_token(VAULT_CUSTOMER)
        answer, _, _ = deliver(
            api, paypal_api, "VAULT.PAYMENT-TOKEN.CREATED", token, resource_type="payment_token"
        )
        assert (answer.status_code, answer.json()) == (200, {"applied": 1})
        methods = api.get(f"/customers/{CUSTOMER}/payment_methods")
        assert methods.status_code == 200, methods.text
        [wallet] = methods.json()["payment_methods"]
        assert (wallet["method_type"], wallet["provider_method_id"]) == ("paypal", token["id"])

        bill = one_off(api, 3150)
        [done] = payment_job(api, CODE, bill["lago_id"])
        assert (done["status"], done["attempts_count"]) == ("succeeded", 1), done
        [order] = paypal_api.orders.values()
        unit = order["purchase_units"][0]
        assert unit["amount"] == {"currency_code": "EUR", "value": "31.50"}  # 3150 cents
        assert order["payment_source"] == {"paypal": {"vault_id": token["id"]}}
        [created] = paypal_api.calls("POST", "/v2/checkout/orders")
        assert created.headers["paypal-request-id"] == done["idempotency_key"][:108]
        assert bill["lago_id"] in str(unit.get("custom_id")) + str(unit.get("invoice_id")) + str(
            unit.get("reference_id")
        )
        [capture] = paypal_api.captures.values()
        assert capture["status"] == "COMPLETED"
        assert_paid(api, bill["lago_id"], 3150, capture["id"])
        assert paid_webhooks(receiver, bill["lago_id"]) == ["invoice.one_off_created", *PAID_SEQUENCE]

        # PayPal's PAYMENT.CAPTURE.COMPLETED of that capture: nothing more, even replayed.
        before, received = state(api, bill["lago_id"]), len(receiver.received)
        public = {k: v for k, v in capture.items() if k != "refunded_cents"}
        answer, headers, body = deliver(api, paypal_api, "PAYMENT.CAPTURE.COMPLETED", public)
        assert answer.status_code == 200, answer.text
        replay = post_webhook(api, "paypal", CODE, headers, body)
        assert (replay.status_code, replay.json()) == (200, {"applied": 0})
        assert state(api, bill["lago_id"]) == before
        assert len(receiver.received) == received

    def test_without_a_saved_method_the_approval_link_pays(
        self, api: Api, paypal_api: FakePayPal, receiver: Receiver
    ) -> None:
        setup(api, paypal_api, vault_customer=None)
        bill = one_off(api, 2000)
        [refused] = payment_job(api, CODE, bill["lago_id"])
        assert (refused["status"], refused["last_error"]["code"]) == ("failed", "no_payment_method")
        link = api.post(f"/invoices/{bill['lago_id']}/payment_url")
        assert link.status_code == 200, link.text
        [order_id] = paypal_api.orders
        assert order_id in link.json()["invoice_payment_details"]["payment_url"]
        paypal_api.approve(order_id)
        answer, headers, body = deliver(
            api, paypal_api, "CHECKOUT.ORDER.APPROVED", {"id": order_id}, resource_type="checkout-order"
        )
        assert (answer.status_code, answer.json()) == (200, {"applied": 1})
        [capture] = paypal_api.captures.values()
        assert_paid(api, bill["lago_id"], 2000, capture["id"])
        before, received = state(api, bill["lago_id"]), len(receiver.received)
        assert post_webhook(api, "paypal", CODE, headers, body).json() == {"applied": 0}
        assert state(api, bill["lago_id"]) == before and len(receiver.received) == received


class TestFailures:
    def test_a_500_is_retried_and_pays_once(self, app: FastAPI, api: Api, paypal_api: FakePayPal) -> None:
        setup(api, paypal_api)
        paypal_api.add_payment_token(VAULT_CUSTOMER)
        paypal_api.fail_next(1, status=500)
        bill = one_off(api, 2500)
        [waiting] = payment_job(api, CODE, bill["lago_id"])
        assert (waiting["status"], waiting["attempts_count"]) == ("pending", 1), waiting
        shown = invoice(api, bill["lago_id"])
        assert (shown["payment_status"], shown["total_paid_amount_cents"]) == ("pending", 0)
        assert api.get("/payments").json()["payments"] == []
        run_due_later(app)
        assert job(api, waiting["lago_id"])["status"] == "succeeded"
        [capture] = paypal_api.captures.values()
        assert_paid(api, bill["lago_id"], 2500, capture["id"])
        assert len(paypal_api.orders) == 1

    def test_a_declined_capture_then_a_new_method_and_retry(
        self, api: Api, paypal_api: FakePayPal, receiver: Receiver
    ) -> None:
        setup(api, paypal_api)
        bad = paypal_api.add_payment_token(VAULT_CUSTOMER)
        paypal_api.declined.add(bad["id"])
        bill = one_off(api, 1900)
        failed = invoice(api, bill["lago_id"])
        assert (failed["payment_status"], failed["total_paid_amount_cents"]) == ("failed", 0)
        [failure] = objects(receiver, "invoice.payment_failure")
        assert failure["lago_invoice_id"] == bill["lago_id"]
        assert api.get("/payment_receipts").json()["payment_receipts"] == []

        del paypal_api.payment_tokens[bad["id"]]  # the customer replaces the wallet in the vault
        paypal_api.add_payment_token(VAULT_CUSTOMER)
        retried = api.post(f"/invoices/{bill['lago_id']}/retry_payment")
        assert retried.status_code == 200, retried.text
        [capture] = [c for c in paypal_api.captures.values() if c["status"] == "COMPLETED"]
        shown = invoice(api, bill["lago_id"])
        assert (shown["payment_status"], shown["total_paid_amount_cents"]) == ("succeeded", 1900)
        [receipt] = api.get("/payment_receipts").json()["payment_receipts"]
        assert receipt["payment"]["provider_payment_id"] == capture["id"]

    def test_a_forged_webhook_is_refused_and_changes_nothing(
        self, api: Api, paypal_api: FakePayPal, receiver: Receiver
    ) -> None:
        setup(api, paypal_api, vault_customer=None)
        bill = one_off(api, 2000)
        api.post(f"/invoices/{bill['lago_id']}/payment_url")
        [order_id] = paypal_api.orders
        paypal_api.approve(order_id)
        before, received = state(api, bill["lago_id"]), len(receiver.received)
        headers, body = paypal_api.signed_webhook(
            "CHECKOUT.ORDER.APPROVED", {"id": order_id}, resource_type="checkout-order"
        )
        forged = {**headers, "paypal-transmission-sig": "AAAA" + headers["paypal-transmission-sig"][4:]}
        answer = post_webhook(api, "paypal", CODE, forged, body)
        assert answer.status_code == 400, answer.text
        assert paypal_api.captures == {}  # nothing captured on a forged event
        assert state(api, bill["lago_id"]) == before and len(receiver.received) == received


class TestRefund:
    def test_a_credit_note_refunds_the_capture(self, api: Api, paypal_api: FakePayPal) -> None:
        setup(api, paypal_api)
        paypal_api.add_payment_token(VAULT_CUSTOMER)
        bill = one_off(api, 5000)
        [capture] = paypal_api.captures.values()
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
        assert shown["refund_status"] == "succeeded"
        [refund] = paypal_api.refunds.values()
        assert refund["amount"] == {"currency_code": "EUR", "value": "12.50"}
        assert paypal_api.calls("POST", f"/v2/payments/captures/{capture['id']}/refund")
