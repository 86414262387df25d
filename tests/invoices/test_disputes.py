"""``POST /invoices/{lago_id}/lose_dispute`` (and ``PUT``, what Lago's Python client sends): a finalized
invoice's payment dispute is lost once (``payment_dispute_lost_at``, ``invoice.payment_dispute_lost``),
anything else is Lago's 405 ``not_disputable``; the ``payment_dispute_lost`` filter of ``GET /invoices``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import Api
from tests.fixtures.receiver import Receiver
from tests.mail.conftest import create_customer, one_off_invoice
from tests.webhooks.test_billing_webhooks import objects, sent
from tests.webhooks.test_delivery import add_endpoint


@pytest.fixture
def receiver(api: Api) -> Iterator[Receiver]:
    found = Receiver().start()
    add_endpoint(api, found.url)
    yield found
    found.stop()


def lost_ids(api: Api, value: str) -> list[str]:
    response = api.get("/invoices", params={"payment_dispute_lost": value})
    assert response.status_code == 200, response.text
    return [invoice["lago_id"] for invoice in response.json()["invoices"]]


class TestLoseDispute:
    def test_a_finalized_invoice_loses_its_dispute_once(self, api: Api, receiver: Receiver) -> None:
        create_customer(api)
        invoice = one_off_invoice(api, 3000)
        kept = one_off_invoice(api, 3000)
        assert invoice["payment_dispute_lost_at"] is None
        receiver.received.clear()
        response = api.post(f"/invoices/{invoice['lago_id']}/lose_dispute")
        assert response.status_code == 200, response.text
        shown = response.json()["invoice"]
        lost_at = shown["payment_dispute_lost_at"]
        assert lost_at is not None and lost_at.endswith("Z")
        assert shown["status"] == "finalized"
        assert api.get(f"/invoices/{invoice['lago_id']}").json()["invoice"] == shown
        assert sent(receiver) == [("invoice.payment_dispute_lost", invoice["lago_id"])]
        [payload] = objects(receiver, "invoice.payment_dispute_lost")
        assert payload == {**shown, "provider_error": None}
        [body] = [r.json for r in receiver.received]
        assert body["object_type"] == "payment_dispute_lost"
        # Lost already: the same answer, nothing announced again.
        receiver.received.clear()
        again = api.put(f"/invoices/{invoice['lago_id']}/lose_dispute")
        assert again.status_code == 200, again.text
        assert again.json()["invoice"]["payment_dispute_lost_at"] == lost_at
        assert sent(receiver) == []
        assert lost_ids(api, "true") == [invoice["lago_id"]]
        assert lost_ids(api, "false") == [kept["lago_id"]]

    def test_put_as_lagos_client_sends_it(self, api: Api) -> None:
        create_customer(api)
        invoice = one_off_invoice(api, 3000)
        response = api.put(f"/invoices/{invoice['lago_id']}/lose_dispute")
        assert response.status_code == 200, response.text
        assert response.json()["invoice"]["payment_dispute_lost_at"] is not None

    def test_only_a_finalized_invoice(self, api: Api, receiver: Receiver) -> None:
        create_customer(api)
        invoice = one_off_invoice(api, 3000)
        assert api.post(f"/invoices/{invoice['lago_id']}/void").status_code == 200
        receiver.received.clear()
        response = api.post(f"/invoices/{invoice['lago_id']}/lose_dispute")
        assert response.status_code == 405
        assert response.json() == {"status": 405, "error": "Method Not Allowed", "code": "not_disputable"}
        assert api.get(f"/invoices/{invoice['lago_id']}").json()["invoice"]["payment_dispute_lost_at"] is None
        assert sent(receiver) == []

    def test_another_organizations_invoice_is_not_found(self, api: Api, other_api: Api) -> None:
        create_customer(api)
        invoice = one_off_invoice(api, 3000)
        response = other_api.post(f"/invoices/{invoice['lago_id']}/lose_dispute")
        assert (response.status_code, response.json()["code"]) == (404, "invoice_not_found")
        assert api.get(f"/invoices/{invoice['lago_id']}").json()["invoice"]["payment_dispute_lost_at"] is None
        assert other_api.post("/invoices/not-a-uuid/lose_dispute").status_code == 404
        assert lost_ids(other_api, "true") == []
