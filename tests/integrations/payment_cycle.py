"""Shared steps of the whole payment cycles (``test_cycle_<provider>.py``): an integration configured
through the API, a customer synced to its payment provider, an invoice finalized, webhooks posted to
Billow's inbound route, and what the company's webhook endpoint received."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from tests.conftest import Api
from tests.fixtures.receiver import Receiver
from tests.integrations.test_jobs import job_list
from tests.webhooks.test_billing_webhooks import sent
from tests.webhooks.test_delivery import add_endpoint

CUSTOMER = "cus_cycle"


@pytest.fixture
def receiver(api: Api) -> Iterator[Receiver]:
    found = Receiver().start()
    add_endpoint(api, found.url)
    yield found
    found.stop()


def configure(
    api: Api, type_: str, code: str, url: str, secrets: dict[str, str], settings: dict[str, Any] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": type_,
        "code": code,
        "name": code.title(),
        "settings": settings or {},
        "secrets": secrets,
        "api_base_url": url,
    }
    response = api.post("/integrations", {"integration": body})
    assert response.status_code == 200, response.text
    shown = response.json()["integration"]
    assert sorted(shown["secret_keys"]) == sorted(secrets)
    assert not any(value in response.text for value in secrets.values())  # never returned
    return dict(shown)


def synced_customer(api: Api, provider: str, code: str, currency: str = "EUR") -> dict[str, Any]:
    """A customer created with its payment provider and synced: ``provider_customer_id`` returned."""
    customer = {
        "external_id": CUSTOMER,
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "currency": currency,
        "billing_configuration": {
            "payment_provider": provider,
            "payment_provider_code": code,
            "sync_with_provider": True,
        },
    }
    response = api.post("/customers", {"customer": customer})
    assert response.status_code == 200, response.text
    [job] = job_list(api, code, operation="sync_customer")
    assert job["status"] == "succeeded", job
    shown = api.get(f"/customers/{CUSTOMER}").json()["customer"]
    config = shown["billing_configuration"]
    assert (config["payment_provider"], config["payment_provider_code"]) == (provider, code)
    assert config["provider_customer_id"] == job["result"]["external_id"]
    assert shown["integration_customers"] == []  # Lago's list holds accounting/CRM links only
    return dict(shown)


def one_off(api: Api, amount_cents: int, currency: str = "EUR") -> dict[str, Any]:
    """A one-off invoice of one add-on (``amount_cents``, no tax): finalized at once."""
    code = f"setup_{amount_cents}"
    if api.get(f"/add_ons/{code}").status_code == 404:
        add_on = {"name": "Setup", "code": code, "amount_cents": amount_cents, "amount_currency": currency}
        assert api.post("/add_ons", json={"add_on": add_on}).status_code == 200
    body = {"external_customer_id": CUSTOMER, "currency": currency, "fees": [{"add_on_code": code}]}
    response = api.post("/invoices", json={"invoice": body})
    assert response.status_code == 200, response.text
    found = response.json()["invoice"]
    assert (found["status"], found["total_amount_cents"]) == ("finalized", amount_cents), found
    return dict(found)


def invoice(api: Api, lago_id: str) -> dict[str, Any]:
    response = api.get(f"/invoices/{lago_id}")
    assert response.status_code == 200, response.text
    return dict(response.json()["invoice"])


def payment_job(api: Api, code: str, invoice_id: str) -> list[dict[str, Any]]:
    return job_list(api, code, operation="create_payment", object_id=invoice_id)


def post_webhook(api: Api, provider: str, code: str, headers: Mapping[str, str], body: bytes) -> Any:
    return api.client.post(
        f"/webhooks/{provider}/{api.organization.id}", params={"code": code}, content=body, headers=headers
    )


def state(api: Api, invoice_id: str) -> dict[str, Any]:
    """Everything a webhook may change: the invoice's payment fields, the payments and receipts."""
    shown = invoice(api, invoice_id)
    payments = api.get("/payments", params={"external_customer_id": CUSTOMER}).json()["payments"]
    receipts = api.get("/payment_receipts").json()["payment_receipts"]
    return {
        "invoice": {
            key: shown[key]
            for key in ("payment_status", "total_paid_amount_cents", "total_due_amount_cents", "updated_at")
            if key in shown
        },
        "payments": payments,
        "receipts": receipts,
    }


def assert_paid(api: Api, invoice_id: str, total: int, provider_payment_id: str) -> dict[str, Any]:
    """The invoice is paid by one provider payment, with one receipt."""
    shown = invoice(api, invoice_id)
    assert (shown["payment_status"], shown["total_paid_amount_cents"]) == ("succeeded", total), shown
    assert shown["total_due_amount_cents"] == 0
    [payment] = api.get("/payments").json()["payments"]
    assert payment["invoice_ids"] == [invoice_id]
    assert (payment["amount_cents"], payment["payment_status"]) == (total, "succeeded")
    assert payment["provider_payment_id"] == provider_payment_id
    assert (payment["type"], payment["reference"]) == ("provider", "")  # a string: lago-python-client
    [receipt] = api.get("/payment_receipts").json()["payment_receipts"]
    assert receipt["payment"]["lago_id"] == payment["lago_id"]
    return dict(payment)


def paid_webhooks(receiver: Receiver, invoice_id: str) -> list[str]:
    """The webhook types received about this payable since the invoice was created."""
    types = [t for t, lago_id in sent(receiver)]
    ids = [lago_id for _, lago_id in sent(receiver)]
    return types[ids.index(invoice_id) :]


PAID_SEQUENCE = [
    "invoice.payment_status_updated",
    "payment_receipt.created",
    "payment.succeeded",
]
