"""Payment requests: ``POST /payment_requests``, ``GET /payment_requests[/{id}]``,
``GET /customers/{id}/payment_requests``; settled by payments of their invoices."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from lago_python_client.models.payment_request import PaymentRequestResponse

from billow.providers.interface import PAYABLE_CREATED_HOOK
from billow.worker.dispatch import HOOKS
from tests.conftest import Api
from tests.fixtures.receiver import Receiver
from tests.payments.helpers import get_invoice, invoice, make_overdue, paid, set_currency
from tests.webhooks.test_billing_webhooks import objects, sent
from tests.webhooks.test_delivery import add_endpoint


def request(api: Api, invoice_ids: list[str], customer: str = "cus_1", **fields: Any) -> Any:
    body = {"external_customer_id": customer, "email": "pay@ann.example", "lago_invoice_ids": invoice_ids}
    return api.post("/payment_requests", json={"payment_request": {**body, **fields}})


def requested(api: Api, invoice_ids: list[str], **fields: Any) -> dict:
    response = request(api, invoice_ids, **fields)
    assert response.status_code == 200, response.text
    return response.json()["payment_request"]


@pytest.fixture
def collected() -> Iterator[list[dict[str, Any]]]:
    """What :data:`PAYABLE_CREATED_HOOK` announced (a payment provider would collect it)."""
    seen: list[dict[str, Any]] = []

    def listener(session: Any, **details: Any) -> None:
        seen.append(details)

    HOOKS.setdefault(PAYABLE_CREATED_HOOK, []).append(listener)
    yield seen
    HOOKS[PAYABLE_CREATED_HOOK].remove(listener)


class TestCreate:
    def test_overdue_invoices_and_their_webhook(self, api: Api, collected: list[dict[str, Any]]) -> None:
        receiver = Receiver().start()
        try:
            add_endpoint(api, receiver.url)
            one = invoice(api, 3000)
            two = invoice(api, 2000)
            make_overdue(api, one["lago_id"], two["lago_id"])
            paid(api, one["lago_id"], 500, "early")
            receiver.received.clear()
            created = requested(api, [two["lago_id"], one["lago_id"]])
            # What is due: (3000 - 500) + 2000 = 4500.
            assert (created["amount_cents"], created["amount_currency"], created["payment_status"]) == (
                4500,
                "EUR",
                "pending",
            )
            assert created["email"] == "pay@ann.example"
            assert created["customer"]["external_id"] == "cus_1"
            assert [i["lago_id"] for i in created["invoices"]] == [one["lago_id"], two["lago_id"]]
            assert "fees" not in created["invoices"][0]
            parsed = PaymentRequestResponse.parse_obj(created)  # as lago-python-client reads it
            assert parsed.invoices is not None and len(parsed.invoices.__root__) == 2
            assert sent(receiver) == [("payment_request.created", created["lago_id"])]
            assert objects(receiver, "payment_request.created") == [created]
        finally:
            receiver.stop()
        [announced] = collected
        payable = announced["payable"]
        assert (payable.type, payable.id, payable.amount_cents, payable.currency) == (
            "payment_request",
            created["lago_id"],
            4500,
            "EUR",
        )
        assert payable.invoice_ids == (one["lago_id"], two["lago_id"])
        assert payable.customer.external_id == "cus_1"

    @pytest.mark.parametrize(
        ("fields", "details"),
        [
            (
                {"external_customer_id": None, "email": None, "lago_invoice_ids": None},
                {
                    "external_customer_id": ["value_is_mandatory"],
                    "email": ["value_is_mandatory"],
                    "lago_invoice_ids": ["value_is_mandatory"],
                },
            ),
            ({"lago_invoice_ids": []}, {"lago_invoice_ids": ["value_is_mandatory"]}),
        ],
    )
    def test_validation(self, api: Api, fields: dict, details: dict) -> None:
        response = request(api, ["x"], **fields)
        assert response.status_code == 422, response.text
        assert response.json()["error_details"] == details

    def test_errors_write_nothing(self, api: Api, other_api: Api) -> None:
        one = invoice(api, 3000)
        other = invoice(api, 100, customer="cus_2", code="other")
        usd = invoice(api, 700, code="usd_addon", customer="cus_3")
        set_currency(api, usd["lago_id"], "USD")
        make_overdue(api, other["lago_id"], usd["lago_id"])
        assert request(api, [one["lago_id"]], customer="nobody").json()["code"] == "customer_not_found"
        for ids in (["nope"], [other["lago_id"]], ["00000000-0000-0000-0000-000000000001"]):
            assert request(api, ids).json()["code"] == "invoice_not_found"
        response = request(api, [one["lago_id"]])
        assert (response.status_code, response.json()["code"]) == (405, "invoices_not_overdue")
        eur = invoice(api, 900, customer="cus_3", code="eur_addon")
        make_overdue(api, eur["lago_id"])
        response = request(api, [eur["lago_id"], usd["lago_id"]], customer="cus_3")
        assert (response.status_code, response.json()["code"]) == (405, "invoices_have_different_currencies")
        assert other_api.get("/payment_requests").json()["payment_requests"] == []
        make_overdue(api, one["lago_id"])
        assert request(other_api, [one["lago_id"]]).json()["code"] == "customer_not_found"
        assert api.get("/payment_requests").json()["payment_requests"] == []


class TestSettlement:
    def test_paying_every_invoice_settles_it(self, api: Api) -> None:
        one = invoice(api, 3000)
        two = invoice(api, 2000)
        make_overdue(api, one["lago_id"], two["lago_id"])
        created = requested(api, [one["lago_id"], two["lago_id"]])
        receiver = Receiver().start()
        try:
            add_endpoint(api, receiver.url)
            paid(api, one["lago_id"], 3000)
            pending = api.get(f"/payment_requests/{created['lago_id']}").json()["payment_request"]
            assert pending["payment_status"] == "pending"
            receiver.received.clear()
            paid(api, two["lago_id"], 2000)
            assert ("payment_request.payment_status_updated", created["lago_id"]) in sent(receiver)
        finally:
            receiver.stop()
        settled = api.get(f"/payment_requests/{created['lago_id']}").json()["payment_request"]
        assert settled["payment_status"] == "succeeded"
        assert [i["payment_status"] for i in settled["invoices"]] == ["succeeded", "succeeded"]
        assert get_invoice(api, two["lago_id"])["payment_overdue"] is False


class TestRead:
    def test_lists_and_filters(self, api: Api, other_api: Api) -> None:
        one = invoice(api, 3000)
        two = invoice(api, 2000, customer="cus_2", code="two")
        make_overdue(api, one["lago_id"], two["lago_id"])
        first = requested(api, [one["lago_id"]])
        second = requested(api, [two["lago_id"]], customer="cus_2")
        paid(api, two["lago_id"], 2000)
        ids = lambda r: [x["lago_id"] for x in r.json()["payment_requests"]]  # noqa: E731
        assert ids(api.get("/payment_requests")) == [second["lago_id"], first["lago_id"]]
        assert ids(api.get("/payment_requests", params={"external_customer_id": "cus_1"})) == [
            first["lago_id"]
        ]
        assert ids(api.get("/payment_requests", params={"payment_status": "succeeded"})) == [
            second["lago_id"]
        ]
        bad = api.get("/payment_requests", params={"payment_status": "paid"})
        assert (bad.status_code, bad.json()["error_details"]) == (
            422,
            {"payment_status": ["value_is_invalid"]},
        )
        assert ids(api.get("/customers/cus_2/payment_requests")) == [second["lago_id"]]
        assert api.get("/customers/nobody/payment_requests").status_code == 404
        assert (
            api.get(f"/payment_requests/{first['lago_id']}").json()["payment_request"]["lago_id"]
            == (first["lago_id"])
        )
        assert api.get("/payment_requests/nope").json()["code"] == "payment_request_not_found"
        assert other_api.get(f"/payment_requests/{first['lago_id']}").status_code == 404
        assert other_api.get("/payment_requests").json()["payment_requests"] == []
