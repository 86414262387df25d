"""The billing run's invoices reach the providers: collected through the customer's payment provider and
synced to its accounting tool; its hooks read only the customer columns the run locked."""

from __future__ import annotations

from datetime import datetime

import pytest
from fastapi import FastAPI

from billow.billing.run import bill_due
from tests.conftest import Api, Clock
from tests.integrations.conftest import add_integration
from tests.integrations.providers import FakeProvider
from tests.integrations.test_jobs import job_list

pytestmark = pytest.mark.usefixtures("bill_backdated_periods", "invoices_read_only_the_locked_columns")


def test_a_billed_invoice_is_collected_and_synced(
    app: FastAPI, api: Api, fake: FakeProvider, clock: Clock
) -> None:
    add_integration(api, "testpay", "pay", fake)
    add_integration(api, "testbooks", "books", fake)
    customer = {
        "external_id": "cus_1",
        "name": "Ann",
        "currency": "EUR",
        "billing_configuration": {"payment_provider": "testpay", "payment_provider_code": "pay"},
        "integration_customers": [
            {"integration_type": "testbooks", "integration_code": "books", "sync_with_provider": True}
        ],
    }
    assert api.post("/customers", {"customer": customer}).status_code == 200
    plan = {
        "name": "Base",
        "code": "base",
        "interval": "monthly",
        "amount_cents": 1000,
        "amount_currency": "EUR",
    }
    assert api.post("/plans", {"plan": plan}).status_code == 200
    body = {"external_customer_id": "cus_1", "plan_code": "base", "external_id": "sub_1"}
    assert api.post("/subscriptions", {"subscription": body}).status_code == 200
    summary = bill_due(app.state.sessionmaker, datetime.fromisoformat("2024-02-01T01:00:00+00:00"))
    assert summary.failed == [] and summary.invoices_created == 1
    [invoice] = api.get("/invoices").json()["invoices"]
    # Collected through the payment provider, then (the payment succeeded) recorded in the books.
    collected, recorded = fake.of_kind("payments")
    assert (collected["amount"], collected["metadata"]["billow_payable_id"]) == (1000, invoice["lago_id"])
    [synced] = fake.of_kind("invoices")
    assert (recorded["amount"], "metadata" in recorded) == (1000, False)
    assert recorded["invoices"] == [synced["id"]]
    assert (synced["number"], synced["total"]) == (invoice["number"], 1000)
    assert [j["status"] for j in job_list(api, "pay", operation="create_payment")] == ["succeeded"]
