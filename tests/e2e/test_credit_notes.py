"""Manual credit notes through ``lago-python-client``: estimate, create, update, void a credit note,
metadata, and void an invoice with a credit note (the client parses every answer)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from lago_python_client.client import Client
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import Customer, Plan, Subscription
from lago_python_client.models.credit_note import (
    CreditNote,
    CreditNoteEstimate,
    CreditNoteUpdate,
    Item,
    Items,
)

pytestmark = pytest.mark.e2e


def first_invoice(lago: Client, external_customer_id: str) -> Any:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        invoices = lago.invoices.find_all(options={"external_customer_id": external_customer_id})["invoices"]
        if invoices:
            return lago.invoices.find(invoices[0].lago_id)
        time.sleep(0.2)
    raise AssertionError("no invoice")


def test_estimate_create_void(lago: Client, other_lago: Client, suffix: str) -> None:
    lago.plans.create(
        Plan(
            name="Advance",
            code=f"cn_{suffix}",
            interval="monthly",
            amount_cents=3100,
            amount_currency="USD",
            pay_in_advance=True,
        )
    )
    lago.customers.create(Customer(external_id=f"cn_{suffix}", name="Ada", currency="USD"))
    lago.subscriptions.create(
        Subscription(
            external_customer_id=f"cn_{suffix}",
            plan_code=f"cn_{suffix}",
            external_id=f"cn_{suffix}",
            billing_time="anniversary",
        )
    )
    invoice = first_invoice(lago, f"cn_{suffix}")
    [fee] = invoice.fees.__root__
    assert (invoice.total_amount_cents, fee.amount_cents) == (3100, 3100)
    items = Items(__root__=[Item(fee_id=fee.lago_id, amount_cents=1000)])

    estimated = lago.credit_notes.estimate(CreditNoteEstimate(invoice_id=invoice.lago_id, items=items))
    assert (
        estimated.max_creditable_amount_cents,
        estimated.max_refundable_amount_cents,
        estimated.max_offsettable_amount_cents,
        estimated.taxes_amount_cents,
        estimated.coupons_adjustment_amount_cents,
    ) == (1000, 0, 1000, 0, 0)
    assert [(i.lago_fee_id, i.amount_cents) for i in estimated.items.__root__] == [(fee.lago_id, 1000)]

    note = lago.credit_notes.create(
        CreditNote(
            invoice_id=invoice.lago_id,
            reason="other",
            credit_amount_cents=600,
            offset_amount_cents=400,
            items=items,
            metadata={"ticket": "T-1"},
        )
    )
    assert (note.number, note.credit_status, note.balance_amount_cents, note.total_amount_cents) == (
        f"{invoice.number}-CN001",
        "available",
        600,
        1000,
    )
    assert note.metadata == {"ticket": "T-1"}
    assert lago.invoices.find(invoice.lago_id).total_due_amount_cents == 2700  # 3100 - 400 offset

    with pytest.raises(LagoApiError) as too_much:
        lago.credit_notes.create(
            CreditNote(
                invoice_id=invoice.lago_id,
                credit_amount_cents=2101,
                items=Items(__root__=[Item(fee_id=fee.lago_id, amount_cents=2101)]),
            )
        )
    assert too_much.value.status_code == 422
    assert too_much.value.response["error_details"] == {"amount_cents": ["higher_than_remaining_fee_amount"]}
    with pytest.raises(LagoApiError) as elsewhere:
        other_lago.credit_notes.find(note.lago_id)
    assert elsewhere.value.status_code == 404

    updated = lago.credit_notes.update(CreditNoteUpdate(metadata={"ticket": "T-2"}), note.lago_id)
    assert updated.metadata == {"ticket": "T-2"}
    assert lago.credit_notes.merge_metadata(note.lago_id, {"extra": None}) == {"ticket": "T-2", "extra": None}
    assert lago.credit_notes.delete_metadata_key(note.lago_id, "extra") == {"ticket": "T-2"}

    voided = lago.credit_notes.void(note.lago_id)
    assert (voided.credit_status, voided.balance_amount_cents) == ("voided", 0)
    listed = lago.credit_notes.find_all({"external_customer_id": f"cn_{suffix}"})["credit_notes"]
    assert [n.lago_id for n in listed] == [note.lago_id]

    # What is left (2100) is voided with the invoice: 500 as credit, 1600 on a voided note.
    voided_invoice = lago.invoices.void_invoice(
        invoice.lago_id, {"generate_credit_note": True, "credit_amount": 500}
    )
    assert voided_invoice.status == "voided"
    notes = sorted(
        lago.credit_notes.find_all({"external_customer_id": f"cn_{suffix}"})["credit_notes"],
        key=lambda n: n.number,
    )
    assert [(n.number, n.total_amount_cents, n.credit_status, n.balance_amount_cents) for n in notes] == [
        (f"{invoice.number}-CN001", 1000, "voided", 0),
        (f"{invoice.number}-CN002", 500, "available", 500),
        (f"{invoice.number}-CN003", 1600, "voided", 0),
    ]
