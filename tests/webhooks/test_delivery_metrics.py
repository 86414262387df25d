"""Webhook delivery attempts on ``/metrics`` (``billow_webhook_deliveries_total`` by outcome)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi import FastAPI

from billow.kit.metrics import REGISTRY
from tests.conftest import Api
from tests.fixtures.receiver import Receiver
from tests.webhooks.test_delivery import add_endpoint, create_customer, deliver_due

OUTCOMES = ("succeeded", "retrying", "failed")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver().start()
    yield found
    found.stop()


def counts() -> dict[str, float]:
    return {
        outcome: REGISTRY.get_sample_value("billow_webhook_deliveries_total", {"outcome": outcome}) or 0.0
        for outcome in OUTCOMES
    }


def test_attempts_counted_by_outcome(
    api: Api, app: FastAPI, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BILLOW_WEBHOOK_MAX_ATTEMPTS", "2")
    add_endpoint(api, receiver.url)
    before = counts()
    create_customer(api, "cus_ok")  # delivered at once
    receiver.status = 500
    create_customer(api, "cus_ko")  # first attempt fails: retrying
    deliver_due(app, after=timedelta(minutes=1))  # second and last attempt fails: failed
    after = counts()
    assert {outcome: after[outcome] - before[outcome] for outcome in OUTCOMES} == {
        "succeeded": 1,
        "retrying": 1,
        "failed": 1,
    }
