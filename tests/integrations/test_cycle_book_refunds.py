"""A credit note's refunded part booked in the accounting tools, through the API: at Xero a payment
against the ACCRECCREDIT (the credit paid back)."""

from __future__ import annotations

from tests.conftest import Api
from tests.fixtures.standins.xero import FakeXero
from tests.integrations.cycle import credit_note, job_list, linked_customer, one_off_invoice, pay
from tests.integrations.test_cycle_xero import CODE as XERO
from tests.integrations.test_cycle_xero import cents, only, xero
from tests.integrations.test_cycle_xero import connect as connect_xero

__all__ = ["xero"]


def test_a_refund_is_paid_back_against_the_credit_note_at_xero(api: Api, xero: FakeXero) -> None:
    connect_xero(api, xero)
    linked_customer(api, "xero", XERO)
    invoice = one_off_invoice(api)  # 20.00 + 20 % VAT = 24.00
    pay(api, invoice["lago_id"], invoice["total_amount_cents"])
    # Half the 20.00 fee refunded: 10.00 + 20 % VAT = 12.00.
    note = credit_note(api, invoice, "refund")
    assert (note["refund_amount_cents"], note["total_amount_cents"]) == (1200, 1200)
    [job] = job_list(api, XERO, operation="sync_credit_note")
    assert job["status"] == "succeeded", job
    synced = only(xero.credit_notes)
    [refund] = [p for p in xero.payments.values() if "CreditNote" in p]
    assert refund["CreditNote"]["CreditNoteID"] == synced["CreditNoteID"]
    assert (cents(refund["Amount"]), refund["Account"]["Code"]) == (1200, "090")
    assert synced["RemainingCredit"] == 0.0 and synced["Status"] == "PAID"  # 12.00 - 12.00
    assert job["result"]["details"]["refund_payment_id"] == refund["PaymentID"]
