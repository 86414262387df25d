"""Manual payments and receipts: ``POST /payments``, ``GET /payments[/{id}]``,
``GET /customers/{id}/payments``, ``GET /payment_receipts[/{id}]``."""

from __future__ import annotations

from typing import Any

import pytest
from lago_python_client.models.payment_receipt import PaymentReceiptResponse

from tests.conftest import Api
from tests.payments.helpers import get_invoice, invoice, paid, pay


class TestCreate:
    def test_partial_then_full_payment(self, api: Api) -> None:
        bill = invoice(api, 10000)
        first = paid(api, bill["lago_id"], 2500, "wire-1", paid_at="2025-02-20")
        assert first == {
            "lago_id": first["lago_id"],
            "lago_customer_id": bill["customer"]["lago_id"],
            "external_customer_id": "cus_1",
            "invoice_ids": [bill["lago_id"]],
            "invoice_numbers": [bill["number"]],
            "lago_payable_id": bill["lago_id"],
            "payable_type": "Invoice",
            "amount_cents": 2500,
            "amount_currency": "EUR",
            "status": "succeeded",
            "payment_status": "succeeded",
            "type": "manual",
            "reference": "wire-1",
            "payment_provider_code": None,
            "payment_provider_type": None,
            "external_payment_id": None,
            "provider_payment_id": None,
            "provider_customer_id": None,
            "payment_method_id": None,
            "next_action": {},
            "created_at": "2025-02-20T00:00:00Z",
        }
        after = get_invoice(api, bill["lago_id"])
        # 10000 - 2500 = 7500 due; a partial payment keeps the invoice pending.
        assert (
            after["payment_status"],
            after["total_paid_amount_cents"],
            after["total_due_amount_cents"],
        ) == (
            "pending",
            2500,
            7500,
        )
        assert {fee["payment_status"] for fee in after["fees"]} == {"pending"}
        paid(api, bill["lago_id"], 7500, "wire-2")
        after = get_invoice(api, bill["lago_id"])
        assert (
            after["payment_status"],
            after["total_paid_amount_cents"],
            after["total_due_amount_cents"],
        ) == (
            "succeeded",
            10000,
            0,
        )
        assert {fee["payment_status"] for fee in after["fees"]} == {"succeeded"}
        partially = api.get("/invoices", params={"partially_paid": "false", "payment_status": "succeeded"})
        assert [i["lago_id"] for i in partially.json()["invoices"]] == [bill["lago_id"]]

    def test_overpayment_is_refused_and_writes_nothing(self, api: Api) -> None:
        bill = invoice(api, 10000)
        paid(api, bill["lago_id"], 4000, "a")
        response = pay(api, bill["lago_id"], 6001, "b")
        assert response.status_code == 422
        assert response.json()["error_details"] == {"amount_cents": ["invalid_amount"]}
        assert get_invoice(api, bill["lago_id"])["total_paid_amount_cents"] == 4000
        assert len(api.get("/payments").json()["payments"]) == 1
        assert len(api.get("/payment_receipts").json()["payment_receipts"]) == 1

    def test_paid_invoice_takes_nothing_more(self, api: Api) -> None:
        bill = invoice(api, 300)
        paid(api, bill["lago_id"], 300)
        response = pay(api, bill["lago_id"], 1, "again")
        assert response.json()["error_details"] == {"amount_cents": ["invalid_amount"]}

    def test_same_reference_twice_is_one_payment(self, api: Api) -> None:
        bill = invoice(api, 10000)
        first = paid(api, bill["lago_id"], 1000, "chq-42")
        again = paid(api, bill["lago_id"], 1000, "chq-42")
        assert again == first
        assert get_invoice(api, bill["lago_id"])["total_paid_amount_cents"] == 1000
        other_amount = pay(api, bill["lago_id"], 2000, "chq-42")
        assert other_amount.status_code == 422
        assert other_amount.json()["error_details"] == {"reference": ["value_already_exist"]}

    @pytest.mark.parametrize(
        ("fields", "details"),
        [
            (
                {},
                {
                    "invoice_id": ["value_is_mandatory"],
                    "amount_cents": ["value_is_mandatory"],
                    "reference": ["value_is_mandatory"],
                },
            ),
            (
                {"invoice_id": "x", "amount_cents": 0, "reference": "r"},
                {"amount_cents": ["value_is_invalid"]},
            ),
            (
                {"invoice_id": "x", "amount_cents": 5, "reference": "r", "paid_at": "yesterday"},
                {"paid_at": ["invalid_date"]},
            ),
        ],
    )
    def test_validation(self, api: Api, fields: dict, details: dict) -> None:
        response = api.post("/payments", json={"payment": fields})
        assert response.status_code == 422, response.text
        assert response.json()["error_details"] == details

    def test_unknown_invoice(self, api: Api) -> None:
        for invoice_id in ("not-a-uuid", "00000000-0000-0000-0000-000000000001"):
            response = pay(api, invoice_id, 100)
            assert response.status_code == 404
            assert response.json()["code"] == "invoice_not_found"

    def test_voided_invoice(self, api: Api) -> None:
        bill = invoice(api, 1000)
        assert api.post(f"/invoices/{bill['lago_id']}/void").status_code == 200
        response = pay(api, bill["lago_id"], 100)
        assert (response.status_code, response.json()["code"]) == (405, "invalid_status")

    def test_paid_clears_overdue(self, api: Api) -> None:
        from tests.payments.helpers import make_overdue

        bill = invoice(api, 1000)
        make_overdue(api, bill["lago_id"])
        paid(api, bill["lago_id"], 400, "a")
        assert get_invoice(api, bill["lago_id"])["payment_overdue"] is True
        paid(api, bill["lago_id"], 600, "b")
        assert get_invoice(api, bill["lago_id"])["payment_overdue"] is False

    def test_put_payment_status_still_works(self, api: Api) -> None:
        bill = invoice(api, 1000)
        response = api.put(f"/invoices/{bill['lago_id']}", json={"invoice": {"payment_status": "failed"}})
        assert response.status_code == 200
        assert response.json()["invoice"]["payment_status"] == "failed"
        paid(api, bill["lago_id"], 1000)
        assert get_invoice(api, bill["lago_id"])["payment_status"] == "succeeded"


class TestRead:
    def test_list_filters_and_pages(self, api: Api) -> None:
        one = invoice(api, 1000)
        two = invoice(api, 2000, customer="cus_2")
        a = paid(api, one["lago_id"], 100, "a", paid_at="2025-01-01")
        b = paid(api, two["lago_id"], 200, "b", paid_at="2025-01-02")
        c = paid(api, one["lago_id"], 300, "c", paid_at="2025-01-03")
        ids = lambda r: [p["lago_id"] for p in r.json()["payments"]]  # noqa: E731
        assert ids(api.get("/payments")) == [c["lago_id"], b["lago_id"], a["lago_id"]]
        assert ids(api.get("/payments", params={"invoice_id": one["lago_id"]})) == [
            c["lago_id"],
            a["lago_id"],
        ]
        assert ids(api.get("/payments", params={"external_customer_id": "cus_2"})) == [b["lago_id"]]
        assert ids(api.get("/payments", params={"invoice_id": "nope"})) == []
        page = api.get("/payments", params={"per_page": 2, "page": 2}).json()
        assert [p["lago_id"] for p in page["payments"]] == [a["lago_id"]]
        assert page["meta"] == {
            "current_page": 2,
            "next_page": None,
            "prev_page": 1,
            "total_pages": 2,
            "total_count": 3,
        }
        assert ids(api.get("/customers/cus_1/payments")) == [c["lago_id"], a["lago_id"]]
        assert api.get("/customers/nobody/payments").json()["code"] == "customer_not_found"
        assert api.get(f"/payments/{b['lago_id']}").json()["payment"] == b
        assert api.get("/payments/00000000-0000-0000-0000-000000000009").json()["code"] == "payment_not_found"


class TestReceipts:
    def test_one_receipt_per_payment(self, api: Api) -> None:
        bill = invoice(api, 1000)
        first = paid(api, bill["lago_id"], 400, "a")
        paid(api, bill["lago_id"], 400, "a")  # the same payment again: no second receipt
        second = paid(api, bill["lago_id"], 600, "b")
        other = invoice(api, 50, customer="cus_2", code="other")
        paid(api, other["lago_id"], 50, "c")
        receipts = api.get("/payment_receipts", params={"invoice_id": bill["lago_id"]}).json()
        assert [r["payment"]["lago_id"] for r in receipts["payment_receipts"]] == [
            second["lago_id"],
            first["lago_id"],
        ]
        numbers = [r["number"] for r in api.get("/payment_receipts").json()["payment_receipts"]]
        prefix = bill["number"].rsplit("-", 2)[0]
        assert numbers == [f"{prefix}-RCPT-003", f"{prefix}-RCPT-002", f"{prefix}-RCPT-001"]
        receipt = receipts["payment_receipts"][0]
        assert api.get(f"/payment_receipts/{receipt['lago_id']}").json() == {"payment_receipt": receipt}
        assert set(receipt) == {"lago_id", "number", "payment", "file_url", "created_at"}
        assert PaymentReceiptResponse.parse_obj(receipt).payment.lago_id == second["lago_id"]


class TestTenancy:
    def test_other_organization(self, api: Api, other_api: Api) -> None:
        bill = invoice(api, 1000)
        payment = paid(api, bill["lago_id"], 100)
        [receipt] = api.get("/payment_receipts").json()["payment_receipts"]
        assert pay(other_api, bill["lago_id"], 100).json()["code"] == "invoice_not_found"
        assert other_api.get(f"/payments/{payment['lago_id']}").status_code == 404
        assert other_api.get(f"/payment_receipts/{receipt['lago_id']}").status_code == 404
        assert other_api.get("/payments").json()["payments"] == []
        assert other_api.get("/payment_receipts").json()["payment_receipts"] == []
        other_bill = invoice(other_api, 1000)
        other_payment = paid(other_api, other_bill["lago_id"], 100)  # same reference, its own invoice
        assert other_payment["lago_id"] != payment["lago_id"]
        assert [p["lago_id"] for p in api.get("/payments").json()["payments"]] == [payment["lago_id"]]
        numbers = {
            api.get("/payment_receipts").json()["payment_receipts"][0]["number"].rsplit("-", 1)[1],
            other_api.get("/payment_receipts").json()["payment_receipts"][0]["number"].rsplit("-", 1)[1],
        }
        assert numbers == {"001"}  # each organization counts its own receipts


class TestOrganizationDeleted:
    def test_payments_go_with_their_organization(self, api: Api, other_api: Api, billow: Any) -> None:
        from tests.payments.helpers import make_overdue

        for each in (api, other_api):
            bill = invoice(each, 1000)
            paid(each, bill["lago_id"], 400)
            make_overdue(each, bill["lago_id"])
            body = {
                "external_customer_id": "cus_1",
                "email": "a@b.example",
                "lago_invoice_ids": [bill["lago_id"]],
            }
            assert each.post("/payment_requests", json={"payment_request": body}).status_code == 200
        result = billow("organizations", "delete", str(api.organization.id), "--yes")
        assert result.exit_code == 0, result.output
        for line in (
            "payments: 1",
            "payment_receipts: 1",
            "payment_requests: 1",
            "payment_request_invoices: 1",
        ):
            assert f"  {line}\n" in result.stdout
        assert len(other_api.get("/payments").json()["payments"]) == 1
        assert len(other_api.get("/payment_requests").json()["payment_requests"]) == 1
