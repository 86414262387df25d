"""A payment request paid through Stripe and booked at QuickBooks: the request's payment is spread over its
invoices by Billow, and QuickBooks gets one Payment with a line per invoice (``LinkedTxn``) of what was
applied to it; the invoices' balances at QuickBooks are Billow's."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Api
from tests.fixtures.standins.quickbooks import FakeQuickBooks
from tests.fixtures.standins.stripe import API_KEY, WEBHOOK_SECRET, FakeStripe
from tests.integrations.cycle import CUSTOMER, job_list, ok, one_off_invoice, pay
from tests.integrations.payment_cycle import configure
from tests.integrations.test_cycle_quickbooks import CODE, cents, connect, qbo
from tests.payments.helpers import make_overdue

__all__ = ["qbo"]
STRIPE = "stripe_eu"


@pytest.fixture
def stripe_api() -> Iterator[FakeStripe]:
    with FakeStripe() as standin:
        yield standin


def customer_of_both(api: Api, stripe_api: FakeStripe) -> str:
    """``CUSTOMER`` paying through Stripe and booked at QuickBooks; its Stripe id."""
    configure(
        api, "stripe", STRIPE, stripe_api.url, {"secret_key": API_KEY, "webhook_secret": WEBHOOK_SECRET}
    )
    body = {
        "external_id": CUSTOMER,
        "name": "Acme Corp",
        "email": "billing@acme.test",
        "currency": "EUR",
        "country": "FR",
        "tax_codes": ["vat"],
        "billing_configuration": {
            "payment_provider": "stripe",
            "payment_provider_code": STRIPE,
            "sync_with_provider": True,
        },
        "integration_customers": [
            {"integration_type": "quickbooks", "integration_code": CODE, "sync_with_provider": True}
        ],
    }
    ok(api.post("/customers", {"customer": body}))
    shown = ok(api.get(f"/customers/{CUSTOMER}"))["customer"]  # synced after the commit
    return str(shown["billing_configuration"]["provider_customer_id"])


def linked(payment: dict[str, Any]) -> list[tuple[str, int]]:
    return [(line["LinkedTxn"][0]["TxnId"], cents(line["Amount"])) for line in payment.get("Line", [])]


def test_a_payment_request_paid_through_stripe_is_one_split_payment_at_quickbooks(
    api: Api, qbo: FakeQuickBooks, stripe_api: FakeStripe
) -> None:
    connect(api, qbo)
    stripe_id = customer_of_both(api, stripe_api)
    # No card yet: both invoices' collection fails, they stay due.
    first, second = one_off_invoice(api), one_off_invoice(api)
    assert first["total_amount_cents"] == second["total_amount_cents"] == 2400  # 20.00 + 20 % VAT
    # The first is partly paid by wire: 2400 - 1000 = 1400 still due on it, 2400 on the second.
    pay(api, first["lago_id"], 1000)
    make_overdue(api, first["lago_id"], second["lago_id"])
    stripe_api.attach_card(stripe_id, default=True)
    body = {
        "external_customer_id": CUSTOMER,
        "email": "billing@acme.test",
        "lago_invoice_ids": [first["lago_id"], second["lago_id"]],
    }
    request = ok(api.post("/payment_requests", {"payment_request": body}))["payment_request"]
    [intent] = [i for i in stripe_api.payment_intents.values() if i["status"] == "succeeded"]
    assert intent["amount"] == 3800  # 1400 + 2400
    settled = ok(api.get(f"/payment_requests/{request['lago_id']}"))["payment_request"]
    assert settled["payment_status"] == "succeeded"

    synced = {job["object_id"]: job for job in job_list(api, CODE, operation="sync_invoice")}
    qb_first = synced[first["lago_id"]]["result"]["external_id"]
    qb_second = synced[second["lago_id"]]["result"]["external_id"]
    payments = sorted(qbo.objects["Payment"].values(), key=lambda p: int(p["Id"]))
    wire, collected = payments
    assert linked(wire) == [(qb_first, 1000)]
    assert cents(collected["TotalAmt"]) == 3800
    assert linked(collected) == [(qb_first, 1400), (qb_second, 2400)]
    assert collected["UnappliedAmt"] == 0.0
    assert qbo.objects["Invoice"][qb_first]["Balance"] == qbo.objects["Invoice"][qb_second]["Balance"] == 0.0
    [job] = [
        j
        for j in job_list(api, CODE, operation="sync_payment")
        if j["result"]["external_id"] == collected["Id"]
    ]
    assert job["status"] == "succeeded"
