"""Prepaid credits on invoices (:mod:`billow.billing.deductions`): wallets pay what coupons and credit
notes leave, in priority order, on every invoice kind, once each even when invoices are finalized at the
same time."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from billow.billing.pay_in_advance import create_pay_in_advance_fees
from billow.models.coupons import InvoiceCoupon
from billow.models.invoices import Invoice
from billow.models.wallets import Wallet, WalletTransaction
from tests.fixtures import factories as f
from tests.fixtures.factories import at

NOW = at("2024-01-15T12:00:00")


def _world(session: Session, *values: str):
    """Lago's prepaid-credits scenario: a pay-in-advance charge at 1.00 per unit, 24 % tax by default, one
    event per value."""
    org = f.organization(session, document_number_prefix="WAL")
    metric = f.metric(session, org, "sum_agg", code="api")
    plan = f.plan(session, org, amount_cents=0)
    f.charge(session, org, plan, metric, "standard", {"amount": "1"}, pay_in_advance=True, invoiceable=True)
    f.tax(session, org, "vat", "24", default=True)
    customer = f.customer(session, org, external_id="cus_1")
    f.subscription(session, org, customer, plan, external_id="sub_1", started_at=at("2024-01-01"))
    for day, value in enumerate(values, start=10):
        f.event(session, org, "api", f"2024-01-{day}T00:00:00", {"value": value}, transaction_id=f"t{day}")
    return org, customer


def _invoices(factory) -> list[tuple[int, int, int, int, str]]:
    with factory() as session:
        return [
            (
                i.fees_amount_cents,
                i.taxes_amount_cents,
                i.prepaid_credit_amount_cents,
                i.total_amount_cents,
                i.payment_status,
            )
            for i in session.scalars(select(Invoice).order_by(Invoice.organization_sequential_id))
        ]


def _outbound(factory, wallet: Wallet) -> list[int]:
    with factory() as session:
        return list(
            session.scalars(
                select(WalletTransaction.amount_cents)
                .where(
                    WalletTransaction.wallet_id == wallet.id, WalletTransaction.transaction_type == "outbound"
                )
                .order_by(WalletTransaction.created_at)
            )
        )


def _balance(factory, wallet: Wallet) -> int:
    with factory() as session:
        row = session.get(Wallet, wallet.id)
        assert row is not None
        return row.balance_cents


def test_lago_prepaid_credits_scenario(factory, session: Session) -> None:
    org, customer = _world(session, "14.29", "14.27")
    wallet = f.wallet(session, org, customer, 3900)
    session.commit()
    create_pay_in_advance_fees(factory, NOW)
    # 14.29 + 24 % = 1429 + 342.96 -> 343 = 1772, all of it from the wallet: 3900 - 1772 = 2128.
    # 14.27 + 24 % = 1427 + 342.48 -> 342 = 1769: 2128 - 1769 = 359 (Lago: 21.28, then 3.59).
    assert _invoices(factory) == [(1429, 343, 1772, 0, "succeeded"), (1427, 342, 1769, 0, "succeeded")]
    assert _outbound(factory, wallet) == [1772, 1769]
    assert _balance(factory, wallet) == 359


def test_wallets_in_priority_order_then_the_rest_is_due(factory, session: Session) -> None:
    org, customer = _world(session, "10")
    later = f.wallet(session, org, customer, 5000, priority=10)
    first = f.wallet(session, org, customer, 300, priority=1)
    session.commit()
    create_pay_in_advance_fees(factory, NOW)
    # 1000 + 24 % = 1240: priority 1 pays its 300, priority 10 the other 940.
    assert _invoices(factory) == [(1000, 240, 1240, 0, "succeeded")]
    assert (_balance(factory, first), _balance(factory, later)) == (0, 4060)


def test_a_wallet_limited_to_other_fees_pays_nothing(factory, session: Session) -> None:
    org, customer = _world(session, "10")
    other = f.wallet(session, org, customer, 5000, metric_codes=["storage"])
    commitments = f.wallet(session, org, customer, 5000, fee_types=["commitment"])
    mine = f.wallet(session, org, customer, 500, metric_codes=["api"], priority=60)
    in_euros = f.wallet(session, org, customer, 5000, currency="EUR")
    session.commit()
    create_pay_in_advance_fees(factory, NOW)
    # Only the wallet of the ``api`` metric pays: 500 of 1240; 740 due.
    assert _invoices(factory) == [(1000, 240, 500, 740, "pending")]
    assert [_balance(factory, w) for w in (other, commitments, mine, in_euros)] == [5000, 5000, 0, 5000]


def test_concurrent_invoices_spend_a_balance_once(factory, session: Session) -> None:
    """Two scans at once (threads, their own transactions) bill 1240 and 620 against 1500 of credits:
    whatever the interleaving, the wallet pays 1500 in total, never more, and its balance is 0."""
    org, customer = _world(session, "10", "5")
    wallet = f.wallet(session, org, customer, 1500)
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
    invoices = _invoices(factory)
    assert len(invoices) == 2
    assert sum(prepaid for _, _, prepaid, _, _ in invoices) == sum(_outbound(factory, wallet)) == 1500
    assert _balance(factory, wallet) == 0


_FINALIZE = """
import sys, uuid
from datetime import datetime
from billow.billing.pay_in_advance import create_pay_in_advance_fees
from billow.db import make_engine, make_sessionmaker
url, organization_id, external_id, now = sys.argv[1:]
summary = create_pay_in_advance_fees(
    make_sessionmaker(make_engine(url)), datetime.fromisoformat(now),
    organization_id=uuid.UUID(organization_id), external_subscription_ids=[external_id],
)
sys.exit(1 if summary.failed else 0)
"""


def test_two_processes_finalizing_at_once_take_each_credit_once(engine, factory, session: Session) -> None:
    """PostgreSQL, two OS processes: each bills the pay-in-advance events of one of a customer's two
    subscriptions (ten invoices each) at the same time, against one coupon of 700 and one wallet of 5000.
    Whatever the interleaving, the coupon gives 700 in total and the wallet pays exactly what the invoices
    say, never below zero."""
    import subprocess
    import sys

    if engine.dialect.name != "postgresql":
        pytest.skip("row locks between processes: PostgreSQL")
    org = f.organization(session, document_number_prefix="TWO")
    metric = f.metric(session, org, "sum_agg", code="api")
    plan = f.plan(session, org, amount_cents=0)
    f.charge(session, org, plan, metric, "standard", {"amount": "1"}, pay_in_advance=True, invoiceable=True)
    customer = f.customer(session, org, external_id="cus_1")
    for name in ("a", "b"):
        f.subscription(session, org, customer, plan, external_id=f"sub_{name}", started_at=at("2024-01-01"))
        for i in range(10):
            f.event(
                session,
                org,
                "api",
                f"2024-01-10T00:00:{i:02d}",
                {"value": "3"},
                transaction_id=f"{name}{i}",
                external_subscription_id=f"sub_{name}",
            )
    applied = f.applied_coupon(session, org, customer, amount_cents=700)
    wallet = f.wallet(session, org, customer, 5000)
    session.commit()
    url = engine.url.render_as_string(hide_password=False)
    processes = [
        subprocess.Popen([sys.executable, "-c", _FINALIZE, url, str(org.id), f"sub_{name}", NOW.isoformat()])
        for name in ("a", "b")
    ]
    assert [p.wait(timeout=120) for p in processes] == [0, 0]
    with factory() as s:
        invoices = s.scalars(select(Invoice)).all()
        coupon_cents = sum(
            s.scalars(select(InvoiceCoupon.amount_cents).where(InvoiceCoupon.applied_coupon_id == applied.id))
        )
        row = s.get(Wallet, wallet.id)
        assert row is not None
    # 20 invoices of 300: 6000 of fees; the coupon's 700 once; the wallet pays the other 5300 up to its
    # 5000 (no tax): 300 left due in total.
    assert len(invoices) == 20
    assert coupon_cents == sum(i.coupons_amount_cents for i in invoices) == 700
    assert sum(i.prepaid_credit_amount_cents for i in invoices) == sum(_outbound(factory, wallet)) == 5000
    assert row.balance_cents == 0
    assert sum(i.total_amount_cents for i in invoices) == 300
