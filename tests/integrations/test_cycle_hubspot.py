"""A whole HubSpot cycle through the API against its stand-in: the company, the subscription and invoice
records (associated with the company, Billow's amounts to the cent, synced again as an update), the
invoice record following a credit note's offset and the payment, outages retried, a refusal failed with
its webhook then retried. HubSpot takes a private app token: no OAuth rotation."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI

from tests.conftest import Api
from tests.fixtures.receiver import Receiver
from tests.fixtures.standins.hubspot import FakeHubSpot
from tests.integrations.cycle import (
    Catalog,
    add_integration,
    bill_on_termination,
    credit_note,
    external_customer_id,
    job,
    job_list,
    linked_customer,
    ok,
    pay,
    resync,
    subscription_sync_survives_outages,
    webhooks_of,
)

CODE = "hubspot"
INVOICES = "p_billow_invoices"
SUBSCRIPTIONS = "p_billow_subscriptions"


@pytest.fixture
def hubspot() -> Iterator[FakeHubSpot]:
    with FakeHubSpot() as standin:
        yield standin


def connect(api: Api, hubspot: FakeHubSpot) -> Catalog:
    add_integration(
        api, "hubspot", CODE, hubspot.url, {"portal_id": "4242"}, {"access_token": hubspot.access_token}
    )
    return Catalog(api)


def cents(value: Any) -> int:
    return int(Decimal(str(value)) * 100)


def only(hubspot: FakeHubSpot, object_type: str) -> dict[str, Any]:
    [found] = hubspot.objects.get(object_type, {}).values()
    return dict(found["properties"])


def test_a_whole_cycle(app: FastAPI, api: Api, hubspot: FakeHubSpot) -> None:
    connect(api, hubspot)
    # 2. The company, created at HubSpot; its id returned by GET /customers.
    customer = linked_customer(api, "hubspot", CODE)
    company = only(hubspot, "companies")
    assert company["billow_customer_id"] == customer["lago_id"]
    assert external_customer_id(api, CODE) == company["hs_object_id"]

    # 3. Billed: the invoice record, associated with the company, Billow's amounts to the cent.
    invoice = bill_on_termination(api)
    record = only(hubspot, INVOICES)
    record_id = record["hs_object_id"]
    assert (record["billow_invoice_id"], record["invoice_number"]) == (invoice["lago_id"], invoice["number"])
    assert cents(record["total_amount"]) == invoice["total_amount_cents"]
    assert cents(record["taxes_amount"]) == invoice["taxes_amount_cents"]
    assert cents(record["coupons_amount"]) == invoice["coupons_amount_cents"] > 0
    assert record["payment_status"] == "pending"
    assert (INVOICES, record_id, "companies", company["hs_object_id"]) in hubspot.associations
    assert only(hubspot, SUBSCRIPTIONS)["billow_subscription_id"] == invoice["subscriptions"][0]["lago_id"]

    # Synced again: the same record updated, never a second.
    resync(app, api, CODE, "sync_invoice", "invoice", invoice["lago_id"])
    assert len(hubspot.objects[INVOICES]) == 1
    assert len(hubspot.calls("PATCH", rf"/crm/v3/objects/{INVOICES}/{record_id}")) == 1

    # 4. A credit note deducted from what the invoice owes: the invoice record shows what is left.
    note = credit_note(api, invoice, "offset")
    due = invoice["total_amount_cents"] - note["offset_amount_cents"]
    assert ok(api.get(f"/invoices/{invoice['lago_id']}"))["invoice"]["total_due_amount_cents"] == due
    assert cents(only(hubspot, INVOICES)["total_due_amount"]) == due

    # 5. A manual payment of what is left: the invoice record shows it paid.
    pay(api, invoice["lago_id"], due)
    record = only(hubspot, INVOICES)
    assert (record["payment_status"], cents(record["total_due_amount"])) == ("succeeded", 0)
    assert cents(record["total_paid_amount"]) == due
    assert len(hubspot.objects[INVOICES]) == len(hubspot.objects["companies"]) == 1
    assert all(j["status"] == "succeeded" for j in job_list(api, CODE))


def test_outages_are_retried_without_duplicates(app: FastAPI, api: Api, hubspot: FakeHubSpot) -> None:
    connect(api, hubspot)
    linked_customer(api, "hubspot", CODE)
    subscription_sync_survives_outages(app, api, hubspot, CODE)
    assert len(hubspot.objects[SUBSCRIPTIONS]) == 1


def test_a_refusal_fails_with_the_crm_error_webhook_and_is_retried(
    app: FastAPI, api: Api, hubspot: FakeHubSpot, receiver: Receiver
) -> None:
    connect(api, hubspot)
    hubspot.fail_next_with(400, "VALIDATION_ERROR", "Property values were not valid")
    customer = linked_customer(api, "hubspot", CODE)
    [failed] = job_list(api, CODE, operation="sync_customer")
    assert (failed["status"], failed["attempts_count"], failed["last_error"]["http_status"]) == (
        "failed",
        1,
        400,
    )
    [webhook] = webhooks_of(receiver, "customer.crm_provider_error")
    assert webhook["object_type"] == "crm_provider_customer_error"
    assert webhook["crm_provider_customer_error"]["lago_customer_id"] == customer["lago_id"]
    ok(api.post(f"/integration_jobs/{failed['lago_id']}/retry"))
    assert job(api, failed["lago_id"])["status"] == "succeeded"
    assert external_customer_id(api, CODE) == only(hubspot, "companies")["hs_object_id"]
