"""``/customers/{id}/wallets/{code}/alerts[/{code}]``: Lago's bodies and errors, and the evaluation of a
wallet's alerts when its balance changes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billow.models.alerts import Alert, AlertThreshold, TriggeredAlert
from tests.conftest import Api

ALERTS = "/customers/cus_1/wallets/prepaid/alerts"


def ok(response: Any) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def not_found(response: Any, code: str) -> None:
    assert response.status_code == 404, response.text
    assert response.json() == {"status": 404, "error": "Not Found", "code": code}


def errors_of(response: Any) -> Any:
    assert response.status_code == 422, response.text
    body = response.json()
    assert (body["status"], body["error"], body["code"]) == (422, "Unprocessable Entity", "validation_errors")
    return body["error_details"]


def make_wallet(api: Api, credits: str = "20") -> dict[str, Any]:
    ok(api.post("/customers", {"customer": {"external_id": "cus_1", "name": "Ann"}}))
    body = {"external_customer_id": "cus_1", "name": "Prepaid", "rate_amount": "1", "currency": "EUR"}
    return ok(api.post("/wallets", {"wallet": {**body, "granted_credits": credits}}))["wallet"]


def void(api: Api, wallet_id: str, credits: str) -> None:
    ok(
        api.post(
            "/wallet_transactions",
            {"wallet_transaction": {"wallet_id": wallet_id, "voided_credits": credits}},
        )
    )


def grant(api: Api, wallet_id: str, credits: str) -> None:
    ok(
        api.post(
            "/wallet_transactions",
            {"wallet_transaction": {"wallet_id": wallet_id, "granted_credits": credits}},
        )
    )


BALANCE_ALERT = {
    "alert_type": "wallet_balance_amount",
    "code": "low",
    "name": "Low balance",
    "thresholds": [{"code": "warn", "value": 1000}, {"code": "crit", "value": "500"}],
}


@pytest.fixture
def wallet(api: Api) -> dict[str, Any]:
    return make_wallet(api)


@pytest.fixture
def db(app: FastAPI) -> Iterator[Session]:
    with app.state.sessionmaker() as session:
        yield session


def count(db: Session, model: type) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(model)) or 0


class TestCreate:
    def test_exact_body(self, api: Api, wallet: dict[str, Any]) -> None:
        alert = ok(api.post(ALERTS, {"alert": BALANCE_ALERT}))["alert"]
        assert alert == {
            "lago_id": alert["lago_id"],
            "lago_organization_id": alert["lago_organization_id"],
            "subscription_external_id": None,
            "external_subscription_id": None,
            "lago_wallet_id": wallet["lago_id"],
            "wallet_code": "prepaid",
            "alert_type": "wallet_balance_amount",
            "code": "low",
            "name": "Low balance",
            "direction": "decreasing",
            # A wallet alert starts from the wallet's value: 20 credits at 1 EUR = 2000 cents.
            "previous_value": "2000.0",
            "last_processed_at": None,
            "thresholds": [
                {"code": "warn", "value": "1000.0", "recurring": False},
                {"code": "crit", "value": "500.0", "recurring": False},
            ],
            "created_at": alert["created_at"],
            "billable_metric": None,
        }
        assert ok(api.get(f"{ALERTS}/low")) == {"alert": alert}

    @pytest.mark.parametrize(
        ("alert_type", "previous"),
        [
            ("wallet_credits_balance", "20.0"),
            ("wallet_ongoing_balance_amount", "2000.0"),
            ("wallet_credits_ongoing_balance", "20.0"),
        ],
    )
    def test_every_wallet_type(
        self, api: Api, wallet: dict[str, Any], alert_type: str, previous: str
    ) -> None:
        body = {"alert_type": alert_type, "code": "a", "thresholds": [{"value": "10.5", "recurring": True}]}
        alert = ok(api.post(ALERTS, {"alert": body}))["alert"]
        assert (alert["alert_type"], alert["previous_value"], alert["name"]) == (alert_type, previous, None)
        assert alert["thresholds"] == [{"code": None, "value": "10.5", "recurring": True}]

    def test_batch(self, api: Api, wallet: dict[str, Any]) -> None:
        alerts = [
            {**BALANCE_ALERT, "code": "alert1"},
            {"code": "alert2", "alert_type": "wallet_credits_balance", "thresholds": [{"value": 2000}]},
        ]
        body = ok(api.post(ALERTS, {"alerts": alerts}))
        assert list(body) == ["alerts"]
        assert [a["code"] for a in body["alerts"]] == ["alert1", "alert2"]

    def test_batch_is_atomic_and_names_every_failure(
        self, api: Api, wallet: dict[str, Any], db: Session
    ) -> None:
        alerts = [
            {"code": "duplicated", "alert_type": "wallet_balance_amount", "thresholds": [{"value": 1000}]},
            {"code": "alert2", "alert_type": "invalid_type", "thresholds": [{"value": 2000}]},
            {"code": "duplicated", "alert_type": "wallet_balance_amount", "thresholds": [{"value": 3000}]},
        ]
        assert errors_of(api.post(ALERTS, {"alerts": alerts})) == {
            "1": {"params": alerts[1], "errors": 'Validation errors: {"alert_type":["invalid_type"]}'},
            "2": {"params": alerts[2], "errors": 'Validation errors: {"base":["alert_already_exists"]}'},
        }
        assert count(db, Alert) == 0
        assert count(db, AlertThreshold) == 0

    def test_a_billable_metric_code_is_ignored(self, api: Api, wallet: dict[str, Any]) -> None:
        alert = ok(api.post(ALERTS, {"alert": {**BALANCE_ALERT, "billable_metric_code": "nope"}}))["alert"]
        assert alert["billable_metric"] is None
        bad = {**BALANCE_ALERT, "billable_metric_code": "nope"}
        assert errors_of(api.post(ALERTS, {"alerts": [bad]})) == {
            "0": {"params": BALANCE_ALERT, "errors": 'Validation errors: {"base":["alert_already_exists"]}'}
        }

    def test_empty_batch_is_a_bad_request(self, api: Api, wallet: dict[str, Any]) -> None:
        response = api.post(ALERTS, {"alerts": []})
        assert response.status_code == 400
        assert response.json() == {
            "status": 400,
            "error": "BadRequest: param is missing or the value is empty or invalid: alert",
        }

    @pytest.mark.parametrize(
        ("change", "details"),
        [
            ({"alert_type": None}, {"alert_type": ["value_is_mandatory", "value_is_invalid"]}),
            ({"alert_type": "current_usage_amount"}, {"alert_type": ["invalid_type"]}),
            ({"alert_type": "not_supported"}, {"alert_type": ["invalid_type"]}),
            ({"thresholds": []}, {"thresholds": ["value_is_mandatory"]}),
            ({"thresholds": [{"value": 1}] * 2}, {"thresholds": ["duplicate_threshold_values"]}),
            ({"thresholds": [{"value": i} for i in range(21)]}, {"thresholds": ["too_many_thresholds"]}),
            ({"thresholds": [{"code": "x"}]}, {"thresholds:value": ["value_is_mandatory"]}),
            ({"thresholds": [{"value": "ten"}]}, {"thresholds:value": ["value_is_invalid"]}),
            ({"thresholds": [{"value": "1e30"}]}, {"thresholds:value": ["value_is_out_of_range"]}),
            (
                {"thresholds": [{"value": -5, "recurring": True}]},
                {"thresholds:value": ["recurring_value_is_negative"]},
            ),
            (
                {"thresholds": [{"value": 5, "recurring": True}, {"value": 6, "recurring": True}]},
                {"base": ["alert_already_exists"]},
            ),
            ({"code": None}, {"code": ["value_is_mandatory"]}),
        ],
    )
    def test_validation(
        self, api: Api, wallet: dict[str, Any], db: Session, change: dict[str, Any], details: dict[str, Any]
    ) -> None:
        assert errors_of(api.post(ALERTS, {"alert": {**BALANCE_ALERT, **change}})) == details
        assert count(db, Alert) == 0

    def test_one_alert_per_type_and_code(self, api: Api, wallet: dict[str, Any]) -> None:
        ok(api.post(ALERTS, {"alert": BALANCE_ALERT}))
        again = api.post(ALERTS, {"alert": {**BALANCE_ALERT, "code": "other"}})
        assert errors_of(again) == {"base": ["alert_already_exists"]}
        same_code = {**BALANCE_ALERT, "alert_type": "wallet_credits_balance"}
        assert errors_of(api.post(ALERTS, {"alert": same_code})) == {"code": ["value_already_exist"]}

    def test_unknown_customer_and_wallet(self, api: Api, wallet: dict[str, Any]) -> None:
        not_found(
            api.post("/customers/nope/wallets/prepaid/alerts", {"alert": BALANCE_ALERT}), "customer_not_found"
        )
        not_found(
            api.post("/customers/cus_1/wallets/nope/alerts", {"alert": BALANCE_ALERT}), "wallet_not_found"
        )


class TestReadUpdateDelete:
    def test_list_paginates_newest_first(self, api: Api, wallet: dict[str, Any]) -> None:
        ok(api.post(ALERTS, {"alert": BALANCE_ALERT}))
        ok(
            api.post(
                ALERTS, {"alert": {**BALANCE_ALERT, "code": "b", "alert_type": "wallet_credits_balance"}}
            )
        )
        assert [a["code"] for a in ok(api.get(ALERTS))["alerts"]] == ["b", "low"]
        body = ok(api.get(f"{ALERTS}?per_page=1&page=2"))
        assert [a["code"] for a in body["alerts"]] == ["low"]
        assert body["meta"] == {
            "current_page": 2,
            "next_page": None,
            "prev_page": 1,
            "total_pages": 2,
            "total_count": 2,
        }

    def test_unknown_alert(self, api: Api, wallet: dict[str, Any]) -> None:
        not_found(api.get(f"{ALERTS}/nope"), "alert_not_found")
        not_found(api.put(f"{ALERTS}/nope", {"alert": {"name": "x"}}), "alert_not_found")
        not_found(api.delete(f"{ALERTS}/nope"), "alert_not_found")

    def test_update_replaces_thresholds(self, api: Api, wallet: dict[str, Any]) -> None:
        ok(api.post(ALERTS, {"alert": BALANCE_ALERT}))
        body = {"code": "updated-code", "thresholds": [{"code": "notice", "value": 8800}]}
        alert = ok(api.put(f"{ALERTS}/low", {"alert": body}))["alert"]
        assert (alert["code"], alert["name"], alert["previous_value"]) == (
            "updated-code",
            "Low balance",
            "2000.0",
        )
        assert alert["thresholds"] == [{"code": "notice", "value": "8800.0", "recurring": False}]
        not_found(api.get(f"{ALERTS}/low"), "alert_not_found")

    def test_update_keeps_thresholds_when_none_given(self, api: Api, wallet: dict[str, Any]) -> None:
        ok(api.post(ALERTS, {"alert": BALANCE_ALERT}))
        alert = ok(api.put(f"{ALERTS}/low", {"alert": {"name": "Other", "thresholds": []}}))["alert"]
        assert alert["name"] == "Other"
        assert len(alert["thresholds"]) == 2

    def test_update_code_taken(self, api: Api, wallet: dict[str, Any]) -> None:
        ok(api.post(ALERTS, {"alert": BALANCE_ALERT}))
        ok(
            api.post(
                ALERTS, {"alert": {**BALANCE_ALERT, "code": "b", "alert_type": "wallet_credits_balance"}}
            )
        )
        assert errors_of(api.put(f"{ALERTS}/b", {"alert": {"code": "low"}})) == {
            "code": ["value_already_exist"]
        }

    def test_update_without_alert_is_a_bad_request(self, api: Api, wallet: dict[str, Any]) -> None:
        ok(api.post(ALERTS, {"alert": BALANCE_ALERT}))
        assert api.put(f"{ALERTS}/low", {"alert": {}}).status_code == 400

    def test_delete_one(self, api: Api, wallet: dict[str, Any], db: Session) -> None:
        created = ok(api.post(ALERTS, {"alert": BALANCE_ALERT}))["alert"]
        deleted = ok(api.delete(f"{ALERTS}/low"))["alert"]
        assert deleted == {**created, "thresholds": []}
        not_found(api.get(f"{ALERTS}/low"), "alert_not_found")
        # The code and the type are free again.
        ok(api.post(ALERTS, {"alert": BALANCE_ALERT}))
        assert count(db, Alert) == 2

    def test_delete_all(self, api: Api, wallet: dict[str, Any]) -> None:
        ok(api.post(ALERTS, {"alert": BALANCE_ALERT}))
        response = api.delete(ALERTS)
        assert response.status_code == 200
        assert response.content == b""
        assert ok(api.get(ALERTS))["alerts"] == []
        assert api.delete(ALERTS).status_code == 200


class TestTenancy:
    def test_other_organization(self, api: Api, other_api: Api, wallet: dict[str, Any]) -> None:
        ok(api.post(ALERTS, {"alert": BALANCE_ALERT}))
        not_found(other_api.get(ALERTS), "customer_not_found")
        not_found(other_api.get(f"{ALERTS}/low"), "customer_not_found")
        not_found(other_api.delete(ALERTS), "customer_not_found")
        make_wallet(other_api)
        assert ok(other_api.get(ALERTS))["alerts"] == []
        not_found(other_api.get(f"{ALERTS}/low"), "alert_not_found")
        not_found(other_api.delete(f"{ALERTS}/low"), "alert_not_found")
        assert len(ok(api.get(ALERTS))["alerts"]) == 1


class TestEvaluation:
    def test_a_fall_through_thresholds_triggers_once(
        self, api: Api, wallet: dict[str, Any], db: Session
    ) -> None:
        ok(api.post(ALERTS, {"alert": BALANCE_ALERT}))  # 2000 cents now; thresholds 1000 and 500
        void(api, wallet["lago_id"], "5")  # 2000 → 1500: nothing crossed
        assert count(db, TriggeredAlert) == 0
        alert = ok(api.get(f"{ALERTS}/low"))["alert"]
        assert alert["previous_value"] == "1500.0"
        assert alert["last_processed_at"] is not None

        void(api, wallet["lago_id"], "6")  # 1500 → 900: crosses 1000
        [triggered] = db.scalars(select(TriggeredAlert)).all()
        assert (triggered.previous_value, triggered.current_value) == (1500, 900)
        assert triggered.wallet_id is not None and str(triggered.wallet_id) == wallet["lago_id"]
        assert triggered.crossed_thresholds == [{"code": "warn", "value": "1000.0", "recurring": False}]

        void(api, wallet["lago_id"], "1")  # 900 → 800: already below 1000
        assert count(db, TriggeredAlert) == 1
        grant(api, wallet["lago_id"], "5")  # 800 → 1300: a rise crosses nothing
        assert count(db, TriggeredAlert) == 1
        void(api, wallet["lago_id"], "13")  # 1300 → 0: crosses 1000 again, and 500
        db.expire_all()
        last = db.scalars(select(TriggeredAlert).order_by(TriggeredAlert.triggered_at.desc())).all()
        crossed = sorted((t.crossed_thresholds for t in last), key=len)[-1]
        assert crossed == [
            {"code": "warn", "value": "1000.0", "recurring": False},
            {"code": "crit", "value": "500.0", "recurring": False},
        ]
        assert count(db, TriggeredAlert) == 2

    def test_deleted_alerts_are_not_evaluated(self, api: Api, wallet: dict[str, Any], db: Session) -> None:
        ok(api.post(ALERTS, {"alert": BALANCE_ALERT}))
        ok(api.delete(f"{ALERTS}/low"))
        void(api, wallet["lago_id"], "19")
        assert count(db, TriggeredAlert) == 0

    def test_credits_balance(self, api: Api, wallet: dict[str, Any], db: Session) -> None:
        body = {"alert_type": "wallet_credits_balance", "code": "c", "thresholds": [{"value": "12.5"}]}
        ok(api.post(ALERTS, {"alert": body}))
        void(api, wallet["lago_id"], "7.5")  # 20 → 12.5 credits: reaches 12.5
        [triggered] = db.scalars(select(TriggeredAlert)).all()
        assert (triggered.previous_value, triggered.current_value) == (20, 12.5)
