"""Wallet alerts follow the ongoing balance: a new ongoing usage
(:func:`billow.wallets.ledger.set_ongoing_usage`) evaluates them in its transaction."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session

from billow.alerts.evaluation import ALERT_TRIGGERED
from billow.models.alerts import Alert, TriggeredAlert
from billow.models.wallets import Wallet
from billow.wallets import ledger
from billow.worker.dispatch import HOOKS
from tests.alerts.test_wallet_api import ALERTS, make_wallet, ok
from tests.conftest import Api

NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)


def test_ongoing_balance_alert(api: Api, app: FastAPI) -> None:
    wallet = make_wallet(api)  # 20 credits = 2000 cents
    thresholds = [{"code": "low", "value": 1000}, {"code": "step", "value": 300, "recurring": True}]
    body = {"alert_type": "wallet_ongoing_balance_amount", "code": "ongoing", "thresholds": thresholds}
    ok(api.post(ALERTS, {"alert": body}))
    wallet_id = uuid.UUID(wallet["lago_id"])
    with app.state.sessionmaker() as session:
        # Usage 1650: ongoing 2000 → 350: crosses 1000, then 700 and 400 (every 300 below 1000).
        ledger.set_ongoing_usage(ledger.locked(session, wallet_id), 1650, NOW)
        session.commit()
    with app.state.sessionmaker() as session:
        [triggered] = session.scalars(select(TriggeredAlert)).all()
        assert (triggered.previous_value, triggered.current_value) == (Decimal(2000), Decimal(350))
        assert triggered.crossed_thresholds == [
            {"code": "low", "value": "1000.0", "recurring": False},
            {"code": "step", "value": "400.0", "recurring": True},
            {"code": "step", "value": "700.0", "recurring": True},
        ]
        assert triggered.triggered_at == NOW
        alert = session.scalars(select(Alert)).one()
        assert (alert.previous_value, alert.last_processed_at) == (Decimal(350), NOW)
        # The same usage again: nothing more.
        ledger.set_ongoing_usage(ledger.locked(session, wallet_id), 1650, NOW)
        session.commit()
        assert len(session.scalars(select(TriggeredAlert)).all()) == 1


def test_each_triggered_alert_is_announced(api: Api, app: FastAPI) -> None:
    """The hook point of the future ``alert.triggered`` webhook."""
    wallet = make_wallet(api)
    body = {"alert_type": "wallet_balance_amount", "code": "b", "thresholds": [{"value": 1000}]}
    ok(api.post(ALERTS, {"alert": body}))
    body = {"alert_type": "wallet_ongoing_balance_amount", "code": "o", "thresholds": [{"value": 1000}]}
    ok(api.post(ALERTS, {"alert": body}))
    seen: list[tuple[str, str]] = []

    def record(session: Session, *, triggered_alert: TriggeredAlert, alert: Alert, wallet: Wallet) -> None:
        seen.append((alert.code, triggered_alert.crossed_thresholds[0]["value"]))

    HOOKS.setdefault(ALERT_TRIGGERED, []).append(record)
    try:
        with app.state.sessionmaker() as session:
            ledger.set_ongoing_usage(ledger.locked(session, uuid.UUID(wallet["lago_id"])), 1500, NOW)
            session.commit()
    finally:
        HOOKS[ALERT_TRIGGERED].remove(record)
    # Ongoing 2000 → 500 crosses 1000; the balance (2000) did not move: nothing for the balance alert.
    assert seen == [("o", "1000.0")]


def test_a_rolled_back_change_leaves_no_trace(api: Api, app: FastAPI) -> None:
    wallet = make_wallet(api)
    body = {"alert_type": "wallet_ongoing_balance_amount", "code": "o", "thresholds": [{"value": 1000}]}
    ok(api.post(ALERTS, {"alert": body}))
    with app.state.sessionmaker() as session:
        ledger.set_ongoing_usage(ledger.locked(session, uuid.UUID(wallet["lago_id"])), 1500, NOW)
        session.rollback()
    with app.state.sessionmaker() as session:
        assert session.scalars(select(TriggeredAlert)).all() == []
        assert session.scalars(select(Alert)).one().previous_value == Decimal(2000)
