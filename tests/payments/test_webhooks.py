"""What payments announce (``payment.succeeded``, ``invoice.payment_status_updated``,
``payment_receipt.created|generated``) and what they settle (a wallet's paid credits)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import Api
from tests.fixtures.receiver import Receiver
from tests.payments.helpers import get_invoice, invoice, paid
from tests.wallets.test_api import create_customer, create_wallet
from tests.webhooks.test_billing_webhooks import objects, sent
from tests.webhooks.test_delivery import add_endpoint


@pytest.fixture
def receiver(api: Api) -> Iterator[Receiver]:
    found = Receiver().start()
    add_endpoint(api, found.url)
    yield found
    found.stop()


class TestManualPaymentWebhooks:
    def test_partial_then_full(self, api: Api, receiver: Receiver) -> None:
        bill = invoice(api, 1000)
        receiver.received.clear()
        first = paid(api, bill["lago_id"], 400, "a")
        [receipt_one] = api.get("/payment_receipts").json()["payment_receipts"]
        # A partial payment: no status change.
        assert sent(receiver) == [
            ("payment_receipt.created", receipt_one["lago_id"]),
            ("payment.succeeded", first["lago_id"]),
        ]
        receiver.received.clear()
        second = paid(api, bill["lago_id"], 600, "b")
        receipt_two = api.get("/payment_receipts").json()["payment_receipts"][0]
        assert sent(receiver) == [
            ("invoice.payment_status_updated", bill["lago_id"]),
            ("payment_receipt.created", receipt_two["lago_id"]),
            ("payment.succeeded", second["lago_id"]),
        ]
        [updated] = objects(receiver, "invoice.payment_status_updated")
        assert (updated["payment_status"], updated["total_paid_amount_cents"]) == ("succeeded", 1000)
        [payment] = objects(receiver, "payment.succeeded")
        assert payment == api.get(f"/payments/{second['lago_id']}").json()["payment"]
        [receipt] = objects(receiver, "payment_receipt.created")
        assert receipt["payment"]["lago_id"] == second["lago_id"]
        receiver.received.clear()
        paid(api, bill["lago_id"], 600, "b")  # replayed: nothing announced
        assert sent(receiver) == []

    def test_receipt_pdf_generated(
        self, api: Api, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("BILLOW_GENERATE_DOCUMENTS", "true")
        bill = invoice(api, 1000)
        receiver.received.clear()
        payment = paid(api, bill["lago_id"], 1000, "all")
        [receipt] = api.get("/payment_receipts").json()["payment_receipts"]
        assert ("payment_receipt.generated", receipt["lago_id"]) in sent(receiver, "payment_receipt")
        assert receipt["payment"]["lago_id"] == payment["lago_id"]
        assert receipt["file_url"]
        pdf = api.client.get(receipt["file_url"])
        assert pdf.status_code == 200
        assert pdf.content.startswith(b"%PDF")


class TestWallet:
    def test_paid_credits_settle_when_the_credit_invoice_is_paid(self, api: Api) -> None:
        create_customer(api)
        wallet = create_wallet(api, paid_credits="15", name="Pack")
        [credit] = api.get("/invoices", params={"invoice_type": "credit"}).json()["invoices"]
        assert credit["total_amount_cents"] == 1500
        paid(api, credit["lago_id"], 500, "part")
        assert api.get(f"/wallets/{wallet['lago_id']}").json()["wallet"]["balance_cents"] == 0
        paid(api, credit["lago_id"], 1000, "rest")
        assert get_invoice(api, credit["lago_id"])["payment_status"] == "succeeded"
        assert api.get(f"/wallets/{wallet['lago_id']}").json()["wallet"]["balance_cents"] == 1500
