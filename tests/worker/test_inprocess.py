"""The in-process scheduler of ``billow serve`` (embedded mode): scans run on a thread, no job engine."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from billow.app import create_app
from billow.billing import tasks as billing_tasks
from billow.config import Settings
from billow.metering import tasks as metering_tasks
from billow.worker.inprocess import Scheduler, attach, run_scan, scheduler_mode
from billow.worker.scans import SCANS, Scan
from tests.conftest import ThrowawayDatabase
from tests.worker.catalog import AS_OF, EXPECTED, backdated_subscription, invoice_totals

# These tests subscribe in the past and bill the periods since (off by default, as Lago).
pytestmark = pytest.mark.usefixtures("bill_backdated_periods")

assert billing_tasks.find_due_subscriptions and metering_tasks.prune_rollup_journal  # registered
BILLING = SCANS["billing"]
PRUNE = SCANS["usage_rollups_prune"]


class TestMode:
    @pytest.mark.parametrize(
        ("value", "embedded", "expected"),
        [
            ("auto", True, True),
            ("auto", False, True),  # on PostgreSQL, in the elected server (billow.worker.leader)
            ("inprocess", False, True),
            ("INPROCESS", True, True),
            ("off", True, False),
        ],
    )
    def test_billow_scheduler(self, value: str, embedded: bool, expected: bool) -> None:
        assert scheduler_mode(embedded, value) is expected

    def test_default_is_auto(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("BILLOW_SCHEDULER", raising=False)
        assert (scheduler_mode(True), scheduler_mode(False)) == (True, True)

    def test_unknown_value(self) -> None:
        with pytest.raises(ValueError, match="BILLOW_SCHEDULER"):
            scheduler_mode(True, "sometimes")

    def test_interval_override(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("BILLOW_SCAN_INTERVAL", "0.5")
        assert BILLING.interval == timedelta(seconds=0.5)
        monkeypatch.delenv("BILLOW_SCAN_INTERVAL")
        assert BILLING.interval == timedelta(minutes=1)


class TestScans:
    def test_billing_scan_bills_a_backdated_subscription(self, factory, session) -> None:
        backdated_subscription(session)
        found = run_scan(BILLING, factory, AS_OF)
        assert [str(item) for item in found] == [str(session.scalars(_subscription_ids()).one())]
        assert invoice_totals(factory) == EXPECTED
        run_scan(BILLING, factory, AS_OF)  # again: nothing new
        assert invoice_totals(factory) == EXPECTED

    def test_a_failing_item_does_not_stop_the_others(self, factory, session) -> None:
        backdated_subscription(session, "sub_1")
        backdated_subscription(session, "sub_2")
        failed: list[str] = []

        def each(session_factory, item, now):
            if not failed:
                failed.append(item)
                raise RuntimeError("boom")
            return BILLING.each(session_factory, item, now)

        def one_per_subscription(session_factory, now):
            return [str(item) for item in BILLING.run(session_factory, now)[0].payload.split(",")]

        run_scan(Scan("billing", BILLING.every, one_per_subscription, each), factory, AS_OF)
        assert invoice_totals(factory) == EXPECTED  # one subscription billed; the other at the next run
        run_scan(BILLING, factory, AS_OF)
        assert invoice_totals(factory) == sorted(EXPECTED * 2)

    def test_prune_is_a_no_op_on_sqlite_and_works_on_postgresql(self, factory, session) -> None:
        assert run_scan(PRUNE, factory, AS_OF) == (0, 0)


class TestScheduler:
    def test_runs_every_scan_at_start_then_at_its_interval(self, factory, session) -> None:
        backdated_subscription(session)
        calls: list[str] = []
        quick = Scan("quick", timedelta(seconds=0.05), lambda _f, _now: calls.append("quick"))
        scheduler = Scheduler(factory, [BILLING, quick], clock=lambda: AS_OF).start()
        try:
            _wait_for(lambda: len(calls) >= 3 and scheduler.runs.get("billing") == 1)
        finally:
            scheduler.stop()
        assert scheduler.runs["billing"] == 1  # every minute: only the start-up run so far
        assert invoice_totals(factory) == EXPECTED

    def test_a_failing_scan_is_logged_and_retried(self, factory, session) -> None:
        attempts: list[int] = []

        def flaky(_factory, _now):
            attempts.append(1)
            raise RuntimeError("database hiccup")

        scheduler = Scheduler(factory, [Scan("flaky", timedelta(seconds=0.05), flaky)]).start()
        try:
            _wait_for(lambda: len(attempts) >= 2)
        finally:
            scheduler.stop()


class TestServeApp:
    def test_create_app_starts_no_scheduler(self, database: ThrowawayDatabase, session) -> None:
        app = create_app(Settings(database_url=database.url))
        with TestClient(app):
            assert not hasattr(app.state, "scheduler")
        app.state.engine.dispose()

    def test_attached_scheduler_bills_without_billow_bill(
        self, database: ThrowawayDatabase, factory, session
    ) -> None:
        backdated_subscription(session)
        app = create_app(Settings(database_url=database.url))
        attach(app, Scheduler(app.state.sessionmaker, [BILLING], clock=lambda: AS_OF))
        with TestClient(app):
            _wait_for(lambda: app.state.scheduler.runs.get("billing") == 1)
            assert invoice_totals(factory) == EXPECTED
            assert app.state.scheduler.runs == {"billing": 1}  # next run in a minute
        assert app.state.scheduler._thread is None  # stopped with the app
        app.state.engine.dispose()
        assert invoice_totals(factory) == EXPECTED


def _subscription_ids():
    from sqlalchemy import select

    from billow.models.subscriptions import Subscription

    return select(Subscription.id)


def _wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
