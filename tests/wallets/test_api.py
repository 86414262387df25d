from __future__ import annotations

from typing import Any

from tests.conftest import Api


def create_customer(api: Api, external_id: str = "cus_1", **fields: Any) -> dict:
    response = api.post("/customers", json={"customer": {"external_id": external_id, "name": "Ann", **fields}})
    assert response.status_code == 200, response.text
    return response.json()["customer"]


def create_wallet(api: Api, **fields: Any) -> dict:
    body = {"external_customer_id": "cus_1", "rate_amount": "1", "currency": "EUR", **fields}
    response = api.post("/wallets", json={"wallet": body})
    assert response.status_code == 200, response.text
    return response.json()["wallet"]


def top_up(api: Api, wallet_id: str, **fields: Any) -> Any:
    return api.post("/wallet_transactions", json={"wallet_transaction": {"wallet_id": wallet_id, **fields}})


class TestCreate:
    def test_granted_credits_settle_at_once(self, api: Api) -> None:
        customer = create_customer(api)
        wallet = create_wallet(api, name="Prepaid", granted_credits="39.00")
        assert wallet == {
            "lago_id": wallet["lago_id"],
            "lago_customer_id": customer["lago_id"],
            "external_customer_id": "cus_1",
            "status": "active",
            "currency": "EUR",
            "name": "Prepaid",
            "code": "prepaid",
            "priority": 50,
            "purchase_order_number": None,
            "rate_amount": "1.0",
            "credits_balance": "39.0",
            "credits_ongoing_balance": "39.0",
            "credits_ongoing_usage_balance": "0.0",
            "balance_cents": 3900,
            "ongoing_balance_cents": 3900,
            "ongoing_usage_balance_cents": 0,
            "consumed_credits": "0.0",
            "created_at": wallet["created_at"],
            "expiration_at": None,
            "last_balance_sync_at": wallet["last_balance_sync_at"],
            "last_consumed_credit_at": None,
            "terminated_at": None,
            "invoice_requires_successful_payment": False,
            "paid_top_up_min_amount_cents": None,
            "paid_top_up_max_amount_cents": None,
            "recurring_transaction_rules": [],
            "applies_to": {"fee_types": [], "billable_metric_codes": []},
            "applied_invoice_custom_sections": [],
            "payment_method": {"payment_method_id": None, "payment_method_type": "provider"},
            "metadata": None,
        }
