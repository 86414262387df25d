"""``POST /invoices/preview`` (:mod:`billow.billing.preview`): the next invoice, computed as the billing run
computes it, and nothing written.

Unless said otherwise: an organization with a 20 % default tax, a monthly in-arrears plan of 1000 cents
(USD) with a standard charge of 1.00 per unit, subscription ``sub_1`` of customer ``cus_sub_1`` started
2024-01-01 (calendar), and the clock on 2024-01-15."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from billow.billing.preview_credits import credit_note_parts
from billow.models import metadata
from billow.models.credit_notes import CreditNote
from billow.models.invoices import Invoice
from billow.models.organizations import Organization
from tests.billing.scenarios.helpers import World, run, world
from tests.conftest import Api, Clock
from tests.fixtures import factories as f
from tests.fixtures.factories import at

PREVIEW = "/invoices/preview"


# ------------------------------------------------------------------------------------------ helpers


def setup(session: Session, api: Api, **fields: Any) -> World:
    org = session.get(Organization, api.organization.id)
    assert org is not None
    f.tax(session, org, "vat", "20", default=True)
    w = world(session, started_at=fields.pop("started_at", "2024-01-01"), org=org, **fields)
    session.commit()
    return w


def credit_note(session: Session, w: World, balance: int, number: str = "OLD-001") -> CreditNote:
    """A credit note of ``balance`` left on an earlier (one-off) invoice of the customer."""
    earlier = Invoice(
        organization_id=w.org.id,
        customer_id=w.customer.id,
        number=number,
        invoice_type="one_off",
        status="finalized",
        payment_status="succeeded",
        currency="USD",
        issuing_date=date(2023, 12, 1),
        payment_due_date=date(2023, 12, 1),
    )
    session.add(earlier)
    session.flush()
    note = CreditNote(
        organization_id=w.org.id,
        customer_id=w.customer.id,
        invoice_id=earlier.id,
        sequential_id=1,
        number=f"{number}-CN001",
        issuing_date=date(2023, 12, 2),
        credit_status="available",
        reason="other",
        currency="USD",
        total_amount_cents=balance,
        credit_amount_cents=balance,
        balance_amount_cents=balance,
    )
    session.add(note)
    session.commit()
    return note


def row_counts(factory: sessionmaker[Session]) -> dict[str, int]:
    """Rows of every table but ``api_logs`` (a preview is a ``POST``: its request is logged, as Lago's)."""
    with factory() as session:
        return {
            table.name: session.scalar(select(func.count()).select_from(table)) or 0
            for table in metadata.sorted_tables
            if table.name != "api_logs"
        }


def preview(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post(PREVIEW, json=body)
    assert response.status_code == 200, response.text
    return response.json()["invoice"]


def error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return response.json()


def amounts(invoice: dict[str, Any] | Invoice) -> dict[str, int]:
    names = (
        "fees_amount_cents",
        "coupons_amount_cents",
        "sub_total_excluding_taxes_amount_cents",
        "taxes_amount_cents",
        "sub_total_including_taxes_amount_cents",
        "credit_notes_amount_cents",
        "prepaid_credit_amount_cents",
        "total_amount_cents",
    )
    if isinstance(invoice, Invoice):
        return {name: getattr(invoice, name) for name in names}
    return {name: invoice[name] for name in names}


EXISTING = {"customer": {"external_id": "cus_sub_1"}, "subscriptions": {"external_ids": ["sub_1"]}}


# ------------------------------------------------------------------------------------------ pure


def test_credit_note_parts_oldest_first() -> None:
    # 700 over notes of 500, 300, 100: the oldest gives its 500, the next 200 of its 300, the last none.
    assert credit_note_parts(700, [500, 300, 100]) == [500, 200, 0]
    assert credit_note_parts(0, [500]) == [0]
    assert credit_note_parts(900, [500, 300, 100]) == [500, 300, 100]


# ------------------------------------------------------------------------------------------ existing


class TestExistingSubscription:
    def test_plan_usage_tax_coupon_and_credit_note(
        self, api: Api, session: Session, factory: sessionmaker[Session], clock: Clock
    ) -> None:
        w = setup(session, api)
        w.event(session, "2024-01-10T00:00:00", "3.33")
        f.applied_coupon(
            session,
            w.org,
            w.customer,
            code="ten",
            coupon_type="percentage",
            percentage_rate="10",
            frequency="forever",
        )
        note = credit_note(session, w, 500)
        clock.set("2024-01-15T00:00:00Z")
        before = row_counts(factory)
        invoice = preview(api, EXISTING)
        assert row_counts(factory) == before
        # Plan fee 1000 (January) + usage 3.33 x 1.00 = 333: fees 1333. 10 % of 1333 = 133.3 -> 133,
        # spread pro rata in whole cents: 133 x 1000 / 1333 = 99.77, 133 x 333 / 1333 = 33.22 -> 99 + 33,
        # the cent left to the larger remainder (the plan fee): 100 and 33. Taxes 20 % x 900 = 180 and
        # 20 % x 300 = 60: 240. Excluding taxes 1200, including 1440; the credit note's 500: 940.
        assert amounts(invoice) == {
            "fees_amount_cents": 1333,
            "coupons_amount_cents": 133,
            "sub_total_excluding_taxes_amount_cents": 1200,
            "taxes_amount_cents": 240,
            "sub_total_including_taxes_amount_cents": 1440,
            "credit_notes_amount_cents": 500,
            "prepaid_credit_amount_cents": 0,
            "total_amount_cents": 940,
        }
        # Never stored: an id no endpoint knows, the draft number (Lago: null, which the client refuses).
        assert (invoice["number"], invoice["sequential_id"]) == (
            f"{w.org.document_number_prefix}-DRAFT",
            None,
        )
        assert api.get(f"/invoices/{invoice['lago_id']}").status_code == 404
        assert (invoice["status"], invoice["payment_status"], invoice["invoice_type"]) == (
            "draft",
            "pending",
            "subscription",
        )
        assert (invoice["issuing_date"], invoice["payment_due_date"]) == ("2024-02-01", "2024-02-01")
        assert invoice["total_due_amount_cents"] == 940
        assert [
            (
                fee["lago_id"],
                fee["item"]["type"],
                fee["amount_cents"],
                fee["precise_coupons_amount_cents"],
                fee["taxes_amount_cents"],
                fee["from_date"],
                fee["to_date"],
            )
            for fee in invoice["fees"]
        ] == [
            (None, "subscription", 1000, "100.0", 180, "2024-01-01T00:00:00Z", "2024-01-31T23:59:59Z"),
            (None, "charge", 333, "33.0", 60, "2024-01-01T00:00:00Z", "2024-01-31T23:59:59Z"),
        ]
        assert invoice["fees"][0]["lago_subscription_id"] == str(w.subscription.id)
        assert invoice["fees"][0]["external_customer_id"] == "cus_sub_1"
        assert invoice["credits"] == [
            {
                "lago_id": None,
                "amount_cents": 133,
                "amount_currency": "USD",
                "before_taxes": True,
                "item": {
                    "lago_item_id": invoice["credits"][0]["item"]["lago_item_id"],
                    "type": "coupon",
                    "code": "ten",
                    "name": "Coupon ten",
                },
                "invoice": {"lago_id": invoice["lago_id"], "payment_status": "pending"},
            },
            {
                "lago_id": None,
                "amount_cents": 500,
                "amount_currency": "USD",
                "before_taxes": False,
                "item": {
                    "lago_item_id": str(note.id),
                    "type": "credit_note",
                    "code": "OLD-001-CN001",
                    "name": "OLD-001",
                },
                "invoice": {"lago_id": invoice["lago_id"], "payment_status": "pending"},
            },
        ]
        [tax] = invoice["applied_taxes"]
        assert {k: tax[k] for k in ("lago_id", "lago_invoice_id", "tax_code", "amount_cents")} == {
            "lago_id": None,
            "lago_invoice_id": None,
            "tax_code": "vat",
            "amount_cents": 240,
        }
        assert tax["fees_amount_cents"] == 1200
        assert invoice["billing_periods"] == [
            {
                "lago_subscription_id": str(w.subscription.id),
                "external_subscription_id": "sub_1",
                "lago_plan_id": str(w.plan.id),
                "subscription_from_datetime": "2024-01-01T00:00:00Z",
                "subscription_to_datetime": "2024-01-31T23:59:59Z",
                "charges_from_datetime": "2024-01-01T00:00:00Z",
                "charges_to_datetime": "2024-01-31T23:59:59Z",
                "invoicing_reason": "subscription_periodic",
            }
        ]
        assert [s["external_id"] for s in invoice["subscriptions"]] == ["sub_1"]
        assert invoice["customer"]["external_id"] == "cus_sub_1"

        # The billing run bills the same invoice when the period ends.
        assert run(factory, at("2024-02-01T00:00:00")) == 1
        with factory() as s:
            billed = s.scalars(select(Invoice).where(Invoice.invoice_type == "subscription")).one()
            assert amounts(billed) == amounts(invoice)

    def test_wallets_after_the_credit_note(
        self, api: Api, session: Session, factory: sessionmaker[Session], clock: Clock
    ) -> None:
        w = setup(session, api)
        w.event(session, "2024-01-10T00:00:00", "3.33")
        first = f.wallet(session, w.org, w.customer, 300, priority=1)
        f.wallet(session, w.org, w.customer, 5000, priority=2)
        credit_note(session, w, 500)
        clock.set("2024-01-15T00:00:00Z")
        before = row_counts(factory)
        invoice = preview(api, EXISTING)
        assert row_counts(factory) == before
        # Fees 1333 + 20 % = 1333 + 266.6 -> 267: 1600; the credit note's 500: 1100; the priority-1
        # wallet's 300 then 800 of the other: 1100 prepaid, nothing due.
        assert amounts(invoice)["prepaid_credit_amount_cents"] == 1100
        assert amounts(invoice)["total_amount_cents"] == 0
        with factory() as s:
            assert s.get(type(first), first.id).balance_cents == 300  # type: ignore[union-attr]
        # The billing run takes the same.
        assert run(factory, at("2024-02-01T00:00:00")) == 1
        with factory() as s:
            billed = s.scalars(select(Invoice).where(Invoice.invoice_type == "subscription")).one()
            assert amounts(billed) == amounts(invoice)

    def test_fixed_charges_as_the_run_bills_them(
        self, api: Api, session: Session, factory: sessionmaker[Session], clock: Clock
    ) -> None:
        from tests.billing.scenarios.test_fixed_charges import add_fixed_charge

        w = setup(session, api)
        add_fixed_charge(session, w.plan)  # 3 units x 10.00, in arrears
        session.commit()
        clock.set("2024-01-15T00:00:00Z")
        invoice = preview(api, EXISTING)
        # Plan 1000 + fixed charge 3 x 1000 = 3000: fees 4000, 20 % = 800, total 4800.
        assert (amounts(invoice)["fees_amount_cents"], amounts(invoice)["total_amount_cents"]) == (4000, 4800)
        assert run(factory, at("2024-02-01T00:00:00")) == 1
        with factory() as s:
            billed = s.scalars(select(Invoice).where(Invoice.invoice_type == "subscription")).one()
            assert amounts(billed) == amounts(invoice)


class TestPayInAdvance:
    def test_next_fee_and_the_period_usage(
        self, api: Api, session: Session, factory: sessionmaker[Session], clock: Clock
    ) -> None:
        w = setup(session, api, pay_in_advance=True)
        w.event(session, "2024-01-10T00:00:00", "2")
        session.commit()
        clock.set("2024-01-15T00:00:00Z")
        before = row_counts(factory)
        invoice = preview(api, EXISTING)
        assert row_counts(factory) == before
        # Due 2024-02-01: February's fee 1000 in advance and January's usage 2 x 1.00 = 200; 20 % = 240.
        assert [(fee["item"]["type"], fee["amount_cents"], fee["from_date"]) for fee in invoice["fees"]] == [
            ("subscription", 1000, "2024-02-01T00:00:00Z"),
            ("charge", 200, "2024-01-01T00:00:00Z"),
        ]
        assert (
            invoice["fees_amount_cents"],
            invoice["taxes_amount_cents"],
            invoice["total_amount_cents"],
        ) == (
            1200,
            240,
            1440,
        )
        # The run bills January's starting invoice at 2024-01-01 and then this one.
        run(factory, at("2024-01-01T00:00:00"))
        assert run(factory, at("2024-02-01T00:00:00")) == 1
        with factory() as s:
            billed = s.scalars(
                select(Invoice).where(
                    Invoice.issuing_date == date(2024, 2, 1), Invoice.invoice_type == "subscription"
                )
            ).one()
            assert amounts(billed) == amounts(invoice)


class TestTermination:
    def test_the_final_invoice_if_terminated_then(
        self, api: Api, session: Session, factory: sessionmaker[Session], clock: Clock
    ) -> None:
        w = setup(session, api)
        w.event(session, "2024-01-10T00:00:00", "1")
        w.event(session, "2024-01-25T00:00:00", "5")  # after the termination: not billed
        session.commit()
        clock.set("2024-01-15T00:00:00Z")
        before = row_counts(factory)
        body = {
            **EXISTING,
            "subscriptions": {"external_ids": ["sub_1"], "terminated_at": "2024-01-20T00:00:00Z"},
        }
        invoice = preview(api, body)
        assert row_counts(factory) == before
        # 19 days of 31 (Jan 1-19): 1000 x 19 / 31 = 612.9 -> 613; usage 1 x 1.00 = 100; 20 % of 713 =
        # 142.6 -> 143 (122.6 + 20): total 856.
        assert [(fee["item"]["type"], fee["amount_cents"]) for fee in invoice["fees"]] == [
            ("subscription", 613),
            ("charge", 100),
        ]
        assert (invoice["taxes_amount_cents"], invoice["total_amount_cents"]) == (143, 856)
        assert invoice["billing_periods"][0]["invoicing_reason"] == "subscription_terminating"
        [subscription] = invoice["subscriptions"]
        assert (subscription["status"], subscription["terminated_at"]) == (
            "terminated",
            "2024-01-20T00:00:00Z",
        )
        # The subscription is untouched.
        response = api.get("/subscriptions/sub_1")
        assert (
            response.json()["subscription"]["status"],
            response.json()["subscription"]["terminated_at"],
        ) == (
            "active",
            None,
        )

    def test_errors(self, api: Api, session: Session, clock: Clock) -> None:
        setup(session, api)
        clock.set("2024-01-15T00:00:00Z")

        def terminated(value: Any) -> Any:
            body = {**EXISTING, "subscriptions": {"external_ids": ["sub_1"], "terminated_at": value}}
            return api.post(PREVIEW, json=body)

        assert error(terminated("2024-01-14T00:00:00Z"), 422)["error_details"] == {
            "terminated_at": ["cannot_be_in_past"]
        }
        assert error(terminated("not a date"), 422)["error_details"] == {
            "terminated_at": ["invalid_timestamp"]
        }
        body = {
            **EXISTING,
            "subscriptions": {"external_ids": ["nope"], "terminated_at": "2024-01-20T00:00:00Z"},
        }
        assert error(api.post(PREVIEW, json=body), 404)["code"] == "subscription_not_found"


class TestNewSubscription:
    def test_new_customer_inline_plan_and_inline_coupons(
        self, api: Api, session: Session, factory: sessionmaker[Session], clock: Clock
    ) -> None:
        w = setup(session, api)
        clock.set("2024-03-01T00:00:00Z")
        body = {
            "customer": {"name": "New", "timezone": "UTC", "currency": "USD"},
            "plan_code": w.plan.code,
            "billing_time": "calendar",
            "subscription_at": "2024-03-10T00:00:00Z",
            "coupons": [
                {
                    "code": "welcome",
                    "name": "Welcome",
                    "coupon_type": "fixed_amount",
                    "amount_cents": 100,
                    "amount_currency": "USD",
                },
                {"code": "half", "coupon_type": "percentage", "percentage_rate": "50"},
            ],
        }
        before = row_counts(factory)
        invoice = preview(api, body)
        assert row_counts(factory) == before
        # In arrears: the first invoice on 2024-04-01, March 10-31: 1000 x 22 / 31 = 709.7 -> 710, no
        # usage (the subscription does not exist). Coupons in the given order: 100, then 50 % of 610 =
        # 305. Tax 20 % of 305 = 61: total 366.
        assert [(fee["lago_id"], fee["item"]["type"], fee["amount_cents"]) for fee in invoice["fees"]] == [
            (None, "subscription", 710)
        ]
        assert amounts(invoice) == {
            "fees_amount_cents": 710,
            "coupons_amount_cents": 405,
            "sub_total_excluding_taxes_amount_cents": 305,
            "taxes_amount_cents": 61,
            "sub_total_including_taxes_amount_cents": 366,
            "credit_notes_amount_cents": 0,
            "prepaid_credit_amount_cents": 0,
            "total_amount_cents": 366,
        }
        assert [(c["item"]["code"], c["amount_cents"], c["before_taxes"]) for c in invoice["credits"]] == [
            ("welcome", 100, True),
            ("half", 305, True),
        ]
        assert invoice["issuing_date"] == "2024-04-01"
        assert (invoice["customer"]["external_id"], invoice["customer"]["name"]) == (None, "New")
        assert api.get(f"/customers/{invoice['customer']['lago_id']}").status_code == 404
        [subscription] = invoice["subscriptions"]
        assert (subscription["external_id"], subscription["plan_code"]) == (None, w.plan.code)
        assert invoice["fees"][0]["lago_subscription_id"] == subscription["lago_id"]
        assert invoice["billing_periods"] == []  # only stored subscriptions' (Lago's preview has none)

    def test_pay_in_advance_plan_for_an_existing_customer(
        self, api: Api, session: Session, factory: sessionmaker[Session], clock: Clock
    ) -> None:
        w = setup(session, api)
        plan = f.plan(session, w.org, code="advance", amount_cents=3100, pay_in_advance=True)
        f.applied_coupon(session, w.org, w.customer, code="fixed", amount_cents=600)
        session.commit()
        clock.set("2024-03-10T12:00:00Z")
        body = {
            "customer": {"external_id": "cus_sub_1"},
            "plan_code": "advance",
            "coupons": [{"code": "ignored", "coupon_type": "percentage", "percentage_rate": "90"}],
        }
        before = row_counts(factory)
        invoice = preview(api, body)
        assert row_counts(factory) == before
        # Started now (no subscription_at), in advance: due now, March 10-31: 3100 x 22 / 31 = 2200. The
        # customer's applied coupon (600), not the inline one (Lago: inline coupons only without any):
        # 1600, 20 % = 320: 1920.
        assert [(fee["amount_cents"], fee["from_date"]) for fee in invoice["fees"]] == [
            (2200, "2024-03-10T12:00:00Z")
        ]
        assert (invoice["coupons_amount_cents"], invoice["total_amount_cents"]) == (600, 1920)
        assert invoice["customer"]["lago_id"] == str(w.customer.id)
        assert plan.code == "advance"

    def test_a_stored_coupon_named_inline(self, api: Api, session: Session, clock: Clock) -> None:
        w = setup(session, api)
        f.applied_coupon(
            session,
            w.org,
            f.customer(session, w.org, "someone_else"),
            code="quarter",
            coupon_type="percentage",
            percentage_rate="25",
            frequency="forever",
        )
        session.commit()
        clock.set("2024-03-01T00:00:00Z")
        body = {"plan_code": w.plan.code, "coupons": [{"code": "quarter"}]}
        invoice = preview(api, body)
        # March in full: 1000; the stored coupon "quarter": 25 % = 250; 20 % of 750 = 150: 900.
        assert (invoice["coupons_amount_cents"], invoice["total_amount_cents"]) == (250, 900)
        assert invoice["credits"][0]["item"]["name"] == "Coupon quarter"


class TestErrors:
    def test_lago_errors(self, api: Api, session: Session, clock: Clock) -> None:
        w = setup(session, api)
        clock.set("2024-01-15T00:00:00Z")
        assert error(api.post(PREVIEW, json={"customer": {"external_id": "nobody"}}), 404)["code"] == (
            "customer_not_found"
        )
        assert error(api.post(PREVIEW, json={"plan_code": "nope"}), 404)["code"] == "plan_not_found"
        assert error(api.post(PREVIEW, json={}), 404)["code"] == "plan_not_found"
        body = {"customer": {"external_id": "cus_sub_1"}, "subscriptions": {"external_ids": ["nope"]}}
        assert error(api.post(PREVIEW, json=body), 404)["code"] == "subscription_not_found"
        body = {"customer": {"name": "New"}, "subscriptions": {"external_ids": ["sub_1"]}}
        assert error(api.post(PREVIEW, json=body), 422)["error_details"] == {
            "customer": ["must_be_persisted"]
        }
        body = {"plan_code": w.plan.code, "subscription_at": "yesterday"}
        assert error(api.post(PREVIEW, json=body), 422)["error_details"] == {
            "subscription_at": ["invalid_date"]
        }
        body = {"plan_code": w.plan.code, "customer": {"timezone": "Mars/Olympus"}}
        assert error(api.post(PREVIEW, json=body), 422)["error_details"] == {"timezone": ["invalid_timezone"]}
        body = {"plan_code": w.plan.code, "coupons": [{"code": "x", "coupon_type": "gift"}]}
        assert error(api.post(PREVIEW, json=body), 422)["error_details"] == {
            "coupon_type": ["value_is_invalid"]
        }
        body = {"plan_code": w.plan.code, "coupons": [{"coupon_type": "percentage", "percentage_rate": "x"}]}
        assert error(api.post(PREVIEW, json=body), 422)["error_details"] == {
            "percentage_rate": ["value_is_invalid"]
        }
        body = {**EXISTING, "subscriptions": {"external_ids": ["sub_1"], "plan_code": w.plan.code}}
        assert error(api.post(PREVIEW, json=body), 422)["error_details"] == {
            "base": ["new_plan_should_be_different_from_existing_plan"]
        }
        body = {**EXISTING, "subscriptions": {"external_ids": ["sub_1"], "plan_code": "nope"}}
        assert error(api.post(PREVIEW, json=body), 404)["code"] == "plan_not_found"

    def test_subscriptions_of_different_periods(self, api: Api, session: Session, clock: Clock) -> None:
        w = setup(session, api)
        weekly = f.plan(session, w.org, code="weekly", interval="weekly", amount_cents=100)
        f.subscription(session, w.org, w.customer, weekly, external_id="sub_2", started_at=at("2024-01-01"))
        session.commit()
        clock.set("2024-01-15T00:00:00Z")
        body = {
            "customer": {"external_id": "cus_sub_1"},
            "subscriptions": {"external_ids": ["sub_1", "sub_2"]},
        }
        assert error(api.post(PREVIEW, json=body), 422)["error_details"] == {
            "base": ["billing_periods_does_not_match"]
        }


class TestTenancy:
    def test_another_organization_sees_nothing(
        self, api: Api, other_api: Api, session: Session, clock: Clock
    ) -> None:
        w = setup(session, api)
        clock.set("2024-01-15T00:00:00Z")
        assert error(other_api.post(PREVIEW, json=EXISTING), 404)["code"] == "customer_not_found"
        assert (
            error(other_api.post(PREVIEW, json={"plan_code": w.plan.code}), 404)["code"] == "plan_not_found"
        )
        other = session.get(Organization, other_api.organization.id)
        assert other is not None
        f.customer(session, other, "cus_sub_1")
        session.commit()
        assert error(other_api.post(PREVIEW, json=EXISTING), 404)["code"] == "subscription_not_found"


def test_several_subscriptions_on_one_invoice(
    api: Api, session: Session, factory: sessionmaker[Session], clock: Clock
) -> None:
    w = setup(session, api)
    second = world(session, started_at="2024-01-01", org=w.org, external_id="sub_2", amount_cents=500)
    # The same customer for both.
    second.subscription.customer_id = w.customer.id
    session.commit()
    clock.set("2024-01-15T00:00:00Z")
    body = {"customer": {"external_id": "cus_sub_1"}, "subscriptions": {"external_ids": ["sub_1", "sub_2"]}}
    invoice = preview(api, body)
    # 1000 + 500 = 1500, 20 %: 1800.
    assert (invoice["fees_amount_cents"], invoice["total_amount_cents"]) == (1500, 1800)
    assert [p["external_subscription_id"] for p in invoice["billing_periods"]] == ["sub_1", "sub_2"]
    assert run(factory, at("2024-02-01T00:00:00")) == 1
    with factory() as s:
        billed = s.scalars(select(Invoice).where(Invoice.invoice_type == "subscription")).one()
        assert amounts(billed) == amounts(invoice)


def test_the_body_the_official_client_sends(api: Api, session: Session, clock: Clock) -> None:
    """``invoices.preview`` sends every field of its models, ``null`` when unset, and a number as the
    percentage rate."""
    from lago_python_client.models import Coupon, CouponsList, Customer, InvoicePreview
    from lago_python_client.models.subscription import Subscriptions
    from lago_python_client.services.json import to_json

    w = setup(session, api)
    clock.set("2024-01-15T00:00:00Z")
    body = InvoicePreview(
        customer=Customer(external_id="cus_sub_1"),
        subscriptions=Subscriptions(external_ids=["sub_1"]),
        coupons=CouponsList(__root__=[Coupon(code="c", coupon_type="percentage", percentage_rate=10.0)]),
    ).dict()
    response = api.client.post(
        "/api/v1/invoices/preview",
        content=to_json(body),
        headers={**api.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    invoice = response.json()["invoice"]
    # January's fee 1000, the inline 10 % coupon (the customer has none): 900, 20 %: 1080.
    assert (invoice["coupons_amount_cents"], invoice["total_amount_cents"]) == (100, 1080)
    assert w.plan.amount_cents == 1000


class TestScheduledEnds:
    def test_a_scheduled_downgrade(
        self, api: Api, session: Session, factory: sessionmaker[Session], clock: Clock
    ) -> None:
        w = setup(session, api)
        f.plan(session, w.org, code="small", amount_cents=500, pay_in_advance=True)
        w.event(session, "2024-01-10T00:00:00", "2")
        session.commit()
        clock.set("2024-01-15T00:00:00Z")
        change = {"external_customer_id": "cus_sub_1", "external_id": "sub_1", "plan_code": "small"}
        response = api.post("/subscriptions", json={"subscription": change})
        assert response.json()["subscription"]["next_plan_code"] == "small", response.text
        before = row_counts(factory)
        invoice = preview(api, EXISTING)
        assert row_counts(factory) == before
        # On 2024-02-01 the subscription ends (January's fee 1000 and usage 2 x 1.00 = 200) and the
        # downgraded one starts, paid in advance (February's 500): 1700, 20 %: 2040.
        assert [
            (fee["item"]["type"], fee["item"]["code"], fee["amount_cents"]) for fee in invoice["fees"]
        ] == [
            ("subscription", w.plan.code, 1000),
            ("charge", w.metric.code, 200),
            ("subscription", "small", 500),
        ]
        assert (invoice["fees_amount_cents"], invoice["total_amount_cents"]) == (1700, 2040)
        assert [p["invoicing_reason"] for p in invoice["billing_periods"]] == [
            "subscription_terminating",
            "subscription_starting",
        ]
        assert run(factory, at("2024-02-01T00:00:00")) == 1
        with factory() as s:
            billed = s.scalars(select(Invoice).where(Invoice.invoice_type == "subscription")).one()
            assert amounts(billed) == amounts(invoice)

    def test_an_ending_at_before_the_period_end(
        self, api: Api, session: Session, factory: sessionmaker[Session], clock: Clock
    ) -> None:
        w = setup(session, api)
        w.subscription.ending_at = at("2024-01-20T00:00:00")
        w.event(session, "2024-01-10T00:00:00", "1")
        session.commit()
        clock.set("2024-01-15T00:00:00Z")
        invoice = preview(api, EXISTING)
        # Ends 2024-01-20: 19 days of 31, 1000 x 19 / 31 = 612.9 -> 613, usage 100; 20 % of 713 -> 143.
        assert (invoice["fees_amount_cents"], invoice["total_amount_cents"]) == (713, 856)
        assert invoice["issuing_date"] == "2024-01-20"
        assert run(factory, at("2024-01-20T00:00:00")) == 1
        with factory() as s:
            billed = s.scalars(select(Invoice).where(Invoice.invoice_type == "subscription")).one()
            assert amounts(billed) == amounts(invoice)


class TestPlanChange:
    def change(self, api: Api, plan_code: str) -> dict[str, Any]:
        body = {"external_customer_id": "cus_sub_1", "external_id": "sub_1", "plan_code": plan_code}
        response = api.post("/subscriptions", json={"subscription": body})
        assert response.status_code == 200, response.text
        return response.json()["subscription"]

    def test_an_upgrade_now(
        self, api: Api, session: Session, factory: sessionmaker[Session], clock: Clock
    ) -> None:
        w = setup(session, api)
        f.plan(session, w.org, code="big", amount_cents=3100, pay_in_advance=True)
        w.event(session, "2024-01-10T00:00:00", "2")
        session.commit()
        clock.set("2024-01-15T12:00:00Z")
        body = {**EXISTING, "subscriptions": {"external_ids": ["sub_1"], "plan_code": "big"}}
        before = row_counts(factory)
        invoice = preview(api, body)
        assert row_counts(factory) == before
        # The old plan ends now; its fee up to the switch day (the new plan pays that day): Jan 1-14,
        # 1000 x 14 / 31 = 451.6 -> 452, and its usage 2 x 1.00 = 200. The new plan starts now, in
        # advance: Jan 15-31, 3100 x 17 / 31 = 1700. Fees 2352; taxes 90.4 + 40 + 340 = 470.4 -> 470.
        assert [(fee["item"]["code"], fee["amount_cents"]) for fee in invoice["fees"]] == [
            (w.plan.code, 452),
            (w.metric.code, 200),
            ("big", 1700),
        ]
        assert (
            invoice["fees_amount_cents"],
            invoice["taxes_amount_cents"],
            invoice["total_amount_cents"],
        ) == (
            2352,
            470,
            2822,
        )
        assert [s["external_id"] for s in invoice["subscriptions"]] == ["sub_1", "sub_1"]
        # The upgrade itself bills the same invoice (right after its commit).
        self.change(api, "big")
        with factory() as s:
            billed = s.scalars(select(Invoice).where(Invoice.invoice_type == "subscription")).one()
            assert amounts(billed) == amounts(invoice)

    def test_a_downgrade_at_the_period_end(
        self, api: Api, session: Session, factory: sessionmaker[Session], clock: Clock
    ) -> None:
        w = setup(session, api)
        f.plan(session, w.org, code="small", amount_cents=500, pay_in_advance=True)
        w.event(session, "2024-01-10T00:00:00", "2")
        session.commit()
        clock.set("2024-01-15T12:00:00Z")
        body = {**EXISTING, "subscriptions": {"external_ids": ["sub_1"], "plan_code": "small"}}
        invoice = preview(api, body)
        # On 2024-02-01: January's 1000 and 200 of usage, February's 500 in advance; 20 %: 2040.
        assert (invoice["fees_amount_cents"], invoice["total_amount_cents"]) == (1700, 2040)
        assert invoice["issuing_date"] == "2024-02-01"
        assert self.change(api, "small")["next_plan_code"] == "small"
        assert run(factory, at("2024-02-01T00:00:00")) == 1
        with factory() as s:
            billed = s.scalars(select(Invoice).where(Invoice.invoice_type == "subscription")).one()
            assert amounts(billed) == amounts(invoice)


@pytest.mark.parametrize(
    ("body", "status", "details"),
    [
        (
            {"plan_code": "PLAN", "subscription_at": "0001-01-01T00:00:00Z"},
            422,
            {"subscription_at": ["value_is_out_of_range"]},
        ),
        (
            {"plan_code": "PLAN", "subscription_at": "9999-12-31T23:59:59-01:00"},
            422,
            {"subscription_at": ["invalid_date"]},
        ),
        (
            {"plan_code": "PLAN", "coupons": [{"coupon_type": "percentage", "percentage_rate": "NaN"}]},
            422,
            {"percentage_rate": ["value_is_out_of_range"]},
        ),
        (
            {"plan_code": "PLAN", "coupons": [{"coupon_type": "percentage", "percentage_rate": "1e400"}]},
            422,
            {"percentage_rate": ["value_is_out_of_range"]},
        ),
        (
            {"plan_code": "PLAN", "coupons": [{"coupon_type": "fixed_amount"}]},
            422,
            {"amount_cents": ["value_is_mandatory"]},
        ),
        (
            {
                **EXISTING,
                "subscriptions": {"external_ids": ["sub_1"], "terminated_at": "9999-12-31T00:00:00Z"},
            },
            422,
            {"terminated_at": ["value_is_out_of_range"]},
        ),
        ({"plan_code": "PLAN", "customer": {"currency": "XXXX"}}, 422, {"currency": ["value_is_invalid"]}),
    ],
)
def test_odd_values_are_refused(
    api: Api, session: Session, clock: Clock, body: dict[str, Any], status: int, details: dict[str, Any]
) -> None:
    w = setup(session, api)
    clock.set("2024-01-15T00:00:00Z")
    body = {**body, "plan_code": w.plan.code} if body.get("plan_code") == "PLAN" else body
    assert error(api.post(PREVIEW, json=body), status)["error_details"] == details


def test_malformed_bodies_are_client_errors(api: Api, session: Session, clock: Clock) -> None:
    setup(session, api)
    for body in ({"customer": "x"}, {"coupons": {"code": "x"}}, {"subscriptions": []}, [], {"coupons": [1]}):
        assert 400 <= api.post(PREVIEW, json=body).status_code < 500
