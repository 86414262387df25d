"""A whole Xero cycle through the API against its stand-in: contact, ACCREC invoice (mapped item codes
and accounts, Billow's total to the cent, synced again as an update), ACCRECCREDIT credit note allocated
to the invoice, payment on the mapped account, outages retried, a refusal failed with its webhook then
retried, the rotated refresh token stored."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI

from tests.conftest import Api
from tests.fixtures.receiver import Receiver
from tests.fixtures.standins.xero import FakeXero
from tests.integrations.cycle import (
    Catalog,
    add_integration,
    add_mapping,
    bill_on_termination,
    credit_note,
    external_customer_id,
    job,
    job_list,
    linked_customer,
    ok,
    one_off_invoice,
    pay,
    resync,
    run_due_later,
    stored_secrets,
    webhooks_of,
)

TENANT = "6b4d3a86-1d3f-4f0c-9a4a-4c1c2c1b9f10"
CODE = "xero"


@pytest.fixture
def xero() -> Iterator[FakeXero]:
    with FakeXero(tenant_id=TENANT) as standin:
        yield standin


def connect(api: Api, xero: FakeXero, *, account: bool = True) -> Catalog:
    secrets = {
        "client_id": "xero_client",
        "client_secret": "xero_secret",
        "refresh_token": xero.refresh_token,
    }
    add_integration(api, "xero", CODE, xero.url, {"tenant_id": TENANT}, secrets)
    catalog = Catalog(api)
    plan, metric, add_on = catalog.plan["lago_id"], catalog.metric["lago_id"], catalog.add_on["lago_id"]
    add_mapping(
        api, CODE, mappable_type="plan", mappable_id=plan, external_id="1", external_account_code="200"
    )
    add_mapping(
        api,
        CODE,
        mappable_type="billable_metric",
        mappable_id=metric,
        external_id="2",
        external_account_code="200",
    )
    add_mapping(
        api, CODE, mappable_type="add_on", mappable_id=add_on, external_id="3", external_account_code="200"
    )
    add_mapping(api, CODE, mapping_type="fallback_item", external_id="4", external_account_code="200")
    add_mapping(api, CODE, mapping_type="coupon", external_id="7", external_account_code="4900")
    add_mapping(api, CODE, mapping_type="credit_note", external_id="7", external_account_code="4910")
    add_mapping(api, CODE, mapping_type="prepaid_credit", external_id="7", external_account_code="4920")
    add_mapping(api, CODE, mapping_type="tax", external_id="OUTPUT2")
    if account:
        add_mapping(api, CODE, mapping_type="account", external_id="090", external_account_code="090")
    return catalog


def cents(value: Any) -> int:
    return int(Decimal(str(value)) * 100)


def only(objects: dict[str, dict[str, Any]]) -> dict[str, Any]:
    [found] = objects.values()
    return found


def test_a_whole_cycle(app: FastAPI, api: Api, xero: FakeXero) -> None:
    connect(api, xero)
    # 2. The contact, created at Xero; its id returned by GET /customers.
    customer = linked_customer(api, "xero", CODE)
    contact = only(xero.contacts)
    assert external_customer_id(api, CODE) == contact["ContactID"]
    assert contact["Name"] == "Acme Corp (cus_cycle)"

    # 7. The refresh token Xero rotated is stored sealed (never in an answer).
    sealed, secrets = stored_secrets(app, api, CODE)
    assert secrets["refresh_token"] == xero.refresh_token != "xrt_0"
    assert xero.refresh_token not in sealed
    assert xero.refresh_token not in str(ok(api.get(f"/integrations/{CODE}")))

    # 3. Billed: an ACCREC invoice, lines on the mapped items and accounts, Billow's total to the cent.
    invoice = bill_on_termination(api)
    synced = only(xero.invoices)
    assert (synced["Type"], synced["Contact"]["ContactID"], synced["InvoiceNumber"]) == (
        "ACCREC",
        contact["ContactID"],
        invoice["number"],
    )
    assert cents(synced["Total"]) == invoice["total_amount_cents"]
    assert cents(synced["TotalTax"]) == invoice["taxes_amount_cents"]
    fees = {fee["item"]["type"]: fee["amount_cents"] for fee in invoice["fees"]}
    lines = [
        (line["ItemCode"], line["AccountCode"], cents(line["LineAmount"])) for line in synced["LineItems"]
    ]
    assert sorted(lines) == [
        ("1", "200", fees["subscription"]),
        ("2", "200", fees["charge"]),
        ("7", "4900", -invoice["coupons_amount_cents"]),
    ]

    # Synced again: the same Xero invoice updated, never a second.
    resync(app, api, CODE, "sync_invoice", "invoice", invoice["lago_id"])
    assert len(xero.invoices) == 1
    assert len(xero.calls("POST", r"/api.xro/2.0/Invoices")) == 2
    assert (
        xero.calls("POST", r"/api.xro/2.0/Invoices")[-1].json()["Invoices"][0]["InvoiceID"]
        == synced["InvoiceID"]
    )

    # 4. A credit note deducted from what the invoice owes: ACCRECCREDIT, Billow's total, allocated to
    # the invoice.
    note = credit_note(api, invoice, "offset")
    synced_note = only(xero.credit_notes)
    assert synced_note["Type"] == "ACCRECCREDIT"
    assert cents(synced_note["Total"]) == note["total_amount_cents"] > 0
    assert [(a["Invoice"]["InvoiceID"], cents(a["Amount"])) for a in synced_note["Allocations"]] == [
        (synced["InvoiceID"], note["offset_amount_cents"])
    ]
    assert note["offset_amount_cents"] == note["total_amount_cents"]

    # 5. A manual payment of what is left: a Xero payment on the invoice, which is then paid.
    due = ok(api.get(f"/invoices/{invoice['lago_id']}"))["invoice"]["total_due_amount_cents"]
    assert due == invoice["total_amount_cents"] - note["offset_amount_cents"]
    payment = pay(api, invoice["lago_id"], due)
    [payment_job] = job_list(api, CODE, operation="sync_payment")
    assert (payment_job["status"], payment_job["object_id"]) == ("succeeded", payment["lago_id"])
    synced_payment = only(xero.payments)
    assert (synced_payment["Invoice"]["InvoiceID"], synced_payment["Account"]["Code"]) == (
        synced["InvoiceID"],
        "090",
    )
    assert cents(synced_payment["Amount"]) == due
    assert xero.invoices[synced["InvoiceID"]]["Status"] == "PAID"

    # 7. The next job, its access token expired, refreshes with the stored (rotated) refresh token.
    xero.access_tokens.clear()
    resync(app, api, CODE, "sync_customer", "customer", customer["lago_id"])
    assert len(xero.contacts) == 1
    assert stored_secrets(app, api, CODE)[1]["refresh_token"] == xero.refresh_token
    assert all(j["status"] == "succeeded" for j in job_list(api, CODE))


def test_a_one_off_invoice_lands_on_the_add_on_item(api: Api, xero: FakeXero) -> None:
    connect(api, xero)
    linked_customer(api, "xero", CODE)
    invoice = one_off_invoice(api)
    synced = only(xero.invoices)
    assert [
        (line["ItemCode"], line["AccountCode"], cents(line["LineAmount"]), cents(line["TaxAmount"]))
        for line in synced["LineItems"]
    ] == [("3", "200", 2000, 400)]  # 20.00 + 20 % VAT
    assert cents(synced["Total"]) == invoice["total_amount_cents"] == 2400


def test_outages_are_retried_without_duplicates(app: FastAPI, api: Api, xero: FakeXero) -> None:
    connect(api, xero)
    linked_customer(api, "xero", CODE)
    xero.fail_next(1, status=500)
    invoice = bill_on_termination(api)
    [waiting] = job_list(api, CODE, operation="sync_invoice")
    assert (waiting["status"], waiting["last_error"]["http_status"]) == ("pending", 500)
    xero.fail_next(1, status=None, delay=1.0)  # the client gives up after 0.5 s
    run_due_later(app)
    detail = job(api, waiting["lago_id"])
    assert (detail["status"], detail["last_error"]["code"]) == ("pending", "timeout")
    run_due_later(app, 7200)
    detail = job(api, waiting["lago_id"])
    assert detail["status"] == "succeeded", detail
    assert [a["outcome"] for a in detail["attempts"]] == ["retrying", "retrying", "succeeded"]
    assert cents(only(xero.invoices)["Total"]) == invoice["total_amount_cents"]


def test_a_refusal_fails_with_a_webhook_and_the_fixed_job_is_retried(
    app: FastAPI, api: Api, xero: FakeXero, receiver: Receiver
) -> None:
    connect(api, xero, account=False)  # payments need the account mapping
    linked_customer(api, "xero", CODE)
    invoice = bill_on_termination(api)
    pay(api, invoice["lago_id"], invoice["total_amount_cents"])
    [failed] = job_list(api, CODE, operation="sync_payment")
    assert (failed["status"], failed["last_error"]["code"]) == ("failed", "missing_mapping")
    assert xero.payments == {}
    [webhook] = webhooks_of(receiver, "integration.provider_error")
    assert webhook["provider_error"]["provider_code"] == CODE
    add_mapping(api, CODE, mapping_type="account", external_id="090", external_account_code="090")
    ok(api.post(f"/integration_jobs/{failed['lago_id']}/retry"))
    assert job(api, failed["lago_id"])["status"] == "succeeded"
    assert cents(only(xero.payments)["Amount"]) == invoice["total_amount_cents"]


def test_a_refused_customer_sends_the_accounting_error_webhook(
    app: FastAPI, api: Api, xero: FakeXero, receiver: Receiver
) -> None:
    connect(api, xero)
    xero.fail_next(1, status=400)  # the token endpoint refuses once
    linked_customer(api, "xero", CODE)
    [failed] = job_list(api, CODE, operation="sync_customer")
    assert failed["status"] == "failed"
    [webhook] = webhooks_of(receiver, "customer.accounting_provider_error")
    assert webhook["object_type"] == "accounting_provider_customer_error"
    ok(api.post(f"/integration_jobs/{failed['lago_id']}/retry"))
    assert job(api, failed["lago_id"])["status"] == "succeeded"
    assert external_customer_id(api, CODE) == only(xero.contacts)["ContactID"]
