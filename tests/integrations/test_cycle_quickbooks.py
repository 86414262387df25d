"""A whole QuickBooks Online cycle through the API against its stand-in: customer, invoice (mapped lines,
Billow's total to the cent, synced again as an update), credit memo, payment linked to the invoice,
outages retried, a refusal failed with its webhook then retried, the rotated refresh token stored."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI

from tests.conftest import Api
from tests.fixtures.receiver import Receiver
from tests.fixtures.standins.quickbooks import FakeQuickBooks
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

REALM = "9130350000000001"
CODE = "qbo"


@pytest.fixture
def qbo() -> Iterator[FakeQuickBooks]:
    with FakeQuickBooks(realm_id=REALM) as standin:
        yield standin


def connect(api: Api, qbo: FakeQuickBooks, *, tax: bool = True) -> Catalog:
    secrets = {"client_id": "qb_client", "client_secret": "qb_secret", "refresh_token": qbo.refresh_token}
    add_integration(api, "quickbooks", CODE, qbo.url, {"realm_id": REALM, "environment": "sandbox"}, secrets)
    catalog = Catalog(api)
    add_mapping(api, CODE, mappable_type="plan", mappable_id=catalog.plan["lago_id"], external_id="1")
    add_mapping(
        api, CODE, mappable_type="billable_metric", mappable_id=catalog.metric["lago_id"], external_id="2"
    )
    add_mapping(api, CODE, mappable_type="add_on", mappable_id=catalog.add_on["lago_id"], external_id="3")
    add_mapping(api, CODE, mapping_type="fallback_item", external_id="4")
    add_mapping(api, CODE, mapping_type="coupon", external_id="5", external_account_code="86")
    if tax:
        add_mapping(api, CODE, mapping_type="tax", external_id="6")
    add_mapping(api, CODE, mapping_type="credit_note", external_id="7")
    add_mapping(api, CODE, mapping_type="prepaid_credit", external_id="4")
    add_mapping(api, CODE, mapping_type="account", external_id="35", external_account_code="35")
    return catalog


def cents(value: Any) -> int:
    return int(Decimal(str(value)) * 100)


def only(objects: dict[str, dict[str, Any]]) -> dict[str, Any]:
    [found] = objects.values()
    return found


def test_a_whole_cycle(app: FastAPI, api: Api, qbo: FakeQuickBooks) -> None:
    connect(api, qbo)
    # 2. The customer, created at QuickBooks; its id returned by GET /customers.
    linked_customer(api, "quickbooks", CODE)
    customer = only(qbo.objects["Customer"])
    assert external_customer_id(api, CODE) == customer["Id"]
    assert customer["DisplayName"] == "Acme Corp (cus_cycle)"

    # 7. The refresh token QuickBooks rotated is stored sealed (never in an answer).
    sealed, secrets = stored_secrets(app, api, CODE)
    assert secrets["refresh_token"] == qbo.refresh_token != "rt_0"
    assert qbo.refresh_token not in sealed
    shown = ok(api.get(f"/integrations/{CODE}"))
    assert qbo.refresh_token not in str(shown) and "refresh_token" in shown["integration"]["secret_keys"]

    # 3. Billed: the invoice at QuickBooks, lines on the mapped items, Billow's total to the cent.
    invoice = bill_on_termination(api)
    synced = only(qbo.objects["Invoice"])
    assert synced["CustomerRef"] == {"value": customer["Id"]}
    assert synced["DocNumber"] == invoice["number"][:21]
    assert cents(synced["TotalAmt"]) == invoice["total_amount_cents"]
    items = {
        line["SalesItemLineDetail"]["ItemRef"]["value"]: cents(line["Amount"])
        for line in synced["Line"]
        if line["DetailType"] == "SalesItemLineDetail"
    }
    fees = {fee["item"]["type"]: fee["amount_cents"] for fee in invoice["fees"]}
    assert items == {"1": fees["subscription"], "2": fees["charge"], "6": invoice["taxes_amount_cents"]}
    [discount] = [line for line in synced["Line"] if line["DetailType"] == "DiscountLineDetail"]
    assert cents(discount["Amount"]) == invoice["coupons_amount_cents"] > 0
    assert discount["DiscountLineDetail"]["DiscountAccountRef"] == {"value": "86"}
    [invoice_job] = job_list(api, CODE, operation="sync_invoice")
    assert invoice_job["result"]["external_id"] == synced["Id"]

    # Synced again: the same QuickBooks invoice updated (its SyncToken moves), never a second.
    resync(app, api, CODE, "sync_invoice", "invoice", invoice["lago_id"])
    assert only(qbo.objects["Invoice"])["SyncToken"] == "1"

    # 4. A credit note: a CreditMemo on the credit_note item, Billow's total.
    note = credit_note(api, invoice)
    assert [(j["status"], j["last_error"]) for j in job_list(api, CODE, operation="sync_credit_note")] == [
        ("succeeded", None)
    ]
    memo = only(qbo.objects["CreditMemo"])
    assert cents(memo["TotalAmt"]) == note["total_amount_cents"] > 0
    memo_items = [
        line["SalesItemLineDetail"]["ItemRef"]["value"]
        for line in memo["Line"]
        if line["DetailType"] == "SalesItemLineDetail"
    ]
    assert memo_items == ["7", "6"]  # the credited fee, the taxes; the coupons' share as a discount
    [memo_discount] = [line for line in memo["Line"] if line["DetailType"] == "DiscountLineDetail"]
    assert cents(memo_discount["Amount"]) == note["coupons_adjustment_amount_cents"] > 0
    assert memo["CustomerRef"] == {"value": customer["Id"]}

    # 5. A manual payment of what is due (the credit note is the customer's credit, for later
    # invoices): a Payment linked to the invoice, whose balance at QuickBooks is then 0.
    due = ok(api.get(f"/invoices/{invoice['lago_id']}"))["invoice"]["total_due_amount_cents"]
    assert due == invoice["total_amount_cents"]
    payment = pay(api, invoice["lago_id"], due)
    [payment_job] = job_list(api, CODE, operation="sync_payment")
    assert (payment_job["status"], payment_job["object_id"]) == ("succeeded", payment["lago_id"])
    synced_payment = only(qbo.objects["Payment"])
    assert cents(synced_payment["TotalAmt"]) == due
    assert synced_payment["Line"][0]["LinkedTxn"] == [{"TxnId": synced["Id"], "TxnType": "Invoice"}]
    assert synced_payment["UnappliedAmt"] == 0

    # 7. The next job, its access token expired, refreshes with the stored (rotated) refresh token.
    qbo.expire_access_tokens()
    resync(app, api, CODE, "sync_customer", "customer", customer_lago_id(api))
    assert len(qbo.objects["Customer"]) == 1
    assert stored_secrets(app, api, CODE)[1]["refresh_token"] == qbo.refresh_token
    assert all(j["status"] == "succeeded" for j in job_list(api, CODE))


def customer_lago_id(api: Api) -> str:
    return str(ok(api.get("/customers/cus_cycle"))["customer"]["lago_id"])


def test_a_one_off_invoice_lands_on_the_add_on_item(
    app: FastAPI, api: Api, other_api: Api, qbo: FakeQuickBooks
) -> None:
    connect(api, qbo)
    linked_customer(api, "quickbooks", CODE)
    invoice = one_off_invoice(api)
    synced = only(qbo.objects["Invoice"])
    assert [
        (line["SalesItemLineDetail"]["ItemRef"]["value"], cents(line["Amount"])) for line in synced["Line"]
    ] == [("3", 2000), ("6", invoice["taxes_amount_cents"])]  # 20.00 + 20 % VAT
    assert cents(synced["TotalAmt"]) == invoice["total_amount_cents"] == 2400
    [synced_job] = job_list(api, CODE, operation="sync_invoice")
    assert other_api.get(f"/integration_jobs/{synced_job['lago_id']}").status_code == 404
    assert other_api.get(f"/integrations/{CODE}/jobs").status_code == 404


def test_an_offset_credit_note_is_applied_to_the_invoice(app: FastAPI, api: Api, qbo: FakeQuickBooks) -> None:
    connect(api, qbo)
    linked_customer(api, "quickbooks", CODE)
    invoice = bill_on_termination(api)
    synced = only(qbo.objects["Invoice"])
    note = credit_note(api, invoice, "offset")
    memo = only(qbo.objects["CreditMemo"])
    [application] = qbo.objects["Payment"].values()
    assert cents(application["TotalAmt"]) == 0
    assert [(line["LinkedTxn"][0]["TxnType"], cents(line["Amount"])) for line in application["Line"]] == [
        ("Invoice", note["offset_amount_cents"]),
        ("CreditMemo", note["offset_amount_cents"]),
    ]
    due = invoice["total_amount_cents"] - note["offset_amount_cents"]
    assert (cents(synced["Balance"]), cents(memo["RemainingCredit"])) == (due, 0)
    # The credit note synced again (a retry) applies nothing more.
    resync(app, api, CODE, "sync_credit_note", "credit_note", note["lago_id"])
    assert len(qbo.objects["Payment"]) == 1
    pay(api, invoice["lago_id"], due)
    assert len(qbo.objects["Payment"]) == 2
    assert cents(synced["Balance"]) == 0


def test_outages_are_retried_without_duplicates(app: FastAPI, api: Api, qbo: FakeQuickBooks) -> None:
    connect(api, qbo)
    linked_customer(api, "quickbooks", CODE)
    qbo.fail_next(1, status=500)
    invoice = bill_on_termination(api)
    [waiting] = job_list(api, CODE, operation="sync_invoice")
    assert (waiting["status"], waiting["last_error"]["http_status"]) == ("pending", 500)
    qbo.fail_next(1, status=None, delay=1.0)  # the client gives up after 0.5 s
    run_due_later(app)
    detail = job(api, waiting["lago_id"])
    assert (detail["status"], detail["last_error"]["code"]) == ("pending", "timeout")
    run_due_later(app, 7200)
    detail = job(api, waiting["lago_id"])
    assert detail["status"] == "succeeded", detail
    assert [a["outcome"] for a in detail["attempts"]] == ["retrying", "retrying", "succeeded"]
    assert [a["http_status"] for a in detail["attempts"]] == [500, None, None]
    synced = only(qbo.objects["Invoice"])
    assert cents(synced["TotalAmt"]) == invoice["total_amount_cents"]


def test_a_refusal_fails_with_a_webhook_and_the_fixed_job_is_retried(
    app: FastAPI, api: Api, qbo: FakeQuickBooks, receiver: Receiver
) -> None:
    connect(api, qbo, tax=False)  # the invoice has taxes: no tax mapping, nothing sent
    linked_customer(api, "quickbooks", CODE)
    invoice = bill_on_termination(api)
    [failed] = job_list(api, CODE, operation="sync_invoice")
    assert (failed["status"], failed["attempts_count"], failed["last_error"]["code"]) == (
        "failed",
        1,
        "missing_mapping",
    )
    assert qbo.objects["Invoice"] == {}
    [webhook] = webhooks_of(receiver, "integration.provider_error")
    error = webhook["provider_error"]
    assert (error["provider"], error["provider_code"], error["lago_integration_id"]) == (
        "quickbooks",
        CODE,
        ok(api.get(f"/integrations/{CODE}"))["integration"]["lago_id"],
    )
    assert (error["provider_error"]["error_code"], error["provider_error"]["operation"]) == (
        "missing_mapping",
        "sync_invoice",
    )
    add_mapping(api, CODE, mapping_type="tax", external_id="6")
    ok(api.post(f"/integration_jobs/{failed['lago_id']}/retry"))
    assert job(api, failed["lago_id"])["status"] == "succeeded"
    assert cents(only(qbo.objects["Invoice"])["TotalAmt"]) == invoice["total_amount_cents"]


def test_a_refused_customer_sends_the_accounting_error_webhook(
    app: FastAPI, api: Api, qbo: FakeQuickBooks, receiver: Receiver
) -> None:
    connect(api, qbo)
    qbo.fail_next(1, status=400)  # the token endpoint refuses once
    linked_customer(api, "quickbooks", CODE)
    [failed] = job_list(api, CODE, operation="sync_customer")
    assert failed["status"] == "failed"
    [webhook] = webhooks_of(receiver, "customer.accounting_provider_error")
    assert webhook["object_type"] == "accounting_provider_customer_error"
    body = webhook["accounting_provider_customer_error"]
    assert (body["external_customer_id"], body["accounting_provider"], body["accounting_provider_code"]) == (
        "cus_cycle",
        "quickbooks",
        CODE,
    )
    assert body["provider_error"]["error_code"] == "invalid_credentials"
    ok(api.post(f"/integration_jobs/{failed['lago_id']}/retry"))
    assert job(api, failed["lago_id"])["status"] == "succeeded"
    assert len(qbo.objects["Customer"]) == 1
    assert external_customer_id(api, CODE) == only(qbo.objects["Customer"])["Id"]
