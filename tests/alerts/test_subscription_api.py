"""``/subscriptions/{external_id}/alerts[/{code}]``: storage, validation and CRUD (their
evaluation on usage: ``test_usage_evaluation.py``)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.alerts.test_wallet_api import errors_of, not_found, ok
from tests.conftest import Api

ALERTS = "/subscriptions/sub_1/alerts"

USAGE_ALERT = {
    "alert_type": "current_usage_amount",
    "code": "usage",
    "name": "Usage",
    "thresholds": [{"code": "warn", "value": 1000}, {"code": "more", "value": "250", "recurring": True}],
}
METRIC_ALERT = {
    "alert_type": "billable_metric_current_usage_units",
    "code": "units",
    "billable_metric_code": "storage",
    "thresholds": [{"value": "12.345678"}],
}


def world(api: Api) -> dict[str, Any]:
    metric = ok(
        api.post(
            "/billable_metrics",
            {
                "billable_metric": {
                    "name": "Storage",
                    "code": "storage",
                    "aggregation_type": "sum_agg",
                    "field_name": "gb",
                }
            },
        )
    )["billable_metric"]
    plan = {
        "name": "Pro",
        "code": "pro",
        "interval": "monthly",
        "amount_cents": 1000,
        "amount_currency": "EUR",
    }
    ok(api.post("/plans", {"plan": plan}))
    ok(api.post("/customers", {"customer": {"external_id": "cus_1", "name": "Ann"}}))
    body = {"external_customer_id": "cus_1", "plan_code": "pro", "external_id": "sub_1"}
    ok(api.post("/subscriptions", {"subscription": body}))
    return metric


@pytest.fixture
def metric(api: Api) -> dict[str, Any]:
    return world(api)


class TestCreate:
    def test_exact_body(self, api: Api, metric: dict[str, Any]) -> None:
        alert = ok(api.post(ALERTS, {"alert": USAGE_ALERT}))["alert"]
        assert alert == {
            "lago_id": alert["lago_id"],
            "lago_organization_id": alert["lago_organization_id"],
            "subscription_external_id": "sub_1",
            "external_subscription_id": "sub_1",
            "lago_wallet_id": None,
            "wallet_code": None,
            "alert_type": "current_usage_amount",
            "code": "usage",
            "name": "Usage",
            "direction": "increasing",
            "previous_value": "0.0",
            "last_processed_at": None,
            "thresholds": [
                {"code": "warn", "value": "1000.0", "recurring": False},
                {"code": "more", "value": "250.0", "recurring": True},
            ],
            "created_at": alert["created_at"],
            "billable_metric": None,
        }
        assert ok(api.get(f"{ALERTS}/usage")) == {"alert": alert}

    def test_billable_metric_alert(self, api: Api, metric: dict[str, Any]) -> None:
        alert = ok(api.post(ALERTS, {"alert": METRIC_ALERT}))["alert"]
        # Lago's billable metric serializer without its counters.
        assert alert["billable_metric"] == {
            "lago_id": metric["lago_id"],
            "name": "Storage",
            "code": "storage",
            "description": None,
            "aggregation_type": "sum_agg",
            "weighted_interval": None,
            "recurring": False,
            "rounding_function": None,
            "rounding_precision": None,
            "created_at": metric["created_at"],
            "field_name": "gb",
            "expression": None,
            "filters": [],
        }
        # Lago keeps 5 decimals: 12.345678 → 12.34568 (half up).
        assert alert["thresholds"] == [{"code": None, "value": "12.34568", "recurring": False}]
        # One alert per type and metric.
        again = api.post(ALERTS, {"alert": {**METRIC_ALERT, "code": "other"}})
        assert errors_of(again) == {"base": ["alert_already_exists"]}

    @pytest.mark.parametrize(
        ("change", "details"),
        [
            ({"alert_type": "wallet_balance_amount"}, {"alert_type": ["invalid_type"]}),
            (
                {"alert_type": "billable_metric_lifetime_usage_units"},
                {"alert_type": ["feature_not_available"]},
            ),
            ({"billable_metric_code": None}, {"billable_metric": ["value_is_mandatory"]}),
            (
                {"billable_metric_code": None, "code": ""},
                {"code": ["value_is_mandatory"], "billable_metric": ["value_is_mandatory"]},
            ),
        ],
    )
    def test_validation(
        self, api: Api, metric: dict[str, Any], change: dict[str, Any], details: dict[str, Any]
    ) -> None:
        assert errors_of(api.post(ALERTS, {"alert": {**METRIC_ALERT, **change}})) == details

    def test_metric_on_a_plain_type(self, api: Api, metric: dict[str, Any]) -> None:
        body = {**USAGE_ALERT, "billable_metric_code": "storage"}
        assert errors_of(api.post(ALERTS, {"alert": body})) == {"billable_metric": ["value_must_be_blank"]}

    def test_unknown_metric(self, api: Api, metric: dict[str, Any]) -> None:
        not_found(
            api.post(ALERTS, {"alert": {**METRIC_ALERT, "billable_metric_code": "x"}}),
            "billable_metric_not_found",
        )

    def test_batch(self, api: Api, metric: dict[str, Any]) -> None:
        body = ok(api.post(ALERTS, {"alerts": [USAGE_ALERT, METRIC_ALERT]}))
        assert [a["code"] for a in body["alerts"]] == ["usage", "units"]
        bad = [USAGE_ALERT, {**METRIC_ALERT, "billable_metric_code": "x"}]
        assert errors_of(api.post(ALERTS, {"alerts": bad})) == {
            "0": {"params": USAGE_ALERT, "errors": 'Validation errors: {"base":["alert_already_exists"]}'},
            "1": {"params": bad[1], "errors": "billable_metric_not_found"},
        }
        assert len(ok(api.get(ALERTS))["alerts"]) == 2

    def test_update_to_a_metric_already_watched(self, api: Api, metric: dict[str, Any]) -> None:
        ok(api.post(ALERTS, {"alert": METRIC_ALERT}))
        ok(
            api.post(
                "/billable_metrics",
                {
                    "billable_metric": {
                        "name": "Cpu",
                        "code": "cpu",
                        "aggregation_type": "sum_agg",
                        "field_name": "n",
                    }
                },
            )
        )
        ok(api.post(ALERTS, {"alert": {**METRIC_ALERT, "code": "cpu", "billable_metric_code": "cpu"}}))
        change = {"billable_metric_code": "storage"}
        assert errors_of(api.put(f"{ALERTS}/cpu", {"alert": change})) == {"base": ["alert_already_exists"]}
        moved = ok(api.put(f"{ALERTS}/units", {"alert": {"billable_metric_code": "storage"}}))["alert"]
        assert moved["billable_metric"]["code"] == "storage"

    def test_lifetime_usage_amount(self, api: Api, metric: dict[str, Any]) -> None:
        body = {"alert_type": "lifetime_usage_amount", "code": "life", "thresholds": [{"value": 1}]}
        assert ok(api.post(ALERTS, {"alert": body}))["alert"]["alert_type"] == "lifetime_usage_amount"


class TestSubscription:
    def test_unknown_subscription(self, api: Api, metric: dict[str, Any]) -> None:
        not_found(api.get("/subscriptions/nope/alerts"), "subscription_not_found")
        not_found(api.post("/subscriptions/nope/alerts", {"alert": USAGE_ALERT}), "subscription_not_found")
        not_found(api.get(f"{ALERTS}?subscription_status=terminated"), "subscription_not_found")

    def test_crud(self, api: Api, metric: dict[str, Any]) -> None:
        ok(api.post(ALERTS, {"alert": USAGE_ALERT}))
        alert = ok(api.put(f"{ALERTS}/usage", {"alert": {"name": "New", "thresholds": [{"value": 5}]}}))[
            "alert"
        ]
        assert (alert["name"], alert["thresholds"]) == (
            "New",
            [{"code": None, "value": "5.0", "recurring": False}],
        )
        ok(api.post(ALERTS, {"alert": METRIC_ALERT}))
        assert ok(api.get(ALERTS))["meta"]["total_count"] == 2
        assert ok(api.delete(f"{ALERTS}/usage"))["alert"]["thresholds"] == []
        not_found(api.get(f"{ALERTS}/usage"), "alert_not_found")
        assert api.delete(ALERTS).status_code == 200
        assert ok(api.get(ALERTS))["alerts"] == []

    def test_tenancy(self, api: Api, other_api: Api, metric: dict[str, Any]) -> None:
        ok(api.post(ALERTS, {"alert": USAGE_ALERT}))
        not_found(other_api.get(ALERTS), "subscription_not_found")
        not_found(other_api.get(f"{ALERTS}/usage"), "subscription_not_found")
        world(other_api)
        assert ok(other_api.get(ALERTS))["alerts"] == []
        not_found(other_api.get(f"{ALERTS}/usage"), "alert_not_found")
        assert other_api.delete(ALERTS).status_code == 200
        assert len(ok(api.get(ALERTS))["alerts"]) == 1
