"""A payment over several invoices (a payment request's) at Xero: one receivables batch payment (one
deposit) with a payment per invoice of what Billow applied to it (``PaymentData.invoice_amounts``)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from billow.providers.interface import PaymentData, ProviderError
from billow.providers.xero import mapping
from tests.fixtures.standins.xero import API, FakeXero
from tests.providers import samples
from tests.providers.xero.test_provider import X, authed, contact_id, provider, xero

__all__ = ["xero"]


def two_invoices(xero: FakeXero) -> tuple[str, str, str]:
    """A contact and two invoices of 26.00 each (``samples.invoice``)."""
    contact = contact_id(xero)
    first = provider.sync_invoice(authed(xero), samples.invoice(contact, mappings=X)).external_id
    other = replace(samples.invoice(contact, mappings=X), id="inv-lago-2", number="ACM-2026-002")
    second = provider.sync_invoice(authed(xero), other).external_id
    return contact, first, second


def split_payment(contact: str, first: str | None, second: str | None) -> PaymentData:
    # 40.00 over two invoices owing 26.00 each: 2600 to the first, 4000 - 2600 = 1400 to the second.
    return replace(
        samples.payment(contact, first, amount_cents=4000),
        invoices={"inv-lago-1": first, "inv-lago-2": second},
        invoice_amounts={"inv-lago-1": 2600, "inv-lago-2": 1400},
    )


def test_batch_split() -> None:
    payment = split_payment("c", "x-1", "x-2")
    assert mapping.batch_split(payment) == [("inv-lago-1", 2600), ("inv-lago-2", 1400)]
    nothing = replace(payment, invoice_amounts={"inv-lago-1": 4000, "inv-lago-2": 0})
    assert mapping.batch_split(nothing) == [("inv-lago-1", 4000)]
    assert mapping.batch_split(replace(payment, invoice_amounts={"inv-lago-1": 2600})) is None


def test_one_batch_payment_with_a_payment_per_invoice(xero: FakeXero) -> None:
    contact, first, second = two_invoices(xero)
    result = provider.sync_payment(authed(xero), split_payment(contact, first, second))
    [call] = xero.calls("PUT", API + r"/BatchPayments")
    [batch] = call.json()["BatchPayments"]
    assert batch["Account"]["Code"] == "090"  # the "account" mapping
    assert [(p["Invoice"]["InvoiceID"], p["Amount"]) for p in batch["Payments"]] == [
        (first, 26.0),
        (second, 14.0),
    ]
    assert batch["Reference"] == "WIRE-77"
    assert result.external_id in xero.batch_payments
    assert result.details == {"batch": True, "amount": "40.0"}
    # 26.00 - 26.00 = 0 (PAID); 26.00 - 14.00 = 12.00
    assert (xero.invoices[first]["AmountDue"], xero.invoices[first]["Status"]) == (0.0, "PAID")
    assert xero.invoices[second]["AmountDue"] == 12.0
    # Synced again (a retry that knows its id): the batch stands, nothing is sent.
    again = provider.sync_payment(
        authed(xero), replace(split_payment(contact, first, second), provider_payment_id=result.external_id)
    )
    assert again.external_id == result.external_id
    assert len(xero.calls("PUT", API + r"/BatchPayments")) == 1


def test_an_unsynced_invoice_of_the_split_waits(xero: FakeXero) -> None:
    contact, first, _ = two_invoices(xero)
    with pytest.raises(ProviderError) as err:
        provider.sync_payment(authed(xero), split_payment(contact, first, None))
    assert (err.value.code, err.value.retryable) == ("invoice_not_synced", True)
    assert xero.calls("PUT", API + r"/BatchPayments") == []
