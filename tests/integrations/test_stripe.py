"""The framework with a real provider (Stripe, against its stand-in): configured through the API, the
customer created at Stripe, a finalized invoice collected off-session and paid, Stripe's signed webhook
applied once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Api
from tests.fixtures.standins.stripe import API_KEY, WEBHOOK_SECRET, FakeStripe
from tests.integrations.test_jobs import job_list
from tests.mail.conftest import one_off_invoice


@pytest.fixture
def stripe_api() -> Iterator[FakeStripe]:
    with FakeStripe() as standin:
        yield standin


def configure(api: Api, stripe_api: FakeStripe) -> None:
    body: dict[str, Any] = {
        "type": "stripe",
        "code": "stripe_eu",
        "name": "Stripe EU",
        "secrets": {"secret_key": API_KEY, "webhook_secret": WEBHOOK_SECRET},
        "api_base_url": stripe_api.url,
    }
    response = api.post("/integrations", {"integration": body})
    assert response.status_code == 200, response.text
    customer = {
        "external_id": "cus_1",
        "name": "Ada",
        "email": "ada@example.com",
        "currency": "EUR",
        "billing_configuration": {
            "payment_provider": "stripe",
            "payment_provider_code": "stripe_eu",
            "sync_with_provider": True,
        },
    }
    assert api.post("/customers", {"customer": customer}).status_code == 200


def test_an_invoice_paid_through_stripe(api: Api, stripe_api: FakeStripe) -> None:
    configure(api, stripe_api)
    stripe_id = api.get("/customers/cus_1").json()["customer"]["billing_configuration"][
        "provider_customer_id"
    ]
    assert stripe_id in stripe_api.customers
    stripe_api.attach_card(stripe_id, default=True)
    invoice = one_off_invoice(api, 4200)
    [job] = job_list(api, "stripe_eu", operation="create_payment")
    assert job["status"] == "succeeded", job
    [intent] = stripe_api.payment_intents.values()
    assert (intent["amount"], intent["currency"], intent["customer"]) == (4200, "eur", stripe_id)
    shown = api.get(f"/invoices/{invoice['lago_id']}").json()["invoice"]
    assert (shown["payment_status"], shown["total_paid_amount_cents"]) == ("succeeded", 4200)


def test_stripe_webhooks_are_verified_and_applied_once(api: Api, stripe_api: FakeStripe) -> None:
    configure(api, stripe_api)
    stripe_id = api.get("/customers/cus_1").json()["customer"]["billing_configuration"][
        "provider_customer_id"
    ]
    method = stripe_api.attach_card(stripe_id)
    headers, body = stripe_api.signed_webhook("payment_method.attached", method)
    path = f"/webhooks/stripe/{api.organization.id}"
    first = api.client.post(path, params={"code": "stripe_eu"}, content=body, headers=headers)
    assert first.status_code == 200, first.text
    replay = api.client.post(path, params={"code": "stripe_eu"}, content=body, headers=headers)
    assert (replay.status_code, replay.json()) == (200, {"applied": 0})
    forged_headers, _ = stripe_api.signed_webhook("payment_method.attached", method, secret="whsec_wrong")
    forged = api.client.post(path, params={"code": "stripe_eu"}, content=body, headers=forged_headers)
    assert forged.status_code == 400
