"""Leader election for the in-process scheduler on PostgreSQL (``BILLOW_SCHEDULER=auto``): of all the
``billow serve`` processes on one database, exactly one runs the periodic scans.

The leader holds a session-level PostgreSQL advisory lock (:data:`LOCK_KEY`) on a dedicated connection
(autocommit, TCP keepalives). The others try to take it every :data:`RETRY_SECONDS`. The leader checks its
connection every :data:`CHECK_SECONDS`; when the connection is lost (the database restarted, the network
failed, an administrator terminated the session) it stops its scheduler — after the scan in progress,
which is idempotent like every scan — and becomes a follower; the lock is released with the lost session,
so a follower takes over within its retry interval.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from fastapi import FastAPI

from billow.config import current_settings
from billow.worker.inprocess import Scheduler

log = logging.getLogger("billow.scheduler")

#: The advisory lock of the scheduler's leader (any constant; advisory locks are per database).
LOCK_KEY = 0x62696C6C6F77  # "billow"
#: A follower tries to become the leader this often (``BILLOW_LEADER_RETRY``, seconds).
RETRY_SECONDS = 10.0
#: The leader checks its connection this often.
CHECK_SECONDS = 5.0


class LeaderScheduler:
    """Runs ``scheduler`` while this process holds the leader lock of ``database_url``."""

    def __init__(
        self,
        scheduler: Scheduler,
        database_url: str,
        *,
        retry_seconds: float | None = None,
        check_seconds: float = CHECK_SECONDS,
        name: str = "",
    ) -> None:
        from billow.worker.engine import conninfo

        self.scheduler = scheduler
        self.conninfo = conninfo(database_url, search_path=False)
        self.retry_seconds = retry_seconds or current_settings().leader_retry or RETRY_SECONDS
        self.check_seconds = check_seconds
        self.name = name or f"pid {os.getpid()}"
        self._connection: psycopg.Connection[Any] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._leading = threading.Event()
        #: How many times this process became the leader (tests, diagnostics).
        self.terms = 0

    @property
    def leading(self) -> bool:
        return self._leading.is_set()

    def backend_pid(self) -> int | None:
        """The PostgreSQL backend of the leader's connection (tests terminate it)."""
        connection = self._connection
        return connection.info.backend_pid if connection is not None and self.leading else None

    def start(self) -> LeaderScheduler:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="billow-leader", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop (the scan in progress ends first) and release the lock."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wait_leading(self, timeout: float) -> bool:
        return self._leading.wait(timeout)

    # ------------------------------------------------------------------------------------------ loop

    def _loop(self) -> None:
        announced_follower = False
        try:
            while not self._stop.is_set():
                if not self.leading:
                    if self._try_lead():
                        announced_follower = False
                        continue
                    if not announced_follower:
                        log.info(
                            "scheduler (%s): another server runs the background scans; retrying every %gs",
                            self.name,
                            self.retry_seconds,
                        )
                        announced_follower = True
                    self._stop.wait(self.retry_seconds)
                    continue
                self._stop.wait(self.check_seconds)
                if not self._stop.is_set() and not self._alive():
                    log.warning(
                        "scheduler (%s): lost the leader connection; background scans stopped here", self.name
                    )
                    self._step_down()
                    # Back off: a follower with a working connection should take over first.
                    self._stop.wait(2 * self.retry_seconds)
        finally:
            self._step_down()

    def _try_lead(self) -> bool:
        try:
            connection = psycopg.connect(
                self.conninfo,
                autocommit=True,
                keepalives=1,
                keepalives_idle=10,
                keepalives_interval=5,
                keepalives_count=3,
                connect_timeout=10,
                application_name="billow scheduler",
            )
        except psycopg.Error as error:
            log.warning("scheduler (%s): cannot connect to elect a leader: %s", self.name, error)
            return False
        try:
            row = connection.execute("SELECT pg_try_advisory_lock(%s)", [LOCK_KEY]).fetchone()
        except psycopg.Error:
            connection.close()
            return False
        if not row or not row[0]:
            connection.close()
            return False
        self._connection = connection
        self.terms += 1
        self._leading.set()
        log.info("scheduler (%s): this server leads; it runs the background scans", self.name)
        self.scheduler.start()
        return True

    def _alive(self) -> bool:
        connection = self._connection
        if connection is None or connection.closed:
            return False
        try:
            connection.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False

    def _step_down(self) -> None:
        if self._leading.is_set():
            self.scheduler.stop()
            self._leading.clear()
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(psycopg.Error):
                connection.close()  # the session ends: PostgreSQL releases the lock


def attach_leader(app: FastAPI, database_url: str) -> None:
    """Run the in-process scheduler under leader election for the app's lifetime."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: Any) -> AsyncIterator[Any]:
        from billow.db import make_engine, make_sessionmaker

        engine = make_engine(database_url)
        leader = LeaderScheduler(Scheduler(make_sessionmaker(engine)), database_url).start()
        app.state.scheduler = leader
        try:
            async with inner(application) as state:
                yield state
        finally:
            leader.stop()
            engine.dispose()

    app.router.lifespan_context = lifespan
