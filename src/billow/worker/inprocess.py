"""The in-process scheduler: runs every registered scan at its interval inside ``billow serve``, on a
background thread, calling the scan functions directly. The embedded (SQLite) mode's job engine.

Which mode ``billow serve`` uses comes from ``BILLOW_SCHEDULER`` (:func:`scheduler_mode`):

- ``auto`` (default): in-process on SQLite; on PostgreSQL in-process in exactly one server process of all
  those on the database, elected with an advisory lock (:mod:`billow.worker.leader`). Deployments that
  run ``billow worker`` set ``off`` on their servers.
- ``inprocess``: always in-process, in every server process (safe, since scans are idempotent, but
  redundant on PostgreSQL with several processes).
- ``off``: never (``billow worker`` on PostgreSQL, or an external ``billow bill`` cron).

Apps made by :func:`billow.app.create_app` (tests) never start it; ``billow serve`` builds its app
with :func:`billow.app.serve_app`, which does when the mode says so. The work that follows an API call
does not wait for a scan: it runs right after the call's commit (:mod:`billow.worker.dispatch`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI

from billow.config import current_settings
from billow.worker.scans import Scan, SessionFactory, load_all

log = logging.getLogger("billow.scheduler")

MODES = ("auto", "inprocess", "off")


def scheduler_plan(embedded: bool, value: str | None = None) -> str:
    """How ``billow serve`` runs the scans, from ``BILLOW_SCHEDULER`` (``auto``, ``inprocess``, ``off``):
    ``"inprocess"`` (this process), ``"leader"`` (this process when it is the elected leader) or
    ``"off"``."""
    mode = (value if value is not None else current_settings().scheduler).strip().lower()
    if mode not in MODES:
        raise ValueError(f"BILLOW_SCHEDULER must be one of {', '.join(MODES)}, not {mode!r}")
    if mode == "auto":
        return "inprocess" if embedded else "leader"
    return mode


def scheduler_mode(embedded: bool, value: str | None = None) -> bool:
    """Whether ``billow serve`` runs scans in-process (always, or when elected: :func:`scheduler_plan`)."""
    return scheduler_plan(embedded, value) != "off"


def run_scan(scan: Scan, session_factory: SessionFactory, now: datetime) -> Any:
    """Run one scan to the end in this thread; for a fan-out scan, every item (a failing item is logged
    and the others go on: the next run retries it). Returns the scan function's result."""
    found = scan.run(session_factory, now)
    if scan.each is None:
        return found
    for item in found:
        try:
            scan.each(session_factory, str(item), now)
        except Exception:
            log.exception("scan %s: item %s failed (retried at the next run)", scan.name, item)
    return found


class Scheduler:
    """Runs ``scans`` at their intervals on one daemon thread. Every scan runs at start (catching up
    whatever came due while nothing ran: the database is the source of truth), then every interval."""

    def __init__(
        self,
        session_factory: SessionFactory,
        scans: Iterable[Scan] | None = None,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.session_factory = session_factory
        self.scans = list(scans if scans is not None else load_all().values())
        self.clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next: dict[str, float] = {}
        #: Completed runs per scan name (tests and diagnostics).
        self.runs: dict[str, int] = {}

    def tick(self) -> float:
        """Run the scans that are due; return the seconds until the next one is."""
        for scan in self.scans:
            if self._stop.is_set():
                break
            if self._next.get(scan.name, 0.0) > time.monotonic():
                continue
            try:
                run_scan(scan, self.session_factory, self.clock())
            except Exception:
                log.exception("scan %s failed (retried at the next run)", scan.name)
            self.runs[scan.name] = self.runs.get(scan.name, 0) + 1
            self._next[scan.name] = time.monotonic() + scan.interval.total_seconds()
        if not self.scans:
            return 3600.0
        return max(0.0, min(self._next.get(s.name, 0.0) for s in self.scans) - time.monotonic())

    def start(self) -> Scheduler:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="billow-scheduler", daemon=True)
            self._thread.start()
            names = ", ".join(f"{s.name} every {s.interval.total_seconds():g}s" for s in self.scans)
            log.info("in-process scheduler started: %s", names or "no scans")
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the thread to stop and wait for the scan in progress (each one commits as it goes)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._stop.wait(self.tick())


def attach(app: FastAPI, scheduler: Scheduler | None = None) -> None:
    """Run a scheduler (by default: every registered scan on the app's database) for the app's
    lifetime: started in its lifespan, stopped at shutdown. Kept on ``app.state.scheduler``."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: Any) -> AsyncIterator[Any]:
        # The dispatcher's sessions: the scans' own work queues no after-commit task.
        running = (scheduler or Scheduler(app.state.dispatcher.session_factory)).start()
        app.state.scheduler = running
        try:
            async with inner(application) as state:
                yield state
        finally:
            running.stop()

    app.router.lifespan_context = lifespan
