"""The wallet's balances against its transactions, on the database: a random sequence of top-ups, voids,
purchases (paid or failed) and invoice consumptions keeps ``balance_cents`` (and ``credits_balance``) equal
to the settled inbound transactions minus the settled outbound ones, and never negative."""

from __future__ import annotations

import os
import threading
import time
import uuid
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from billow.errors import ValidationFailed
from billow.models.customers import Customer
from billow.models.invoices import Invoice, PaymentStatus
from billow.models.organizations import Organization
from billow.models.wallets import Wallet, WalletTransaction
from billow.wallets.consumption import FeeShare, WalletShare, allocate
from billow.wallets.schemas import WalletInput, WalletTransactionInput
from billow.wallets.service import wallet_service
from billow.wallets.transactions import transaction_service
from tests.fixtures import factories


def _invoice(session: Session, org: Organization, customer: Customer, currency: str = "EUR") -> Invoice:
    invoice = Invoice(
        organization_id=org.id,
        customer_id=customer.id,
        number="X-1",
        currency=currency,
        issuing_date=date(2024, 1, 1),
        payment_due_date=date(2024, 1, 1),
    )
    session.add(invoice)
    session.flush()
    return invoice


def _sums(session: Session, wallet: Wallet) -> tuple[int, Decimal]:
    cents, credits = 0, Decimal(0)
    for t in session.scalars(select(WalletTransaction).where(WalletTransaction.wallet_id == wallet.id)):
        if t.status != "settled":
            continue
        sign = 1 if t.transaction_type == "inbound" else -1
        cents += sign * t.amount_cents
        credits += sign * t.credit_amount
    return cents, credits


def _credits(value: Decimal) -> str:
    return format(value, "f")


class TestConsume:
    def test_lago_scenario(self, session: Session) -> None:
        # Rate 1, 39.00 granted; invoices of 17.72 then 17.69 paid by the wallet: 21.28 then 3.59 left.
        org = factories.organization(session)
        customer = factories.customer(session, org, currency="EUR")
        wallet = wallet_service.create(
            session,
            org,
            WalletInput(
                external_customer_id="cus_1", rate_amount="1", currency="EUR", granted_credits="39.00"
            ),
        )
        for owed, left in ((1772, 2128), (1769, 359)):
            invoice = _invoice(session, org, customer)
            [share] = wallet_service.shares(session, org.id, customer.id)
            assert share.balance_cents == wallet.balance_cents
            allocation = allocate(
                [FeeShare("f", "charge", "api", owed)], [share], owed_cents=owed, currency="EUR"
            )
            [transaction] = wallet_service.consume(session, invoice, allocation)
            assert (transaction.transaction_status, transaction.status, transaction.amount_cents) == (
                "invoiced",
                "settled",
                owed,
            )
            assert transaction.invoice_id == invoice.id
            assert wallet.balance_cents == left
        assert wallet.credits_balance == Decimal("3.59")
        assert wallet.consumed_credits == Decimal("35.41")  # 17.72 + 17.69
        assert wallet.consumed_amount_cents == 3541
        assert wallet.ongoing_balance_cents == 359


OPERATION = st.one_of(
    st.tuples(st.just("grant"), st.decimals(min_value=0, max_value=500, places=3)),
    st.tuples(st.just("void"), st.decimals(min_value=0, max_value=500, places=5)),
    st.tuples(st.just("buy"), st.decimals(min_value=0, max_value=500, places=2), st.booleans()),
    st.tuples(st.just("consume"), st.integers(min_value=0, max_value=60_000)),
)


@settings(
    max_examples=int(os.environ.get("BILLOW_WALLET_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    rate=st.sampled_from(["1", "1.5", "3", "0.01", "7.25"]),
    operations=st.lists(OPERATION, min_size=1, max_size=12),
)
def test_balance_is_the_sum_of_settled_transactions(
    session: Session, rate: str, operations: list[tuple]
) -> None:
    org = factories.organization(session, name=f"org-{uuid.uuid4()}")
    customer = factories.customer(session, org, currency="EUR")
    wallet = wallet_service.create(
        session, org, WalletInput(external_customer_id="cus_1", rate_amount=rate, currency="EUR")
    )
    for operation in operations:
        kind = operation[0]
        try:
            with session.begin_nested():
                if kind in ("grant", "void", "buy"):
                    field = {"grant": "granted_credits", "void": "voided_credits", "buy": "paid_credits"}[
                        kind
                    ]
                    data = WalletTransactionInput(wallet_id=str(wallet.id), **{field: _credits(operation[1])})
                    found, top_up = transaction_service.request(session, org, data)
                    written = transaction_service.apply(session, org, customer, found, top_up)
                    if kind == "buy" and written:
                        invoice = session.get(Invoice, written[0].invoice_id)
                        assert invoice is not None and invoice.invoice_type == "credit"
                        invoice.payment_status = (
                            PaymentStatus.SUCCEEDED if operation[2] else PaymentStatus.FAILED
                        )
                        transaction_service.settle_purchases(session, invoice)
                else:
                    owed = operation[1]
                    share = WalletShare(wallet.id, 50, wallet.created_at, wallet.balance_cents, "EUR")
                    allocation = allocate(
                        [FeeShare("f", "charge", None, owed)], [share], owed_cents=owed, currency="EUR"
                    )
                    assert sum(allocation.values()) <= min(owed, wallet.balance_cents)
                    wallet_service.consume(session, _invoice(session, org, customer), allocation)
        except ValidationFailed:
            pass  # refused (nothing written): too many credits voided, an amount worth nothing...
        session.refresh(wallet)
        cents, credits = _sums(session, wallet)
        assert wallet.balance_cents == cents >= 0
        assert wallet.credits_balance == credits >= 0
        assert wallet.ongoing_balance_cents == wallet.balance_cents
    session.rollback()


def test_concurrent_payments_credit_once(
    engine: Engine, factory: sessionmaker[Session], session: Session
) -> None:
    """PostgreSQL: two requests marking the same credit invoice paid at once settle the purchase once (the
    second waits on the wallet's lock, then finds the transaction settled)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("row locks: PostgreSQL")
    org = factories.organization(session)
    factories.customer(session, org, currency="EUR")
    wallet = wallet_service.create(
        session,
        org,
        WalletInput(external_customer_id="cus_1", rate_amount="1", currency="EUR", paid_credits="10"),
    )
    [purchase] = session.scalars(
        select(WalletTransaction).where(WalletTransaction.wallet_id == wallet.id)
    ).all()
    invoice_id, wallet_id = purchase.invoice_id, wallet.id
    session.commit()

    first_settled = threading.Event()
    results: dict[str, int] = {}

    def pay(name: str, hold: bool) -> None:
        with factory() as other, other.begin():
            invoice = other.get(Invoice, invoice_id)
            assert invoice is not None
            invoice.payment_status = PaymentStatus.SUCCEEDED
            results[name] = transaction_service.settle_purchases(other, invoice)
            if hold:
                first_settled.set()
                time.sleep(0.5)  # the other request reads the purchase as pending, then waits on the lock

    first = threading.Thread(target=pay, args=("first", True))
    first.start()
    first_settled.wait(10)
    pay("second", False)
    first.join()
    assert results == {"first": 1, "second": 0}
    with factory() as check:
        stored = check.get(Wallet, wallet_id)
        assert stored is not None and stored.balance_cents == 1000
