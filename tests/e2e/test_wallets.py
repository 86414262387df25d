"""Wallets through ``lago-python-client``: create, top up, pay the credit invoice, find, list transactions
(the client parses every answer)."""

from __future__ import annotations

import pytest
from lago_python_client.client import Client
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import Customer, Invoice, Wallet, WalletTransaction

pytestmark = pytest.mark.e2e


def test_create_top_up_find_list(lago: Client, other_lago: Client, suffix: str) -> None:
    customer = lago.customers.create(Customer(external_id=f"w_{suffix}", name="Ada", currency="EUR"))
    wallet = lago.wallets.create(
        Wallet(
            external_customer_id=customer.external_id,
            name="Prepaid",
            rate_amount="1",
            currency="EUR",
            granted_credits="39.00",
        )
    )
    assert (wallet.status, wallet.balance_cents, wallet.credits_balance) == ("active", 3900, "39.0")
    assert wallet.code == "prepaid"

    transactions = lago.wallet_transactions.create(
        WalletTransaction(
            wallet_id=wallet.lago_id, paid_credits="10", granted_credits="1", voided_credits="0.5"
        )
    )
    kinds = [(t.transaction_status, t.status) for t in transactions["wallet_transactions"]]
    assert kinds == [("purchased", "pending"), ("granted", "settled"), ("voided", "settled")]

    found = lago.wallets.find(wallet.lago_id)
    assert found.balance_cents == 3900 + 100 - 50
    listed = lago.wallet_transactions.find_all(wallet.lago_id, {"status": "settled"})
    assert listed["meta"]["total_count"] == 3  # the first grant, the second, the void
    assert {t.transaction_status for t in listed["wallet_transactions"]} == {"granted", "voided"}

    purchase = transactions["wallet_transactions"][0]
    invoice = lago.invoices.find(purchase.lago_invoice_id)
    assert (invoice.invoice_type, invoice.total_amount_cents) == ("credit", 1000)
    with pytest.raises(LagoApiError) as no_provider:
        lago.wallet_transactions.payment_url(purchase.lago_id)
    assert no_provider.value.status_code == 422

    wallets = lago.wallets.find_all({"external_customer_id": customer.external_id})
    assert [w.lago_id for w in wallets["wallets"]] == [wallet.lago_id]
    with pytest.raises(LagoApiError) as hidden:
        other_lago.wallets.find(wallet.lago_id)
    assert hidden.value.status_code == 404

    lago.invoices.update(Invoice(payment_status="succeeded"), invoice.lago_id)
    assert lago.wallets.find(wallet.lago_id).balance_cents == 3950 + 1000  # the purchase settled

    metadata = lago.wallets.replace_metadata(wallet.lago_id, {"team": "core"})
    assert metadata == {"team": "core"}
    terminated = lago.wallets.destroy(wallet.lago_id)
    assert terminated.status == "terminated" and terminated.terminated_at is not None


def test_customer_wallets(lago: Client, suffix: str) -> None:
    customer = lago.customers.create(Customer(external_id=f"cw_{suffix}", name="Bob"))
    created = lago.customers.wallets.create(
        customer.external_id, Wallet(rate_amount="2", currency="USD", code="gold", granted_credits="5")
    )
    assert (created.code, created.balance_cents, created.currency) == ("gold", 1000, "USD")
    found = lago.customers.wallets.find(customer.external_id, "gold")
    assert found.lago_id == created.lago_id
    updated = lago.customers.wallets.update(customer.external_id, "gold", Wallet(name="Gold", priority=1))
    assert (updated.name, updated.priority) == ("Gold", 1)
    assert lago.customers.wallets.metadata.replace(customer.external_id, "gold", {"a": "1"}) == {"a": "1"}
    assert lago.customers.wallets.metadata.merge(customer.external_id, "gold", {"b": None}) == {
        "a": "1",
        "b": None,
    }
    listed = lago.customers.wallets.find_all(customer.external_id)
    assert [w.code for w in listed["wallets"]] == ["gold"]
    assert lago.customers.wallets.destroy(customer.external_id, "gold").status == "terminated"
