"""Subscription alerts evaluated on usage (:mod:`billow.billing.usage_alerts`): the values, the crossings,
once per threshold per billing period, after an ingestion (never inline) and by the scan."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session

from billow.alerts.evaluation import ALERT_TRIGGERED
from billow.billing import usage_alerts
from billow.billing.immediate import EVALUATE_ALERTS, Coalescer
from billow.billing.progressive import set_historical_usage
from billow.billing.usage_alerts import evaluate_all, evaluate_subscriptions
from billow.models.alerts import Alert, TriggeredAlert
from billow.models.billable_metrics import BillableMetric
from billow.models.subscriptions import Subscription
from billow.subscriptions.dependencies import request_time
from billow.worker.dispatch import HOOKS
from tests.alerts.test_wallet_api import ok
from tests.conftest import Api
from tests.fixtures import factories as f
from tests.fixtures.worlds import World

ALERTS = "/subscriptions/sub_1/alerts"
AUG_10 = datetime(2023, 8, 10, 12, tzinfo=UTC)
AUG_20 = datetime(2023, 8, 20, 12, tzinfo=UTC)
SEP_10 = datetime(2023, 9, 10, 12, tzinfo=UTC)

USAGE_ALERT = {
    "alert_type": "current_usage_amount",
    "code": "usage",
    "thresholds": [
        {"code": "warn", "value": 1000},
        {"code": "high", "value": 5000},
        {"code": "every", "value": 2000, "recurring": True},
    ],
}


@pytest.fixture
def world(app: FastAPI, api: Api) -> Iterator[World]:
    yield World(app, api)
    app.dependency_overrides.pop(request_time, None)


def api_metric(world: World) -> BillableMetric:
    """``api``: sum of ``value``, 1.00 USD a unit (100 cents)."""
    metric = world.metric("sum_agg", code="api", field_name="value")
    world.charge(metric, "standard", {"amount": "1"})
    return metric


def evaluate(world: World, now: datetime, *external_ids: str) -> int:
    triggered, failed = evaluate_subscriptions(
        world.app.state.sessionmaker, world.org.id, list(external_ids or ["sub_1"]), now
    )
    assert failed == []
    return triggered


def triggered_rows(world: World) -> list[TriggeredAlert]:
    with world.app.state.sessionmaker() as session:
        return list(
            session.scalars(
                select(TriggeredAlert)
                .where(TriggeredAlert.organization_id == world.org.id)
                .order_by(TriggeredAlert.triggered_at, TriggeredAlert.created_at)
            )
        )


def crossed(row: TriggeredAlert) -> list[tuple[str | None, str, bool]]:
    return [(t["code"], t["value"], t["recurring"]) for t in row.crossed_thresholds]


def alert_row(world: World, code: str) -> Alert:
    with world.app.state.sessionmaker() as session:
        return session.scalars(
            select(Alert).where(Alert.organization_id == world.org.id, Alert.code == code)
        ).one()


class TestCurrentUsageAmount:
    def test_thresholds_and_the_recurring_step(self, world: World) -> None:
        metric = api_metric(world)
        ok(world.api.post(ALERTS, {"alert": USAGE_ALERT}))
        # 12 units x 100 = 1200 cents: 0 -> 1200 crosses 1000 (5000 and the first step 5000 + 2000 are above).
        world.events(metric, {"value": 12})
        assert evaluate(world, AUG_10) == 1
        # +42 units: 1200 -> 5400 crosses 5000; the first recurring value, 7000, is still above.
        world.events(metric, {"value": 42})
        assert evaluate(world, AUG_10) == 1
        # +42 units: 5400 -> 9600: no one-time threshold left above 5400; the step repeats above the
        # highest one (5000): 7000 and 9000 are in (5400, 9600], 11000 is not.
        world.events(metric, {"value": 42})
        assert evaluate(world, AUG_10) == 1
        rows = triggered_rows(world)
        assert [(r.previous_value, r.current_value) for r in rows] == [
            (Decimal(0), Decimal(1200)),
            (Decimal(1200), Decimal(5400)),
            (Decimal(5400), Decimal(9600)),
        ]
        assert [crossed(r) for r in rows] == [
            [("warn", "1000.0", False)],
            [("high", "5000.0", False)],
            [("every", "7000.0", True), ("every", "9000.0", True)],
        ]
        assert {r.subscription_id for r in rows} == {world.subscription.id}
        assert {r.wallet_id for r in rows} == {None}
        alert = alert_row(world, "usage")
        assert (alert.previous_value, alert.last_processed_at) == (Decimal(9600), AUG_10)

    def test_taxes_are_left_out(self, world: World) -> None:
        metric = api_metric(world)
        with world.tx() as session:
            f.tax(session, world.org, "vat", "20", default=True)
        ok(world.api.post(ALERTS, {"alert": {**USAGE_ALERT, "thresholds": [{"value": 1100}]}}))
        # 10 units = 1000 cents (1200 with 20 % VAT): 1100 is not reached without taxes, as Lago.
        world.events(metric, {"value": 10})
        assert evaluate(world, AUG_10) == 0
        assert alert_row(world, "usage").previous_value == Decimal(1000)

    def test_once_per_threshold_per_period_then_again_in_the_next(self, world: World) -> None:
        metric = api_metric(world)
        ok(world.api.post(ALERTS, {"alert": USAGE_ALERT}))
        world.events(metric, {"value": 12})  # 1200 cents in August
        assert evaluate(world, AUG_10) == 1
        # Evaluated again in August: the usage did not grow past anything new.
        assert evaluate(world, AUG_20) == 0
        world.events(metric, {"value": 1})  # 1300: nothing between 1200 and 1300
        assert evaluate(world, AUG_20) == 0
        # September: the charges period starts again. The alert was last evaluated in August (at 1300),
        # so the crossing starts from 0: 12 units on Sept 5 = 1200 crosses 1000 again.
        world.events(metric, {"value": 12}, at="2023-09-05T10:00:00")
        assert evaluate(world, SEP_10) == 1
        rows = triggered_rows(world)
        assert [(r.previous_value, r.current_value, crossed(r)) for r in rows] == [
            (Decimal(0), Decimal(1200), [("warn", "1000.0", False)]),
            (Decimal(0), Decimal(1200), [("warn", "1000.0", False)]),
        ]
        # Within September, once.
        assert evaluate(world, SEP_10) == 0

    def test_the_first_evaluation_of_a_period_reports_what_it_already_passed(self, world: World) -> None:
        metric = api_metric(world)
        ok(world.api.post(ALERTS, {"alert": USAGE_ALERT}))
        world.events(metric, {"value": 96})  # August: 9600
        assert evaluate(world, AUG_10) == 1
        # September's usage already at 5400 when first evaluated: from 0, 1000 and 5000 (Lago compares
        # with August's 9600 and reports nothing).
        world.events(metric, {"value": 54}, at="2023-09-02T10:00:00")
        assert evaluate(world, SEP_10) == 1
        assert crossed(triggered_rows(world)[-1]) == [("warn", "1000.0", False), ("high", "5000.0", False)]

    def test_an_event_with_a_past_timestamp_counts_the_same(self, world: World) -> None:
        metric = api_metric(world)
        ok(world.api.post(ALERTS, {"alert": USAGE_ALERT}))
        assert evaluate(world, AUG_20) == 0
        world.events(metric, {"value": 12}, at="2023-08-01T00:00:00")  # the period's first instant
        assert evaluate(world, AUG_20) == 1


class TestBillableMetricAlerts:
    def test_units_and_amount_of_a_metric_with_a_filter(self, world: World) -> None:
        storage = world.metric("sum_agg", code="storage", field_name="gb", filters={"region": ["eu", "us"]})
        charge = world.charge(storage, "standard", {"amount": "1"})
        world.charge_filter(charge, {"region": ["eu"]}, properties={"amount": "2"})
        api_metric(world)  # another metric's usage counts for neither alert
        units = {
            "alert_type": "billable_metric_current_usage_units",
            "code": "units",
            "billable_metric_code": "storage",
            "thresholds": [{"value": 10}],
        }
        amount = {
            "alert_type": "billable_metric_current_usage_amount",
            "code": "amount",
            "billable_metric_code": "storage",
            "thresholds": [{"value": 2000}],
        }
        ok(world.api.post(ALERTS, {"alert": units}))
        ok(world.api.post(ALERTS, {"alert": amount}))
        with world.tx() as session:
            f.event(session, world.org, "api", "2023-08-05T10:00:00", {"value": 50})
        # eu 4 GB (filter, 2.00) + us 3 GB (default, 1.00): 7 units, 4 x 200 + 3 x 100 = 1100 cents.
        world.events(storage, {"gb": 4, "region": "eu"}, {"gb": 3, "region": "us"})
        assert evaluate(world, AUG_10) == 0
        assert (alert_row(world, "units").previous_value, alert_row(world, "amount").previous_value) == (
            Decimal(7),
            Decimal(1100),
        )
        # eu +5 GB: 12 units (crosses 10; the eu bucket alone, 9, would not), 9 x 200 + 300 = 2100 cents
        # (crosses 2000).
        world.events(storage, {"gb": 5, "region": "eu"})
        assert evaluate(world, AUG_10) == 2
        rows = {alert_row(world, c).id: c for c in ("units", "amount")}
        got = {rows[r.alert_id]: (r.previous_value, r.current_value) for r in triggered_rows(world)}
        assert got == {"units": (Decimal(7), Decimal(12)), "amount": (Decimal(1100), Decimal(2100))}

    def test_a_metric_without_charge_is_only_marked_processed(self, world: World) -> None:
        api_metric(world)
        world.metric("sum_agg", code="storage", field_name="gb")  # no charge on the plan
        body = {
            "alert_type": "billable_metric_current_usage_units",
            "code": "units",
            "billable_metric_code": "storage",
            "thresholds": [{"value": 1}],
        }
        ok(world.api.post(ALERTS, {"alert": body}))
        assert evaluate(world, AUG_10) == 0
        alert = alert_row(world, "units")
        assert (alert.previous_value, alert.last_processed_at) == (Decimal(0), AUG_10)

    def test_a_recurring_metric_is_not_rearmed_by_a_new_period(self, world: World) -> None:
        seats = world.metric("sum_agg", code="seats", field_name="value", recurring=True)
        world.charge(seats, "standard", {"amount": "1"})
        body = {
            "alert_type": "billable_metric_current_usage_units",
            "code": "seats",
            "billable_metric_code": "seats",
            "thresholds": [{"value": 10}],
        }
        ok(world.api.post(ALERTS, {"alert": body}))
        world.events(seats, {"value": 12})  # 12 seats in August: crosses 10
        assert evaluate(world, AUG_10) == 1
        # September: a recurring metric carries its 12 seats over; its alert keeps its previous value
        # (12), so nothing is reported again (from 0 it would cross 10 a second time).
        assert evaluate(world, SEP_10) == 0
        alert = alert_row(world, "seats")
        assert (alert.previous_value, alert.last_processed_at) == (Decimal(12), SEP_10)


class TestLifetimeUsage:
    def test_lifetime_usage_is_not_rearmed_by_a_new_period(self, world: World) -> None:
        metric = api_metric(world)
        body = {"alert_type": "lifetime_usage_amount", "code": "life", "thresholds": [{"value": 1500}]}
        ok(world.api.post(ALERTS, {"alert": body}))
        with world.tx() as session:
            subscription = session.get(Subscription, world.subscription.id)
            assert subscription is not None
            set_historical_usage(session, subscription, 1000)
        # Lifetime = 1000 historical + 0 invoiced + 600 current (6 units) = 1600: crosses 1500.
        world.events(metric, {"value": 6})
        assert evaluate(world, AUG_10) == 1
        [row] = triggered_rows(world)
        assert (row.previous_value, row.current_value) == (Decimal(0), Decimal(1600))
        # September (August never invoiced here): 1000 + 600 of September = 1600 again. The lifetime type
        # keeps its previous value across periods: nothing (from 0 it would cross 1500 again).
        world.events(metric, {"value": 6}, at="2023-09-05T10:00:00")
        assert evaluate(world, SEP_10) == 0
        assert alert_row(world, "life").last_processed_at == SEP_10


def test_two_evaluations_at_once_report_a_crossing_once(world: World) -> None:
    """The second evaluation waits for the first one's alert locks, then measures after its commit."""
    metric = api_metric(world)
    ok(world.api.post(ALERTS, {"alert": USAGE_ALERT}))
    world.events(metric, {"value": 12})  # 1200 cents
    results: list[int] = []
    with world.app.state.sessionmaker() as session, session.begin():
        assert usage_alerts.evaluate_subscription(session, world.org.id, "sub_1", AUG_10) == 1
        other = threading.Thread(target=lambda: results.append(evaluate(world, AUG_20)))
        other.start()
        other.join(timeout=0.5)
        assert other.is_alive()  # waiting for the locks
    other.join(timeout=30)
    assert results == [0]
    assert len(triggered_rows(world)) == 1
    assert alert_row(world, "usage").last_processed_at == AUG_20


def test_a_terminated_subscription_evaluates_nothing(world: World) -> None:
    metric = api_metric(world)
    ok(world.api.post(ALERTS, {"alert": USAGE_ALERT}))
    world.events(metric, {"value": 12})
    with world.tx() as session:
        subscription = session.get(Subscription, world.subscription.id)
        assert subscription is not None
        subscription.status = "terminated"
        subscription.terminated_at = AUG_10
    assert evaluate(world, AUG_20) == 0
    assert evaluate_all(world.app.state.sessionmaker, AUG_20) == 0
    assert triggered_rows(world) == []
    assert alert_row(world, "usage").last_processed_at is None


def test_each_triggered_alert_is_announced_with_its_subscription(world: World) -> None:
    metric = api_metric(world)
    ok(world.api.post(ALERTS, {"alert": USAGE_ALERT}))
    seen: list[tuple[str, str, str]] = []

    def record(session: Session, *, triggered_alert: TriggeredAlert, alert: Alert, **target: Any) -> None:
        assert list(target) == ["subscription"]
        seen.append(
            (alert.code, target["subscription"].external_id, triggered_alert.crossed_thresholds[0]["value"])
        )

    HOOKS.setdefault(ALERT_TRIGGERED, []).append(record)
    try:
        world.events(metric, {"value": 12})
        evaluate(world, AUG_10)
    finally:
        HOOKS[ALERT_TRIGGERED].remove(record)
    assert seen == [("usage", "sub_1", "1000.0")]


def test_tenancy(app: FastAPI, api: Api, other_api: Api) -> None:
    """Another organization's subscription and alert under the same external id see only their usage."""
    mine = World(app, api)
    theirs = World(app, other_api)
    try:
        metric = api_metric(mine)
        api_metric(theirs)
        ok(mine.api.post(ALERTS, {"alert": USAGE_ALERT}))
        ok(theirs.api.post(ALERTS, {"alert": USAGE_ALERT}))
        mine.events(metric, {"value": 12})
        assert evaluate_all(app.state.sessionmaker, AUG_10) == 1
        assert len(triggered_rows(mine)) == 1
        assert triggered_rows(theirs) == []
        assert alert_row(theirs, "usage").previous_value == Decimal(0)
        # Evaluating "sub_1" for the other organization reads its own (empty) usage.
        assert evaluate(theirs, AUG_20) == 0
        assert alert_row(mine, "usage").previous_value == Decimal(1200)
    finally:
        app.dependency_overrides.pop(request_time, None)


# ------------------------------------------------------------------------------------------ ingestion


def live_world(app: FastAPI, api: Api) -> World:
    """sub_1 and sub_2 on the ``api`` metric, seen at the real time (the dispatcher's clock)."""
    world = World(app, api)
    app.dependency_overrides.pop(request_time, None)
    api_metric(world)
    with world.tx() as session:
        f.subscription(session, world.org, world.customer, world.plan, "sub_2")
        f.subscription(session, world.org, world.customer, world.plan, "sub_3")
    return world


def event(transaction_id: str, external_id: str, value: int) -> dict[str, Any]:
    now = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return {
        "transaction_id": transaction_id,
        "code": "api",
        "external_subscription_id": external_id,
        "timestamp": now,
        "properties": {"value": value},
    }


def runs(app: FastAPI) -> int:
    return int(app.state.dispatcher.runs.get(EVALUATE_ALERTS, 0))


class TestAfterIngestion:
    def test_single_and_batch_events(self, app: FastAPI, api: Api) -> None:
        world = live_world(app, api)
        ok(api.post(ALERTS, {"alert": USAGE_ALERT}))
        # The test app runs the task right after the commit: 12 units = 1200 cents crosses 1000.
        ok(api.post("/events", {"event": event("e1", "sub_1", 12)}))
        assert [crossed(r) for r in triggered_rows(world)] == [[("warn", "1000.0", False)]]
        # +42 in a batch: 5400 crosses 5000.
        ok(api.post("/events/batch", {"events": [event("e2", "sub_1", 40), event("e3", "sub_1", 2)]}))
        assert [crossed(r) for r in triggered_rows(world)][-1] == [("high", "5000.0", False)]

    def test_a_new_alert_is_seen_by_the_next_ingestion(self, app: FastAPI, api: Api) -> None:
        world = live_world(app, api)
        before = runs(app)
        ok(api.post("/events", {"event": event("e1", "sub_1", 5)}))  # hints loaded: no alert yet
        assert runs(app) == before
        ok(api.post(ALERTS, {"alert": USAGE_ALERT}))  # its commit drops the organization's hints
        ok(api.post("/events", {"event": event("e2", "sub_1", 7)}))
        # 5 + 7 = 12 units = 1200 cents: crosses 1000.
        assert runs(app) == before + 1
        assert [(r.current_value, crossed(r)) for r in triggered_rows(world)] == [
            (Decimal(1200), [("warn", "1000.0", False)])
        ]

    def test_one_evaluation_per_subscription_per_batch(
        self, app: FastAPI, api: Api, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        live_world(app, api)
        ok(api.post(ALERTS, {"alert": USAGE_ALERT}))
        ok(api.post("/subscriptions/sub_2/alerts", {"alert": USAGE_ALERT}))
        evaluated: list[str] = []
        original = usage_alerts.evaluate_subscription

        def spy(session: Session, organization_id: uuid.UUID, external_id: str, now: datetime) -> int:
            evaluated.append(external_id)
            return original(session, organization_id, external_id, now)

        monkeypatch.setattr(usage_alerts, "evaluate_subscription", spy)
        before = runs(app)
        events = [event(f"b{i}", f"sub_{1 + i % 3}", 1) for i in range(9)]  # sub_1, sub_2, sub_3 three times
        ok(api.post("/events/batch", {"events": events}))
        # One task; each watched subscription once; sub_3 (no alert) costs nothing.
        assert (runs(app) - before, evaluated) == (1, ["sub_1", "sub_2"])
        # A subscription without alert queues nothing.
        ok(api.post("/events", {"event": event("s3", "sub_3", 1)}))
        assert (runs(app) - before, evaluated) == (1, ["sub_1", "sub_2"])

    def test_the_scan_catches_up_when_the_task_was_dropped(
        self, app: FastAPI, api: Api, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        world = live_world(app, api)
        ok(api.post(ALERTS, {"alert": USAGE_ALERT}))
        monkeypatch.setattr(app.state.dispatcher, "mode", "off")  # the queue dropped the task
        ok(api.post("/events", {"event": event("e1", "sub_1", 12)}))
        assert triggered_rows(world) == []
        assert evaluate_all(app.state.sessionmaker, datetime.now(UTC)) == 1
        assert [crossed(r) for r in triggered_rows(world)] == [[("warn", "1000.0", False)]]


class FakeDispatcher:
    mode = "thread"

    def __init__(self) -> None:
        self.submitted: list[tuple[str, str]] = []

    def submit(self, name: str, payload: str) -> bool:
        self.submitted.append((name, payload))
        return True


def test_a_stream_of_events_is_evaluated_once_per_window() -> None:
    """Outside tests, the evaluations are collected for a window (per process), then one task runs."""
    coalescer = Coalescer(timedelta(seconds=0.2))
    dispatcher = FakeDispatcher()
    org, other = uuid.UUID(int=1), uuid.UUID(int=2)
    coalescer.add(dispatcher, EVALUATE_ALERTS, org, ["sub_2"])  # type: ignore[arg-type]
    coalescer.add(dispatcher, EVALUATE_ALERTS, org, ["sub_1", "sub_2"])  # type: ignore[arg-type]
    coalescer.add(dispatcher, EVALUATE_ALERTS, other, ["sub_1"])  # type: ignore[arg-type]
    assert dispatcher.submitted == []  # nothing before the window ends
    deadline = time.monotonic() + 10
    while len(dispatcher.submitted) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sorted(dispatcher.submitted) == [
        (EVALUATE_ALERTS, f"{org}|sub_1,sub_2"),
        (EVALUATE_ALERTS, f"{other}|sub_1"),
    ]
    # The next event opens a new window.
    coalescer.add(dispatcher, EVALUATE_ALERTS, org, ["sub_1"])  # type: ignore[arg-type]
    coalescer.flush()
    assert dispatcher.submitted[-1] == (EVALUATE_ALERTS, f"{org}|sub_1")


def test_the_task_and_the_scan_are_registered() -> None:
    from billow.worker import dispatch, scans

    assert EVALUATE_ALERTS in dispatch.load_all()
    assert "alerts.evaluate_usage" in scans.load_all()


def test_the_window_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BILLOW_ALERTS_WINDOW", "2.5")
    assert Coalescer().window == timedelta(seconds=2.5)
    monkeypatch.delenv("BILLOW_ALERTS_WINDOW")
    assert Coalescer().window == timedelta(seconds=10)
