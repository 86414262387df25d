"""A started Stripe stand-in, a context pointing the provider at it, and snapshots to pay with."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from billow.providers.interface import CustomerData, PayableData, ProviderContext
from billow.providers.stripe import StripeProvider
from tests.fixtures.standins.stripe import API_KEY, WEBHOOK_SECRET, FakeStripe

ORGANIZATION_ID = "0b9a5b9e-6f53-4d0e-9f4e-6a3b7f3d2c10"
CUSTOMER_ID = "5f0c2a8e-1d7b-4c55-a0e4-3b6f9d1e7a21"


@pytest.fixture(scope="session")
def _stripe_server() -> Iterator[FakeStripe]:
    with FakeStripe() as standin:
        yield standin


@pytest.fixture
def stripe_api(_stripe_server: FakeStripe) -> FakeStripe:
    """The stand-in, emptied for each test (one server for the session: stopping one takes 0.5 s)."""
    _stripe_server.reset()
    return _stripe_server


@pytest.fixture
def ctx(stripe_api: FakeStripe) -> ProviderContext:
    return ProviderContext(
        organization_id=ORGANIZATION_ID,
        integration_code="stripe_eu",
        settings={},
        secrets={"secret_key": API_KEY, "webhook_secret": WEBHOOK_SECRET},
        public_url="https://billing.example.com",
        webhook_url="https://billing.example.com/webhooks/stripe/stripe_eu",
        api_base_url=stripe_api.url,
        timeout=1.0,
    )


@pytest.fixture
def provider() -> StripeProvider:
    return StripeProvider()


def customer_data(**changes: object) -> CustomerData:
    base = CustomerData(
        id=CUSTOMER_ID,
        external_id="cust-ext-42",
        name="Ada Lovelace",
        email="ada@example.com,billing@example.com",
        phone="+33 1 23 45 67 89",
        address_line1="1 rue de la Paix",
        city="Paris",
        zipcode="75002",
        country="FR",
        currency="EUR",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture
def stripe_customer(stripe_api: FakeStripe, provider: StripeProvider, ctx: ProviderContext) -> CustomerData:
    """A customer synced to the stand-in (its ``provider_customer_id`` known)."""
    result = provider.sync_customer(ctx, customer_data())
    return customer_data(provider_customer_id=result.external_id)


def payable(customer: CustomerData, **changes: object) -> PayableData:
    base = PayableData(
        type="invoice",
        id="9d3c1f7a-2b4e-4c6d-8e0f-1a2b3c4d5e6f",
        description="Invoice BIL-2026-0007",
        amount_cents=1050,
        currency="EUR",
        customer=customer,
        invoice_ids=("9d3c1f7a-2b4e-4c6d-8e0f-1a2b3c4d5e6f",),
    )
    return replace(base, **changes)  # type: ignore[arg-type]
