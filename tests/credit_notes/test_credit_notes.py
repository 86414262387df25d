"""Credit notes for the unused days of pay-in-advance subscriptions, their consumption by the next
invoices, and ``GET /credit_notes``. Vectors computed by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from fastapi import FastAPI
from lago_python_client.models.credit_note import CreditNoteResponse
from lago_python_client.services.response import prepare_index_response, prepare_object_response
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from billow.billing.run import bill_due
from billow.billing.tasks import bill_batch, find_due_subscriptions
from billow.credit_notes import amounts as cn
from billow.models.credit_notes import CreditNote, InvoiceCreditNote
from billow.models.invoices import Fee, Invoice, InvoiceSubscription
from tests.conftest import Api, Clock

#: As under ``tests/billing/``: backdated periods are billed, invoices read only the locked columns.
pytestmark = pytest.mark.usefixtures("bill_backdated_periods", "invoices_read_only_the_locked_columns")


def at(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


# ------------------------------------------------------------------------------------------ pure rules


class TestUnusedDays:
    def test_termination_day_is_used(self) -> None:
        # Terminated Jan 21: Jan 22-31 unused.
        assert (
            cn.unused_days(last_day=date(2024, 1, 31), terminated_day=date(2024, 1, 21), upgrade=False) == 10
        )

    def test_upgrade_day_is_unused(self) -> None:
        # Upgraded Jan 10: the new plan pays Jan 10-31.
        assert (
            cn.unused_days(last_day=date(2024, 1, 31), terminated_day=date(2024, 1, 10), upgrade=True) == 22
        )

    def test_last_day(self) -> None:
        assert (
            cn.unused_days(last_day=date(2024, 1, 31), terminated_day=date(2024, 1, 31), upgrade=False) == 0
        )

    def test_trial_days_are_not_credited(self) -> None:
        # Trial until Jan 25, terminated Jan 21: only Jan 25-31 were paid.
        assert (
            cn.unused_days(
                last_day=date(2024, 1, 31),
                terminated_day=date(2024, 1, 21),
                upgrade=False,
                trial_end_day=date(2024, 1, 25),
            )
            == 7
        )

    def test_used_days(self) -> None:
        assert (
            cn.used_days(
                first_day=date(2024, 1, 1), last_day=date(2024, 1, 31), terminated_day=date(2024, 1, 21)
            )
            == 21
        )


class _Tax:
    def __init__(self, id: str, rate: str):
        self.id = id
        self.rate = Decimal(rate)


class TestAmounts:
    def test_day_share(self) -> None:
        assert cn.day_share(3100, 10, 31) == Decimal(1000)
        assert cn.day_share(3100, 10, 29).quantize(Decimal("0.00001")) == Decimal("1068.96552")

    def test_taxes_pro_rata(self) -> None:
        money = cn.credit_note_amounts(Decimal(1000), [_Tax("vat", "20"), _Tax("local", "2.5")])
        assert (
            money.item_amount_cents,
            money.taxes_amount_cents,
            money.total_amount_cents,
            money.taxes_rate,
            [(p.tax_id, p.base_amount_cents, p.amount_cents) for p in money.taxes],
        ) == (1000, 225, 1225, Decimal("22.5"), [("vat", 1000, 200), ("local", 1000, 25)])

    def test_item_truncated_to_five_decimals_total_rounded(self) -> None:
        money = cn.credit_note_amounts(cn.day_share(3100, 10, 29), [_Tax("vat", "20")])
        # 1068.96551 + 213.793102 = 1282.758612
        assert (money.item_precise_amount_cents, money.item_amount_cents, money.taxes_amount_cents) == (
            Decimal("1068.96551"),
            1069,
            214,
        )
        assert money.total_amount_cents == 1283

    def test_split(self) -> None:
        assert cn.split_total(1200, "credit") == cn.Split(1200, 0, 0)
        assert cn.split_total(1200, "refund", refundable_cents=500) == cn.Split(700, 500, 0)
        assert cn.split_total(1200, "refund", refundable_cents=5000) == cn.Split(0, 1200, 0)
        assert cn.split_total(1200, "offset", offsettable_cents=300) == cn.Split(900, 0, 300)

    def test_refundable(self) -> None:
        # Paid 3720 for a 3100 + 20 % fee; 21 days used = 2100 + 420.
        assert (
            cn.refundable_cents(
                fee_total_precise=Decimal(3720),
                invoice_sub_total_including_taxes_cents=3720,
                invoice_total_paid_cents=3720,
                used_amount_with_taxes_cents=2520,
            )
            == 1200
        )
        assert (
            cn.refundable_cents(
                fee_total_precise=Decimal(3720),
                invoice_sub_total_including_taxes_cents=3720,
                invoice_total_paid_cents=0,
                used_amount_with_taxes_cents=2520,
            )
            == 0
        )


# ------------------------------------------------------------------------------------------ end to end


def setup(api: Api, *, pay_in_advance: bool = True, timezone: str | None = None, **subscription: Any) -> None:
    assert api.post("/taxes", json={"tax": {"code": "vat", "name": "VAT", "rate": "20"}}).status_code == 200
    customer: dict[str, Any] = {"external_id": "cus_1"}
    if timezone:
        customer["timezone"] = timezone
    assert api.post("/customers", json={"customer": customer}).status_code == 200
    plan = {
        "name": "Basic",
        "code": "basic",
        "interval": "monthly",
        "amount_cents": 3100,
        "amount_currency": "EUR",
        "pay_in_advance": pay_in_advance,
        "tax_codes": ["vat"],
    }
    assert api.post("/plans", json={"plan": plan}).status_code == 200
    body = {"external_customer_id": "cus_1", "external_id": "sub_1", "plan_code": "basic", **subscription}
    response = api.post("/subscriptions", json={"subscription": body})
    assert response.status_code == 200, response.text


def notes(app: FastAPI) -> list[CreditNote]:
    with app.state.sessionmaker() as session:
        result = list(session.scalars(select(CreditNote).order_by(CreditNote.created_at)))
        session.expunge_all()
        return result


def first_invoice(app: FastAPI) -> Invoice:
    with app.state.sessionmaker() as session:
        invoice = session.scalars(select(Invoice).order_by(Invoice.created_at)).first()
        assert invoice is not None
        session.expunge(invoice)
        return invoice


class TestTermination:
    def test_credit(self, api: Api, app: FastAPI, clock: Clock) -> None:
        setup(api)
        bill_due(app.state.sessionmaker, at("2024-01-01T00:00:00Z"))
        paid = first_invoice(app)
        assert (paid.fees_amount_cents, paid.total_amount_cents) == (3100, 3720)
        clock.set("2024-01-21T12:00:00Z")
        response = api.delete("/subscriptions/sub_1")
        assert response.status_code == 200
        assert response.json()["subscription"]["on_termination_credit_note"] == "credit"
        [note] = notes(app)
        # Jan 22-31 unused: 10/31 x 3100 = 1000, + 20 % VAT.
        assert (
            note.number,
            note.sequential_id,
            note.issuing_date,
            note.reason,
            note.sub_total_excluding_taxes_amount_cents,
            note.taxes_amount_cents,
            note.total_amount_cents,
            note.credit_amount_cents,
            note.balance_amount_cents,
            note.refund_amount_cents,
            note.offset_amount_cents,
            note.credit_status,
            note.refund_status,
        ) == (
            f"{paid.number}-CN001",
            1,
            date(2024, 1, 21),
            "order_cancellation",
            1000,
            200,
            1200,
            1200,
            1200,
            0,
            0,
            "available",
            None,
        )

    def test_next_invoices_consume_it(self, api: Api, app: FastAPI, clock: Clock) -> None:
        setup(api)
        usage_plan = {"name": "Usage", "code": "usage", "interval": "monthly", "amount_cents": 500}
        usage_plan |= {"amount_currency": "EUR", "tax_codes": ["vat"]}
        assert api.post("/plans", json={"plan": usage_plan}).status_code == 200
        body = {"external_customer_id": "cus_1", "external_id": "sub_2", "plan_code": "usage"}
        assert api.post("/subscriptions", json={"subscription": body}).status_code == 200
        bill_due(app.state.sessionmaker, at("2024-01-01T00:00:00Z"))
        clock.set("2024-01-21T12:00:00Z")
        api.delete("/subscriptions/sub_1")
        bill_due(app.state.sessionmaker, at("2024-03-01T00:00:00Z"))
        with app.state.sessionmaker() as session:
            rows = session.execute(
                select(Invoice, InvoiceCreditNote)
                .join(InvoiceCreditNote, InvoiceCreditNote.invoice_id == Invoice.id)
                .order_by(Invoice.issuing_date)
            ).all()
            # Feb 1 and Mar 1: 500 + 20 % = 600 each, paid by the 1200 credit.
            assert [
                (
                    i.issuing_date,
                    i.sub_total_including_taxes_amount_cents,
                    i.credit_notes_amount_cents,
                    i.total_amount_cents,
                    c.amount_cents,
                )
                for i, c in rows
            ] == [(date(2024, 2, 1), 600, 600, 0, 600), (date(2024, 3, 1), 600, 600, 0, 600)]
            assert all(i.payment_status == "succeeded" for i, _ in rows)
        [note] = notes(app)
        assert (note.balance_amount_cents, note.credit_status) == (0, "consumed")

    def test_refund_of_a_paid_invoice(self, api: Api, app: FastAPI, clock: Clock) -> None:
        setup(api)
        bill_due(app.state.sessionmaker, at("2024-01-01T00:00:00Z"))
        with app.state.sessionmaker.begin() as session:
            session.execute(update(Invoice).values(total_paid_amount_cents=3720, payment_status="succeeded"))
        clock.set("2024-01-21T12:00:00Z")
        api.delete("/subscriptions/sub_1", params={"on_termination_credit_note": "refund"})
        [note] = notes(app)
        assert (
            note.total_amount_cents,
            note.refund_amount_cents,
            note.credit_amount_cents,
            note.refund_status,
            note.credit_status,
        ) == (1200, 1200, 0, "pending", None)

    def test_refund_of_an_unpaid_invoice_is_credit(self, api: Api, app: FastAPI, clock: Clock) -> None:
        setup(api)
        bill_due(app.state.sessionmaker, at("2024-01-01T00:00:00Z"))
        clock.set("2024-01-21T12:00:00Z")
        api.delete("/subscriptions/sub_1", params={"on_termination_credit_note": "refund"})
        [note] = notes(app)
        assert (note.refund_amount_cents, note.credit_amount_cents, note.credit_status) == (
            0,
            1200,
            "available",
        )

    def test_offset(self, api: Api, app: FastAPI, clock: Clock) -> None:
        setup(api)
        bill_due(app.state.sessionmaker, at("2024-01-01T00:00:00Z"))
        clock.set("2024-01-21T12:00:00Z")
        api.delete("/subscriptions/sub_1", params={"on_termination_credit_note": "offset"})
        [note] = notes(app)
        assert (note.offset_amount_cents, note.credit_amount_cents, note.credit_status) == (1200, 0, None)

    def test_skip(self, api: Api, app: FastAPI, clock: Clock) -> None:
        setup(api)
        bill_due(app.state.sessionmaker, at("2024-01-01T00:00:00Z"))
        clock.set("2024-01-21T12:00:00Z")
        api.delete("/subscriptions/sub_1", params={"on_termination_credit_note": "skip"})
        assert notes(app) == []

    def test_set_on_the_subscription_beforehand(self, api: Api, app: FastAPI, clock: Clock) -> None:
        setup(api)
        bill_due(app.state.sessionmaker, at("2024-01-01T00:00:00Z"))
        api.put("/subscriptions/sub_1", json={"subscription": {"on_termination_credit_note": "skip"}})
        clock.set("2024-01-21T12:00:00Z")
        api.delete("/subscriptions/sub_1")
        assert notes(app) == []

    def test_in_arrears_plan_has_none(self, api: Api, app: FastAPI, clock: Clock) -> None:
        setup(api, pay_in_advance=False)
        clock.set("2024-01-21T12:00:00Z")
        api.delete("/subscriptions/sub_1")
        assert notes(app) == []

    def test_at_ending_at(self, api: Api, app: FastAPI, clock: Clock) -> None:
        setup(api, ending_at="2024-01-21T12:00:00Z")
        bill_due(app.state.sessionmaker, at("2024-01-01T00:00:00Z"))
        bill_due(app.state.sessionmaker, at("2024-01-22T00:00:00Z"))
        [note] = notes(app)
        assert (note.total_amount_cents, note.issuing_date) == (1200, date(2024, 1, 22))

    def test_customer_timezone(self, api: Api, app: FastAPI, clock: Clock) -> None:
        """20:00 UTC on Jan 21 is Jan 22 in Tokyo: Jan 23-31 unused, 9/31 x 3100 = 900 (+ 180 VAT)."""
        setup(api, timezone="Asia/Tokyo")
        bill_due(app.state.sessionmaker, at("2024-01-01T00:00:00Z"))
        clock.set("2024-01-21T20:00:00Z")
        api.delete("/subscriptions/sub_1")
        [note] = notes(app)
        assert (note.sub_total_excluding_taxes_amount_cents, note.total_amount_cents, note.issuing_date) == (
            900,
            1080,
            date(2024, 1, 22),
        )

    def test_period_not_billed_yet(self, api: Api, app: FastAPI, clock: Clock) -> None:
        """Terminated before the run billed the period in advance: no credit note; the late invoice bills
        the used days only (Feb 1-10: 10/29 x 3100 = 1069)."""
        setup(api)
        bill_due(app.state.sessionmaker, at("2024-01-01T00:00:00Z"))
        clock.set("2024-02-10T12:00:00Z")
        api.delete("/subscriptions/sub_1")
        assert notes(app) == []
        bill_due(app.state.sessionmaker, at("2024-02-11T00:00:00Z"))
        with app.state.sessionmaker() as session:
            fees = session.scalars(
                select(Fee.amount_cents).where(Fee.fee_type == "subscription").order_by(Fee.created_at)
            ).all()
        assert fees == [3100, 1069]


class TestPendingWorkOfTheBillingRun:
    """The credit is left to the billing run (decision 0005): no request writes it, the run writes it once."""

    def test_a_get_past_ending_at_writes_no_credit_note(
        self, api: Api, app: FastAPI, clock: Clock, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        setup(api, ending_at="2024-01-21T12:00:00Z")
        body = {"external_customer_id": "cus_1", "external_id": "sub_2", "plan_code": "basic"}
        assert api.post("/subscriptions", json={"subscription": body}).status_code == 200
        bill_due(app.state.sessionmaker, at("2024-01-01T00:00:00Z"))
        clock.set("2024-01-22T00:00:00Z")
        # Nothing runs after the GET's commit: what the GET itself wrote is what is left.
        with monkeypatch.context() as patch:
            patch.setattr(app.state.dispatcher, "mode", "off")
            response = api.get("/customers/cus_1/current_usage", params={"external_subscription_id": "sub_2"})
        assert response.status_code == 200, response.text
        status = api.get("/subscriptions/sub_1", params={"status": "terminated"}).json()["subscription"]
        assert status["terminated_at"] == "2024-01-21T12:00:00Z"  # the GET applied the termination
        assert notes(app) == []
        bill_due(app.state.sessionmaker, at("2024-01-22T00:00:00Z"))
        [note] = notes(app)
        assert note.subscription_id == UUID(status["lago_id"])
        assert (note.total_amount_cents, note.issuing_date, note.reason) == (
            1200,
            date(2024, 1, 22),
            "order_cancellation",
        )

    def test_skipped_final_invoice_still_credits(self, api: Api, app: FastAPI, clock: Clock) -> None:
        setup(api)
        bill_due(app.state.sessionmaker, at("2024-01-01T00:00:00Z"))
        clock.set("2024-01-21T12:00:00Z")
        response = api.delete("/subscriptions/sub_1", params={"on_termination_invoice": "skip"})
        assert response.status_code == 200
        [note] = notes(app)  # the billing that follows the commit: its pass over the terminated subscription
        assert (note.total_amount_cents, note.issuing_date) == (1200, date(2024, 1, 21))
        with app.state.sessionmaker() as session:
            reasons = session.scalars(select(InvoiceSubscription.invoicing_reason)).all()
        assert reasons == ["subscription_starting"]  # no final invoice

    def test_the_scan_finds_a_credit_left_by_a_lost_task(
        self, api: Api, app: FastAPI, clock: Clock, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        setup(api)
        bill_due(app.state.sessionmaker, at("2024-01-01T00:00:00Z"))
        clock.set("2024-01-21T12:00:00Z")
        with monkeypatch.context() as patch:
            patch.setattr(app.state.dispatcher, "mode", "off")
            api.delete("/subscriptions/sub_1", params={"on_termination_invoice": "skip"})
        assert notes(app) == []
        [item] = find_due_subscriptions(app.state.sessionmaker, at("2024-01-21T12:00:01Z"))
        bill_batch(app.state.sessionmaker, str(item), at("2024-01-21T12:00:01Z"))
        [note] = notes(app)
        assert (note.total_amount_cents, note.issuing_date) == (1200, date(2024, 1, 21))
        assert find_due_subscriptions(app.state.sessionmaker, at("2024-01-21T12:00:02Z")) == []

    def test_once_whatever_the_runs(self, api: Api, app: FastAPI, clock: Clock) -> None:
        setup(api)
        bill_due(app.state.sessionmaker, at("2024-01-01T00:00:00Z"))
        clock.set("2024-01-21T12:00:00Z")
        api.delete("/subscriptions/sub_1")
        for _ in range(2):
            bill_due(app.state.sessionmaker, at("2024-01-22T00:00:00Z"))
        [note] = notes(app)
        # The backstop: a second credit note of the subscription for the same reason is refused.
        with app.state.sessionmaker() as session, pytest.raises(IntegrityError):
            copy = {
                column.key: getattr(note, column.key)
                for column in CreditNote.__table__.columns
                if column.key not in ("id", "sequential_id", "number")
            }
            session.add(CreditNote(**copy, sequential_id=2, number=f"{note.number}-2"))
            session.flush()


# -------------------------------------------------------------------------------------------- read API


@pytest.fixture
def credited(api: Api, app: FastAPI, clock: Clock) -> dict[str, Any]:
    setup(api)
    bill_due(app.state.sessionmaker, at("2024-01-01T00:00:00Z"))
    clock.set("2024-01-21T12:00:00Z")
    api.delete("/subscriptions/sub_1")
    [note] = notes(app)
    invoice = first_invoice(app)
    with app.state.sessionmaker() as session:
        fee_id = session.scalars(select(Fee.id).where(Fee.invoice_id == invoice.id)).one()
    return {"id": str(note.id), "invoice": invoice, "fee_id": str(fee_id)}


class TestRead:
    def test_show(self, api: Api, credited: dict[str, Any]) -> None:
        response = api.get(f"/credit_notes/{credited['id']}")
        assert response.status_code == 200
        body = response.json()["credit_note"]
        invoice = credited["invoice"]
        expected = {
            "lago_id": credited["id"],
            "billing_entity_code": None,
            "sequential_id": 1,
            "number": f"{invoice.number}-CN001",
            "lago_invoice_id": str(invoice.id),
            "invoice_number": invoice.number,
            "issuing_date": "2024-01-21",
            "credit_status": "available",
            "refund_status": None,
            "reason": "order_cancellation",
            "description": None,
            "currency": "EUR",
            "total_amount_cents": 1200,
            "precise_total_amount_cents": "1200.0",
            "taxes_amount_cents": 200,
            "precise_taxes_amount_cents": "200.0",
            "sub_total_excluding_taxes_amount_cents": 1000,
            "balance_amount_cents": 1200,
            "credit_amount_cents": 1200,
            "refund_amount_cents": 0,
            "offset_amount_cents": 0,
            "applied_to_source_invoice_amount_cents": 0,
            "coupons_adjustment_amount_cents": 0,
            "taxes_rate": 20.0,
            "voided_at": None,
            "file_url": None,
            "xml_url": None,
            "self_billed": False,
            "error_details": [],
        }
        assert {k: body[k] for k in expected} == expected
        [item] = body["items"]
        assert (item["amount_cents"], item["amount_currency"], item["fee"]["lago_id"]) == (
            1000,
            "EUR",
            credited["fee_id"],
        )
        [tax] = body["applied_taxes"]
        assert {
            k: tax[k]
            for k in ("tax_code", "tax_rate", "amount_cents", "base_amount_cents", "lago_credit_note_id")
        } == {
            "tax_code": "vat",
            "tax_rate": 20.0,
            "amount_cents": 200,
            "base_amount_cents": 1000,
            "lago_credit_note_id": credited["id"],
        }
        assert "customer" not in body
        parsed = prepare_object_response(response_model=CreditNoteResponse, data=body)
        assert parsed.total_amount_cents == 1200

    def test_unknown(self, api: Api) -> None:
        for lago_id in ("00000000-0000-0000-0000-000000000000", "nope"):
            response = api.get(f"/credit_notes/{lago_id}")
            assert (response.status_code, response.json()["code"]) == (404, "credit_note_not_found")

    def test_list_and_filters(self, api: Api, credited: dict[str, Any]) -> None:
        response = api.get("/credit_notes")
        assert response.status_code == 200
        body = response.json()
        assert [n["lago_id"] for n in body["credit_notes"]] == [credited["id"]]
        assert body["credit_notes"][0]["customer"]["external_id"] == "cus_1"
        assert body["meta"]["total_count"] == 1
        prepare_index_response(api_resource="credit_notes", response_model=CreditNoteResponse, data=body)
        for params, count in (
            ({"external_customer_id": "cus_1"}, 1),
            ({"external_customer_id": "cus_2"}, 0),
            ({"credit_status": "available"}, 1),
            ({"credit_status": "consumed"}, 0),
            ({"reason": "order_cancellation"}, 1),
            ({"reason": "other"}, 0),
            ({"currency": "EUR"}, 1),
            ({"currency": "USD"}, 0),
            ({"issuing_date_from": "2024-01-21", "issuing_date_to": "2024-01-21"}, 1),
            ({"issuing_date_from": "2024-01-22"}, 0),
            ({"amount_from": 1200, "amount_to": 1200}, 1),
            ({"amount_from": 1201}, 0),
            ({"invoice_number": credited["invoice"].number}, 1),
            ({"invoice_number": "nope"}, 0),
            ({"search_term": "CN001"}, 1),
            ({"search_term": "zzz"}, 0),
        ):
            assert len(api.get("/credit_notes", params=params).json()["credit_notes"]) == count, params

    def test_of_a_customer(self, api: Api, credited: dict[str, Any]) -> None:
        response = api.get("/customers/cus_1/credit_notes")
        assert response.status_code == 200
        assert [n["lago_id"] for n in response.json()["credit_notes"]] == [credited["id"]]
        assert api.get("/customers/nope/credit_notes").status_code == 404


class TestTenancy:
    def test_other_organization(self, other_api: Api, credited: dict[str, Any]) -> None:
        assert other_api.get("/credit_notes").json()["credit_notes"] == []
        assert other_api.get(f"/credit_notes/{credited['id']}").status_code == 404
        assert other_api.get("/customers/cus_1/credit_notes").status_code == 404
