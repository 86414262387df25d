"""Leader election of the in-process scheduler on PostgreSQL (:mod:`billow.worker.leader`): of two
schedulers on one database exactly one runs the scans; when the leader stops, or loses its connection,
the other takes over."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import psycopg
import pytest

from billow.db import make_engine, make_sessionmaker
from billow.worker.inprocess import Scheduler, scheduler_plan
from billow.worker.leader import LeaderScheduler
from billow.worker.scans import Scan, SessionFactory
from tests.conftest import ThrowawayDatabase


def _counting_scan(runs: dict[str, int], name: str) -> Scan:
    def run(session_factory: SessionFactory, now: datetime) -> None:
        runs[name] = runs.get(name, 0) + 1

    return Scan(f"count_{name}", timedelta(seconds=0.2), run)


def _until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@pytest.fixture
def pg_url(database: ThrowawayDatabase) -> str:
    if database.backend != "postgresql":
        pytest.skip("leader election is for PostgreSQL")
    return database.url


@pytest.fixture
def pair(pg_url: str) -> Iterator[tuple[dict[str, int], list[LeaderScheduler]]]:
    runs: dict[str, int] = {}
    engine = make_engine(pg_url)
    factory = make_sessionmaker(engine)
    schedulers = [
        LeaderScheduler(
            Scheduler(factory, [_counting_scan(runs, name)]),
            pg_url,
            retry_seconds=0.3,
            check_seconds=0.2,
            name=name,
        )
        for name in ("a", "b")
    ]
    try:
        yield runs, schedulers
    finally:
        for scheduler in schedulers:
            scheduler.stop()
        engine.dispose()


def test_one_leads_then_the_other_takes_over(pair: tuple[dict[str, int], list[LeaderScheduler]]) -> None:
    runs, (a, b) = pair
    a.start()
    assert a.wait_leading(10)
    b.start()
    assert _until(lambda: runs.get("a", 0) >= 3)
    time.sleep(1.0)  # b tried several times meanwhile
    assert not b.leading and "b" not in runs

    a.stop()
    assert not a.leading
    assert b.wait_leading(5)
    stopped_at = runs["a"]
    assert _until(lambda: runs.get("b", 0) >= 3)
    assert runs["a"] == stopped_at  # the old leader runs nothing any more
    assert (a.terms, b.terms) == (1, 1)


def test_a_leader_that_loses_its_connection_stops(
    pg_url: str, pair: tuple[dict[str, int], list[LeaderScheduler]]
) -> None:
    runs, (a, b) = pair
    a.start()
    assert a.wait_leading(10)
    b.start()
    pid = a.backend_pid()
    assert pid is not None
    from billow.worker.engine import conninfo

    with psycopg.connect(conninfo(pg_url, search_path=False), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    # The leader notices and stops its scans; PostgreSQL released the lock with the session, so the
    # follower takes over (the old leader backs off before trying again).
    assert _until(lambda: a.terms == 1 and not a.leading, 5)
    count = runs.get("a", 0)
    assert b.wait_leading(10)
    assert _until(lambda: runs.get("b", 0) >= 2)
    assert runs.get("a", 0) <= count + 1  # at most the scan in progress
    # Both keep running: one leader, never two.
    for _ in range(20):
        assert [a.leading, b.leading].count(True) == 1
        time.sleep(0.05)


class TestPlan:
    @pytest.mark.parametrize(
        ("value", "embedded", "expected"),
        [
            ("auto", True, "inprocess"),
            ("auto", False, "leader"),
            ("inprocess", False, "inprocess"),
            ("off", False, "off"),
        ],
    )
    def test_billow_scheduler(self, value: str, embedded: bool, expected: str) -> None:
        assert scheduler_plan(embedded, value) == expected
