"""``client.invoices.lose_dispute`` (the client sends PUT; Lago's route is POST: Billow takes both) parses
the answer, ``payment_dispute_lost_at`` set; a voided invoice is Lago's 405; another organization's 404."""

from __future__ import annotations

import pytest
from lago_python_client.client import Client
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import AddOn, Customer, InvoiceFee, InvoiceFeesList, OneOffInvoice

pytestmark = pytest.mark.e2e


def test_lose_dispute(lago: Client, other_lago: Client, suffix: str) -> None:
    lago.add_ons.create(AddOn(name="Setup", code=f"dis_{suffix}", amount_cents=5000, amount_currency="EUR"))
    customer = lago.customers.create(Customer(external_id=f"dis_{suffix}", name="Ada"))
    fees = InvoiceFeesList(__root__=[InvoiceFee(add_on_code=f"dis_{suffix}")])
    invoice = lago.invoices.create(
        OneOffInvoice(external_customer_id=customer.external_id, currency="EUR", fees=fees)
    )
    assert invoice is not None and invoice.payment_dispute_lost_at is None
    lost = lago.invoices.lose_dispute(invoice.lago_id)
    assert lost is not None and lost.lago_id == invoice.lago_id
    assert lost.payment_dispute_lost_at is not None
    assert lago.invoices.find(invoice.lago_id).payment_dispute_lost_at == lost.payment_dispute_lost_at
    with pytest.raises(LagoApiError) as other:
        other_lago.invoices.lose_dispute(invoice.lago_id)
    assert other.value.status_code == 404

    voided = lago.invoices.create(
        OneOffInvoice(external_customer_id=customer.external_id, currency="EUR", fees=fees)
    )
    lago.invoices.void(voided.lago_id)
    with pytest.raises(LagoApiError) as refused:
        lago.invoices.lose_dispute(voided.lago_id)
    assert refused.value.status_code == 405
