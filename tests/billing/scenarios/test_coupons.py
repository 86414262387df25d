"""Coupons on subscription invoices (reference §5.4 item 3): applied when the invoice is finalized, in
Lago's order (billable-metric-limited, plan-limited, the others; oldest first), spread over the fees in
whole cents, taxes on what the coupons leave, and the applied coupon's state written with the invoice.

Unless said otherwise: plan fee 1000 for a whole month, usage 3.33 units x 1.00 = 333 (fees 1333)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from billow.billing.tasks import finalize_due_drafts
from billow.models.coupons import AppliedCoupon, InvoiceCoupon
from billow.models.credit_notes import CreditNote
from billow.models.invoices import Fee, Invoice
from billow.models.wallets import Wallet
from tests.billing.scenarios.helpers import World, step, world
from tests.fixtures import factories as f
from tests.fixtures.factories import at


def month(session: Session, w: World, first: str) -> None:
    """3.33 units in the month starting on ``first``."""
    w.event(session, at(first).replace(day=10), "3.33")


def invoices(factory: sessionmaker[Session]) -> list[dict[str, int | str]]:
    with factory() as session:
        return [
            {
                "fees": i.fees_amount_cents,
                "coupons": i.coupons_amount_cents,
                "excl": i.sub_total_excluding_taxes_amount_cents,
                "taxes": i.taxes_amount_cents,
                "credit_notes": i.credit_notes_amount_cents,
                "prepaid": i.prepaid_credit_amount_cents,
                "total": i.total_amount_cents,
                "payment_status": i.payment_status,
            }
            for i in session.scalars(
                select(Invoice).where(Invoice.invoice_type == "subscription").order_by(Invoice.issuing_date)
            )
        ]


def fee_coupons(factory: sessionmaker[Session], issuing: str) -> list[tuple[str, int, Decimal, int]]:
    """``(fee_type, amount, coupon share, tax)`` of the invoice issued on ``issuing``, plan fee first."""
    with factory() as session:
        fees = session.scalars(
            select(Fee)
            .join(Invoice, Invoice.id == Fee.invoice_id)
            .where(Invoice.issuing_date == date.fromisoformat(issuing))
            .order_by(Fee.fee_type.desc())
        )
        return [
            (x.fee_type, x.amount_cents, x.precise_coupons_amount_cents, x.taxes_amount_cents) for x in fees
        ]


def state(factory: sessionmaker[Session], applied: AppliedCoupon) -> tuple[str, int | None, int | None]:
    with factory() as session:
        row = session.get(AppliedCoupon, applied.id)
        assert row is not None
        return row.status, row.amount_cents_remaining, row.frequency_duration_remaining


def taken(factory: sessionmaker[Session], applied: AppliedCoupon) -> list[int]:
    with factory() as session:
        return list(
            session.scalars(
                select(InvoiceCoupon.amount_cents)
                .where(InvoiceCoupon.applied_coupon_id == applied.id)
                .order_by(InvoiceCoupon.created_at)
            )
        )


def test_recurring_percentage_coupon_with_a_tax(factory, session) -> None:
    w = world(session, started_at="2024-01-01", amount_cents=1000)
    f.tax(session, w.org, "vat", "20", default=True)
    coupon = f.applied_coupon(
        session,
        w.org,
        w.customer,
        coupon_type="percentage",
        percentage_rate="10",
        frequency="recurring",
        frequency_duration=2,
    )
    for first in ("2024-01-01", "2024-02-01", "2024-03-01"):
        month(session, w, first)
    session.commit()
    step(factory, "2024-02-01")
    step(factory, "2024-03-01")
    step(factory, "2024-04-01")
    # 10 % of 1333 = 133.3 -> 133, spread by largest remainder: 133 x 1000 / 1333 = 99.77 and
    # 133 x 333 / 1333 = 33.22 -> floors 99 + 33 = 132; the cent left goes to the larger remainder
    # (1033/1333 against 300/1333): the plan fee, 100. Taxes: 20 % x 900 = 180, 20 % x 300 = 60.
    # Excluding taxes 1333 - 133 = 1200; total 1200 + 240 = 1440.
    coupon_month = {
        "fees": 1333,
        "coupons": 133,
        "excl": 1200,
        "taxes": 240,
        "credit_notes": 0,
        "prepaid": 0,
        "total": 1440,
        "payment_status": "pending",
    }
    # April: the coupon's 2 periods are used: 20 % x 1333 = 266.6 -> 267; total 1600.
    assert invoices(factory) == [
        coupon_month,
        coupon_month,
        {
            "fees": 1333,
            "coupons": 0,
            "excl": 1333,
            "taxes": 267,
            "credit_notes": 0,
            "prepaid": 0,
            "total": 1600,
            "payment_status": "pending",
        },
    ]
    assert fee_coupons(factory, "2024-02-01") == [
        ("subscription", 1000, Decimal(100), 180),
        ("charge", 333, Decimal(33), 60),
    ]
    assert state(factory, coupon) == ("terminated", None, 0)
    assert taken(factory, coupon) == [133, 133]


def test_fixed_once_coupon_carries_over(factory, session) -> None:
    w = world(session, started_at="2024-01-01", amount_cents=1000, charge_model=None)
    coupon = f.applied_coupon(session, w.org, w.customer, amount_cents=1500)
    session.commit()
    step(factory, "2024-02-01")
    assert state(factory, coupon) == ("active", 500, None)
    step(factory, "2024-03-01")
    step(factory, "2024-04-01")
    # February: min(1500, 1000) = 1000, nothing left to pay (paid at once), 500 left on the coupon.
    # March: the 500 left; then the coupon is consumed. April: the whole 1000.
    assert [(i["coupons"], i["total"], i["payment_status"]) for i in invoices(factory)] == [
        (1000, 0, "succeeded"),
        (500, 500, "pending"),
        (0, 1000, "pending"),
    ]
    assert state(factory, coupon) == ("terminated", 0, None)
    assert taken(factory, coupon) == [1000, 500]


def test_limited_coupons_first_then_the_oldest(factory, session) -> None:
    w = world(session, started_at="2024-01-01", amount_cents=1000)
    unlimited = f.applied_coupon(
        session,
        w.org,
        w.customer,
        coupon_type="percentage",
        percentage_rate="50",
        frequency="forever",
        created_at=at("2023-12-01"),
    )
    on_metric = f.applied_coupon(
        session,
        w.org,
        w.customer,
        amount_cents=200,
        frequency="forever",
        metrics=[w.metric],
        created_at=at("2023-12-15"),
    )
    month(session, w, "2024-01-01")
    session.commit()
    step(factory, "2024-02-01")
    # The metric's coupon first although newer: min(200, 333) = 200 off the usage fee (333 -> 133).
    # Then 50 % of what is left, 1133: 566.5 -> 567 (half-up), spread over 1000 and 133:
    # 567 x 1000 / 1133 = 500.44 (remainder 500/1133), 567 x 133 / 1133 = 66.56 (remainder 633/1133):
    # 500 + 66 = 566, the last cent to the usage fee: 500 and 67.
    # Coupons 200 + 567 = 767; total 1333 - 767 = 566.
    assert invoices(factory) == [
        {
            "fees": 1333,
            "coupons": 767,
            "excl": 566,
            "taxes": 0,
            "credit_notes": 0,
            "prepaid": 0,
            "total": 566,
            "payment_status": "pending",
        }
    ]
    assert fee_coupons(factory, "2024-02-01") == [
        ("subscription", 1000, Decimal(500), 0),
        ("charge", 333, Decimal(267), 0),
    ]
    assert taken(factory, on_metric) == [200]
    assert taken(factory, unlimited) == [567]
    assert state(factory, on_metric) == ("active", None, None)  # forever


def test_coupons_that_do_not_apply_are_left_untouched(factory, session) -> None:
    w = world(session, started_at="2024-01-01", amount_cents=1000)
    other_plan = f.plan(session, w.org, amount_cents=10)
    in_euros = f.applied_coupon(session, w.org, w.customer, amount_cents=300, currency="EUR")
    other = f.applied_coupon(session, w.org, w.customer, amount_cents=300, plans=[other_plan])
    month(session, w, "2024-01-01")
    session.commit()
    step(factory, "2024-02-01")
    # A fixed coupon in another currency, a coupon of a plan the invoice does not bill: nothing.
    assert [(i["coupons"], i["total"]) for i in invoices(factory)] == [(0, 1333)]
    assert state(factory, in_euros) == ("active", 300, None)
    assert state(factory, other) == ("active", 300, None)
    assert taken(factory, in_euros) == taken(factory, other) == []


def test_plan_coupon_applies_to_the_plan_overridden_for_the_subscription(factory, session) -> None:
    w = world(session, started_at="2024-01-01", amount_cents=1000, charge_model=None)
    parent = f.plan(session, w.org, amount_cents=5000)
    w.plan.parent_id = parent.id  # the subscription's plan is an override of ``parent``
    coupon = f.applied_coupon(session, w.org, w.customer, amount_cents=300, plans=[parent])
    session.commit()
    step(factory, "2024-02-01")
    # Lago's parent_and_overriden_plans: 1000 - 300 = 700.
    assert [(i["coupons"], i["total"]) for i in invoices(factory)] == [(300, 700)]
    assert state(factory, coupon) == ("terminated", 0, None)


def test_a_draft_takes_coupons_when_finalized(factory, session) -> None:
    w = world(session, started_at="2024-01-01", amount_cents=1000, charge_model=None)
    w.customer.invoice_grace_period = 3
    coupon = f.applied_coupon(session, w.org, w.customer, amount_cents=300)
    session.commit()
    step(factory, "2024-02-01")
    # A draft (grace period) takes nothing: Lago applies coupons when finalizing.
    assert [(i["coupons"], i["total"]) for i in invoices(factory)] == [(0, 1000)]
    assert state(factory, coupon) == ("active", 300, None)
    with factory() as s:
        invoice = s.scalars(select(Invoice)).one()
        assert invoice.status == "draft"
    # The grace period ends: the scan finalizes the draft.
    assert finalize_due_drafts(factory, str(w.org.id), at("2024-02-04T00:00:01")) == 1
    assert [(i["coupons"], i["total"]) for i in invoices(factory)] == [(300, 700)]
    assert state(factory, coupon) == ("terminated", 0, None)


def _credit_note(session: Session, w: World, balance: int) -> None:
    """A credit note of ``balance`` left on an earlier (one-off) invoice of the customer."""
    earlier = Invoice(
        organization_id=w.org.id,
        customer_id=w.customer.id,
        number="SCN-OLD-001",
        invoice_type="one_off",
        status="finalized",
        payment_status="succeeded",
        currency="USD",
        issuing_date=date(2023, 12, 1),
        payment_due_date=date(2023, 12, 1),
    )
    session.add(earlier)
    session.flush()
    session.add(
        CreditNote(
            organization_id=w.org.id,
            customer_id=w.customer.id,
            invoice_id=earlier.id,
            sequential_id=1,
            number="SCN-OLD-001-CN001",
            issuing_date=date(2023, 12, 2),
            credit_status="available",
            reason="other",
            currency="USD",
            total_amount_cents=balance,
            credit_amount_cents=balance,
            balance_amount_cents=balance,
        )
    )
    session.flush()


def test_the_whole_order_coupons_taxes_credit_note_and_wallets(factory, session) -> None:
    """The issue's combined invoice: a fixed ``once`` coupon carrying 300 over from earlier invoices, a
    percentage coupon, two taxes, a credit-note balance and two wallets of different priority."""
    w = world(session, started_at="2024-01-01", amount_cents=1000)
    f.link_plan_tax(session, w.plan, f.tax(session, w.org, "vat", "20"))
    assert w.charge is not None
    f.link_charge_tax(session, w.charge, f.tax(session, w.org, "reduced", "5.5"))
    fixed = f.applied_coupon(session, w.org, w.customer, amount_cents=1000, created_at=at("2023-12-01"))
    fixed.amount_cents_remaining = 300  # 700 of it taken by earlier invoices
    percent = f.applied_coupon(
        session,
        w.org,
        w.customer,
        coupon_type="percentage",
        percentage_rate="10",
        frequency="forever",
        created_at=at("2023-12-02"),
    )
    _credit_note(session, w, 500)
    second = f.wallet(session, w.org, w.customer, 1000, priority=2)
    first = f.wallet(session, w.org, w.customer, 200, priority=1)
    month(session, w, "2024-01-01")
    session.commit()
    step(factory, "2024-02-01")
    # Fixed 300 first (older): 300 x 1000 / 1333 = 225.06 (rem 75), 300 x 333 / 1333 = 74.94
    # (rem 1258): 225 + 74 = 299, the cent to the usage fee: 225 and 75. Left: 775 and 258.
    # Then 10 % of 1033 = 103.3 -> 103: 103 x 775 / 1033 = 77.27 (rem 284), 103 x 258 / 1033 = 25.72
    # (rem 749): 77 + 25 = 102, the cent to the usage fee: 77 and 26.
    # Plan fee: 1000 - 302 = 698, 20 % = 139.6 -> 140; usage: 333 - 101 = 232, 5.5 % = 12.76 -> 13.
    # Invoice tax: round(139.6 + 12.76 = 152.36) = 152. Excluding 1333 - 403 = 930, including 1082;
    # the credit note takes 500: 582 left; the priority-1 wallet pays its 200, the priority-2 one 382:
    # nothing is due, the invoice is paid.
    assert invoices(factory) == [
        {
            "fees": 1333,
            "coupons": 403,
            "excl": 930,
            "taxes": 152,
            "credit_notes": 500,
            "prepaid": 582,
            "total": 0,
            "payment_status": "succeeded",
        }
    ]
    with factory() as s:
        balances = [s.get(Wallet, wallet.id).balance_cents for wallet in (first, second)]  # type: ignore[union-attr]
    assert balances == [0, 1000 - 382]
    assert fee_coupons(factory, "2024-02-01") == [
        ("subscription", 1000, Decimal(302), 140),
        ("charge", 333, Decimal(101), 13),
    ]
    assert taken(factory, fixed) == [300]
    assert taken(factory, percent) == [103]
    assert state(factory, fixed) == ("terminated", 0, None)
