"""``POST /invoices/preview`` (:mod:`billow.billing.preview`): the next invoice, computed as the billing run
computes it, and nothing written.

Unless said otherwise: an organization with a 20 % default tax, a monthly in-arrears plan of 1000 cents
(USD) with a standard charge of 1.00 per unit, subscription ``sub_1`` of customer ``cus_sub_1`` started
2024-01-01 (calendar), and the clock on 2024-01-15."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from billow.billing.preview import credit_note_parts
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
    """Rows of every table."""
    with factory() as session:
        return {
            table.name: session.scalar(select(func.count()).select_from(table)) or 0
            for table in metadata.sorted_tables
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
        assert (invoice["lago_id"], invoice["number"], invoice["sequential_id"]) == (None, None, None)
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
                "invoice": {"lago_id": None, "payment_status": "pending"},
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
                "invoice": {"lago_id": None, "payment_status": "pending"},
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
