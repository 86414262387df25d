"""``subscription.trial_ended`` and ``subscription.termination_alert`` (:mod:`billow.subscriptions.notices`):
found by scans, sent once each."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI

from billow.subscriptions.notices import alert_horizon, announce_terminations, announce_trials_ended
from tests.billing.test_immediate import ok, plan, subscribe
from tests.conftest import Api
from tests.fixtures.receiver import Receiver
from tests.webhooks.test_delivery import add_endpoint, deliver_due

NOW = datetime(2026, 3, 1, tzinfo=UTC)


class TestHorizon:
    def test_the_closest_horizon_reached_once(self) -> None:
        # 60 days left: none; 45 days left: 45; 44: already 45; 15: 15; 10 days after a 45 alert: 15.
        assert alert_horizon(NOW + timedelta(days=60), NOW, None) is None
        assert alert_horizon(NOW + timedelta(days=45), NOW, None) == 45
        assert alert_horizon(NOW + timedelta(days=44), NOW, 45) is None
        assert alert_horizon(NOW + timedelta(days=15), NOW, 45) == 15
        assert alert_horizon(NOW + timedelta(days=10), NOW, 15) is None
        # Set to end in 10 days, never alerted: one alert, for 15.
        assert alert_horizon(NOW + timedelta(days=10), NOW, None) == 15
        # Already ended: nothing.
        assert alert_horizon(NOW - timedelta(days=1), NOW, None) is None


@pytest.fixture
def receiver(api: Api) -> Iterator[Receiver]:
    found = Receiver().start()
    add_endpoint(api, found.url, types=["subscription.trial_ended", "subscription.termination_alert"])
    yield found
    found.stop()


def test_trial_ended_once(app: FastAPI, api: Api, receiver: Receiver) -> None:
    plan(api, "trial", amount_cents=1000, trial_period=10)
    plan(api, "none", amount_cents=1000)
    ok(subscribe(api, "cus_1", "trial", "sub_1"))
    ok(subscribe(api, "cus_1", "none", "sub_2"))
    factory = app.state.dispatcher.session_factory
    started = datetime.fromisoformat(ok(api.get("/subscriptions/sub_1"))["subscription"]["started_at"])
    assert announce_trials_ended(factory, started + timedelta(days=9)) == 0
    assert announce_trials_ended(factory, started + timedelta(days=10, seconds=1)) == 1
    assert announce_trials_ended(factory, started + timedelta(days=11)) == 0  # once
    deliver_due(app)
    [received] = receiver.received
    assert received.json["webhook_type"] == "subscription.trial_ended"
    shown = ok(api.get("/subscriptions/sub_1"))["subscription"]
    assert received.json["subscription"]["external_id"] == "sub_1"
    assert shown["trial_ended_at"] == (started + timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert ok(api.get("/subscriptions/sub_2"))["subscription"]["trial_ended_at"] is None


def test_termination_alerts_at_45_and_15_days_and_again_after_a_new_end(
    app: FastAPI, api: Api, receiver: Receiver
) -> None:
    plan(api, "basic", amount_cents=1000)
    now = datetime.now(UTC).replace(microsecond=0)
    ending = now + timedelta(days=100)
    ok(subscribe(api, "cus_1", "basic", "sub_1", ending_at=ending.strftime("%Y-%m-%dT%H:%M:%SZ")))
    factory = app.state.dispatcher.session_factory
    assert announce_terminations(factory, ending - timedelta(days=50)) == 0
    assert announce_terminations(factory, ending - timedelta(days=45)) == 1
    assert announce_terminations(factory, ending - timedelta(days=30)) == 0
    assert announce_terminations(factory, ending - timedelta(days=15)) == 1
    assert announce_terminations(factory, ending - timedelta(days=1)) == 0
    # A new end: its alerts start again (20 days away: the 45-day one).
    later = now + timedelta(days=20)
    ok(api.put("/subscriptions/sub_1", {"subscription": {"ending_at": later.strftime("%Y-%m-%dT%H:%M:%SZ")}}))
    assert announce_terminations(factory, now) == 1
    deliver_due(app)
    assert [r.json["webhook_type"] for r in receiver.received] == ["subscription.termination_alert"] * 3
