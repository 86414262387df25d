"""A payment over several invoices (a payment request's) at QuickBooks: one Payment with a line per invoice,
each ``LinkedTxn`` to its invoice, of what Billow applied to it (``PaymentData.invoice_amounts``)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from billow.providers.interface import PaymentData, ProviderError
from billow.providers.quickbooks import mapping
from tests.fixtures.standins.quickbooks import FakeQuickBooks
from tests.providers import samples
from tests.providers.quickbooks.test_provider import REALM, ctx, provider, qbo, synced_customer

__all__ = ["qbo"]


def two_invoices(qbo: FakeQuickBooks) -> tuple[str, str, str]:
    """A customer and two invoices of 26.00 each (``samples.invoice``)."""
    customer_id = synced_customer(qbo)
    first = provider.sync_invoice(
        ctx(qbo, access_token=qbo.issue_access_token()), samples.invoice(customer_id)
    )
    other = replace(samples.invoice(customer_id), id="inv-lago-2", number="ACM-2026-002")
    second = provider.sync_invoice(ctx(qbo, access_token=qbo.issue_access_token()), other)
    return customer_id, first.external_id, second.external_id


def split_payment(customer_id: str, first: str | None, second: str | None) -> PaymentData:
    # 40.00 paid over two invoices owing 26.00 each: the first is paid in full (2600), the second
    # takes the rest, 4000 - 2600 = 1400.
    return replace(
        samples.payment(customer_id, first, amount_cents=4000),
        invoices={"inv-lago-1": first, "inv-lago-2": second},
        invoice_amounts={"inv-lago-1": 2600, "inv-lago-2": 1400},
    )


def test_payment_links_are_the_split_in_the_invoices_order() -> None:
    payment = split_payment("1", "q-1", "q-2")
    refs = {"inv-lago-1": "q-1", "inv-lago-2": "q-2"}
    assert mapping.payment_links(payment, refs) == [("q-1", 2600), ("q-2", 1400)]
    # An invoice given nothing gets no line; one invoice takes the whole payment.
    nothing = replace(payment, invoice_amounts={"inv-lago-1": 4000, "inv-lago-2": 0})
    assert mapping.payment_links(nothing, refs) == [("q-1", 4000)]
    single = samples.payment("1", "q-1", amount_cents=4000)
    assert mapping.payment_links(single, {"inv-lago-1": "q-1"}) == [("q-1", 4000)]
    # The split unknown (a job queued before it was recorded): no links, the payment stays unapplied.
    assert mapping.payment_links(replace(payment, invoice_amounts={}), refs) == []


def test_one_payment_with_a_line_per_invoice(qbo: FakeQuickBooks) -> None:
    customer_id, first, second = two_invoices(qbo)
    result = provider.sync_payment(
        ctx(qbo, access_token=qbo.issue_access_token()), split_payment(customer_id, first, second)
    )
    body = qbo.calls("POST", f"/v3/company/{REALM}/payment")[0].json()
    assert body["TotalAmt"] == 40.0
    assert body["Line"] == [
        {"Amount": 26.0, "LinkedTxn": [{"TxnId": first, "TxnType": "Invoice"}]},
        {"Amount": 14.0, "LinkedTxn": [{"TxnId": second, "TxnType": "Invoice"}]},
    ]
    assert "unapplied" not in result.details
    assert qbo.objects["Payment"][result.external_id]["UnappliedAmt"] == 0.0
    # 26.00 - 26.00 = 0; 26.00 - 14.00 = 12.00
    assert (qbo.objects["Invoice"][first]["Balance"], qbo.objects["Invoice"][second]["Balance"]) == (
        0.0,
        12.0,
    )


def test_an_unsynced_invoice_of_the_split_waits(qbo: FakeQuickBooks) -> None:
    customer_id, first, _ = two_invoices(qbo)
    with pytest.raises(ProviderError) as err:
        provider.sync_payment(
            ctx(qbo, access_token=qbo.issue_access_token()), split_payment(customer_id, first, None)
        )
    assert (err.value.code, err.value.retryable) == ("invoice_not_synced", True)
    assert qbo.calls("POST", f"/v3/company/{REALM}/payment") == []
