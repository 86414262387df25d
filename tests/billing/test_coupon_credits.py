"""Coupons on every invoice kind (:mod:`billow.billing.coupon_credits`): pay-in-advance charge invoices
take them like periodic ones, the invoice and the applied coupon render Lago's ``credits``, and two
invoices finalized at once never take the same coupon amount."""

from __future__ import annotations

import threading

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from billow.billing.pay_in_advance import create_pay_in_advance_fees
from billow.models.coupons import AppliedCoupon, InvoiceCoupon
from billow.models.invoices import Fee, Invoice
from billow.organizations.service import organization_service
from tests.billing.test_pay_in_advance import NOW, setup
from tests.fixtures import factories as f


def test_pay_in_advance_invoices_take_the_coupon(factory, session: Session, client: TestClient) -> None:
    org, customer, _ = setup(session)
    applied = f.applied_coupon(session, org, customer, code="launch", amount_cents=700)
    organization_service.add_key(session, org, "key_1")
    session.commit()
    create_pay_in_advance_fees(factory, NOW)
    with factory() as s:
        rows = s.execute(
            select(Fee.event_transaction_id, Invoice)
            .join(Invoice, Invoice.id == Fee.invoice_id)
            .order_by(Fee.event_transaction_id)
        ).all()
        figures = {
            t: (i.fees_amount_cents, i.coupons_amount_cents, i.taxes_amount_cents, i.total_amount_cents)
            for t, i in rows
        }
    # t1: 6 units at 1.00 = 600, all of it from the 700 coupon (100 left), no tax, nothing to pay.
    # t2: 6 more = 4 x 1.00 + 2 x 0.50 = 500, the coupon's last 100: 400 taxed 20 % = 80, total 480.
    # t3: 3 x 0.50 = 150, no coupon left: 150 + 30 = 180.
    assert figures == {"t1": (600, 600, 0, 0), "t2": (500, 100, 80, 480), "t3": (150, 0, 30, 180)}

    headers = {"Authorization": "Bearer key_1"}
    invoice_id = next(i.id for t, i in rows if t == "t2")
    invoice = client.get(f"/api/v1/invoices/{invoice_id}", headers=headers).json()["invoice"]
    with factory() as s:
        credit = s.scalars(select(InvoiceCoupon).where(InvoiceCoupon.invoice_id == invoice_id)).one()
        coupon_id = s.get(AppliedCoupon, applied.id).coupon_id  # type: ignore[union-attr]
    assert invoice["credits"] == [
        {
            "lago_id": str(credit.id),
            "amount_cents": 100,
            "amount_currency": "USD",
            "before_taxes": True,
            "item": {
                "lago_item_id": str(coupon_id),
                "type": "coupon",
                "code": "launch",
                "name": "Coupon launch",
            },
            "invoice": {"lago_id": str(invoice_id), "payment_status": "pending"},
        }
    ]
    [fee] = invoice["fees"]
    assert (fee["precise_coupons_amount_cents"], fee["sub_total_excluding_taxes_amount_cents"]) == (
        "100.0",
        400,
    )
    assert invoice["coupons_amount_cents"] == 100

    listed = client.get("/api/v1/applied_coupons", headers=headers).json()["applied_coupons"]
    [entry] = listed
    assert entry["status"] == "terminated"
    assert entry["amount_cents_remaining"] == 0
    assert [(c["amount_cents"], c["item"]["code"], c["before_taxes"]) for c in entry["credits"]] == [
        (600, "launch", True),
        (100, "launch", True),
    ]


def test_concurrent_invoices_take_a_coupon_once(factory, session: Session) -> None:
    """Two pay-in-advance scans at once (threads, each its own transactions): the coupon's 700 is taken
    once in total, whatever the interleaving (row lock on PostgreSQL, the write lock on SQLite)."""
    org, customer, _ = setup(session)
    applied = f.applied_coupon(session, org, customer, amount_cents=700)
    session.commit()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            create_pay_in_advance_fees(factory, NOW)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with factory() as s:
        taken = list(
            s.scalars(select(InvoiceCoupon.amount_cents).where(InvoiceCoupon.applied_coupon_id == applied.id))
        )
        coupons_on_invoices = sum(s.scalars(select(Invoice.coupons_amount_cents)))
        row = s.get(AppliedCoupon, applied.id)
        assert row is not None
        assert (row.status, row.amount_cents_remaining) == ("terminated", 0)
    assert sum(taken) == coupons_on_invoices == 700


def test_a_repeated_scan_takes_nothing_twice(factory, session: Session) -> None:
    """The scan run again (a retried task, the safety net) finds every event billed: no second invoice,
    no second coupon credit, no second wallet consumption."""
    org, customer, _ = setup(session)
    applied = f.applied_coupon(session, org, customer, amount_cents=700)
    wallet = f.wallet(session, org, customer, 10_000)
    session.commit()
    create_pay_in_advance_fees(factory, NOW)
    create_pay_in_advance_fees(factory, NOW)
    with factory() as s:
        invoices = s.scalars(select(Invoice)).all()
        taken = sum(
            s.scalars(select(InvoiceCoupon.amount_cents).where(InvoiceCoupon.applied_coupon_id == applied.id))
        )
        row = s.get(type(wallet), wallet.id)
        assert row is not None
        # t1 600 (coupon 600), t2 500 (coupon 100, 400 + 80 tax = 480 from the wallet), t3 150 + 30.
        assert len(invoices) == 3
        assert taken == 700
        assert sum(i.prepaid_credit_amount_cents for i in invoices) == 480 + 180
        assert row.balance_cents == 10_000 - 660
