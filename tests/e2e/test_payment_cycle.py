"""A whole Stripe payment cycle against a real ``billow serve`` per backend, driven by
``lago-python-client``: the Stripe stand-in runs in the test and the server reaches it on 127.0.0.1.
Integration configured (``POST /api/v1/integrations``: the client has no resource for it), customer
created and synced at Stripe, a one-off invoice collected off-session, Stripe's signed webhook applied
once, the company's webhooks in order; a declined card, then ``retry_payment`` with a new card."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from lago_python_client.client import Client
from lago_python_client.models import AddOn, Customer, InvoiceFee, InvoiceFeesList, OneOffInvoice
from lago_python_client.models.customer import CustomerBillingConfiguration
from lago_python_client.models.webhook_endpoint import WebhookEndpoint

from tests.e2e.conftest import Server
from tests.e2e.test_webhook_delivery import wait_until
from tests.fixtures.receiver import Receiver
from tests.fixtures.standins.stripe import API_KEY, WEBHOOK_SECRET, FakeStripe

pytestmark = pytest.mark.e2e


@pytest.fixture
def stripe_api() -> Iterator[FakeStripe]:
    with FakeStripe() as standin:
        yield standin


@pytest.fixture
def receiver(lago: Client) -> Iterator[Receiver]:
    found = Receiver().start()
    endpoint = lago.webhook_endpoints.create(WebhookEndpoint(webhook_url=found.url, signature_algo="hmac"))
    yield found
    lago.webhook_endpoints.destroy(endpoint.lago_id)
    found.stop()


def about(receiver: Receiver, invoice_id: str) -> list[str]:
    """The webhook types received about one invoice (the invoice itself, its payments and receipts), but
    the documents' (``invoice.generated``, ``payment_receipt.generated``: their PDFs render meanwhile)."""
    out = []
    for received in receiver.received:
        body = received.json
        obj = body[body["object_type"]]
        ids = {obj.get("lago_id"), obj.get("lago_invoice_id"), *obj.get("invoice_ids", [])}
        ids.update((obj.get("payment") or {}).get("invoice_ids", []))
        if invoice_id in ids and not body["webhook_type"].endswith(".generated"):
            out.append(body["webhook_type"])
    return out


def configure(server: Server, stripe_api: FakeStripe, code: str) -> None:
    body = {
        "integration": {
            "type": "stripe",
            "code": code,
            "name": "Stripe",
            "secrets": {"secret_key": API_KEY, "webhook_secret": WEBHOOK_SECRET},
            "api_base_url": stripe_api.url,
        }
    }
    answer = httpx.post(
        f"{server.base_url}/api/v1/integrations",
        json=body,
        headers={"Authorization": f"Bearer {server.api_key}"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text


def synced_customer(lago: Client, code: str, external_id: str) -> str:
    billing = CustomerBillingConfiguration(
        payment_provider="stripe", payment_provider_code=code, sync_with_provider=True
    )
    lago.customers.create(
        Customer(
            external_id=external_id,
            name="Ada Lovelace",
            email="ada@example.com",
            currency="EUR",
            billing_configuration=billing,
        )
    )
    found: dict[str, Any] = {}

    def synced() -> bool:
        config = lago.customers.find(external_id).billing_configuration
        found["id"] = config.provider_customer_id if config is not None else None
        return bool(found["id"])

    wait_until(synced, "the customer synced to Stripe")
    return str(found["id"])


def one_off(lago: Client, customer: str, add_on: str) -> Any:
    invoice = lago.invoices.create(
        OneOffInvoice(
            external_customer_id=customer,
            currency="EUR",
            fees=InvoiceFeesList(__root__=[InvoiceFee(add_on_code=add_on)]),
        )
    )
    assert invoice is not None and invoice.status == "finalized"
    return invoice


def test_a_stripe_cycle(
    lago: Client, server: Server, suffix: str, stripe_api: FakeStripe, receiver: Receiver
) -> None:
    code, customer = f"stripe_{suffix}", f"stripe_{suffix}"
    configure(server, stripe_api, code)
    stripe_id = synced_customer(lago, code, customer)
    assert stripe_api.customers[stripe_id]["email"] == "ada@example.com"
    stripe_api.attach_card(stripe_id, default=True)
    lago.add_ons.create(AddOn(name="Setup", code=f"s_{suffix}", amount_cents=4200, amount_currency="EUR"))

    invoice = one_off(lago, customer, f"s_{suffix}")
    wait_until(lambda: lago.invoices.find(invoice.lago_id).payment_status == "succeeded", "invoice paid")
    [intent] = stripe_api.payment_intents.values()
    assert (intent["amount"], intent["currency"], intent["customer"]) == (4200, "eur", stripe_id)
    paid = lago.invoices.find(invoice.lago_id)
    assert (paid.total_paid_amount_cents, paid.total_due_amount_cents) == (4200, 0)
    [payment] = lago.payments.find_all({"invoice_id": invoice.lago_id})["payments"]
    assert (payment.amount_cents, payment.payment_status, payment.external_payment_id) == (
        4200,
        "succeeded",
        intent["id"],
    )
    [receipt] = lago.payment_receipts.find_all({"invoice_id": invoice.lago_id})["payment_receipts"]
    assert receipt.payment.lago_id == payment.lago_id
    expected = [
        "invoice.one_off_created",
        "invoice.payment_status_updated",
        "payment_receipt.created",
        "payment.succeeded",
    ]
    wait_until(lambda: about(receiver, invoice.lago_id) == expected, f"webhooks {expected}")

    # Stripe's webhook of that payment, posted to the server: applied once, changes nothing.
    organization_id = receiver.received[0].json["organization_id"]
    [event] = [e for e in stripe_api.events if e["type"] == "payment_intent.succeeded"]
    headers, body = stripe_api.sign(event)
    url = f"{server.base_url}/webhooks/stripe/{organization_id}"
    for _ in range(2):
        answer = httpx.post(url, params={"code": code}, content=body, headers=headers, timeout=10)
        assert answer.status_code == 200, answer.text
    forged_headers, _ = stripe_api.sign(event, secret="whsec_forged")
    forged = httpx.post(url, params={"code": code}, content=body, headers=forged_headers, timeout=10)
    assert forged.status_code == 400, forged.text
    assert len(lago.payments.find_all({"invoice_id": invoice.lago_id})["payments"]) == 1
    assert about(receiver, invoice.lago_id) == expected


def test_a_declined_card_then_retry_payment(
    lago: Client, server: Server, suffix: str, stripe_api: FakeStripe, receiver: Receiver
) -> None:
    code, customer = f"stripe_{suffix}", f"declined_{suffix}"
    configure(server, stripe_api, code)
    stripe_id = synced_customer(lago, code, customer)
    stripe_api.attach_card(stripe_id, "declined", default=True)
    lago.add_ons.create(AddOn(name="Setup", code=f"d_{suffix}", amount_cents=1900, amount_currency="EUR"))
    invoice = one_off(lago, customer, f"d_{suffix}")
    wait_until(lambda: lago.invoices.find(invoice.lago_id).payment_status == "failed", "payment failed")
    wait_until(lambda: "invoice.payment_failure" in about(receiver, invoice.lago_id), "payment_failure")

    stripe_api.attach_card(stripe_id, "mastercard", default=True)
    lago.invoices.retry_payment(invoice.lago_id)
    wait_until(lambda: lago.invoices.find(invoice.lago_id).payment_status == "succeeded", "invoice paid")
    payments = lago.payments.find_all({"invoice_id": invoice.lago_id})["payments"]
    assert sorted(p.payment_status for p in payments) == ["failed", "succeeded"]
    [receipt] = lago.payment_receipts.find_all({"invoice_id": invoice.lago_id})["payment_receipts"]
    assert receipt.payment.payment_status == "succeeded"
