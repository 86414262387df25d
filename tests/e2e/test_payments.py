"""Manual payments, receipts and payment requests through ``lago-python-client``: ``client.payments``,
``client.payment_receipts``, ``client.payment_requests`` parse every answer."""

from __future__ import annotations

import pytest
from lago_python_client.client import Client
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import AddOn, Customer, InvoiceFee, InvoiceFeesList, OneOffInvoice
from lago_python_client.models.payment import Payment
from lago_python_client.models.payment_request import PaymentRequest

pytestmark = pytest.mark.e2e


def test_manual_payments(lago: Client, other_lago: Client, suffix: str) -> None:
    lago.add_ons.create(AddOn(name="Setup", code=f"pay_{suffix}", amount_cents=10000, amount_currency="EUR"))
    customer = lago.customers.create(Customer(external_id=f"pay_{suffix}", name="Ada"))
    invoice = lago.invoices.create(
        OneOffInvoice(
            external_customer_id=customer.external_id,
            currency="EUR",
            fees=InvoiceFeesList(__root__=[InvoiceFee(add_on_code=f"pay_{suffix}")]),
        )
    )
    assert invoice is not None and invoice.total_amount_cents == 10000

    first = lago.payments.create(
        Payment(invoice_id=invoice.lago_id, amount_cents=2500, reference="wire-1", paid_at="2025-02-20")
    )
    assert first is not None
    assert (first.amount_cents, first.amount_currency, first.payment_status, first.type) == (
        2500,
        "EUR",
        "succeeded",
        "manual",
    )
    assert (first.invoice_ids, first.invoice_numbers, first.created_at) == (
        [invoice.lago_id],
        [invoice.number],
        "2025-02-20T00:00:00Z",
    )
    partly = lago.invoices.find(invoice.lago_id)
    assert (partly.payment_status, partly.total_paid_amount_cents, partly.total_due_amount_cents) == (
        "pending",
        2500,
        7500,
    )
    with pytest.raises(LagoApiError) as too_much:
        lago.payments.create(
            Payment(invoice_id=invoice.lago_id, amount_cents=7501, reference="wire-2", paid_at=None)
        )
    assert too_much.value.status_code == 422
    second = lago.payments.create(
        Payment(invoice_id=invoice.lago_id, amount_cents=7500, reference="wire-2", paid_at=None)
    )
    assert second is not None
    assert lago.invoices.find(invoice.lago_id).payment_status == "succeeded"

    listed = lago.payments.find_all({"invoice_id": invoice.lago_id})
    assert [p.lago_id for p in listed["payments"]] == [second.lago_id, first.lago_id]
    assert listed["meta"]["total_count"] == 2
    assert lago.payments.find(first.lago_id).reference == "wire-1"

    receipts = lago.payment_receipts.find_all({"invoice_id": invoice.lago_id})
    assert [r.payment.lago_id for r in receipts["payment_receipts"]] == [second.lago_id, first.lago_id]
    receipt = receipts["payment_receipts"][0]
    assert lago.payment_receipts.find(receipt.lago_id).number == receipt.number

    with pytest.raises(LagoApiError) as not_overdue:
        lago.payment_requests.create(
            PaymentRequest(
                email="pay@ada.example",
                external_customer_id=customer.external_id,
                lago_invoice_ids=[invoice.lago_id],
            )
        )
    assert not_overdue.value.status_code == 405
    assert (
        lago.payment_requests.find_all({"external_customer_id": customer.external_id})["payment_requests"]
        == []
    )

    with pytest.raises(LagoApiError) as elsewhere:
        other_lago.payments.find(first.lago_id)
    assert elsewhere.value.status_code == 404
