"""Manual credit notes after creation (update, void, metadata), the credit note of an invoice void,
filters and tenancy. Vectors computed by hand."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI

from tests.conftest import Api
from tests.credit_notes.manual_world import body, counts, fee_of, items, set_invoice

pytestmark = pytest.mark.usefixtures("bill_backdated_periods")


class TestVoid:
    def test_void_the_balance(self, app: FastAPI, api: Api, invoice: dict[str, Any]) -> None:
        note = api.post(
            "/credit_notes",
            body(
                invoice, credit_amount_cents=5000, offset_amount_cents=4413, items=items(invoice, 2500, 5000)
            ),
        ).json()["credit_note"]
        voided = api.put(f"/credit_notes/{note['lago_id']}/void").json()["credit_note"]
        assert (voided["credit_status"], voided["balance_amount_cents"], voided["credit_amount_cents"]) == (
            "voided",
            0,
            5000,
        )
        assert voided["voided_at"] is not None
        again = api.put(f"/credit_notes/{note['lago_id']}/void")
        assert (again.status_code, again.json()) == (
            405,
            {"status": 405, "error": "Method Not Allowed", "code": "no_voidable_amount"},
        )
        assert [
            n["lago_id"]
            for n in api.get("/credit_notes", params={"credit_status": "voided"}).json()["credit_notes"]
        ] == [note["lago_id"]]

    def test_offset_only_note_has_nothing_to_void(
        self, app: FastAPI, api: Api, invoice: dict[str, Any]
    ) -> None:
        note = api.post(
            "/credit_notes", body(invoice, offset_amount_cents=9413, items=items(invoice, 2500, 5000))
        ).json()
        response = api.put(f"/credit_notes/{note['credit_note']['lago_id']}/void")
        assert (response.status_code, response.json()["code"]) == (405, "no_voidable_amount")


class TestMetadata:
    def test_replace_merge_delete(self, app: FastAPI, api: Api, invoice: dict[str, Any]) -> None:
        note = api.post(
            "/credit_notes", body(invoice, credit_amount_cents=9413, items=items(invoice, 2500, 5000))
        )
        path = f"/credit_notes/{note.json()['credit_note']['lago_id']}/metadata"
        assert api.post(path, {"metadata": {"a": "1", "b": None}}).json() == {
            "metadata": {"a": "1", "b": None}
        }
        assert api.patch(path, {"metadata": {"b": "2", "c": "3"}}).json() == {
            "metadata": {"a": "1", "b": "2", "c": "3"}
        }
        assert api.delete(f"{path}/a").json() == {"metadata": {"b": "2", "c": "3"}}
        assert api.delete(path).json() == {"metadata": None}
        long_key = api.post(path, {"metadata": {"k" * 101: "v"}})
        assert (long_key.status_code, long_key.json()["error_details"]) == (
            422,
            {"metadata": ["value_is_invalid"]},
        )
        updated = api.put(path.removesuffix("/metadata"), {"credit_note": {"metadata": {"x": "y"}}})
        assert updated.json()["credit_note"]["metadata"] == {"x": "y"}


class TestInvoiceVoid:
    def test_credit_and_voided_rest(self, app: FastAPI, api: Api, invoice: dict[str, Any]) -> None:
        response = api.post(
            f"/invoices/{invoice['lago_id']}/void", {"generate_credit_note": True, "credit_amount": 10000}
        )
        assert response.status_code == 200, response.text
        assert (
            response.json()["invoice"]["status"],
            response.json()["invoice"]["total_due_amount_cents"],
        ) == (
            "voided",
            0,
        )
        notes = sorted(api.get("/credit_notes").json()["credit_notes"], key=lambda n: n["sequential_id"])
        # Items scaled by 10000 / 37650: 5312.08499 and 2656.04249 (7968.12748); taxes 2031.87251 -> 2032;
        # total 9999.99999 -> 10000. The rest (22031.87252 and the taxes 5618.12749 less the first note's
        # rounding 0.12749 = 5618) is on a second note, voided: 27650.
        assert [
            (
                n["number"],
                n["total_amount_cents"],
                n["taxes_amount_cents"],
                n["sub_total_excluding_taxes_amount_cents"],
                n["credit_amount_cents"],
                n["balance_amount_cents"],
                n["credit_status"],
                sorted(i["amount_cents"] for i in n["items"]),
            )
            for n in notes
        ] == [
            (f"{invoice['number']}-CN001", 10000, 2032, 7968, 10000, 10000, "available", [2656, 5312]),
            (f"{invoice['number']}-CN002", 27650, 5618, 22032, 27650, 0, "voided", [7344, 14688]),
        ]

    def test_refund_of_an_unpaid_invoice_undoes_the_void(
        self, app: FastAPI, api: Api, invoice: dict[str, Any]
    ) -> None:
        response = api.post(
            f"/invoices/{invoice['lago_id']}/void", {"generate_credit_note": True, "refund_amount": 100}
        )
        assert (response.status_code, response.json()["error_details"]) == (
            422,
            {"refund_amount_cents": ["cannot_refund_unpaid_invoice"]},
        )
        assert api.get(f"/invoices/{invoice['lago_id']}").json()["invoice"]["status"] == "finalized"
        assert counts(app) == (0, 0, 0)

    def test_everything_voided_without_amounts(self, app: FastAPI, api: Api, invoice: dict[str, Any]) -> None:
        response = api.post(f"/invoices/{invoice['lago_id']}/void", {"generate_credit_note": True})
        assert response.status_code == 200, response.text
        [note] = api.get("/credit_notes").json()["credit_notes"]
        assert (
            note["total_amount_cents"],
            note["taxes_amount_cents"],
            note["credit_status"],
            note["balance_amount_cents"],
        ) == (
            37650,
            7650,
            "voided",
            0,
        )

    def test_more_than_the_invoice(self, app: FastAPI, api: Api, invoice: dict[str, Any]) -> None:
        response = api.post(
            f"/invoices/{invoice['lago_id']}/void", {"generate_credit_note": True, "credit_amount": 37651}
        )
        assert (response.status_code, response.json()["error_details"]) == (
            422,
            {"base": ["higher_than_remaining_invoice_amount"]},
        )
        assert counts(app) == (0, 0, 0)


class TestFiltersAndTenancy:
    def test_filters(self, app: FastAPI, api: Api, invoice: dict[str, Any]) -> None:
        api.post(
            "/credit_notes",
            body(
                invoice,
                reason="duplicated_charge",
                credit_amount_cents=9413,
                items=items(invoice, 2500, 5000),
            ),
        )

        def listed(**params: Any) -> int:
            return len(api.get("/credit_notes", params=params).json()["credit_notes"])

        assert (
            listed(reason="duplicated_charge", external_customer_id="cus_1", credit_status="available") == 1
        )
        assert listed(reason="other") == 0
        assert listed(invoice_number=invoice["number"], amount_from=9413, amount_to=9413) == 1
        assert listed(amount_from=9414) == 0
        assert listed(self_billed="true") == 0
        assert listed(self_billed="false") == 1
        assert listed(search_term="CN001") == 1

    def test_other_organization(
        self, app: FastAPI, api: Api, other_api: Api, invoice: dict[str, Any]
    ) -> None:
        note = api.post(
            "/credit_notes", body(invoice, credit_amount_cents=9413, items=items(invoice, 2500, 5000))
        ).json()
        lago_id = note["credit_note"]["lago_id"]
        assert (
            other_api.post("/credit_notes", body(invoice, credit_amount_cents=1, items=[])).json()["code"]
            == "invoice_not_found"
        )
        estimate = other_api.post(
            "/credit_notes/estimate", {"credit_note": {"invoice_id": invoice["lago_id"], "items": []}}
        )
        assert estimate.json()["code"] == "invoice_not_found"
        for call in (
            lambda: other_api.put(f"/credit_notes/{lago_id}", {"credit_note": {"refund_status": "failed"}}),
            lambda: other_api.put(f"/credit_notes/{lago_id}/void"),
            lambda: other_api.post(f"/credit_notes/{lago_id}/metadata", {"metadata": {"a": "b"}}),
            lambda: other_api.delete(f"/credit_notes/{lago_id}/metadata"),
        ):
            response = call()
            assert (response.status_code, response.json()["code"]) == (404, "credit_note_not_found")
        assert other_api.get("/credit_notes").json()["credit_notes"] == []
        assert api.get(f"/credit_notes/{lago_id}").json()["credit_note"]["balance_amount_cents"] == 9413


class TestMoreEdges:
    def test_same_fee_twice_counts_both_items(self, app: FastAPI, api: Api, invoice: dict[str, Any]) -> None:
        fee_id = fee_of(invoice, "subscription")["lago_id"]
        response = api.post(
            "/credit_notes",
            body(
                invoice,
                credit_amount_cents=12551,
                items=[{"fee_id": fee_id, "amount_cents": 6000}, {"fee_id": fee_id, "amount_cents": 4001}],
            ),
        )
        # 6000 + 4001 > 10000
        assert response.json()["error_details"] == {"amount_cents": ["higher_than_remaining_fee_amount"]}
        assert counts(app) == (0, 0, 0)

    def test_metadata_value_too_long(self, app: FastAPI, api: Api, invoice: dict[str, Any]) -> None:
        response = api.post(
            "/credit_notes",
            body(
                invoice, credit_amount_cents=9413, items=items(invoice, 2500, 5000), metadata={"k": "v" * 256}
            ),
        )
        assert response.status_code == 422
        assert counts(app) == (0, 0, 0)

    def test_invoice_void_with_refund_and_credit(
        self, app: FastAPI, api: Api, invoice: dict[str, Any]
    ) -> None:
        set_invoice(app, invoice["lago_id"], total_paid_amount_cents=37650, payment_status="succeeded")
        response = api.post(
            f"/invoices/{invoice['lago_id']}/void",
            {"generate_credit_note": True, "credit_amount": 30000, "refund_amount": 7650},
        )
        assert response.status_code == 200, response.text
        # Everything is covered: one note, 37650 = 30000 credit + 7650 refund.
        [note] = api.get("/credit_notes").json()["credit_notes"]
        assert (
            note["total_amount_cents"],
            note["credit_amount_cents"],
            note["refund_amount_cents"],
            note["refund_status"],
            note["balance_amount_cents"],
        ) == (37650, 30000, 7650, "pending", 30000)
