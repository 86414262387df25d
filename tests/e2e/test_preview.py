"""The invoice preview through ``lago-python-client``: ``client.invoices.preview`` of a customer's next
invoice and of a plan it does not have yet (the client parses the answer), and nothing stored."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from lago_python_client.client import Client
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import Coupon, CouponsList, Customer, InvoicePreview, Plan, Subscription, Tax
from lago_python_client.models.subscription import Subscriptions

pytestmark = pytest.mark.e2e


def test_preview(lago: Client, other_lago: Client, suffix: str) -> None:
    lago.taxes.create(Tax(name="VAT", code=f"vat_{suffix}", rate=20.0))
    for code, amount in (("now", 3100), ("later", 6200)):
        lago.plans.create(
            Plan(
                name=code,
                code=f"{code}_{suffix}",
                interval="monthly",
                amount_cents=amount,
                amount_currency="USD",
                tax_codes=[f"vat_{suffix}"],
            )
        )
    customer = lago.customers.create(Customer(external_id=f"pv_{suffix}", name="Ada", currency="USD"))
    lago.subscriptions.create(
        Subscription(
            external_customer_id=customer.external_id,
            plan_code=f"now_{suffix}",
            external_id=f"pv_sub_{suffix}",
            billing_time="anniversary",
            subscription_at=datetime.now(UTC).isoformat(),
        )
    )
    invoices_before = lago.invoices.find_all({"external_customer_id": customer.external_id})["invoices"]

    # The next invoice: a whole anniversary month, 3100, 20 %: 3720.
    invoice = lago.invoices.preview(
        InvoicePreview(
            customer=Customer(external_id=customer.external_id),
            subscriptions=Subscriptions(external_ids=[f"pv_sub_{suffix}"]),
        )
    )
    assert (invoice.fees_amount_cents, invoice.taxes_amount_cents, invoice.total_amount_cents) == (
        3100,
        620,
        3720,
    )
    assert (invoice.status, invoice.invoice_type, invoice.currency) == ("draft", "subscription", "USD")
    [fee] = invoice.fees.__root__
    assert (fee.lago_id, fee.item.type, fee.amount_cents) == (None, "subscription", 3100)
    assert [s.external_id for s in invoice.subscriptions.__root__] == [f"pv_sub_{suffix}"]

    # A plan the customer does not have, from 2025-03-10 (calendar, in arrears): March 10-31 =
    # 22/31 x 6200 = 4400; the inline coupon (the customer has none) 400: 4000, 20 %: 4800.
    proposal = lago.invoices.preview(
        InvoicePreview(
            customer=Customer(external_id=customer.external_id),
            plan_code=f"later_{suffix}",
            subscription_at="2025-03-10T00:00:00Z",
            billing_time="calendar",
            coupons=CouponsList(
                __root__=[
                    Coupon(code="gift", coupon_type="fixed_amount", amount_cents=400, amount_currency="USD")
                ]
            ),
        )
    )
    assert (proposal.fees_amount_cents, proposal.coupons_amount_cents, proposal.total_amount_cents) == (
        4400,
        400,
        4800,
    )
    assert proposal.issuing_date == "2025-04-01"
    assert [(c.item.type, c.amount_cents) for c in proposal.credits.__root__] == [("coupon", 400)]

    # Nothing was stored.
    after = lago.invoices.find_all({"external_customer_id": customer.external_id})["invoices"]
    assert [i.lago_id for i in after] == [i.lago_id for i in invoices_before]
    with pytest.raises(LagoApiError) as missing:
        lago.invoices.find(invoice.lago_id)
    assert missing.value.status_code == 404

    # Another organization does not see the customer.
    with pytest.raises(LagoApiError) as other:
        other_lago.invoices.preview(InvoicePreview(customer=Customer(external_id=customer.external_id)))
    assert other.value.status_code == 404
    assert other.value.response["code"] == "customer_not_found"
