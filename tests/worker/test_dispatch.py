"""The after-commit dispatch mechanism (:mod:`billow.worker.dispatch`): a task queued in a transaction
runs once it commits, never if it rolls back, once if queued twice; ``thread`` mode runs it off the
request thread in a bounded pool; failures never reach the committing code."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from billow.db import make_sessionmaker
from billow.worker.dispatch import Dispatcher, after_commit, bind, dispatch_mode, task
from billow.worker.scans import SessionFactory

RAN: list[tuple[str, str]] = []
GATE = threading.Event()


@task("tests.record")
def record(session_factory: SessionFactory, payload: str, now: datetime) -> None:
    with session_factory() as session:  # tasks get sessions of their own
        session.execute(text("SELECT 1"))
    RAN.append((threading.current_thread().name, payload))


@task("tests.gated")
def gated(session_factory: SessionFactory, payload: str, now: datetime) -> None:
    GATE.wait(10)
    RAN.append((threading.current_thread().name, payload))


@task("tests.fail")
def fail(session_factory: SessionFactory, payload: str, now: datetime) -> None:
    raise RuntimeError("boom")


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    RAN.clear()
    GATE.clear()
    yield
    GATE.set()


def _bound(engine: Engine, mode: str) -> tuple[sessionmaker[Session], Dispatcher]:
    dispatcher = Dispatcher(make_sessionmaker(engine), mode=mode)
    factory = make_sessionmaker(engine)
    bind(factory, dispatcher)
    return factory, dispatcher


def payloads() -> list[str]:
    return [payload for _, payload in RAN]


class TestAfterCommit:
    def test_runs_once_the_transaction_commits(self, engine: Engine, session: Session) -> None:
        factory, _ = _bound(engine, "sync")
        with factory() as request:
            with request.begin():
                request.execute(text("SELECT 1"))
                after_commit(request, "tests.record", "a")
                assert RAN == []  # not before the commit
            assert payloads() == ["a"]

    def test_rollback_drops_the_task(self, engine: Engine, session: Session) -> None:
        factory, _ = _bound(engine, "sync")
        with factory() as request:
            with pytest.raises(ValueError), request.begin():
                request.execute(text("SELECT 1"))
                after_commit(request, "tests.record", "a")
                raise ValueError("the request failed")
            # The next transaction of the same session does not inherit it.
            with request.begin():
                request.execute(text("SELECT 1"))
        assert RAN == []

    def test_explicit_rollback(self, engine: Engine, session: Session) -> None:
        factory, _ = _bound(engine, "sync")
        with factory() as request:
            request.execute(text("SELECT 1"))
            after_commit(request, "tests.record", "a")
            request.rollback()
            request.execute(text("SELECT 1"))
            after_commit(request, "tests.record", "b")
            request.commit()
        assert payloads() == ["b"]

    def test_same_task_and_payload_run_once(self, engine: Engine, session: Session) -> None:
        factory, _ = _bound(engine, "sync")
        with factory.begin() as request:
            request.execute(text("SELECT 1"))
            for payload in ("a", "b", "a", "a"):
                after_commit(request, "tests.record", payload)
        assert payloads() == ["a", "b"]

    def test_each_commit_runs_its_own_tasks(self, engine: Engine, session: Session) -> None:
        factory, _ = _bound(engine, "sync")
        with factory() as request:
            for payload in ("a", "a"):
                request.execute(text("SELECT 1"))
                after_commit(request, "tests.record", payload)
                request.commit()
        assert payloads() == ["a", "a"]

    def test_session_without_dispatcher_queues_nothing(self, engine: Engine, session: Session) -> None:
        with make_sessionmaker(engine).begin() as plain:
            plain.execute(text("SELECT 1"))
            after_commit(plain, "tests.record", "a")
        assert RAN == []

    def test_unknown_task(self, engine: Engine, session: Session) -> None:
        factory, _ = _bound(engine, "sync")
        with factory() as request, pytest.raises(KeyError):
            after_commit(request, "tests.nothing", "a")

    def test_failing_task_does_not_fail_the_commit(self, engine: Engine, session: Session) -> None:
        factory, dispatcher = _bound(engine, "sync")
        with factory.begin() as request:
            request.execute(text("SELECT 1"))
            after_commit(request, "tests.fail", "x")
            after_commit(request, "tests.record", "after")
        assert payloads() == ["after"]
        assert dispatcher.failures == {"tests.fail": 1}

    def test_off_runs_nothing(self, engine: Engine, session: Session) -> None:
        factory, dispatcher = _bound(engine, "off")
        with factory.begin() as request:
            request.execute(text("SELECT 1"))
            after_commit(request, "tests.record", "a")
        assert RAN == [] and dispatcher.runs == {}


class TestThreadMode:
    def test_runs_on_the_pool_not_the_committing_thread(self, engine: Engine, session: Session) -> None:
        factory, dispatcher = _bound(engine, "thread")
        try:
            with factory.begin() as request:
                request.execute(text("SELECT 1"))
                after_commit(request, "tests.record", "a")
            dispatcher.drain()
            assert len(RAN) == 1
            thread, payload = RAN[0]
            assert payload == "a" and thread.startswith("billow-dispatch")
        finally:
            dispatcher.shutdown()

    def test_work_already_waiting_is_not_queued_again(self, engine: Engine, session: Session) -> None:
        dispatcher = Dispatcher(make_sessionmaker(engine), mode="thread", threads=1)
        try:
            assert dispatcher.submit("tests.gated", "busy")  # occupies the only thread
            assert dispatcher.submit("tests.record", "a")
            assert not dispatcher.submit("tests.record", "a")  # waiting already
            assert dispatcher.submit("tests.record", "b")
            GATE.set()
            dispatcher.drain()
            assert sorted(payloads()) == ["a", "b", "busy"]
            # Once it ran, the same work can be queued again (new events may have come).
            assert dispatcher.submit("tests.record", "a")
            dispatcher.drain()
            assert sorted(payloads()) == ["a", "a", "b", "busy"]
        finally:
            GATE.set()
            dispatcher.shutdown()

    def test_bounded_queue_drops_beyond_its_limit(self, engine: Engine, session: Session) -> None:
        dispatcher = Dispatcher(make_sessionmaker(engine), mode="thread", threads=1, max_waiting=2)
        try:
            assert dispatcher.submit("tests.gated", "busy")
            # "busy" left the waiting set once its thread took it (or is about to): wait for that.
            for _ in range(100):
                if dispatcher.waiting() == 0:
                    break
                threading.Event().wait(0.01)
            assert dispatcher.submit("tests.record", "1") and dispatcher.submit("tests.record", "2")
            assert not dispatcher.submit("tests.record", "3")  # full: left to the scans
            GATE.set()
            dispatcher.drain()
            assert sorted(payloads()) == ["1", "2", "busy"]
        finally:
            GATE.set()
            dispatcher.shutdown()

    def test_shutdown_then_restart(self, engine: Engine, session: Session) -> None:
        dispatcher = Dispatcher(make_sessionmaker(engine), mode="thread")
        dispatcher.submit("tests.record", "a")
        dispatcher.shutdown(wait=True)
        dispatcher.submit("tests.record", "b")
        dispatcher.drain()
        dispatcher.shutdown()
        assert "b" in payloads()


def test_mode_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BILLOW_DISPATCH", raising=False)
    assert dispatch_mode() == "thread"
    monkeypatch.setenv("BILLOW_DISPATCH", "SYNC")
    assert dispatch_mode() == "sync"
    with pytest.raises(ValueError, match="BILLOW_DISPATCH"):
        dispatch_mode("later")


class TestMetrics:
    """``billow_tasks_{queued,succeeded,failed}_total`` per task name (:mod:`billow.kit.metrics`)."""

    @staticmethod
    def counts(name: str) -> tuple[float, float, float]:
        from billow.kit.metrics import REGISTRY

        return tuple(  # type: ignore[return-value]
            REGISTRY.get_sample_value(f"billow_tasks_{kind}_total", {"task": name}) or 0.0
            for kind in ("queued", "succeeded", "failed")
        )

    @pytest.mark.parametrize("mode", ["sync", "thread"])
    def test_queued_succeeded_and_failed_per_task(self, engine: Engine, session: Session, mode: str) -> None:
        before = {name: self.counts(name) for name in ("tests.record", "tests.fail")}
        factory, dispatcher = _bound(engine, mode)
        with factory.begin() as request:
            request.execute(text("SELECT 1"))
            after_commit(request, "tests.record", "a")
            after_commit(request, "tests.record", "b")
            after_commit(request, "tests.fail", "x")
        dispatcher.drain()
        dispatcher.shutdown()
        moved = {
            name: tuple(now - then for now, then in zip(self.counts(name), before[name], strict=True))
            for name in before
        }
        assert moved == {"tests.record": (2, 2, 0), "tests.fail": (1, 0, 1)}

    def test_off_queues_nothing(self, engine: Engine, session: Session) -> None:
        before = self.counts("tests.record")
        factory, _ = _bound(engine, "off")
        with factory.begin() as request:
            after_commit(request, "tests.record", "a")
        assert self.counts("tests.record") == before
