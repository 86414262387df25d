"""A whole Salesforce cycle through the API against its stand-in: the Account, the subscription and invoice
records (looked up to the Account, Billow's amounts to the cent, synced again as an update), the invoice
record following a credit note's offset and the payment, outages retried, a refusal failed with its
webhook then retried, the rotated refresh token stored sealed and used by the next job."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI

from tests.conftest import Api
from tests.fixtures.receiver import Receiver
from tests.fixtures.standins.salesforce import FakeSalesforce
from tests.integrations.cycle import (
    CUSTOMER,
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
    stored_secrets,
    subscription_sync_survives_outages,
    webhooks_of,
)

CODE = "salesforce"
INVOICE = "Billow_Invoice__c"
SUBSCRIPTION = "Billow_Subscription__c"


@pytest.fixture
def salesforce() -> Iterator[FakeSalesforce]:
    with FakeSalesforce() as standin:
        standin.rotate_refresh_tokens = True
        yield standin


def connect(api: Api, salesforce: FakeSalesforce) -> Catalog:
    secrets = {
        "client_id": salesforce.client_id,
        "client_secret": salesforce.client_secret,
        "refresh_token": salesforce.refresh_token,
    }
    add_integration(api, "salesforce", CODE, salesforce.url, {}, secrets)
    return Catalog(api)


def cents(value: Any) -> int:
    return int(Decimal(str(value)) * 100)


def only(salesforce: FakeSalesforce, sobject: str) -> dict[str, Any]:
    [found] = salesforce.records.get(sobject, {}).values()
    return dict(found)


def test_a_whole_cycle(app: FastAPI, api: Api, salesforce: FakeSalesforce) -> None:
    first_refresh_token = salesforce.refresh_token
    connect(api, salesforce)
    # 2. The Account, created at Salesforce; its id returned by GET /customers.
    customer = linked_customer(api, "salesforce", CODE)
    account = only(salesforce, "Account")
    assert account["Billow_Customer_Id__c"] == customer["lago_id"]
    assert external_customer_id(api, CODE) == account["Id"]

    # 7. The refresh token Salesforce rotated is stored sealed (never in an answer).
    sealed, secrets = stored_secrets(app, api, CODE)
    assert secrets["refresh_token"] == salesforce.refresh_token != first_refresh_token
    assert salesforce.refresh_token not in sealed
    assert salesforce.refresh_token not in str(ok(api.get(f"/integrations/{CODE}")))

    # 3. Billed: the invoice record, looked up to the Account, Billow's amounts to the cent.
    invoice = bill_on_termination(api)
    record = only(salesforce, INVOICE)
    assert (record["Billow_Invoice_Id__c"], record["Invoice_Number__c"]) == (
        invoice["lago_id"],
        invoice["number"],
    )
    assert cents(record["Total_Amount__c"]) == invoice["total_amount_cents"]
    assert cents(record["Taxes_Amount__c"]) == invoice["taxes_amount_cents"]
    assert cents(record["Coupons_Amount__c"]) == invoice["coupons_amount_cents"] > 0
    assert record["Payment_Status__c"] == "pending"
    assert account["Id"] in record.values()
    assert (
        only(salesforce, SUBSCRIPTION)["Billow_Subscription_Id__c"] == invoice["subscriptions"][0]["lago_id"]
    )

    # Synced again: the same record updated, never a second.
    resync(app, api, CODE, "sync_invoice", "invoice", invoice["lago_id"])
    assert len(salesforce.records[INVOICE]) == 1

    # 4. A credit note deducted from what the invoice owes: the invoice record shows what is left.
    note = credit_note(api, invoice, "offset")
    due = invoice["total_amount_cents"] - note["offset_amount_cents"]
    assert cents(only(salesforce, INVOICE)["Total_Due_Amount__c"]) == due

    # 5. A manual payment of what is left: the invoice record shows it paid.
    pay(api, invoice["lago_id"], due)
    record = only(salesforce, INVOICE)
    assert (record["Payment_Status__c"], cents(record["Total_Due_Amount__c"])) == ("succeeded", 0)
    assert cents(record["Total_Paid_Amount__c"]) == due
    assert len(salesforce.records[INVOICE]) == len(salesforce.records["Account"]) == 1

    # 7. The session expired: the next job logs in with the stored (rotated) refresh token.
    salesforce.expire_tokens()
    resync(app, api, CODE, "sync_customer", "customer", customer["lago_id"])
    assert len(salesforce.records["Account"]) == 1
    assert stored_secrets(app, api, CODE)[1]["refresh_token"] == salesforce.refresh_token
    assert all(j["status"] == "succeeded" for j in job_list(api, CODE))


def test_outages_are_retried_without_duplicates(app: FastAPI, api: Api, salesforce: FakeSalesforce) -> None:
    connect(api, salesforce)
    linked_customer(api, "salesforce", CODE)
    subscription_sync_survives_outages(app, api, salesforce, CODE)
    assert len(salesforce.records[SUBSCRIPTION]) == 1


def test_a_refusal_fails_with_the_crm_error_webhook_and_is_retried(
    app: FastAPI, api: Api, salesforce: FakeSalesforce, receiver: Receiver
) -> None:
    connect(api, salesforce)
    linked_customer(api, "salesforce", CODE)  # logged in: the next call goes to the data API
    [synced] = job_list(api, CODE, operation="sync_customer")
    salesforce.fail_next_with(400, "REQUIRED_FIELD_MISSING", "Required fields are missing: [Name]")
    customer = ok(api.post("/customers", {"customer": {"external_id": CUSTOMER, "name": "Acme SAS"}}))
    failed = job(api, job_list(api, CODE, operation="sync_customer", status="failed")[0]["lago_id"])
    assert failed["lago_id"] != synced["lago_id"]
    assert (failed["attempts_count"], failed["last_error"]["http_status"]) == (1, 400)
    [webhook] = webhooks_of(receiver, "customer.crm_provider_error")
    assert webhook["object_type"] == "crm_provider_customer_error"
    assert webhook["crm_provider_customer_error"]["lago_customer_id"] == customer["customer"]["lago_id"]
    ok(api.post(f"/integration_jobs/{failed['lago_id']}/retry"))
    assert job(api, failed["lago_id"])["status"] == "succeeded"
    assert only(salesforce, "Account")["Name"] == "Acme SAS"
