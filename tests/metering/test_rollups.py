"""Usage rollups (:mod:`billow.metering.rollups`, PostgreSQL): the optimized path gives exactly what the
plain aggregation gives, whatever the history: random events across hour boundaries, late events,
filters, groups, unique-count additions and removals, windows cut inside hours, metric and charge
definitions changing between queries, several transactions, concurrent writers, updates and deletes."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from billow.config import get_settings
from billow.db import make_sessionmaker
from billow.metering import rollups
from billow.metering.aggregation import PLAIN, BucketAggregation, UsageSource, aggregate
from billow.metering.filters import ChargeFilterSpec
from billow.metering.sources import usage_source
from billow.models.billable_metrics import BillableMetric
from billow.models.metering import UsageRollupHour, UsageRollupState, UsageRollupValue, UsageTouch
from billow.models.organizations import Organization
from billow.subscriptions.dependencies import request_time
from tests.conftest import Api, _wipe
from tests.fixtures import factories as f
from tests.fixtures.worlds import UsageWorld as World

BASE = datetime(2023, 8, 1, tzinfo=UTC)


@pytest.fixture
def pg_engine(engine: Engine) -> Iterator[Engine]:
    if engine.dialect.name != "postgresql":
        pytest.skip("usage rollups are PostgreSQL only")
    yield engine
    _wipe(engine)


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    """Tests switch rollups off through the environment (:func:`rollups_off`): read it again after."""
    yield
    get_settings.cache_clear()


def rollups_off(monkeypatch: pytest.MonkeyPatch, off: bool = True) -> None:
    """``BILLOW_USAGE_ROLLUPS=0`` (or back to the default), as the process's settings."""
    if off:
        monkeypatch.setenv("BILLOW_USAGE_ROLLUPS", "0")
    else:
        monkeypatch.delenv("BILLOW_USAGE_ROLLUPS")
    get_settings.cache_clear()


# ------------------------------------------------------------------------------------------ helpers


@dataclass
class Definition:
    """What a charge asks of the aggregation (the parts a rollup's signature covers)."""

    kind: str
    field_name: str = "value"
    recurring: bool = False
    filters: Sequence[tuple[dict[str, tuple[str, ...]], tuple[str, ...]]] = ()
    keys: tuple[str, ...] = ()
    from_datetime: datetime = BASE
    to_datetime: datetime = BASE + timedelta(days=1)


@dataclass
class Harness:
    session: Session
    org: Organization
    code: str
    filter_ids: list[uuid.UUID] = field(default_factory=lambda: [uuid.uuid4() for _ in range(4)])

    def metric(self, definition: Definition) -> BillableMetric:
        return BillableMetric(
            organization_id=self.org.id,
            name=self.code,
            code=self.code,
            aggregation_type=definition.kind,
            field_name=None if definition.kind == "count_agg" else definition.field_name,
            recurring=definition.recurring,
        )

    def run(self, definition: Definition, source: UsageSource | None = None) -> list[BucketAggregation]:
        return aggregate(
            self.session,
            organization_id=self.org.id,
            external_subscription_id="sub_1",
            metric=self.metric(definition),
            from_datetime=definition.from_datetime,
            to_datetime=definition.to_datetime,
            filters=[
                ChargeFilterSpec(id=self.filter_ids[i], values=values, pricing_group_keys=keys)
                for i, (values, keys) in enumerate(definition.filters)
            ],
            pricing_group_keys=definition.keys,
            source=source or usage_source(self.session),
        )

    def compare(self, definition: Definition) -> list[BucketAggregation]:
        """Both paths; asserts they agree (and that the rollup path really answered)."""
        states_before = self.states()
        optimized = self.run(definition)
        assert self.states() >= max(states_before, 1), "the rollup path did not answer"
        plain = self.run(definition, PLAIN)
        assert_same(optimized, plain, definition.kind)
        return optimized

    def states(self) -> int:
        return (
            self.session.scalar(
                select(func.count())
                .select_from(UsageRollupState)
                .where(UsageRollupState.organization_id == self.org.id)
            )
            or 0
        )

    def event(self, timestamp: datetime, properties: dict[str, Any], **kw: Any) -> None:
        f.event(self.session, self.org, self.code, timestamp, properties, **kw)


def assert_same(optimized: list[BucketAggregation], plain: list[BucketAggregation], kind: str) -> None:
    assert optimized == plain
    if kind != "max_agg":
        # Same digits too (scale of sums): what the API prints. For max_agg, PostgreSQL's max() of equal
        # values written differently (5 and 5.0) depends on scan order even on the plain path.
        assert [repr(a) for a in optimized] == [repr(b) for b in plain]


# ---------------------------------------------------------------------------------- the property test

KINDS = ["count_agg", "sum_agg", "max_agg", "latest_agg", "unique_count_agg"]
VALUES = ["1", "2.50", "-3", "0.1", 7, 1.5, "x", None, "1e3", "10.000", 0, "-0", "12345678901234567890.123"]
UNIQUE_VALUES = ["u1", "u2", "u3", 1, "1", None]


def _instant(hour: int, second: int, micro: int) -> datetime:
    return BASE + timedelta(hours=hour, seconds=second, microseconds=micro)


instants = st.builds(
    _instant,
    st.integers(-3, 40),
    st.sampled_from([0, 1, 1799, 3599]) | st.integers(0, 3599),
    st.sampled_from([0, 999_999]),
)

#: A handful of fixed instants so that ties (same timestamp) are frequent.
tied_instants = st.sampled_from([_instant(2, 0, 0), _instant(2, 3599, 999_999), _instant(5, 1800, 0)])


@st.composite
def event_properties(draw: st.DrawFn) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for key, choices in (
        ("value", VALUES + UNIQUE_VALUES),
        ("amount", VALUES),
        ("region", ["us", "eu", "", None, 1]),
        ("cloud", ["aws", "gcp", None]),
        ("tier", ["a", "b", None]),
        ("operation_type", ["add", "remove", "remove", None]),
    ):
        if draw(st.booleans()):
            properties[key] = draw(st.sampled_from(choices))
    return properties


@st.composite
def new_event(draw: st.DrawFn) -> dict[str, Any]:
    timestamp = draw(instants | tied_instants)
    created_at = None
    if draw(st.integers(0, 5)) == 0:  # equal reception instants: the event id breaks the tie
        created_at = datetime(2020, 1, 1, tzinfo=UTC)
    return {"timestamp": timestamp, "properties": draw(event_properties()), "created_at": created_at}


filter_values = st.sampled_from(
    [
        {"region": ("us",)},
        {"region": ("us", "eu")},
        {"region": ("us",), "cloud": ("aws",)},
        {"cloud": ("gcp", "aws")},
        {"region": ("1",)},
    ]
)
group_keys = st.sampled_from([(), ("tier",), ("region",), ("tier", "cloud")])


@st.composite
def window(draw: st.DrawFn) -> tuple[datetime, datetime]:
    start = BASE + timedelta(hours=draw(st.integers(0, 4)), minutes=draw(st.sampled_from([0, 0, 17, 30])))
    end = start + timedelta(hours=draw(st.integers(1, 36)), minutes=draw(st.sampled_from([0, 0, 43])))
    return start, end


@st.composite
def definition(draw: st.DrawFn) -> Definition:
    kind = draw(st.sampled_from(KINDS))
    start, end = draw(window())
    return Definition(
        kind=kind,
        field_name=draw(st.sampled_from(["value", "value", "amount"])),
        recurring=kind in ("sum_agg", "unique_count_agg") and draw(st.booleans()),
        filters=draw(st.lists(st.tuples(filter_values, group_keys), max_size=3)),
        keys=draw(group_keys),
        from_datetime=start,
        to_datetime=end,
    )


#: ("events", [...]) inserts; ("query", i) queries with the i-th definition; ("commit",) ends the
#: transaction and opens another one.
steps = st.lists(
    st.one_of(
        st.tuples(st.just("events"), st.lists(new_event(), min_size=1, max_size=8)),
        st.tuples(st.just("query"), st.integers(0, 2)),
        st.tuples(st.just("commit")),
    ),
    min_size=1,
    max_size=14,
)


@settings(
    max_examples=int(os.environ.get("BILLOW_ROLLUP_EXAMPLES", "250")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    first=definition(),
    changes=st.lists(definition(), min_size=2, max_size=2),
    history=steps,
)
def test_rollups_equal_the_plain_aggregation(
    pg_engine: Engine, first: Definition, changes: list[Definition], history: list[Any]
) -> None:
    # Definitions 1 and 2 keep the first one's aggregation type half of the time (same metric code, new
    # field, filters, keys or window), or change it.
    definitions = [first] + [
        replace(change, kind=first.kind, recurring=first.recurring) if i == 0 else change
        for i, change in enumerate(changes)
    ]
    factory = make_sessionmaker(pg_engine)
    session = factory()
    try:
        org = f.organization(session, name="Rollups")
        harness = Harness(session, org, code="m")
        session.commit()
        for step in [*history, ("query", 0), ("commit",), ("query", 0), ("query", 1), ("query", 2)]:
            if step[0] == "events":
                for item in step[1]:
                    harness.event(item["timestamp"], item["properties"], created_at=item["created_at"])
            elif step[0] == "query":
                harness.compare(definitions[step[1]])
            else:
                session.commit()
                session.close()
                session = harness.session = factory()
    finally:
        session.rollback()
        session.close()


# ----------------------------------------------------------------------------------- specific behaviour


@pytest.fixture
def harness(pg_engine: Engine) -> Iterator[Harness]:
    with make_sessionmaker(pg_engine)() as session:
        org = f.organization(session)
        session.commit()
        yield Harness(session, org, code="m")


def test_late_event_in_a_rolled_up_hour(harness: Harness) -> None:
    sums = Definition("sum_agg", from_datetime=BASE, to_datetime=BASE + timedelta(days=2))
    for hour in range(10):
        harness.event(BASE + timedelta(hours=hour, minutes=5), {"value": "1.5"})
    harness.session.commit()
    assert harness.compare(sums)[0].units == Decimal("15.0")
    harness.event(BASE + timedelta(hours=3, minutes=59), {"value": "100"})  # late: an hour already stored
    harness.session.commit()
    assert harness.compare(sums)[0].units == Decimal("115.0")
    # the touched hour was recomputed, the others were kept
    assert harness.session.scalar(select(func.count()).select_from(UsageRollupHour)) == 10
    # the touches every state covers are gone
    assert harness.compare(sums)[0].units == Decimal("115.0")
    assert harness.session.scalar(select(func.count()).select_from(UsageTouch)) == 0


def test_window_bounds_inside_an_hour(harness: Harness) -> None:
    start, end = BASE + timedelta(minutes=30), BASE + timedelta(hours=2, minutes=15)
    for minute in (0, 29, 30, 31, 135, 136, 180):
        harness.event(BASE + timedelta(minutes=minute), {"value": "1"})
    harness.session.commit()
    counts = Definition("count_agg", from_datetime=start, to_datetime=end)
    assert harness.compare(counts)[0].units == 2  # minutes 30 and 31 (135 is the exclusive end)
    harness.event(start - timedelta(microseconds=1), {})
    harness.event(end, {})
    harness.event(end - timedelta(microseconds=1), {})
    harness.session.commit()
    assert harness.compare(counts)[0].units == 3


def test_definition_change_builds_a_new_state(harness: Harness) -> None:
    harness.event(BASE + timedelta(hours=1), {"value": "2", "amount": "5", "region": "us"})
    harness.event(BASE + timedelta(hours=2), {"value": "3", "amount": "7", "region": "eu"})
    harness.session.commit()
    by_value = Definition("sum_agg")
    assert harness.compare(by_value)[0].units == 5
    assert harness.compare(replace(by_value, field_name="amount"))[0].units == 12
    grouped = harness.compare(replace(by_value, keys=("region",)))
    assert [(r.grouped_by, r.units) for r in grouped] == [({"region": "eu"}, 3), ({"region": "us"}, 2)]
    filtered = harness.compare(replace(by_value, filters=[({"region": ("us",)}, ())]))
    assert [r.units for r in filtered] == [2, 3]
    assert harness.states() == 4


def test_unique_count_removal_then_readd(harness: Harness) -> None:
    users = Definition("unique_count_agg", from_datetime=BASE, to_datetime=BASE + timedelta(days=3))
    harness.event(BASE + timedelta(hours=1), {"value": "u1"})
    harness.event(BASE + timedelta(hours=1), {"value": "u2"})
    harness.session.commit()
    assert harness.compare(users)[0].units == 2
    harness.event(BASE + timedelta(hours=5), {"value": "u1", "operation_type": "remove"})
    harness.session.commit()
    assert harness.compare(users)[0].units == 1
    # late re-add, before the removal: the removal stays the latest operation
    harness.event(BASE + timedelta(hours=3), {"value": "u1"})
    harness.session.commit()
    assert harness.compare(users)[0].units == 1
    # a re-add at the removal's instant, received later: it wins (reception order)
    harness.event(BASE + timedelta(hours=5), {"value": "u1"})
    harness.session.commit()
    assert harness.compare(users)[0].units == 2


def test_updated_and_deleted_events(harness: Harness) -> None:
    for kind in ("unique_count_agg", "sum_agg", "latest_agg"):
        definition = Definition(kind, from_datetime=BASE, to_datetime=BASE + timedelta(days=3))
        harness.code = f"m_{kind}"
        harness.event(BASE + timedelta(hours=1), {"value": "1"})
        harness.event(BASE + timedelta(hours=2), {"value": "2"})
        harness.session.commit()
        harness.compare(definition)
        harness.session.execute(
            text('UPDATE events SET properties = \'{"value": "3"}\' WHERE code = :code AND timestamp = :ts'),
            {"code": harness.code, "ts": BASE + timedelta(hours=2)},
        )
        harness.session.commit()
        harness.compare(definition)
        harness.session.execute(
            text("DELETE FROM events WHERE code = :code AND timestamp = :ts"),
            {"code": harness.code, "ts": BASE + timedelta(hours=1)},
        )
        harness.session.commit()
        harness.compare(definition)


def test_events_of_the_same_transaction_after_a_query(harness: Harness) -> None:
    """The querying transaction's own later events are never taken as already rolled up."""
    counts = Definition("count_agg")
    harness.event(BASE + timedelta(hours=1), {})
    assert harness.compare(counts)[0].units == 1
    harness.event(BASE + timedelta(hours=1), {})
    assert harness.compare(counts)[0].units == 2
    harness.session.commit()
    harness.event(BASE + timedelta(hours=1), {})
    assert harness.compare(counts)[0].units == 3


def test_a_transaction_committed_after_the_refresh_snapshot(pg_engine: Engine, harness: Harness) -> None:
    """A late event written by a transaction still open when a refresh reads (so invisible to it), then
    committed, is picked up by the next refresh: commit order does not matter."""
    counts = Definition("count_agg", from_datetime=BASE, to_datetime=BASE + timedelta(days=2))
    harness.event(BASE + timedelta(hours=10), {})
    harness.session.commit()
    harness.compare(counts)
    harness.session.commit()

    writer = make_sessionmaker(pg_engine)()
    try:
        f.event(writer, harness.org, harness.code, BASE + timedelta(hours=1), {})  # late, not committed
        # a second writer, started later, commits first
        with make_sessionmaker(pg_engine).begin() as other:
            f.event(other, harness.org, harness.code, BASE + timedelta(hours=2), {})
        assert harness.compare(counts)[0].units == 2
        harness.session.commit()
        writer.commit()
    finally:
        writer.close()
    assert harness.compare(counts)[0].units == 3
    harness.session.commit()


def test_concurrent_refreshes_serialize(pg_engine: Engine, harness: Harness) -> None:
    counts = Definition("count_agg", from_datetime=BASE, to_datetime=BASE + timedelta(days=2))
    for hour in range(5):
        harness.event(BASE + timedelta(hours=hour), {})
    harness.session.commit()
    results: list[Decimal] = []
    errors: list[BaseException] = []

    def query() -> None:
        try:
            with make_sessionmaker(pg_engine).begin() as session:
                results.append(Harness(session, harness.org, harness.code).run(counts)[0].units)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=query) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert results == [5, 5, 5, 5]
    assert harness.states() == 1


def test_without_the_trigger_the_plain_path_answers(harness: Harness) -> None:
    engine = harness.session.get_bind().engine
    # Disabled in this transaction only (rolled back below); the check runs again on both sides.
    harness.session.execute(text("ALTER TABLE events DISABLE TRIGGER billow_usage_touch_insert"))
    rollups.recheck(engine)
    try:
        harness.event(BASE + timedelta(hours=1), {"value": "1"})
        assert harness.run(Definition("sum_agg"))[0].units == 1
        assert harness.states() == 0
    finally:
        harness.session.rollback()
        rollups.recheck(engine)
    assert rollups.installed(harness.session)


def test_environment_switch(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    rollups_off(monkeypatch)
    harness.event(BASE + timedelta(hours=1), {})
    assert harness.run(Definition("count_agg"))[0].units == 1
    assert harness.states() == 0


def test_prune(harness: Harness) -> None:
    session = harness.session
    harness.event(BASE + timedelta(hours=1), {})
    harness.event(BASE + timedelta(hours=1), {}, external_subscription_id="sub_never_asked")
    session.commit()
    harness.compare(Definition("count_agg"))
    session.commit()
    assert rollups.prune(session) == (0, 1)  # the touch of sub_never_asked; sub_1 has a state
    session.commit()
    session.execute(text("UPDATE usage_rollup_states SET used_at = now() - interval '3 days'"))
    session.commit()
    assert rollups.prune(session) == (1, 1)
    session.commit()
    assert session.scalar(select(func.count()).select_from(UsageRollupHour)) == 0
    assert session.scalar(select(func.count()).select_from(UsageRollupValue)) == 0
    assert harness.compare(Definition("count_agg"))[0].units == 1


def test_merge_intervals() -> None:
    hour = 3600
    lower = datetime.fromtimestamp(10 * hour + 60, UTC)
    upper = datetime.fromtimestamp(20 * hour + 1, UTC)
    touched = [5, 9, 10, 11, 13, 12, 15, 19, 20, 21, 40]
    assert rollups.merge_intervals(touched, lower, upper) == [(10, 14), (15, 16), (19, 21)]
    assert rollups.merge_intervals([0, 3], lower, upper) == []
    far = datetime.fromtimestamp(100_000 * hour, UTC)
    many = [i * 3 for i in range(300)] + [1000 * 3 + 1]  # 301 runs: the widest gap stays open
    merged = rollups.merge_intervals(many, None, far)
    assert len(merged) == rollups.MAX_INTERVALS
    assert merged[-1] == (3001, 3002)
    assert sum(end - start for start, end in merged) < 1000


# ------------------------------------------------------------------------------ through the ingestion API


@pytest.fixture
def world(app: FastAPI, api: Api) -> Iterator[World]:
    """The usage tests' catalog (:mod:`tests.fixtures.worlds`), read through the current usage endpoint."""
    yield World(app, api)
    app.dependency_overrides.pop(request_time, None)


def test_ingested_through_the_api(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Events written by the ingestion endpoints (batch and single, raw psycopg on PostgreSQL) reach the
    rollups through the trigger, late ones included."""
    if world.app.state.engine.dialect.name != "postgresql":
        pytest.skip("usage rollups are PostgreSQL only")
    calls = world.metric("count_agg", code="calls")
    storage = world.metric("sum_agg", code="storage", field_name="gb")
    users = world.metric("unique_count_agg", code="users", field_name="user")
    charge = world.charge(calls, "standard", {"amount": "1"})
    world.charge_filter(charge, {"region": ["us"]})
    world.charge(storage, "standard", {"amount": "1", "pricing_group_keys": ["region"]})
    world.charge(users, "standard", {"amount": "1"})
    epoch = int(datetime(2023, 8, 5, 10, tzinfo=UTC).timestamp())

    def batch(offset: int, count: int, seconds: int) -> None:
        events = []
        for i in range(count):
            n = offset + i
            events += [
                {
                    "transaction_id": f"c{n}",
                    "external_subscription_id": "sub_1",
                    "code": "calls",
                    "timestamp": epoch + seconds * i,
                    "properties": {"region": ["us", "eu"][n % 2]},
                },
                {
                    "transaction_id": f"s{n}",
                    "external_subscription_id": "sub_1",
                    "code": "storage",
                    "timestamp": epoch + seconds * i,
                    "properties": {"gb": f"{n}.25", "region": ["us", "eu"][n % 3 % 2]},
                },
                {
                    "transaction_id": f"u{n}",
                    "external_subscription_id": "sub_1",
                    "code": "users",
                    "timestamp": epoch + seconds * i,
                    "properties": {"user": f"u{n % 7}", "operation_type": "remove" if n % 5 == 0 else "add"},
                },
            ]
        response = world.api.post("/events/batch", json={"events": events})
        assert response.status_code == 200, response.text

    batch(0, 30, 600)
    first = world.body()
    rollups_off(monkeypatch)
    assert world.body() == first
    rollups_off(monkeypatch, off=False)
    batch(30, 10, -3600)  # late: hours before the first batch's
    response = world.api.post(
        "/events",
        json={
            "event": {
                "transaction_id": "single",
                "external_subscription_id": "sub_1",
                "code": "storage",
                "timestamp": epoch - 86_400,
                "properties": {"gb": "0.5", "region": "us"},
            }
        },
    )
    assert response.status_code == 200, response.text
    duplicate = world.api.post(
        "/events/batch",
        json={
            "events": [
                {
                    "transaction_id": "new",
                    "external_subscription_id": "sub_1",
                    "code": "calls",
                    "timestamp": epoch,
                },
                {
                    "transaction_id": "c1",
                    "external_subscription_id": "sub_1",
                    "code": "calls",
                    "timestamp": epoch,
                },
            ]
        },
    )
    assert duplicate.status_code == 422  # nothing stored, nothing touched
    second = world.body()
    assert second != first
    rollups_off(monkeypatch)
    assert world.body() == second
    with world.tx() as session:
        assert session.scalar(select(func.count()).select_from(UsageRollupState)) == 3


@pytest.mark.parametrize(
    "statement", ["SET TRANSACTION READ ONLY", "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"]
)
def test_other_transactions_use_the_plain_path(harness: Harness, statement: str) -> None:
    harness.event(BASE + timedelta(hours=1), {})
    harness.session.commit()
    harness.session.execute(text(statement))
    assert harness.run(Definition("count_agg"))[0].units == 1
    locks = harness.session.scalar(
        text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()")
    )
    harness.session.rollback()
    assert locks == 0
    assert harness.states() == 0
