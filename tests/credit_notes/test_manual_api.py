"""Manual credit notes through the API: ``POST /credit_notes``, the estimate, update, void, metadata,
the credit note of an invoice void, and the invoice's credit-note amounts. Vectors computed by hand."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update

from billow.billing.run import bill_due
from billow.models.credit_notes import CreditNote, CreditNoteAppliedTax, CreditNoteItem
from billow.models.invoices import Invoice
from billow.models.organizations import Organization
from tests.conftest import Api
from tests.fixtures import factories as f
from tests.fixtures.factories import at

pytestmark = pytest.mark.usefixtures("bill_backdated_periods")


@pytest.fixture
def invoice(app: FastAPI, api: Api) -> dict[str, Any]:
    """January: plan 100.00 (in arrears) + 40 units x 5.00 = 200.00; taxes vat 20 % and local 5.5 %
    (customer taxes, on both fees): 10000 + 20000 = 30000; taxes 30000 x 25.5 % = 7650; total 37650."""
    with app.state.sessionmaker.begin() as session:
        session.execute(
            update(Organization)
            .where(Organization.id == api.organization.id)
            .values(document_number_prefix="ACM")
        )
        org = session.get(Organization, api.organization.id)
        metric = f.metric(session, org, "sum_agg", code="api_calls", name="API calls")
        plan = f.plan(session, org, code="pro", name="Pro", amount_cents=10000)
        f.charge(session, org, plan, metric, "standard", {"amount": "5"})
        customer = f.customer(session, org, external_id="cus_1")
        f.link_customer_tax(session, customer, f.tax(session, org, "vat", "20"))
        f.link_customer_tax(session, customer, f.tax(session, org, "local", "5.5"))
        f.subscription(session, org, customer, plan, external_id="sub_1", started_at=at("2024-01-01"))
        f.event(session, org, "api_calls", "2024-01-20T00:00:00", {"value": 40})
    bill_due(app.state.sessionmaker, at("2024-02-01T12:00:00"))
    [body] = api.get("/invoices").json()["invoices"]
    return body


def fee_of(invoice: dict[str, Any], item_type: str) -> dict[str, Any]:
    return next(fee for fee in invoice["fees"] if fee["item"]["type"] == item_type)


def counts(app: FastAPI) -> tuple[int, int, int]:
    with app.state.sessionmaker() as session:
        return tuple(  # type: ignore[return-value]
            session.scalar(select(func.count()).select_from(model))
            for model in (CreditNote, CreditNoteItem, CreditNoteAppliedTax)
        )


def set_invoice(app: FastAPI, lago_id: str, **values: Any) -> None:
    with app.state.sessionmaker.begin() as session:
        session.execute(update(Invoice).where(Invoice.id == UUID(lago_id)).values(**values))


def body(invoice: dict[str, Any], **credit_note: Any) -> dict[str, Any]:
    return {"credit_note": {"invoice_id": invoice["lago_id"], **credit_note}}


def items(invoice: dict[str, Any], subscription: int, charge: int) -> list[dict[str, Any]]:
    return [
        {"fee_id": fee_of(invoice, "subscription")["lago_id"], "amount_cents": subscription},
        {"fee_id": fee_of(invoice, "charge")["lago_id"], "amount_cents": charge},
    ]


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
