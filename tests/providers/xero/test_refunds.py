"""A credit note's refunded part at Xero: a payment against the ACCRECCREDIT (Xero's refund of a credit
note), from the ``account`` mapping, once."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from billow.providers.interface import CreditNoteData
from billow.providers.xero import mapping
from tests.fixtures.standins.xero import API, FakeXero
from tests.providers import samples
from tests.providers.xero.test_provider import X, authed, contact_id, invoice_id, provider, xero

__all__ = ["xero"]


def refunding(contact: str, invoice: str | None) -> CreditNoteData:
    # 12.00 credited (10.00 + 20 % VAT): 7.50 refunded, 12.00 - 7.50 = 4.50 left as the customer's credit.
    return replace(
        samples.credit_note(contact, invoice, mappings=X), credit_amount_cents=450, refund_amount_cents=750
    )


def test_refund_payment_model() -> None:
    model = mapping.refund_payment(refunding("c", "i"), "cn-x")
    assert model is not None
    assert (model.credit_note.credit_note_id, model.account.code) == ("cn-x", "090")
    assert model.amount == Decimal("7.50")
    assert model.reference == "Billow refund ACM-2026-001-CN001"
    assert mapping.refund_payment(samples.credit_note("c", "i", mappings=X), "cn-x") is None  # no refund


def test_the_refund_is_paid_against_the_credit_note_once(xero: FakeXero) -> None:
    contact = contact_id(xero)
    note = refunding(contact, invoice_id(xero, contact))
    result = provider.sync_credit_note(authed(xero), note)
    [call] = xero.calls("POST", API + r"/Payments")
    body = call.json()
    assert body["CreditNote"]["CreditNoteID"] == result.external_id
    assert (body["Amount"], body["Account"]["Code"]) == (7.5, "090")
    refund = xero.payments[result.details["refund_payment_id"]]
    assert refund["PaymentType"] == "ARCREDITPAYMENT"
    assert xero.credit_notes[result.external_id]["RemainingCredit"] == 4.5  # 12.00 - 7.50
    # Synced again (e.g. an update): the note keeps its one refund.
    again = provider.sync_credit_note(authed(xero), replace(note, provider_credit_note_id=result.external_id))
    assert again.external_id == result.external_id
    assert len(xero.calls("POST", API + r"/Payments")) == 1
    assert xero.credit_notes[result.external_id]["RemainingCredit"] == 4.5


def test_a_credit_only_note_pays_nothing_back(xero: FakeXero) -> None:
    contact = contact_id(xero)
    provider.sync_credit_note(
        authed(xero), samples.credit_note(contact, invoice_id(xero, contact), mappings=X)
    )
    assert xero.calls("POST", API + r"/Payments") == []
