"""Subscription alerts through ``lago-python-client`` (its only alert methods: ``create_alerts``, a batch,
and ``delete_alerts``); the client parses every alert."""

from __future__ import annotations

import uuid

import httpx
import pytest
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import BillableMetric, Customer, Plan, Subscription
from lago_python_client.models.alert import Alert, AlertsList, AlertThreshold, AlertThresholdList

from tests.e2e.conftest import Server

pytestmark = pytest.mark.e2e


def test_subscription_alerts(server: Server) -> None:
    lago = server.client()
    suffix = uuid.uuid4().hex[:8]
    lago.billable_metrics.create(
        BillableMetric(name="Storage", code=f"storage_{suffix}", aggregation_type="sum_agg", field_name="gb")
    )
    lago.plans.create(
        Plan(name="Pro", code=f"pro_{suffix}", interval="monthly", amount_cents=1000, amount_currency="EUR")
    )
    lago.customers.create(Customer(external_id=f"cus_{suffix}", name="Ada"))
    external_id = f"sub_{suffix}"
    lago.subscriptions.create(
        Subscription(external_customer_id=f"cus_{suffix}", plan_code=f"pro_{suffix}", external_id=external_id)
    )
    alerts = AlertsList(
        alerts=[
            Alert(
                alert_type="current_usage_amount",
                code="usage",
                name="Usage",
                thresholds=AlertThresholdList(
                    __root__=[
                        AlertThreshold(code="warn", value="1000", recurring=False),
                        AlertThreshold(code="more", value="250", recurring=True),
                    ]
                ),
            ),
            Alert(
                alert_type="billable_metric_current_usage_units",
                code="units",
                billable_metric_code=f"storage_{suffix}",
                thresholds=AlertThresholdList(__root__=[AlertThreshold(value="10.5")]),
            ),
        ]
    )
    created = lago.subscriptions.create_alerts(external_id, alerts)
    usage, units = created["alerts"]
    assert (usage.code, usage.direction, usage.previous_value) == ("usage", "increasing", "0.0")
    assert [(t.code, t.value, t.recurring) for t in usage.thresholds.__root__] == [
        ("warn", "1000.0", False),
        ("more", "250.0", True),
    ]
    assert units.billable_metric is not None and units.billable_metric.code == f"storage_{suffix}"

    with pytest.raises(LagoApiError) as failure:
        lago.subscriptions.create_alerts(external_id, alerts)  # the same types again: nothing created
    assert failure.value.status_code == 422

    headers = {"Authorization": f"Bearer {server.api_key}"}
    url = f"{server.base_url}/api/v1/subscriptions/{external_id}/alerts"
    assert httpx.get(url, headers=headers).json()["meta"]["total_count"] == 2
    lago.subscriptions.delete_alerts(external_id)
    assert httpx.get(url, headers=headers).json()["alerts"] == []
