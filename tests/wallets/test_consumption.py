"""Which wallet pays how much of an invoice: hand-computed cases (reference §5.4 step 7, §6)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from billow.wallets.consumption import FeeShare, WalletShare, allocate, fee_groups

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def wallet(
    balance: int, *, priority: int = 50, age: int = 0, currency: str = "EUR", **limits: list[str]
) -> WalletShare:
    return WalletShare(
        id=uuid.uuid4(),
        priority=priority,
        created_at=T0 + timedelta(days=age),
        balance_cents=balance,
        currency=currency,
        fee_types=tuple(limits.get("fee_types", [])),
        billable_metric_codes=tuple(limits.get("codes", [])),
    )


def charge(amount: int, code: str = "api", key: str | None = None) -> FeeShare:
    return FeeShare(
        key=key or f"{code}-{amount}", fee_type="charge", billable_metric_code=code, amount_cents=amount
    )


def test_lago_scenario_rate_one_granted_39() -> None:
    # Lago's invoicing_with_prepaid_credits: 39.00 granted; 14.29 + 24 % tax = 17.72 fully paid -> 21.28 left;
    # then 14.27 + 24 % = 17.69 -> 3.59 left.
    w = wallet(3900)
    assert allocate([charge(1772)], [w], owed_cents=1772, currency="EUR") == {w.id: 1772}
    w = WalletShare(w.id, w.priority, w.created_at, 3900 - 1772, "EUR")  # 2128
    assert allocate([charge(1769)], [w], owed_cents=1769, currency="EUR") == {w.id: 1769}
    assert 2128 - 1769 == 359


def test_never_more_than_the_balance_then_the_next_wallet() -> None:
    first, second = wallet(500, age=0), wallet(5000, age=1)
    # 1000 owed: the older wallet pays its 500, the next one the other 500.
    assert allocate([charge(1000)], [second, first], owed_cents=1000, currency="EUR") == {
        first.id: 500,
        second.id: 500,
    }


def test_priority_before_age() -> None:
    old, urgent = wallet(5000, priority=50, age=0), wallet(5000, priority=1, age=5)
    assert allocate([charge(1000)], [old, urgent], owed_cents=1000, currency="EUR") == {urgent.id: 1000}


def test_never_more_than_owed() -> None:
    # Fees of 1000 but a credit note already took 400: 600 owed.
    w = wallet(5000)
    assert allocate([charge(1000)], [w], owed_cents=600, currency="EUR") == {w.id: 600}


def test_fee_type_limitation() -> None:
    subscription_only = wallet(1000, age=0, fee_types=["subscription"])
    anything = wallet(1000, age=1)
    fees = [FeeShare("s", "subscription", None, 300), charge(700)]
    # The limited wallet pays the subscription fee (300) only; the unrestricted one the charge (700).
    assert allocate(fees, [subscription_only, anything], owed_cents=1000, currency="EUR") == {
        subscription_only.id: 300,
        anything.id: 700,
    }


def test_billable_metric_limitation() -> None:
    api_only = wallet(5000, codes=["api"])
    fees = [charge(400, "api"), charge(600, "storage")]
    assert allocate(fees, [api_only], owed_cents=1000, currency="EUR") == {api_only.id: 400}


def test_other_currency_and_empty_wallets_pay_nothing() -> None:
    dollars, empty = wallet(5000, currency="USD"), wallet(0)
    assert allocate([charge(1000)], [dollars, empty], owed_cents=1000, currency="EUR") == {}


def test_fees_grouped_largest_first_and_rounding_reconciled() -> None:
    # Three metrics of 333 each = 999, but 1000 owed (taxes rounded once on the invoice): the difference
    # (1 <= 3 groups) goes to the largest group, the first seen among equals: api.
    fees = [charge(333, "api"), charge(333, "storage"), charge(333, "seats")]
    assert fee_groups(fees, 1000) == [
        (("charge", "api"), 334),
        (("charge", "storage"), 333),
        (("charge", "seats"), 333),
    ]
    api_only = wallet(5000, codes=["api"])
    assert allocate(fees, [api_only], owed_cents=1000, currency="EUR") == {api_only.id: 334}


def test_same_group_summed_and_non_positive_fees_ignored() -> None:
    # Two api fees (100 + 250) form one group of 350; a fee of 0 and a negative one are left out.
    fees = [charge(100, key="a"), charge(250, key="b"), charge(0, key="c"), charge(-50, key="d")]
    assert fee_groups(fees, 350) == [(("charge", "api"), 350)]


def test_large_difference_is_not_reconciled() -> None:
    # 10 more owed than the fees with one group: not a rounding difference; a wallet pays the fees only.
    w = wallet(5000)
    assert allocate([charge(100)], [w], owed_cents=110, currency="EUR") == {w.id: 100}
