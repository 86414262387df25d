"""Wallet forms of a customer's page: create a wallet and top it up (paid and granted credits) through
the wallets service, with exact balances after; refusals, roles and tenancy."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI

from tests.conftest import Api
from tests.dashboard.billing_world import BillingWorld
from tests.fixtures.pages import Pages

Sign = Callable[..., Pages]


@pytest.fixture
def world(app: FastAPI, api: Api) -> Iterator[BillingWorld]:
    yield BillingWorld(app, api)
    app.dependency_overrides.clear()


def wallets(api: Api) -> list[dict[str, Any]]:
    response = api.get("/wallets", params={"external_customer_id": "acme-1"})
    assert response.status_code == 200, response.text
    return list(response.json()["wallets"])


def balances(api: Api) -> list[tuple[str, str, int]]:
    return [(w["name"], w["credits_balance"], w["balance_cents"]) for w in wallets(api)]


def shown(html: str, wallet_id: str) -> tuple[Decimal, str]:
    """The wallet's credits (as a number: the page shows the stored scale) and balance on the page."""
    credits = re.search(rf'id="wallet-{wallet_id}-credits">([^<]*)<', html)
    balance = re.search(rf'id="wallet-{wallet_id}-balance">([^<]*)<', html)
    assert credits and balance
    return Decimal(credits.group(1)), balance.group(1)


class TestWalletForms:
    def test_create_then_top_up_granted_and_paid(self, world: BillingWorld, api: Api, pages_as: Sign) -> None:
        customer = world.customer()
        pages = pages_as("finance")
        url = f"/app/customers/{customer['lago_id']}"
        page = pages.get(url).text
        assert 'name="currency" type="text" value="EUR"' in page
        form = {"name": "Prepaid", "currency": "EUR", "rate_amount": "0.50", "granted_credits": "20"}
        created = pages.post(f"{url}/wallets", form)
        assert created.status_code == 303, created.text
        assert created.headers["location"] == f"{url}?flash=Wallet+created."
        assert balances(api) == [("Prepaid", "20.0", 1000)]  # 20 credits x 0.50 EUR
        [wallet] = wallets(api)
        assert shown(pages.get(url).text, wallet["lago_id"]) == (Decimal(20), "10.00 EUR")
        granted = pages.post(f"{url}/wallets/{wallet['lago_id']}/top_up", {"granted_credits": "5.5"})
        assert granted.status_code == 303
        assert granted.headers["location"] == f"{url}?flash=Wallet+Prepaid+topped+up."
        assert balances(api) == [("Prepaid", "25.5", 1275)]
        paid = pages.post(f"{url}/wallets/{wallet['lago_id']}/top_up", {"paid_credits": "10"})
        assert paid.status_code == 303
        transactions = api.get(f"/wallets/{wallet['lago_id']}/wallet_transactions").json()
        kinds = sorted(
            (t["transaction_status"], t["credit_amount"], t["status"])
            for t in transactions["wallet_transactions"]
        )
        assert ("purchased", "10.0", "pending") in kinds  # paid credits: a credit invoice, settled once paid
        assert balances(api) == [("Prepaid", "25.5", 1275)]
        assert shown(pages.get(url).text, wallet["lago_id"]) == (Decimal("25.5"), "12.75 EUR")

    def test_refusals_are_422_next_to_the_fields_and_nothing_written(
        self, world: BillingWorld, api: Api, pages_as: Sign
    ) -> None:
        customer = world.customer()
        pages = pages_as("admin")
        url = f"/app/customers/{customer['lago_id']}"
        bad = pages.post(f"{url}/wallets", {"name": "X", "currency": "EUR", "rate_amount": "abc"})
        assert bad.status_code == 422
        assert '<p class="error" id="e-rate_amount">value_is_invalid</p>' in bad.text
        assert 'value="abc"' in bad.text
        assert wallets(api) == []
        assert pages.post(f"{url}/wallets", {"currency": "EUR", "rate_amount": "1"}).status_code == 303
        [wallet] = wallets(api)
        top = pages.post(f"{url}/wallets/{wallet['lago_id']}/top_up", {"granted_credits": "-3"})
        assert top.status_code == 422
        error_id = f'id="top-{wallet["lago_id"]}-granted_credits-error"'
        assert f"{error_id}>invalid_granted_credits, invalid_amount<" in top.text
        assert balances(api) == [(None, "0.0", 0)]

    def test_viewer_gets_403_and_no_forms(self, world: BillingWorld, api: Api, pages_as: Sign) -> None:
        customer = world.customer()
        url = f"/app/customers/{customer['lago_id']}"
        assert (
            pages_as("admin").post(f"{url}/wallets", {"currency": "EUR", "rate_amount": "1"}).status_code
            == 303
        )
        [wallet] = wallets(api)
        viewer = pages_as("viewer")
        assert viewer.post(f"{url}/wallets", {"currency": "EUR", "rate_amount": "1"}).status_code == 403
        assert (
            viewer.post(f"{url}/wallets/{wallet['lago_id']}/top_up", {"granted_credits": "1"}).status_code
            == 403
        )
        page = viewer.get(url).text
        assert "Create a wallet" not in page and "Top up" not in page
        assert balances(api) == [(None, "0.0", 0)]

    def test_another_organization_gets_404(
        self, world: BillingWorld, api: Api, other_api: Api, pages_as: Sign
    ) -> None:
        customer = world.customer()
        url = f"/app/customers/{customer['lago_id']}"
        assert (
            pages_as("admin").post(f"{url}/wallets", {"currency": "EUR", "rate_amount": "1"}).status_code
            == 303
        )
        [wallet] = wallets(api)
        other = pages_as("admin", other_api.organization)
        assert other.post(f"{url}/wallets", {"currency": "EUR", "rate_amount": "1"}).status_code == 404
        assert (
            other.post(f"{url}/wallets/{wallet['lago_id']}/top_up", {"granted_credits": "9"}).status_code
            == 404
        )
        # Their own customer, our wallet: not theirs either
        body = {"customer": {"external_id": "theirs", "currency": "EUR"}}
        theirs = other_api.post("/customers", json=body).json()["customer"]
        foreign = other.post(
            f"/app/customers/{theirs['lago_id']}/wallets/{wallet['lago_id']}/top_up", {"granted_credits": "9"}
        )
        assert foreign.status_code == 404
        assert balances(api) == [(None, "0.0", 0)]
