"""Integration jobs' provider calls on ``/metrics`` (``billow_integration_jobs_total`` by provider,
operation and outcome)."""

from __future__ import annotations

from fastapi import FastAPI

from billow.kit.metrics import REGISTRY
from tests.conftest import Api
from tests.integrations.conftest import add_integration
from tests.integrations.providers import FakeProvider
from tests.integrations.test_jobs import job_list, paying_customer, run_due_later


def count(outcome: str) -> float:
    labels = {"provider": "testpay", "operation": "sync_customer", "outcome": outcome}
    return REGISTRY.get_sample_value("billow_integration_jobs_total", labels) or 0.0


def test_a_retried_then_succeeded_call_is_counted_twice(app: FastAPI, api: Api, fake: FakeProvider) -> None:
    add_integration(api, "testpay", "pay", fake)
    before = {outcome: count(outcome) for outcome in ("retrying", "succeeded", "failed")}
    fake.fail_next(1, status=500)
    paying_customer(api)
    run_due_later(app)
    [done] = job_list(api)
    assert done["status"] == "succeeded"
    moved = {outcome: count(outcome) - before[outcome] for outcome in before}
    assert moved == {"retrying": 1, "succeeded": 1, "failed": 0}
