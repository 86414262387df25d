"""Hand-built contexts and snapshots for the PayPal provider tests."""

from __future__ import annotations

from typing import Any

from billow.providers.interface import CustomerData, PayableData, ProviderContext
from tests.fixtures.standins.paypal import FakePayPal

ORG = "0b5e4a38-9d5c-4a4e-8a43-1f6a2d1b7e01"
CUSTOMER = "5f0c7c1e-2a4b-4d8e-9c1a-3b2e7d6f8a90"
INVOICE = "9a7d3c2b-1e4f-4a5b-8c6d-7e8f9a0b1c2d"


def make_ctx(standin: FakePayPal, **overrides: Any) -> ProviderContext:
    values: dict[str, Any] = {
        "organization_id": ORG,
        "integration_code": "paypal",
        "settings": {"webhook_id": standin.webhook_id, "environment": "sandbox"},
        "secrets": {"client_id": standin.client_id, "client_secret": standin.client_secret},
        "public_url": "https://billow.example.com",
        "webhook_url": "https://billow.example.com/webhooks/paypal",
        "api_base_url": standin.url,
        "timeout": 2.0,
    }
    values.update(overrides)
    return ProviderContext(**values)


def customer(provider_customer_id: str | None = None) -> CustomerData:
    return CustomerData(
        id=CUSTOMER,
        external_id="cust-1",
        name="Ada",
        email="ada@example.com",
        provider_customer_id=provider_customer_id,
    )


def payable(
    amount_cents: int = 1050,
    currency: str = "EUR",
    methods: tuple[str, ...] = ("8kk8451t",),
    payable_id: str = INVOICE,
) -> PayableData:
    return PayableData(
        type="invoice",
        id=payable_id,
        description="INV-2026-0001",
        amount_cents=amount_cents,
        currency=currency,
        customer=customer(),
        invoice_ids=(payable_id,),
        payment_method_ids=methods,
    )
