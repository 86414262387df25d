"""Manual credit notes through the API: ``POST /credit_notes`` and the estimate, with the invoice's
credit-note amounts. Vectors computed by hand."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest
from fastapi import FastAPI

from billow.billing.run import bill_due
from tests.conftest import Api
from tests.credit_notes.manual_world import body, counts, fee_of, items, set_fee, set_invoice
from tests.fixtures.factories import at

pytestmark = pytest.mark.usefixtures("bill_backdated_periods")


class TestCreate:
    def test_credit_and_offset_with_two_taxes(self, app: FastAPI, api: Api, invoice: dict[str, Any]) -> None:
        response = api.post(
            "/credit_notes",
            body(
                invoice,
                reason="product_unsatisfactory",
                description="Outage",
                credit_amount_cents=5000,
                offset_amount_cents=4413,
                items=items(invoice, 2500, 5000),
                metadata={"ticket": "T-1", "empty": None},
            ),
        )
        assert response.status_code == 200, response.text
        note = response.json()["credit_note"]
        lago_id = note["lago_id"]
        [local, vat] = note["applied_taxes"]
        # Items of one note share their creation instant: their order is not part of the answer.
        note["items"].sort(key=lambda item: item["amount_cents"])
        [sub_item, charge_item] = note["items"]
        # Items 2500 + 5000 = 7500; local 7500 x 5.5 % = 412.5 -> 413; vat 7500 x 20 % = 1500;
        # taxes 1912.5 -> 1913; total 9412.5 -> 9413 = credit 5000 + offset 4413.
        assert note == {
            "lago_id": lago_id,
            "billing_entity_code": None,
            "sequential_id": 1,
            "number": f"{invoice['number']}-CN001",
            "lago_invoice_id": invoice["lago_id"],
            "invoice_number": invoice["number"],
            "issuing_date": note["issuing_date"],
            "credit_status": "available",
            "refund_status": None,
            "reason": "product_unsatisfactory",
            "description": "Outage",
            "currency": "USD",
            "total_amount_cents": 9413,
            "precise_total_amount_cents": "9412.5",
            "taxes_amount_cents": 1913,
            "precise_taxes_amount_cents": "1912.5",
            "sub_total_excluding_taxes_amount_cents": 7500,
            "balance_amount_cents": 5000,
            "credit_amount_cents": 5000,
            "refund_amount_cents": 0,
            "offset_amount_cents": 4413,
            "applied_to_source_invoice_amount_cents": 0,
            "coupons_adjustment_amount_cents": 0,
            "taxes_rate": 25.5,
            "created_at": note["created_at"],
            "updated_at": note["updated_at"],
            "voided_at": None,
            "file_url": None,
            "xml_url": None,
            "self_billed": False,
            "items": [
                {
                    "lago_id": sub_item["lago_id"],
                    "amount_cents": 2500,
                    "precise_amount_cents": "2500.0",
                    "amount_currency": "USD",
                    "fee": fee_of(invoice, "subscription"),
                },
                {
                    "lago_id": charge_item["lago_id"],
                    "amount_cents": 5000,
                    "precise_amount_cents": "5000.0",
                    "amount_currency": "USD",
                    "fee": fee_of(invoice, "charge"),
                },
            ],
            "applied_taxes": [
                {
                    "lago_id": local["lago_id"],
                    "lago_credit_note_id": lago_id,
                    "lago_tax_id": invoice["applied_taxes"][0]["lago_tax_id"],
                    "tax_name": "local",
                    "tax_code": "local",
                    "tax_rate": 5.5,
                    "tax_description": None,
                    "base_amount_cents": 7500,
                    "amount_cents": 413,
                    "amount_currency": "USD",
                    "created_at": local["created_at"],
                },
                {
                    "lago_id": vat["lago_id"],
                    "lago_credit_note_id": lago_id,
                    "lago_tax_id": invoice["applied_taxes"][1]["lago_tax_id"],
                    "tax_name": "vat",
                    "tax_code": "vat",
                    "tax_rate": 20.0,
                    "tax_description": None,
                    "base_amount_cents": 7500,
                    "amount_cents": 1500,
                    "amount_currency": "USD",
                    "created_at": vat["created_at"],
                },
            ],
            "metadata": {"ticket": "T-1", "empty": None},
            "error_details": [],
        }
        shown_note = api.get(f"/credit_notes/{lago_id}").json()["credit_note"]
        shown_note["items"].sort(key=lambda item: item["amount_cents"])
        assert shown_note == note
        # The offset is deducted from what is due on the invoice: 37650 - 4413 = 33237.
        shown = api.get(f"/invoices/{invoice['lago_id']}").json()["invoice"]
        assert (
            shown["total_offsetted_credit_note_amount_cents"],
            shown["total_due_amount_cents"],
            shown["payment_status"],
        ) == (4413, 33237, "pending")

    def test_numbering_and_what_is_left_of_a_fee(
        self, app: FastAPI, api: Api, invoice: dict[str, Any]
    ) -> None:
        first = api.post(
            "/credit_notes", body(invoice, credit_amount_cents=9413, items=items(invoice, 2500, 5000))
        )
        assert first.status_code == 200, first.text
        # 10000 - 2500 = 7500 left on the subscription fee: 7501 is too much.
        before = counts(app)
        response = api.post(
            "/credit_notes", body(invoice, credit_amount_cents=1, items=items(invoice, 7501, 0))
        )
        assert (response.status_code, response.json()) == (
            422,
            {
                "status": 422,
                "error": "Unprocessable Entity",
                "code": "validation_errors",
                "error_details": {"amount_cents": ["higher_than_remaining_fee_amount"]},
            },
        )
        assert counts(app) == before
        # 7500 x 1.255 = 9412.5 -> 9413
        second = api.post(
            "/credit_notes", body(invoice, credit_amount_cents=9413, items=items(invoice, 7500, 0))
        )
        assert second.status_code == 200, second.text
        assert (second.json()["credit_note"]["number"], second.json()["credit_note"]["sequential_id"]) == (
            f"{invoice['number']}-CN002",
            2,
        )
        assert [n["number"] for n in api.get("/credit_notes").json()["credit_notes"]] == [
            f"{invoice['number']}-CN002",
            f"{invoice['number']}-CN001",
        ]

    @pytest.mark.parametrize(
        ("amounts", "item_amounts", "details"),
        [
            # 9000 is not 9413.
            (
                {"credit_amount_cents": 5000, "offset_amount_cents": 4000},
                (2500, 5000),
                {"base": ["does_not_match_item_amounts"]},
            ),
            # Nothing paid: no refund.
            (
                {"refund_amount_cents": 9413},
                (2500, 5000),
                {"refund_amount_cents": ["cannot_refund_unpaid_invoice"]},
            ),
            (
                {"credit_amount_cents": 9413},
                (10001, 0),
                {"amount_cents": ["higher_than_remaining_fee_amount"]},
            ),
            ({"credit_amount_cents": 9413}, (-1, 0), {"amount_cents": ["invalid_value"]}),
            ({"credit_amount_cents": 0}, (0, 0), {"base": ["total_amount_must_be_positive"]}),
            ({"credit_amount_cents": 1, "reason": "bored"}, (0, 0), {"reason": ["value_is_invalid"]}),
        ],
    )
    def test_errors_write_nothing(
        self,
        app: FastAPI,
        api: Api,
        invoice: dict[str, Any],
        amounts: dict[str, Any],
        item_amounts: tuple[int, int],
        details: dict[str, list[str]],
    ) -> None:
        response = api.post("/credit_notes", body(invoice, items=items(invoice, *item_amounts), **amounts))
        assert (response.status_code, response.json()) == (
            422,
            {
                "status": 422,
                "error": "Unprocessable Entity",
                "code": "validation_errors",
                "error_details": details,
            },
        )
        assert counts(app) == (0, 0, 0)

    def test_refund_above_what_was_paid(self, app: FastAPI, api: Api, invoice: dict[str, Any]) -> None:
        set_invoice(app, invoice["lago_id"], total_paid_amount_cents=1000)
        response = api.post(
            "/credit_notes",
            body(
                invoice, credit_amount_cents=8412, refund_amount_cents=1001, items=items(invoice, 2500, 5000)
            ),
        )
        assert response.json()["error_details"] == {
            "refund_amount_cents": ["higher_than_remaining_invoice_amount"]
        }
        assert counts(app) == (0, 0, 0)

    def test_refund_of_a_paid_invoice(self, app: FastAPI, api: Api, invoice: dict[str, Any]) -> None:
        set_invoice(app, invoice["lago_id"], total_paid_amount_cents=37650, payment_status="succeeded")
        # Everything: 30000 + 7650 = 37650, refunded.
        response = api.post(
            "/credit_notes", body(invoice, refund_amount_cents=37650, items=items(invoice, 10000, 20000))
        )
        note = response.json()["credit_note"]
        assert (
            note["refund_status"],
            note["refund_amount_cents"],
            note["total_amount_cents"],
            note["taxes_amount_cents"],
        ) == (
            "pending",
            37650,
            37650,
            7650,
        )
        assert (note["credit_status"], note["balance_amount_cents"]) == ("available", 0)
        updated = api.put(f"/credit_notes/{note['lago_id']}", {"credit_note": {"refund_status": "succeeded"}})
        assert updated.json()["credit_note"]["refund_status"] == "succeeded"
        wrong = api.put(f"/credit_notes/{note['lago_id']}", {"credit_note": {"refund_status": "done"}})
        assert (wrong.status_code, wrong.json()["error_details"]) == (
            422,
            {"refund_status": ["value_is_invalid"]},
        )
        # Nothing is left on the fees.
        more = api.post("/credit_notes", body(invoice, credit_amount_cents=1, items=items(invoice, 1, 0)))
        assert more.json()["error_details"] == {"amount_cents": ["higher_than_remaining_fee_amount"]}

    def test_offset_settles_the_invoice(self, app: FastAPI, api: Api, invoice: dict[str, Any]) -> None:
        response = api.post(
            "/credit_notes", body(invoice, offset_amount_cents=37650, items=items(invoice, 10000, 20000))
        )
        assert response.status_code == 200, response.text
        shown = api.get(f"/invoices/{invoice['lago_id']}").json()["invoice"]
        assert (shown["total_due_amount_cents"], shown["payment_status"]) == (0, "succeeded")

    def test_invoice_not_eligible(self, app: FastAPI, api: Api, invoice: dict[str, Any]) -> None:
        for status in ("draft", "voided"):
            set_invoice(app, invoice["lago_id"], status=status)
            response = api.post(
                "/credit_notes", body(invoice, credit_amount_cents=9413, items=items(invoice, 2500, 5000))
            )
            assert (response.status_code, response.json()) == (
                405,
                {"status": 405, "error": "Method Not Allowed", "code": "invalid_type_or_status"},
            )
        assert counts(app) == (0, 0, 0)

    def test_unknown_invoice_and_fee(self, app: FastAPI, api: Api, invoice: dict[str, Any]) -> None:
        unknown = api.post("/credit_notes", {"credit_note": {"invoice_id": str(uuid4()), "items": []}})
        assert (unknown.status_code, unknown.json()["code"]) == (404, "invoice_not_found")
        fee = api.post(
            "/credit_notes",
            body(invoice, credit_amount_cents=1, items=[{"fee_id": str(uuid4()), "amount_cents": 1}]),
        )
        assert (fee.status_code, fee.json()["code"]) == (404, "fee_not_found")
        assert counts(app) == (0, 0, 0)

    def test_credit_is_consumed_by_the_next_invoice(
        self, app: FastAPI, api: Api, invoice: dict[str, Any]
    ) -> None:
        response = api.post(
            "/credit_notes", body(invoice, credit_amount_cents=9413, items=items(invoice, 2500, 5000))
        )
        lago_id = response.json()["credit_note"]["lago_id"]
        bill_due(app.state.sessionmaker, at("2024-03-01T12:00:00"))
        february = next(
            i for i in api.get("/invoices").json()["invoices"] if i["issuing_date"] == "2024-03-01"
        )
        # February: 10000 + 25.5 % = 12550, all taken from the 9413 of credit: 3137 left to pay.
        assert (february["credit_notes_amount_cents"], february["total_amount_cents"]) == (9413, 3137)
        note = api.get(f"/credit_notes/{lago_id}").json()["credit_note"]
        assert (note["credit_status"], note["balance_amount_cents"]) == ("consumed", 0)


class TestEstimate:
    def test_estimate_writes_nothing(self, app: FastAPI, api: Api, invoice: dict[str, Any]) -> None:
        response = api.post(
            "/credit_notes/estimate",
            {"credit_note": {"invoice_id": invoice["lago_id"], "items": items(invoice, 2500, 5000)}},
        )
        assert response.status_code == 200, response.text
        local, vat = invoice["applied_taxes"]
        assert response.json() == {
            "estimated_credit_note": {
                "lago_invoice_id": invoice["lago_id"],
                "invoice_number": invoice["number"],
                "currency": "USD",
                "taxes_amount_cents": 1913,
                "precise_taxes_amount_cents": "1912.5",
                "taxes_rate": 25.5,
                "sub_total_excluding_taxes_amount_cents": 7500,
                # 7500 + 1912.5 = 9412.5 -> 9413; nothing paid; due 37650.
                "max_creditable_amount_cents": 9413,
                "max_refundable_amount_cents": 0,
                "max_offsettable_amount_cents": 9413,
                "coupons_adjustment_amount_cents": 0,
                "precise_coupons_adjustment_amount_cents": "0.0",
                "items": [
                    {"amount_cents": 2500, "lago_fee_id": fee_of(invoice, "subscription")["lago_id"]},
                    {"amount_cents": 5000, "lago_fee_id": fee_of(invoice, "charge")["lago_id"]},
                ],
                "applied_taxes": [
                    {
                        "lago_tax_id": local["lago_tax_id"],
                        "tax_name": "local",
                        "tax_code": "local",
                        "tax_rate": 5.5,
                        "tax_description": None,
                        "base_amount_cents": 7500,
                        "amount_cents": 413,
                        "amount_currency": "USD",
                    },
                    {
                        "lago_tax_id": vat["lago_tax_id"],
                        "tax_name": "vat",
                        "tax_code": "vat",
                        "tax_rate": 20.0,
                        "tax_description": None,
                        "base_amount_cents": 7500,
                        "amount_cents": 1500,
                        "amount_currency": "USD",
                    },
                ],
            }
        }
        assert counts(app) == (0, 0, 0)

    def test_invoice_coupons_pro_rata(self, app: FastAPI, api: Api, invoice: dict[str, Any]) -> None:
        # 3000 of coupons on 30000 of fees: the subscription fee's share is 1000, the charge's 2000.
        set_invoice(app, invoice["lago_id"], coupons_amount_cents=3000)
        set_fee(app, fee_of(invoice, "subscription")["lago_id"], precise_coupons_amount_cents=Decimal(1000))
        set_fee(app, fee_of(invoice, "charge")["lago_id"], precise_coupons_amount_cents=Decimal(2000))
        estimated = api.post(
            "/credit_notes/estimate",
            {"credit_note": {"invoice_id": invoice["lago_id"], "items": items(invoice, 2500, 5000)}},
        ).json()["estimated_credit_note"]
        # Adjustment 1000 x 2500 / 10000 + 2000 x 5000 / 20000 = 750; base 6750: local 371.25 -> 371,
        # vat 1350; taxes 1721.25 -> 1721; total 6750 + 1721.25 = 8471.25 -> 8471.
        assert (
            estimated["coupons_adjustment_amount_cents"],
            estimated["precise_coupons_adjustment_amount_cents"],
            estimated["sub_total_excluding_taxes_amount_cents"],
            estimated["taxes_amount_cents"],
            estimated["max_creditable_amount_cents"],
            [t["amount_cents"] for t in estimated["applied_taxes"]],
        ) == (750, "750.0", 6750, 1721, 8471, [371, 1350])

    def test_errors(self, app: FastAPI, api: Api, invoice: dict[str, Any]) -> None:
        too_much = api.post(
            "/credit_notes/estimate",
            {"credit_note": {"invoice_id": invoice["lago_id"], "items": items(invoice, 10001, 0)}},
        )
        assert (too_much.status_code, too_much.json()["error_details"]) == (
            422,
            {"amount_cents": ["higher_than_remaining_fee_amount"]},
        )
        set_invoice(app, invoice["lago_id"], status="draft")
        draft = api.post(
            "/credit_notes/estimate", {"credit_note": {"invoice_id": invoice["lago_id"], "items": []}}
        )
        assert (draft.status_code, draft.json()["code"]) == (405, "invalid_type_or_status")
