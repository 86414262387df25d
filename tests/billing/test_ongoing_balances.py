"""Wallets' ongoing balances (:mod:`billow.billing.ongoing_balances`): the current usage and draft
invoices, taxes included, shared over the wallets as an invoice would consume them; refreshed after an
ingestion and by the 5-minute scan."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI

from billow.billing.ongoing_balances import refresh_all, usage_shares
from billow.subscriptions.dependencies import request_time
from billow.wallets.consumption import FeeShare, WalletShare
from tests.conftest import Api
from tests.fixtures import factories as f
from tests.fixtures.worlds import NOW, World

A, B, C = uuid.UUID(int=1), uuid.UUID(int=2), uuid.UUID(int=3)
T0 = datetime(2023, 1, 1, tzinfo=UTC)


def share(key: str, cents: int, metric: str = "api") -> FeeShare:
    return FeeShare(key=key, fee_type="charge", billable_metric_code=metric, amount_cents=cents)


def wallet(id: uuid.UUID, balance: int, priority: int = 50, **limits: tuple[str, ...]) -> WalletShare:
    return WalletShare(
        id=id, priority=priority, created_at=T0, balance_cents=balance, currency="USD", **limits
    )


class TestUsageShares:
    def test_priority_then_the_rest(self) -> None:
        # 1240 of usage: priority 1 covers its 500, priority 2 the other 740.
        shares = usage_shares([share("f", 1240)], [wallet(B, 2000, 2), wallet(A, 500, 1)], "USD")
        assert shares == {A: 500, B: 740}

    def test_usage_beyond_every_balance_goes_to_the_first_wallet(self) -> None:
        # 3000 of usage over 500 + 2000: each pays its balance, the 500 no wallet covers goes to the first
        # in order (its ongoing balance will read 500 - 1000 = -500).
        shares = usage_shares([share("f", 3000)], [wallet(A, 500, 1), wallet(B, 2000, 2)], "USD")
        assert shares == {A: 1000, B: 2000}

    def test_applies_to_and_currency(self) -> None:
        # The storage wallet pays only storage (300); the api usage (700) goes to the unrestricted one.
        fees = [share("api", 700), share("storage", 300, metric="storage")]
        euros = WalletShare(id=C, priority=1, created_at=T0, balance_cents=10_000, currency="EUR")
        storage = wallet(A, 5000, 1, billable_metric_codes=("storage",))
        shares = usage_shares(fees, [storage, wallet(B, 5000, 2), euros], "USD")
        assert shares == {A: 300, B: 700}

    def test_no_usage(self) -> None:
        assert usage_shares([], [wallet(A, 500)], "USD") == {A: 0}


@pytest.fixture
def world(app: FastAPI, api: Api) -> Iterator[World]:
    yield World(app, api)
    app.dependency_overrides.pop(request_time, None)


def wallet_body(api: Api, lago_id: uuid.UUID) -> dict:
    response = api.get(f"/wallets/{lago_id}")
    assert response.status_code == 200, response.text
    return response.json()["wallet"]


def test_the_scan_refreshes_the_ongoing_balance(world: World) -> None:
    metric = world.metric("sum_agg", code="api", field_name="value")
    world.charge(metric, "standard", {"amount": "1"})
    world.events(metric, {"value": 10})
    with world.tx() as session:
        f.tax(session, world.org, "vat", "20", default=True)
        row = f.wallet(session, world.org, world.customer, 5000)
    assert refresh_all(world.app.state.sessionmaker, NOW) == 1
    body = wallet_body(world.api, row.id)
    # Usage 10 x 1.00 = 1000 + 20 % = 1200: 5000 - 1200 = 3800 (38 credits at rate 1).
    assert (body["balance_cents"], body["ongoing_usage_balance_cents"], body["ongoing_balance_cents"]) == (
        5000,
        1200,
        3800,
    )
    assert (body["credits_ongoing_usage_balance"], body["credits_ongoing_balance"]) == ("12.0", "38.0")


def test_an_ingestion_refreshes_it_at_once(world: World) -> None:
    metric = world.metric("sum_agg", code="api", field_name="value")
    world.charge(metric, "standard", {"amount": "1"})
    with world.tx() as session:
        row = f.wallet(session, world.org, world.customer, 5000)
    now = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    response = world.api.post(
        "/events",
        {
            "event": {
                "transaction_id": "e1",
                "code": "api",
                "external_subscription_id": "sub_1",
                "timestamp": now,
                "properties": {"value": 7},
            }
        },
    )
    assert response.status_code == 200, response.text
    # The test app runs the task right after the commit: 7 x 1.00 = 700, no tax.
    body = wallet_body(world.api, row.id)
    assert (body["ongoing_usage_balance_cents"], body["ongoing_balance_cents"]) == (700, 4300)
