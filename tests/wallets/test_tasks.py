"""The expiration scan: expired wallets are terminated, their remaining credits voided first."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from billow.wallets.tasks import expire_wallet, find_expired
from billow.worker.scans import load_all
from tests.conftest import Api
from tests.wallets.test_api import create_customer, create_wallet

LATER = datetime(2099, 6, 1, tzinfo=UTC)


def test_registered() -> None:
    assert "wallets.terminate_expired" in load_all()


def test_expired_wallets_are_terminated_and_voided(api: Api, factory: sessionmaker[Session]) -> None:
    create_customer(api)
    expiring = create_wallet(api, code="a", granted_credits="12.5", expiration_at="2099-01-01T00:00:00Z")
    lasting = create_wallet(api, code="b", granted_credits="1", expiration_at="2100-01-01T00:00:00Z")
    create_wallet(api, code="c")  # no expiration

    items = find_expired(factory, LATER)
    assert items == [expiring["lago_id"]]
    assert expire_wallet(factory, items[0], LATER) is True
    assert expire_wallet(factory, items[0], LATER) is False  # again: nothing left to do
    assert find_expired(factory, LATER) == []

    wallet = api.get(f"/wallets/{expiring['lago_id']}").json()["wallet"]
    assert (wallet["status"], wallet["balance_cents"], wallet["credits_balance"]) == ("terminated", 0, "0.0")
    assert wallet["terminated_at"] == "2099-06-01T00:00:00Z"
    voided = api.get(
        f"/wallets/{expiring['lago_id']}/wallet_transactions", params={"transaction_status": "voided"}
    ).json()["wallet_transactions"]
    assert [(v["amount"], v["credit_amount"], v["status"]) for v in voided] == [("12.5", "12.5", "settled")]
    assert api.get(f"/wallets/{lasting['lago_id']}").json()["wallet"]["status"] == "active"
