"""Recurring transaction rules: amounts and anniversaries by hand; threshold top-ups through the API;
the interval scan."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal as D
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from billow.models.wallets import RecurringTransactionRule, Wallet
from billow.wallets.recurring import anniversary, granted_credits_of, paid_credits_of
from billow.wallets.tasks import find_interval_top_ups, interval_top_up
from billow.worker.scans import load_all
from tests.conftest import Api
from tests.wallets.test_api import create_customer, create_wallet, top_up


def rule(**fields: Any) -> RecurringTransactionRule:
    defaults: dict[str, Any] = {
        "trigger": "threshold",
        "method": "fixed",
        "threshold_credits": D(0),
        "paid_credits": D(0),
        "granted_credits": D(0),
        "target_ongoing_balance": None,
        "grants_target_top_up": None,
        "ignore_paid_top_up_limits": False,
    }
    return RecurringTransactionRule(**{**defaults, **fields})


def wallet(**fields: Any) -> Wallet:
    return Wallet(**{"rate_amount": D(1), "currency": "EUR", **fields})


class TestAmounts:
    def test_fixed(self) -> None:
        r = rule(trigger="interval", paid_credits=D(10), granted_credits=D(2))
        assert paid_credits_of(r, wallet(), ongoing=D(0), pending=D(0)) == D(10)
        assert granted_credits_of(r, ongoing=D(0)) == D(2)

    def test_threshold_buys_enough_to_pass_the_threshold(self) -> None:
        # threshold 100, balance 5, paid 10: gap = 100 - 5 - 0 - 0 = 95 >= 10 -> 10 x (floor(9.5) + 1) = 100.
        r = rule(threshold_credits=D(100), paid_credits=D(10))
        assert paid_credits_of(r, wallet(), ongoing=D(5), pending=D(0)) == D(100)
        # gap 95 - 3 granted - 2 pending = 90 -> 10 x (9 + 1) = 100.
        r = rule(threshold_credits=D(100), paid_credits=D(10), granted_credits=D(3))
        assert paid_credits_of(r, wallet(), ongoing=D(5), pending=D(2)) == D(100)
        # gap below the paid credits: the rule's amount. Capped at the wallet's maximum (40.00 EUR = 40).
        assert paid_credits_of(
            rule(threshold_credits=D(8), paid_credits=D(10)), wallet(), ongoing=D(5), pending=D(0)
        ) == D(10)
        capped = wallet(paid_top_up_max_amount_cents=4000)
        assert paid_credits_of(
            rule(threshold_credits=D(100), paid_credits=D(10)), capped, ongoing=D(5), pending=D(0)
        ) == D(40)

    def test_target(self) -> None:
        r = rule(method="target", target_ongoing_balance=D(50))
        assert paid_credits_of(r, wallet(), ongoing=D(4), pending=D(0)) == D(46)  # 50 - 4
        assert paid_credits_of(r, wallet(), ongoing=D(60), pending=D(0)) == D(0)  # reached
        # Raised to the wallet's minimum (50.00 EUR at rate 1 = 50 credits) unless limits are ignored.
        assert paid_credits_of(
            r, wallet(paid_top_up_min_amount_cents=5000), ongoing=D(45), pending=D(0)
        ) == D(50)
        granted = rule(method="target", target_ongoing_balance=D(50), grants_target_top_up=True)
        assert (
            paid_credits_of(granted, wallet(), ongoing=D(4), pending=D(0)),
            granted_credits_of(granted, ongoing=D(4)),
        ) == (
            D(0),
            D(46),
        )


class TestAnniversary:
    def test_weekly(self) -> None:
        monday = date(2024, 1, 1)
        assert anniversary("weekly", monday, date(2024, 1, 8))
        assert not anniversary("weekly", monday, date(2024, 1, 9))
        assert not anniversary("weekly", monday, monday)

    def test_monthly_quarterly_semiannual_yearly(self) -> None:
        anchor = date(2024, 1, 15)
        assert anniversary("monthly", anchor, date(2024, 2, 15))
        assert not anniversary("quarterly", anchor, date(2024, 2, 15))
        assert anniversary("quarterly", anchor, date(2024, 4, 15))
        assert anniversary("semiannual", anchor, date(2024, 7, 15))
        assert anniversary("yearly", anchor, date(2025, 1, 15))
        assert not anniversary("yearly", anchor, date(2025, 1, 16))

    def test_short_months_use_their_last_day(self) -> None:
        anchor = date(2024, 1, 31)
        assert anniversary("monthly", anchor, date(2024, 2, 29))  # leap year
        assert not anniversary("monthly", anchor, date(2024, 2, 28))
        assert anniversary("monthly", anchor, date(2024, 4, 30))
        assert anniversary("yearly", date(2024, 2, 29), date(2025, 2, 28))


class TestThreshold:
    def test_fixed_granted_top_up_after_a_void(self, api: Api) -> None:
        create_customer(api)
        w = create_wallet(
            api,
            granted_credits="10",
            recurring_transaction_rules=[
                {"trigger": "threshold", "threshold_credits": "5", "granted_credits": "20"}
            ],
        )
        transactions = top_up(api, w["lago_id"], voided_credits="6").json()["wallet_transactions"]
        assert [t["transaction_status"] for t in transactions] == ["voided"]
        shown = api.get(f"/wallets/{w['lago_id']}").json()["wallet"]
        assert shown["balance_cents"] == 2400  # 10 - 6 + 20
        automatic = api.get(
            f"/wallets/{w['lago_id']}/wallet_transactions", params={"transaction_status": "granted"}
        )
        assert [t["source"] for t in automatic.json()["wallet_transactions"]] == ["threshold", "manual"]

    def test_target_paid_top_up_is_pending_once(self, api: Api) -> None:
        create_customer(api)
        w = create_wallet(
            api,
            granted_credits="10",
            recurring_transaction_rules=[
                {
                    "trigger": "threshold",
                    "method": "target",
                    "threshold_credits": "5",
                    "target_ongoing_balance": "50",
                }
            ],
        )
        top_up(api, w["lago_id"], voided_credits="6")
        top_up(api, w["lago_id"], voided_credits="1")  # 3 + 46 pending > 5: no second purchase
        pending = api.get(f"/wallets/{w['lago_id']}/wallet_transactions", params={"status": "pending"}).json()
        assert [(t["source"], t["credit_amount"]) for t in pending["wallet_transactions"]] == [
            ("threshold", "46.0")
        ]


def test_interval_scan(api: Api, factory: sessionmaker[Session]) -> None:
    assert "wallets.interval_top_ups" in load_all()
    create_customer(api)
    rules = [
        {
            "trigger": "interval",
            "interval": "monthly",
            "granted_credits": "7",
            "started_at": "2024-01-15T00:00:00Z",
        }
    ]
    w = create_wallet(api, recurring_transaction_rules=rules)
    assert find_interval_top_ups(factory, datetime(2099, 2, 16, tzinfo=UTC)) == []  # not an anniversary
    now = datetime(2099, 2, 15, 10, tzinfo=UTC)
    [item] = find_interval_top_ups(factory, now)
    assert interval_top_up(factory, item, now) == 1
    assert interval_top_up(factory, item, now) == 0  # once a day
    assert find_interval_top_ups(factory, now) == []
    shown = api.get(f"/wallets/{w['lago_id']}").json()["wallet"]
    assert shown["balance_cents"] == 700
    [transaction] = api.get(f"/wallets/{w['lago_id']}/wallet_transactions").json()["wallet_transactions"]
    assert (transaction["source"], transaction["transaction_status"]) == ("interval", "granted")
