"""Hand-built contexts and snapshots for the GoCardless provider tests."""

from __future__ import annotations

from typing import Any

from billow.providers.interface import CustomerData, PayableData, ProviderContext
from tests.fixtures.standins.gocardless import FakeGoCardless

ORG = "0b5e4a38-9d5c-4a4e-8a43-1f6a2d1b7e01"
CUSTOMER = "5f0c7c1e-2a4b-4d8e-9c1a-3b2e7d6f8a90"
INVOICE = "9a7d3c2b-1e4f-4a5b-8c6d-7e8f9a0b1c2d"


def make_ctx(standin: FakeGoCardless, **overrides: Any) -> ProviderContext:
    values: dict[str, Any] = {
        "organization_id": ORG,
        "integration_code": "gocardless",
        "settings": {"environment": "sandbox", "success_redirect_url": "https://shop.example.com/done"},
        "secrets": {"access_token": standin.access_token, "webhook_secret": standin.webhook_secret},
        "public_url": "https://billow.example.com",
        "webhook_url": "https://billow.example.com/webhooks/gocardless",
        "api_base_url": standin.url,
        "timeout": 2.0,
    }
    values.update(overrides)
    return ProviderContext(**values)


def customer(provider_customer_id: str | None = None, **fields: Any) -> CustomerData:
    values: dict[str, Any] = {
        "id": CUSTOMER,
        "external_id": "cust-1",
        "name": "Ada Lovelace",
        "email": "ada@example.com, billing@example.com",
        "address_line1": "1 Main Street",
        "city": "London",
        "zipcode": "N1 9GU",
        "country": "gb",
        "currency": "GBP",
        "provider_customer_id": provider_customer_id,
    }
    values.update(fields)
    return CustomerData(**values)


def payable(
    customer_data: CustomerData,
    *,
    amount_cents: int = 1050,
    currency: str = "GBP",
    methods: tuple[str, ...] = (),
) -> PayableData:
    return PayableData(
        type="invoice",
        id=INVOICE,
        description="INV-2026-0001",
        amount_cents=amount_cents,
        currency=currency,
        customer=customer_data,
        invoice_ids=(INVOICE,),
        payment_method_ids=methods,
    )
