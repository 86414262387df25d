"""``wallet.*`` and ``wallet_transaction.*`` webhooks: the objects as ``GET`` renders them, once per
change; ``wallet.depleted_ongoing_balance`` once per depletion (the ongoing balance reaching 0 or below
from above); nothing for a refused request or an organization without endpoints."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI

from billow.billing.ongoing_balances import refresh_all
from billow.subscriptions.dependencies import request_time
from billow.wallets.tasks import expire_wallet, find_expired
from tests.conftest import Api
from tests.fixtures.receiver import Receiver
from tests.fixtures.worlds import NOW, World
from tests.webhooks.hooks import deliver, hooks, of_type, outbox_counts, the_one

__all__ = ["hooks"]


def customer(api: Api, external_id: str = "cus_1") -> None:
    response = api.post("/customers", {"customer": {"external_id": external_id, "currency": "EUR"}})
    assert response.status_code == 200, response.text


def wallet(api: Api, **fields: Any) -> dict[str, Any]:
    body = {"external_customer_id": "cus_1", "rate_amount": "1", "currency": "EUR", **fields}
    response = api.post("/wallets", {"wallet": body})
    assert response.status_code == 200, response.text
    return dict(response.json()["wallet"])


def top_up(api: Api, wallet_id: str, **fields: Any) -> list[dict[str, Any]]:
    response = api.post("/wallet_transactions", {"wallet_transaction": {"wallet_id": wallet_id, **fields}})
    assert response.status_code == 200, response.text
    return list(response.json()["wallet_transactions"])


def wallet_types(receiver: Receiver) -> list[str]:
    """The wallet and wallet transaction webhooks received (not the customer's, the plan's...)."""
    return [t for t in receiver.types() if t.startswith("wallet")]


def shown_wallet(api: Api, lago_id: str) -> dict[str, Any]:
    return dict(api.get(f"/wallets/{lago_id}").json()["wallet"])


def shown_transaction(api: Api, lago_id: str) -> dict[str, Any]:
    return dict(api.get(f"/wallet_transactions/{lago_id}").json()["wallet_transaction"])


class TestWallets:
    def test_created_with_granted_credits(self, api: Api, hooks: Receiver) -> None:
        customer(api)
        created = wallet(api, name="Prepaid", granted_credits="10")
        # The wallet, its granted transaction, then the balance it added.
        assert wallet_types(hooks) == ["wallet.created", "wallet_transaction.created", "wallet.updated"]
        shown = shown_wallet(api, created["lago_id"])
        assert the_one(hooks, api, "wallet.created", "wallet") == shown
        assert the_one(hooks, api, "wallet.updated", "wallet") == shown
        assert shown["balance_cents"] == 1000
        [transaction] = api.get(f"/wallets/{created['lago_id']}/wallet_transactions").json()[
            "wallet_transactions"
        ]
        announced = the_one(hooks, api, "wallet_transaction.created", "wallet_transaction")
        assert announced == shown_transaction(api, transaction["lago_id"]) == transaction
        assert (announced["transaction_status"], announced["status"]) == ("granted", "settled")

    def test_updated_and_terminated(self, api: Api, hooks: Receiver) -> None:
        customer(api)
        lago_id = wallet(api)["lago_id"]
        assert wallet_types(hooks) == ["wallet.created"]  # no credits: no transaction
        response = api.put(f"/wallets/{lago_id}", {"wallet": {"name": "Renamed"}})
        assert response.status_code == 200, response.text
        updated = the_one(hooks, api, "wallet.updated", "wallet")
        assert updated == shown_wallet(api, lago_id) and updated["name"] == "Renamed"

        response = api.delete(f"/wallets/{lago_id}")
        assert response.status_code == 200, response.text
        terminated = the_one(hooks, api, "wallet.terminated", "wallet")
        assert terminated == shown_wallet(api, lago_id) == response.json()["wallet"]
        assert terminated["status"] == "terminated"
        # Terminating again changes nothing and announces nothing; updating it is refused (422).
        assert api.delete(f"/wallets/{lago_id}").status_code == 200
        assert api.put(f"/wallets/{lago_id}", {"wallet": {"name": "Again"}}).status_code == 422
        assert wallet_types(hooks) == ["wallet.created", "wallet.updated", "wallet.terminated"]

    def test_metadata_changes_announce_an_update(self, api: Api, hooks: Receiver) -> None:
        customer(api)
        lago_id = wallet(api)["lago_id"]
        assert api.post(f"/wallets/{lago_id}/metadata", {"metadata": {"a": "1"}}).status_code == 200
        updated = the_one(hooks, api, "wallet.updated", "wallet")
        assert updated == shown_wallet(api, lago_id) and updated["metadata"] == {"a": "1"}

    def test_a_deleted_customer_terminates_its_wallet(self, api: Api, hooks: Receiver) -> None:
        customer(api)
        lago_id = wallet(api)["lago_id"]
        assert api.delete("/customers/cus_1").status_code == 200
        assert the_one(hooks, api, "wallet.terminated", "wallet")["lago_id"] == lago_id

    def test_expiration_voids_then_terminates(self, api: Api, app: FastAPI, hooks: Receiver) -> None:
        customer(api)
        lago_id = wallet(api, granted_credits="5", expiration_at="2099-01-01T00:00:00Z")["lago_id"]
        hooks.received.clear()
        later = datetime(2099, 6, 1, tzinfo=UTC)
        factory = app.state.sessionmaker
        assert [expire_wallet(factory, item, later) for item in find_expired(factory, later)] == [True]
        deliver(app)  # a scan's session queues no delivery task
        assert wallet_types(hooks) == [
            "wallet_transaction.created",  # the remaining 5.00 voided
            "wallet.updated",
            "wallet.depleted_ongoing_balance",
            "wallet.terminated",
        ]
        terminated = the_one(hooks, api, "wallet.terminated", "wallet")
        assert terminated == shown_wallet(api, lago_id) and terminated["status"] == "terminated"

    def test_refused_requests_announce_nothing(self, api: Api, app: FastAPI, hooks: Receiver) -> None:
        customer(api)
        bad = api.post("/wallets", {"wallet": {"external_customer_id": "cus_1", "rate_amount": "0"}})
        assert bad.status_code == 422
        lago_id = wallet(api)["lago_id"]
        refused = api.post(
            "/wallet_transactions", {"wallet_transaction": {"wallet_id": lago_id, "voided_credits": "5"}}
        )
        assert refused.status_code == 422  # insufficient credits
        assert wallet_types(hooks) == ["wallet.created"]
        assert outbox_counts(app) == (2, 2)  # customer.created and wallet.created

    def test_no_endpoint_writes_nothing(self, api: Api, app: FastAPI) -> None:
        customer(api)
        lago_id = wallet(api, granted_credits="10", paid_credits="5")["lago_id"]
        top_up(api, lago_id, voided_credits="1")
        api.put(f"/wallets/{lago_id}", {"wallet": {"name": "Renamed"}})
        api.delete(f"/wallets/{lago_id}")
        assert outbox_counts(app) == (0, 0)


class TestWalletTransactions:
    def test_every_kind_of_a_top_up_is_announced(self, api: Api, hooks: Receiver) -> None:
        customer(api)
        lago_id = wallet(api, granted_credits="20")["lago_id"]
        hooks.received.clear()
        written = top_up(api, lago_id, paid_credits="1", granted_credits="2", voided_credits="3")
        announced = [body["wallet_transaction"] for body in of_type(hooks, "wallet_transaction.created")]
        assert [t["lago_id"] for t in announced] == [t["lago_id"] for t in written]
        assert announced == [shown_transaction(api, t["lago_id"]) for t in written]
        # Granted and voided changed the balance (the purchase waits for its invoice): two updates.
        assert len(of_type(hooks, "wallet.updated")) == 2

    def test_a_paid_purchase_settles_and_is_updated(self, api: Api, hooks: Receiver) -> None:
        customer(api)
        lago_id = wallet(api, paid_credits="10")["lago_id"]
        [pending] = api.get(f"/wallets/{lago_id}/wallet_transactions").json()["wallet_transactions"]
        created = the_one(hooks, api, "wallet_transaction.created", "wallet_transaction")
        assert created["status"] == "pending" and created["lago_id"] == pending["lago_id"]
        hooks.received.clear()
        response = api.put(
            f"/invoices/{pending['lago_invoice_id']}", {"invoice": {"payment_status": "succeeded"}}
        )
        assert response.status_code == 200, response.text
        updated = the_one(hooks, api, "wallet_transaction.updated", "wallet_transaction")
        assert updated == shown_transaction(api, pending["lago_id"])
        assert updated["status"] == "settled"
        assert the_one(hooks, api, "wallet.updated", "wallet")["balance_cents"] == 1000
        # Paid again: nothing settles, nothing is announced about the transaction.
        hooks.received.clear()
        api.put(f"/invoices/{pending['lago_invoice_id']}", {"invoice": {"payment_status": "succeeded"}})
        assert of_type(hooks, "wallet_transaction.updated") == []

    def test_a_failed_payment_fails_the_purchase(self, api: Api, hooks: Receiver) -> None:
        customer(api)
        lago_id = wallet(api, paid_credits="10")["lago_id"]
        [pending] = api.get(f"/wallets/{lago_id}/wallet_transactions").json()["wallet_transactions"]
        hooks.received.clear()
        api.put(f"/invoices/{pending['lago_invoice_id']}", {"invoice": {"payment_status": "failed"}})
        updated = the_one(hooks, api, "wallet_transaction.updated", "wallet_transaction")
        assert updated == shown_transaction(api, pending["lago_id"]) and updated["status"] == "failed"
        assert of_type(hooks, "wallet.updated") == []  # the balance did not change

    def test_an_invoice_consuming_credits_is_announced(self, api: Api, app: FastAPI, hooks: Receiver) -> None:
        customer(api)
        lago_id = wallet(api, granted_credits="50")["lago_id"]
        plan = {
            "name": "Pro",
            "code": "pro",
            "interval": "monthly",
            "amount_cents": 1000,
            "amount_currency": "EUR",
            "pay_in_advance": True,
        }
        assert api.post("/plans", {"plan": plan}).status_code == 200
        hooks.received.clear()
        body = {"external_customer_id": "cus_1", "external_id": "sub_1", "plan_code": "pro"}
        response = api.post("/subscriptions", {"subscription": body})
        assert response.status_code == 200, response.text
        consumed = the_one(hooks, api, "wallet_transaction.created", "wallet_transaction")
        assert consumed == shown_transaction(api, consumed["lago_id"])
        assert (consumed["transaction_status"], consumed["transaction_type"]) == ("invoiced", "outbound")
        assert the_one(hooks, api, "wallet.updated", "wallet") == shown_wallet(api, lago_id)


@pytest.fixture
def world(app: FastAPI, api: Api) -> Iterator[World]:
    yield World(app, api)
    app.dependency_overrides.pop(request_time, None)


class TestDepletedOngoingBalance:
    def test_once_per_depletion(self, world: World, hooks: Receiver) -> None:
        api, app = world.api, world.app
        metric = world.metric("sum_agg", code="api", field_name="value")
        world.charge(metric, "standard", {"amount": "1"})
        body = {
            "external_customer_id": "cus_1",
            "rate_amount": "1",
            "currency": "USD",
            "granted_credits": "10",
        }
        response = api.post("/wallets", {"wallet": body})
        assert response.status_code == 200, response.text
        lago_id = response.json()["wallet"]["lago_id"]

        def refreshed_with(units: int) -> list[dict[str, Any]]:
            """Add ``units`` of usage (1.00 each), refresh the ongoing balances, the depletions announced."""
            world.events(metric, {"value": units})
            assert refresh_all(app.state.sessionmaker, NOW) == 1
            deliver(app)
            return of_type(hooks, "wallet.depleted_ongoing_balance")

        # Balance 1000; usage 400: ongoing 600.
        assert refreshed_with(4) == []
        # Usage 1000: ongoing 0, depleted from above: announced.
        [depleted] = refreshed_with(6)
        shown = shown_wallet(api, lago_id)
        assert shown["ongoing_balance_cents"] == 0
        assert depleted == {
            "webhook_type": "wallet.depleted_ongoing_balance",
            "object_type": "wallet",
            "organization_id": str(api.organization.id),
            "wallet": shown,
        }
        # Usage 1500: -500, still depleted; refreshed again: nothing more.
        assert len(refreshed_with(5)) == 1
        assert refresh_all(app.state.sessionmaker, NOW) == 1
        deliver(app)
        assert len(of_type(hooks, "wallet.depleted_ongoing_balance")) == 1
        # Topped up by 20.00: 3000 - 1500 = 1500 above 0 again; usage 3500: -500, a second depletion.
        top_up(api, lago_id, granted_credits="20")
        assert shown_wallet(api, lago_id)["ongoing_balance_cents"] == 1500
        assert len(refreshed_with(20)) == 2

    def test_voiding_every_credit_depletes_it(self, api: Api, hooks: Receiver) -> None:
        customer(api)
        lago_id = wallet(api, granted_credits="10")["lago_id"]
        assert of_type(hooks, "wallet.depleted_ongoing_balance") == []
        top_up(api, lago_id, voided_credits="10")
        depleted = the_one(hooks, api, "wallet.depleted_ongoing_balance", "wallet")
        assert depleted == shown_wallet(api, lago_id) and depleted["ongoing_balance_cents"] == 0

    def test_a_new_wallet_without_credits_is_not_depleted_from_above(
        self, world: World, hooks: Receiver
    ) -> None:
        body = {"external_customer_id": "cus_1", "rate_amount": "1", "currency": "USD"}
        assert world.api.post("/wallets", {"wallet": body}).status_code == 200
        assert refresh_all(world.app.state.sessionmaker, NOW) == 1
        deliver(world.app)
        assert wallet_types(hooks) == ["wallet.created"]
