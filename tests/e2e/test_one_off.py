"""One-off invoices through ``lago-python-client``: ``client.invoices.create`` with add-on fees."""

from __future__ import annotations

import pytest
from lago_python_client.client import Client
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import AddOn, Customer, InvoiceFee, InvoiceFeesList, OneOffInvoice, Tax

pytestmark = pytest.mark.e2e


def test_one_off_invoice(lago: Client, other_lago: Client, suffix: str) -> None:
    lago.taxes.create(Tax(name="VAT", code=f"vat_{suffix}", rate=20.0))
    lago.taxes.create(Tax(name="Local", code=f"local_{suffix}", rate=8.5))
    add_on = lago.add_ons.create(
        AddOn(name="Setup", code=f"setup_{suffix}", amount_cents=1234, amount_currency="EUR")
    )
    customer = lago.customers.create(Customer(external_id=f"oo_{suffix}", name="Ada"))

    invoice = lago.invoices.create(
        OneOffInvoice(
            external_customer_id=customer.external_id,
            currency="EUR",
            fees=InvoiceFeesList(
                __root__=[
                    InvoiceFee(
                        add_on_code=add_on.code,
                        units=2.5,
                        description="Kick-off",
                        tax_codes=[f"vat_{suffix}", f"local_{suffix}"],
                    )
                ]
            ),
        )
    )
    assert invoice is not None
    # 1234 * 2.5 = 3085; taxes 617 + 262.225 = 879.225 -> 879; total 3964.
    assert (invoice.invoice_type, invoice.status, invoice.currency) == ("one_off", "finalized", "EUR")
    assert (invoice.fees_amount_cents, invoice.taxes_amount_cents, invoice.total_amount_cents) == (
        3085,
        879,
        3964,
    )
    [fee] = invoice.fees.__root__
    assert fee.item is not None
    assert (fee.item.type, fee.item.code, fee.item.item_type, fee.item.lago_item_id) == (
        "add_on",
        add_on.code,
        "AddOn",
        add_on.lago_id,
    )
    assert (fee.units, fee.amount_cents, fee.description) == ("2.5", 3085, "Kick-off")
    assert sorted(t.amount_cents for t in invoice.applied_taxes.__root__) == [262, 617]
    assert lago.invoices.find(invoice.lago_id).number == invoice.number

    with pytest.raises(LagoApiError) as unknown:
        lago.invoices.create(
            OneOffInvoice(
                external_customer_id=customer.external_id,
                currency="EUR",
                fees=InvoiceFeesList(__root__=[InvoiceFee(add_on_code=f"nope_{suffix}")]),
            )
        )
    assert unknown.value.status_code == 404 and unknown.value.response["code"] == "add_on_not_found"
    with pytest.raises(LagoApiError) as foreign:
        other_lago.invoices.create(
            OneOffInvoice(
                external_customer_id=customer.external_id,
                currency="EUR",
                fees=InvoiceFeesList(__root__=[InvoiceFee(add_on_code=add_on.code)]),
            )
        )
    assert foreign.value.status_code == 404 and foreign.value.response["code"] == "customer_not_found"
