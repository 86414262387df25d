"""``alert.triggered``: a subscription alert crossed by events posted through the API arrives at the
receiver once per crossing, with Lago's ``triggered_alert`` object."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI

from tests.alerts.test_usage_evaluation import ALERTS, USAGE_ALERT, event, live_world
from tests.alerts.test_wallet_api import ok
from tests.conftest import Api
from tests.fixtures.receiver import Receiver
from tests.webhooks.test_delivery import add_endpoint


@pytest.fixture
def receiver(api: Api) -> Iterator[Receiver]:
    found = Receiver().start()
    add_endpoint(api, found.url, types=["alert.triggered"])
    yield found
    found.stop()


def test_each_crossing_is_announced_once(app: FastAPI, api: Api, receiver: Receiver) -> None:
    live_world(app, api)
    alert = ok(api.post(ALERTS, {"alert": USAGE_ALERT}))["alert"]
    ok(api.post("/events", {"event": event("e1", "sub_1", 12)}))  # 1200 cents: crosses 1000
    ok(api.post("/events", {"event": event("e2", "sub_1", 1)}))  # 1300: nothing new
    ok(
        api.post("/events/batch", {"events": [event("e3", "sub_1", 40), event("e4", "sub_1", 2)]})
    )  # 12 + 1 + 40 + 2 = 55 units: 5500
    bodies = [r.json for r in receiver.received]
    assert [b["webhook_type"] for b in bodies] == ["alert.triggered", "alert.triggered"]
    first, second = (b["triggered_alert"] for b in bodies)
    assert bodies[0]["object_type"] == "triggered_alert"
    assert first["lago_alert_id"] == alert["lago_id"]
    assert first["alert_code"] == alert["code"] and first["alert_type"] == "current_usage_amount"
    assert first["external_subscription_id"] == "sub_1"
    assert first["external_customer_id"] is not None
    assert (first["previous_value"], first["current_value"]) == ("0.0", "1200.0")
    assert [t["value"] for t in first["crossed_thresholds"]] == ["1000.0"]
    assert (second["previous_value"], second["current_value"]) == ("1300.0", "5500.0")
    assert [t["value"] for t in second["crossed_thresholds"]] == ["5000.0"]
