from __future__ import annotations

from typing import Any

from tests.conftest import Api


def create_customer(api: Api, external_id: str = "cus_1", **fields: Any) -> dict:
    response = api.post(
        "/customers", json={"customer": {"external_id": external_id, "name": "Ann", **fields}}
    )
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
            "billing_entity_code": None,
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


def wallet_count(api: Api) -> int:
    return api.get("/wallets").json()["meta"]["total_count"]


class TestPaidCredits:
    def test_pending_until_the_credit_invoice_is_paid(self, api: Api) -> None:
        create_customer(api)
        wallet = create_wallet(api, rate_amount="1.5", paid_credits="10")
        assert wallet["balance_cents"] == 0
        [transaction] = api.get(f"/wallets/{wallet['lago_id']}/wallet_transactions").json()[
            "wallet_transactions"
        ]
        assert transaction["status"] == "pending"
        assert transaction["transaction_status"] == "purchased"
        assert transaction["transaction_type"] == "inbound"
        assert (transaction["amount"], transaction["credit_amount"]) == ("15.0", "10.0")  # 10 x 1.5

        invoice = api.get(f"/invoices/{transaction['lago_invoice_id']}").json()["invoice"]
        assert invoice["invoice_type"] == "credit"
        assert invoice["status"] == "finalized"
        assert invoice["payment_status"] == "pending"
        assert not invoice["number"].endswith("DRAFT")
        assert (
            invoice["fees_amount_cents"],
            invoice["taxes_amount_cents"],
            invoice["total_amount_cents"],
        ) == (
            1500,
            0,
            1500,
        )
        [fee] = invoice["fees"]
        assert fee["amount_cents"] == 1500
        assert fee["lago_subscription_id"] is None
        assert fee["item"]["type"] == "credit"
        assert fee["item"]["lago_item_id"] == transaction["lago_id"]
        assert fee["item"]["item_type"] == "WalletTransaction"

        response = api.put(
            f"/invoices/{invoice['lago_id']}", json={"invoice": {"payment_status": "succeeded"}}
        )
        assert response.status_code == 200, response.text
        wallet = api.get(f"/wallets/{wallet['lago_id']}").json()["wallet"]
        assert (wallet["balance_cents"], wallet["credits_balance"]) == (1500, "10.0")
        settled = api.get(f"/wallet_transactions/{transaction['lago_id']}").json()["wallet_transaction"]
        assert settled["status"] == "settled"
        assert settled["settled_at"] is not None
        # Paid again: nothing more is credited.
        api.put(f"/invoices/{invoice['lago_id']}", json={"invoice": {"payment_status": "pending"}})
        api.put(f"/invoices/{invoice['lago_id']}", json={"invoice": {"payment_status": "succeeded"}})
        assert api.get(f"/wallets/{wallet['lago_id']}").json()["wallet"]["balance_cents"] == 1500

    def test_credit_invoice_in_lists(self, api: Api) -> None:
        create_customer(api)
        create_wallet(api, paid_credits="3", name="Pack")
        [invoice] = api.get("/invoices", params={"external_customer_id": "cus_1"}).json()["invoices"]
        assert (invoice["invoice_type"], invoice["total_amount_cents"]) == ("credit", 300)
        [fee] = api.get("/fees", params={"fee_type": "credit"}).json()["fees"]
        assert (fee["amount_cents"], fee["units"], fee["item"]["code"]) == (300, "3.0", "credit")

    def test_failed_payment_fails_the_purchase(self, api: Api) -> None:
        create_customer(api)
        wallet = create_wallet(api, paid_credits="10", invoice_requires_successful_payment=True)
        [transaction] = top_up(api, wallet["lago_id"], paid_credits="5").json()["wallet_transactions"]
        assert transaction["invoice_requires_successful_payment"] is True
        api.put(f"/invoices/{transaction['lago_invoice_id']}", json={"invoice": {"payment_status": "failed"}})
        failed = api.get(f"/wallet_transactions/{transaction['lago_id']}").json()["wallet_transaction"]
        assert (failed["status"], failed["failed_at"] is not None) == ("failed", True)
        assert api.get(f"/wallets/{wallet['lago_id']}").json()["wallet"]["balance_cents"] == 0

    def test_paid_top_up_limits(self, api: Api) -> None:
        create_customer(api)
        limits = {"paid_top_up_min_amount_cents": 1000, "paid_top_up_max_amount_cents": 5000}
        response = api.post(
            "/wallets",
            json={
                "wallet": {
                    "external_customer_id": "cus_1",
                    "rate_amount": "1",
                    "currency": "EUR",
                    "paid_credits": "5",
                    **limits,
                }
            },
        )
        assert response.status_code == 422
        assert response.json()["error_details"] == {"paid_credits": ["amount_below_minimum"]}
        assert wallet_count(api) == 0
        wallet = create_wallet(api, paid_credits="5", ignore_paid_top_up_limits_on_creation=True, **limits)
        response = top_up(api, wallet["lago_id"], paid_credits="50.01")
        assert response.json()["error_details"] == {"paid_credits": ["amount_above_maximum"]}
        assert (
            top_up(api, wallet["lago_id"], paid_credits="50.01", ignore_paid_top_up_limits=True).status_code
            == 200
        )
        assert top_up(api, wallet["lago_id"], paid_credits="10").status_code == 200  # 1000 cents: the minimum


class TestCreateValidation:
    def test_unknown_customer(self, api: Api) -> None:
        response = api.post(
            "/wallets", json={"wallet": {"external_customer_id": "nobody", "rate_amount": "1"}}
        )
        assert response.status_code == 422
        assert response.json()["error_details"] == {"customer": ["customer_not_found"]}
        response = api.post("/customers/nobody/wallets", json={"wallet": {"rate_amount": "1"}})
        assert response.status_code == 404
        assert response.json() == {"status": 404, "error": "Not Found", "code": "customer_not_found"}

    def test_rate_amount(self, api: Api) -> None:
        create_customer(api)
        for rate, code in (
            ("abc", "value_is_invalid"),
            ("0", "value_is_out_of_range"),
            ("-1", "value_is_out_of_range"),
        ):
            response = api.post(
                "/wallets",
                json={"wallet": {"external_customer_id": "cus_1", "rate_amount": rate, "currency": "EUR"}},
            )
            assert response.status_code == 422
            assert response.json()["error_details"] == {"rate_amount": [code]}
        response = api.post("/wallets", json={"wallet": {"external_customer_id": "cus_1", "currency": "EUR"}})
        assert response.json()["error_details"] == {"rate_amount": ["value_is_mandatory"]}
        assert wallet_count(api) == 0

    def test_fields(self, api: Api) -> None:
        create_customer(api)
        response = api.post(
            "/wallets",
            json={
                "wallet": {
                    "external_customer_id": "cus_1",
                    "rate_amount": "1",
                    "currency": "XXY",
                    "priority": 51,
                    "paid_top_up_min_amount_cents": 500,
                    "paid_top_up_max_amount_cents": 100,
                }
            },
        )
        assert response.status_code == 422
        assert response.json()["error_details"] == {
            "currency": ["value_is_invalid"],
            "priority": ["value_is_invalid"],
            "paid_top_up_max_amount_cents": ["must_be_greater_than_or_equal_min"],
        }

    def test_credits_and_dates(self, api: Api) -> None:
        create_customer(api)
        response = api.post(
            "/wallets",
            json={
                "wallet": {
                    "external_customer_id": "cus_1",
                    "rate_amount": "1",
                    "currency": "EUR",
                    "granted_credits": "lots",
                    "paid_credits": "-1",
                    "expiration_at": "2001-01-01T00:00:00Z",
                }
            },
        )
        assert response.status_code == 422
        assert response.json()["error_details"] == {
            "paid_credits": ["invalid_paid_credits", "invalid_amount"],
            "granted_credits": ["invalid_granted_credits", "invalid_amount"],
            "expiration_at": ["invalid_date"],
        }

    def test_amount_rounds_to_zero(self, api: Api) -> None:
        create_customer(api)
        response = api.post(
            "/wallets",
            json={
                "wallet": {
                    "external_customer_id": "cus_1",
                    "rate_amount": "1",
                    "currency": "EUR",
                    "granted_credits": "0.001",
                }
            },
        )
        assert response.json()["error_details"] == {"granted_credits": ["amount_rounds_to_zero"]}

    def test_code_unique_among_active_wallets(self, api: Api) -> None:
        create_customer(api)
        first = create_wallet(api, code="main")
        response = api.post(
            "/wallets",
            json={
                "wallet": {
                    "external_customer_id": "cus_1",
                    "rate_amount": "1",
                    "currency": "EUR",
                    "code": "main",
                }
            },
        )
        assert response.status_code == 422
        assert response.json()["error_details"] == {"code": ["value_already_exist"]}
        api.delete(f"/wallets/{first['lago_id']}")
        assert create_wallet(api, code="main")["code"] == "main"

    def test_at_most_six_active_wallets(self, api: Api) -> None:
        create_customer(api)
        wallets = [create_wallet(api, code=f"w{i}") for i in range(6)]
        body = {"external_customer_id": "cus_1", "rate_amount": "1", "currency": "EUR", "code": "w6"}
        response = api.post("/wallets", json={"wallet": body})
        assert response.status_code == 422
        assert response.json()["error_details"] == {"customer": ["wallet_limit_reached"]}
        api.delete(f"/wallets/{wallets[0]['lago_id']}")
        assert api.post("/wallets", json={"wallet": body}).status_code == 200

    def test_generated_codes(self, api: Api) -> None:
        create_customer(api)
        assert create_wallet(api, name="Prepaid Credits!")["code"] == "prepaid_credits"
        assert create_wallet(api)["code"] == "default"
        assert create_wallet(api)["code"].startswith("default_")

    def test_currency_of_its_own(self, api: Api) -> None:
        create_customer(api, currency="USD")
        assert create_wallet(api, currency="EUR")["currency"] == "EUR"
        assert api.get("/customers/cus_1").json()["customer"]["currency"] == "USD"
        create_customer(api, "cus_2")
        assert create_wallet(api, external_customer_id="cus_2", currency="JPY")["currency"] == "JPY"
        assert api.get("/customers/cus_2").json()["customer"]["currency"] == "JPY"  # adopted

    def test_applies_to(self, api: Api) -> None:
        create_customer(api)
        api.post(
            "/billable_metrics",
            json={"billable_metric": {"name": "API", "code": "api", "aggregation_type": "count_agg"}},
        )
        wallet = create_wallet(api, applies_to={"fee_types": ["charge"], "billable_metric_codes": ["api"]})
        assert wallet["applies_to"] == {"fee_types": ["charge"], "billable_metric_codes": ["api"]}
        for applies_to in ({"fee_types": ["nope"]}, {"billable_metric_codes": ["unknown"]}):
            response = api.post(
                "/wallets",
                json={
                    "wallet": {
                        "external_customer_id": "cus_1",
                        "rate_amount": "1",
                        "currency": "EUR",
                        "applies_to": applies_to,
                    }
                },
            )
            assert response.json()["error_details"] == {"applies_to": ["invalid_limitations"]}

    def test_recurring_rules_stored_and_shown(self, api: Api) -> None:
        create_customer(api)
        rule = {
            "trigger": "threshold",
            "method": "target",
            "threshold_credits": "5",
            "target_ongoing_balance": "50",
            "transaction_name": "Top-up",
            "transaction_metadata": [{"key": "k", "value": "v"}],
            "started_at": "2030-01-01T00:00:00Z",
        }
        wallet = create_wallet(api, recurring_transaction_rules=[rule])
        [shown] = wallet["recurring_transaction_rules"]
        assert shown == {
            "lago_id": shown["lago_id"],
            "trigger": "threshold",
            "method": "target",
            "interval": None,
            "status": "active",
            "threshold_credits": "5.0",
            "paid_credits": "0.0",
            "granted_credits": "0.0",
            "target_ongoing_balance": "50.0",
            "grants_target_top_up": False,
            "started_at": "2030-01-01T00:00:00Z",
            "expiration_at": None,
            "created_at": shown["created_at"],
            "invoice_requires_successful_payment": False,
            "ignore_paid_top_up_limits": False,
            "transaction_metadata": [{"key": "k", "value": "v"}],
            "transaction_name": "Top-up",
            "purchase_order_number": None,
            "payment_method": {"payment_method_id": None, "payment_method_type": "provider"},
            "applied_invoice_custom_sections": [],
        }
        interval = create_wallet(
            api,
            paid_credits="10",
            recurring_transaction_rules=[{"trigger": "interval", "interval": "monthly"}],
        )
        [shown] = interval["recurring_transaction_rules"]
        assert (shown["interval"], shown["method"], shown["paid_credits"]) == ("monthly", "fixed", "10.0")

    def test_recurring_rules_refused(self, api: Api) -> None:
        create_customer(api)
        for rules, code in (
            ([{"trigger": "interval", "interval": "monthly"}] * 2, "invalid_number_of_recurring_rules"),
            ([{"trigger": "interval", "interval": "hourly"}], "invalid_recurring_rule"),
            ([{"trigger": "threshold"}], "invalid_recurring_rule"),
            (
                [
                    {
                        "trigger": "threshold",
                        "threshold_credits": "10",
                        "method": "target",
                        "target_ongoing_balance": "5",
                    }
                ],
                "invalid_recurring_rule",
            ),
        ):
            response = api.post(
                "/wallets",
                json={
                    "wallet": {
                        "external_customer_id": "cus_1",
                        "rate_amount": "1",
                        "currency": "EUR",
                        "recurring_transaction_rules": rules,
                    }
                },
            )
            assert response.json()["error_details"] == {"recurring_transaction_rules": [code]}, rules


class TestTransactions:
    def test_one_per_kind(self, api: Api) -> None:
        create_customer(api)
        wallet = create_wallet(api, granted_credits="20")
        response = top_up(
            api,
            wallet["lago_id"],
            paid_credits="1",
            granted_credits="2",
            voided_credits="3",
            name="Mixed",
            metadata=[{"key": "a", "value": "b"}],
        )
        assert response.status_code == 200, response.text
        transactions = response.json()["wallet_transactions"]
        assert [(t["transaction_status"], t["transaction_type"], t["status"]) for t in transactions] == [
            ("purchased", "inbound", "pending"),
            ("granted", "inbound", "settled"),
            ("voided", "outbound", "settled"),
        ]
        granted = transactions[1]
        assert granted == {
            "lago_id": granted["lago_id"],
            "lago_wallet_id": wallet["lago_id"],
            "lago_invoice_id": None,
            "lago_credit_note_id": None,
            "lago_voided_invoice_id": None,
            "billing_entity_code": None,
            "status": "settled",
            "source": "manual",
            "transaction_status": "granted",
            "transaction_type": "inbound",
            "amount": "2.0",
            "credit_amount": "2.0",
            "remaining_amount_cents": None,
            "remaining_credit_amount": None,
            "priority": 50,
            "purchase_order_number": None,
            "settled_at": granted["settled_at"],
            "failed_at": None,
            "created_at": granted["created_at"],
            "invoice_requires_successful_payment": False,
            "metadata": [{"key": "a", "value": "b"}],
            "name": "Mixed",
            "payment_method": {"payment_method_id": None, "payment_method_type": "provider"},
            "applied_invoice_custom_sections": [],
        }
        shown = api.get(f"/wallets/{wallet['lago_id']}").json()["wallet"]
        assert (shown["balance_cents"], shown["credits_balance"]) == (1900, "19.0")  # 20 + 2 - 3

    def test_void_never_below_zero(self, api: Api) -> None:
        create_customer(api)
        wallet = create_wallet(api, granted_credits="10")
        response = top_up(api, wallet["lago_id"], voided_credits="10.00001")
        assert response.status_code == 422
        assert response.json()["error_details"] == {"voided_credits": ["insufficient_credits"]}
        assert api.get(f"/wallets/{wallet['lago_id']}/wallet_transactions").json()["meta"]["total_count"] == 1
        assert top_up(api, wallet["lago_id"], voided_credits="10").status_code == 200
        assert api.get(f"/wallets/{wallet['lago_id']}").json()["wallet"]["balance_cents"] == 0

    def test_wallet_errors(self, api: Api) -> None:
        create_customer(api)
        for wallet_id in ("nope", "00000000-0000-0000-0000-000000000000"):
            response = top_up(api, wallet_id, granted_credits="1")
            assert response.status_code == 422
            assert response.json()["error_details"] == {"wallet_id": ["wallet_not_found"]}
        wallet = create_wallet(api)
        api.delete(f"/wallets/{wallet['lago_id']}")
        response = top_up(api, wallet["lago_id"], granted_credits="1")
        assert response.json()["error_details"] == {"wallet_id": ["wallet_is_terminated"]}
        response = top_up(api, wallet["lago_id"], granted_credits="x")
        assert response.json()["error_details"] == {
            "wallet_id": ["wallet_is_terminated"],
            "granted_credits": ["invalid_granted_credits", "invalid_amount"],
        }

    def test_list_filters_and_pages(self, api: Api) -> None:
        create_customer(api)
        wallet = create_wallet(api, granted_credits="10")
        top_up(api, wallet["lago_id"], paid_credits="1", voided_credits="1")
        path = f"/wallets/{wallet['lago_id']}/wallet_transactions"
        assert api.get(path).json()["meta"]["total_count"] == 3
        assert [
            t["transaction_status"]
            for t in api.get(path, params={"status": "pending"}).json()["wallet_transactions"]
        ] == ["purchased"]
        assert [
            t["transaction_status"]
            for t in api.get(path, params={"transaction_type": "outbound"}).json()["wallet_transactions"]
        ] == ["voided"]
        assert api.get(path, params={"transaction_status": "granted"}).json()["meta"]["total_count"] == 1
        assert (
            api.get(path, params={"status": "bogus"}).json()["meta"]["total_count"] == 3
        )  # ignored, as Lago
        page = api.get(path, params={"per_page": 2, "page": 2}).json()
        assert len(page["wallet_transactions"]) == 1
        assert page["meta"] == {
            "current_page": 2,
            "next_page": None,
            "prev_page": 1,
            "total_pages": 2,
            "total_count": 3,
        }
        assert (
            api.get("/wallets/00000000-0000-0000-0000-000000000000/wallet_transactions").json()["code"]
            == "wallet_not_found"
        )

    def test_show_consumptions_payment_url(self, api: Api) -> None:
        create_customer(api)
        wallet = create_wallet(api, granted_credits="10", paid_credits="5")
        transactions = api.get(f"/wallets/{wallet['lago_id']}/wallet_transactions").json()[
            "wallet_transactions"
        ]
        by_status = {t["transaction_status"]: t for t in transactions}
        granted, purchased = by_status["granted"], by_status["purchased"]
        assert api.get(f"/wallet_transactions/{granted['lago_id']}").json() == {"wallet_transaction": granted}
        missing = api.get("/wallet_transactions/00000000-0000-0000-0000-000000000000")
        assert (missing.status_code, missing.json()["code"]) == (404, "wallet_transaction_not_found")
        for route in ("consumptions", "fundings"):
            response = api.get(f"/wallet_transactions/{granted['lago_id']}/{route}")
            assert response.status_code == 422
            assert response.json()["error_details"] == {"wallet": ["not_traceable"]}
        response = api.post(f"/wallet_transactions/{granted['lago_id']}/payment_url")
        assert response.json()["error_details"] == {"base": ["wallet_transaction_not_purchased"]}
        response = api.post(f"/wallet_transactions/{purchased['lago_id']}/payment_url")
        assert response.status_code == 422
        assert response.json()["error_details"] == {"base": ["no_linked_payment_provider"]}


class TestUpdateTerminateFind:
    def test_update(self, api: Api) -> None:
        create_customer(api)
        wallet = create_wallet(api, code="main")
        response = api.put(
            f"/wallets/{wallet['lago_id']}",
            json={
                "wallet": {
                    "name": "Renamed",
                    "priority": 3,
                    "paid_top_up_min_amount_cents": 100,
                    "expiration_at": "2099-01-01T00:00:00Z",
                    "applies_to": {"fee_types": ["subscription"]},
                    "recurring_transaction_rules": [
                        {"trigger": "interval", "interval": "weekly", "granted_credits": "1"}
                    ],
                }
            },
        )
        assert response.status_code == 200, response.text
        updated = response.json()["wallet"]
        assert (updated["name"], updated["priority"], updated["code"]) == ("Renamed", 3, "main")
        assert updated["expiration_at"] == "2099-01-01T00:00:00Z"
        assert updated["applies_to"]["fee_types"] == ["subscription"]
        assert updated["paid_top_up_min_amount_cents"] == 100
        [rule] = updated["recurring_transaction_rules"]
        # The same rule by lago_id: updated; an empty list terminates it.
        again = api.put(
            f"/wallets/{wallet['lago_id']}",
            json={
                "wallet": {
                    "recurring_transaction_rules": [
                        {"lago_id": rule["lago_id"], "trigger": "interval", "interval": "yearly"}
                    ]
                }
            },
        ).json()["wallet"]
        assert [(r["lago_id"], r["interval"]) for r in again["recurring_transaction_rules"]] == [
            (rule["lago_id"], "yearly")
        ]
        cleared = api.put(
            f"/wallets/{wallet['lago_id']}", json={"wallet": {"recurring_transaction_rules": []}}
        ).json()["wallet"]
        assert cleared["recurring_transaction_rules"] == []
        response = api.put(
            f"/wallets/{wallet['lago_id']}", json={"wallet": {"applies_to": {"fee_types": ["nope"]}}}
        )
        assert response.json()["error_details"] == {"allowed_fee_types": ["invalid_fee_types"]}

    def test_update_code_taken_and_terminated(self, api: Api) -> None:
        create_customer(api)
        create_wallet(api, code="a")
        second = create_wallet(api, code="b")
        response = api.put(f"/wallets/{second['lago_id']}", json={"wallet": {"code": "a"}})
        assert response.json()["error_details"] == {"code": ["value_already_exist"]}
        api.delete(f"/wallets/{second['lago_id']}")
        response = api.put(f"/wallets/{second['lago_id']}", json={"wallet": {"name": "x"}})
        assert response.status_code == 422
        assert response.json()["error_details"] == {"wallet_id": ["wallet_is_terminated"]}

    def test_terminate_twice(self, api: Api) -> None:
        create_customer(api)
        wallet = create_wallet(api, granted_credits="5")
        first = api.delete(f"/wallets/{wallet['lago_id']}").json()["wallet"]
        assert first["status"] == "terminated"
        assert first["terminated_at"] is not None
        assert api.delete(f"/wallets/{wallet['lago_id']}").json()["wallet"] == first

    def test_unknown_wallet(self, api: Api) -> None:
        for path in ("/wallets/nope", "/wallets/00000000-0000-0000-0000-000000000000"):
            response = api.get(path)
            assert (response.status_code, response.json()) == (
                404,
                {"status": 404, "error": "Not Found", "code": "wallet_not_found"},
            )

    def test_list(self, api: Api) -> None:
        create_customer(api)
        create_customer(api, "cus_2")
        create_wallet(api, currency="EUR")
        create_wallet(api, currency="USD", code="usd")
        create_wallet(api, external_customer_id="cus_2")
        assert (
            api.get("/wallets", params={"external_customer_id": "cus_1"}).json()["meta"]["total_count"] == 2
        )
        listed = api.get("/wallets", params={"external_customer_id": "cus_1", "currency": "USD"}).json()[
            "wallets"
        ]
        assert [w["code"] for w in listed] == ["usd"]
        response = api.get("/wallets", params={"external_customer_id": "nobody"})
        assert (response.status_code, response.json()["code"]) == (404, "customer_not_found")


class TestCustomerDeleted:
    def test_wallets_terminated(self, api: Api) -> None:
        create_customer(api)
        wallet = create_wallet(api, granted_credits="1")
        assert api.delete("/customers/cus_1").status_code == 200
        shown = api.get(f"/wallets/{wallet['lago_id']}").json()["wallet"]
        assert (shown["status"], shown["terminated_at"] is not None) == ("terminated", True)


class TestCustomerScoped:
    def test_routes(self, api: Api) -> None:
        create_customer(api)
        response = api.post(
            "/customers/cus_1/wallets",
            json={"wallet": {"rate_amount": "2", "currency": "EUR", "code": "gold", "granted_credits": "1"}},
        )
        assert response.status_code == 200, response.text
        wallet = response.json()["wallet"]
        assert (wallet["code"], wallet["balance_cents"]) == ("gold", 200)
        assert api.get("/customers/cus_1/wallets/gold").json()["wallet"]["lago_id"] == wallet["lago_id"]
        assert api.get("/customers/cus_1/wallets").json()["meta"]["total_count"] == 1
        updated = api.put("/customers/cus_1/wallets/gold", json={"wallet": {"name": "Gold"}}).json()["wallet"]
        assert updated["name"] == "Gold"
        assert api.post("/customers/cus_1/wallets/gold/metadata", json={"metadata": {"a": "1"}}).json() == {
            "metadata": {"a": "1"}
        }
        assert api.delete("/customers/cus_1/wallets/gold/metadata/a").json() == {"metadata": {}}
        assert api.delete("/customers/cus_1/wallets/gold").json()["wallet"]["status"] == "terminated"
        missing = api.get("/customers/cus_1/wallets/silver")
        assert (missing.status_code, missing.json()["code"]) == (404, "wallet_not_found")
        assert api.get("/customers/nobody/wallets").json()["code"] == "customer_not_found"
        assert api.get("/customers/nobody/wallets/gold").json()["code"] == "customer_not_found"


class TestMetadata:
    def test_replace_merge_delete(self, api: Api) -> None:
        create_customer(api)
        wallet = create_wallet(api, metadata={"a": "1"})
        assert wallet["metadata"] == {"a": "1"}
        path = f"/wallets/{wallet['lago_id']}/metadata"
        assert api.post(path, json={"metadata": {"b": "2", "c": None}}).json() == {
            "metadata": {"b": "2", "c": None}
        }
        assert api.patch(path, json={"metadata": {"b": "3", "d": "4"}}).json() == {
            "metadata": {"b": "3", "c": None, "d": "4"}
        }
        assert api.delete(f"{path}/c").json() == {"metadata": {"b": "3", "d": "4"}}
        assert api.get(f"/wallets/{wallet['lago_id']}").json()["wallet"]["metadata"] == {"b": "3", "d": "4"}
        assert api.delete(path).json() == {"metadata": None}
        api.delete(f"/wallets/{wallet['lago_id']}")
        response = api.post(path, json={"metadata": {"x": "1"}})
        assert response.json()["error_details"] == {"wallet_id": ["wallet_is_terminated"]}
        response = api.delete(f"{path}/b")
        assert (response.status_code, response.json()["code"]) == (404, "metadata_not_found")


class TestTenancy:
    def test_other_organization_sees_nothing(self, api: Api, other_api: Api) -> None:
        create_customer(api)
        wallet = create_wallet(api, granted_credits="1")
        [transaction] = api.get(f"/wallets/{wallet['lago_id']}/wallet_transactions").json()[
            "wallet_transactions"
        ]
        assert other_api.get(f"/wallets/{wallet['lago_id']}").json()["code"] == "wallet_not_found"
        assert (
            other_api.put(f"/wallets/{wallet['lago_id']}", json={"wallet": {"name": "x"}}).status_code == 404
        )
        assert other_api.delete(f"/wallets/{wallet['lago_id']}").status_code == 404
        assert (
            other_api.post(f"/wallets/{wallet['lago_id']}/metadata", json={"metadata": {}}).status_code == 404
        )
        assert other_api.get(f"/wallets/{wallet['lago_id']}/wallet_transactions").status_code == 404
        assert other_api.get(f"/wallet_transactions/{transaction['lago_id']}").status_code == 404
        assert other_api.get("/wallets").json()["wallets"] == []
        assert other_api.get("/wallets", params={"external_customer_id": "cus_1"}).status_code == 404
        assert other_api.get("/customers/cus_1/wallets/default").status_code == 404
        response = top_up(other_api, wallet["lago_id"], granted_credits="1")
        assert response.json()["error_details"] == {"wallet_id": ["wallet_not_found"]}
        response = other_api.post(
            "/wallets", json={"wallet": {"external_customer_id": "cus_1", "rate_amount": "1"}}
        )
        assert response.json()["error_details"] == {"customer": ["customer_not_found"]}
        assert api.get(f"/wallets/{wallet['lago_id']}").json()["wallet"]["balance_cents"] == 100
