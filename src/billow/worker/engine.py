"""The job engine on PostgreSQL: procrastinate (decision record: docs/decisions/0003-job-engine.md).

- Every registered scan (:mod:`billow.worker.scans`) is a procrastinate periodic job of the task
  ``billow.scan`` (periodic id = scan name; cron from its interval, :func:`cron_for`). Procrastinate
  defers each tick once, whatever the number of workers (``procrastinate_periodic_defers``), and a
  queueing lock per scan keeps at most one waiting run per scan.
- A fan-out scan (billing) defers one ``billow.scan_item`` job per item it found (one per due
  subscription), with the queueing lock ``<scan>:<item>``: an item already waiting is not queued again,
  so repeated scans do not pile up jobs. Workers on any number of machines share those jobs.
- Jobs are idempotent (the scans are) and failed ones are retried (:data:`ITEM_RETRY`); a job left
  ``doing`` by a worker that died is retried by the ``billow.maintenance`` periodic job, which also
  deletes finished jobs after :data:`KEEP_FINISHED_HOURS`.
- Procrastinate's tables live in their own PostgreSQL schema, ``procrastinate`` (:data:`SCHEMA`),
  created by :func:`ensure_schema` (``billow migrate`` / ``billow serve`` / ``billow worker``), not by
  Alembic; so Alembic's comparison of the models with the ``public`` schema never sees them.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import psycopg
from procrastinate import App, JobContext, PsycopgConnector, RetryStrategy
from procrastinate import exceptions as procrastinate_exceptions
from procrastinate.jobs import Status
from procrastinate.schema import SchemaManager
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from billow.config import Settings
from billow.kit import metrics
from billow.worker.scans import Scan, item_key, load_all

log = logging.getLogger("billow.worker")

#: The PostgreSQL schema holding procrastinate's tables, types and functions.
SCHEMA = "procrastinate"
#: Queue of the periodic scan jobs and of the maintenance job.
SCANS_QUEUE = "scans"
#: Queue of the per-item jobs of fan-out scans (one per due subscription...).
ITEMS_QUEUE = "items"
#: A failed item job is retried after 2, 4, 8, 16 s, then left failed; the next scan queues it again.
ITEM_RETRY = RetryStrategy(max_attempts=5, exponential_wait=2)
#: A failed scan job is retried after 10 s, twice; the next tick runs it anyway.
SCAN_RETRY = RetryStrategy(max_attempts=3, wait=10)
#: Finished (succeeded) jobs are deleted after this many hours; failed ones are kept for inspection.
KEEP_FINISHED_HOURS = 72
#: A worker silent for this long is dead: its ``doing`` jobs are retried.
STALLED_AFTER_SECONDS = 60
#: When a worker starts, it defers a periodic job whose last tick is at most this old and was never
#: deferred (so a long outage is followed by one immediate catch-up run of every scan).
PERIODIC_MAX_DELAY = timedelta(days=7)


# ------------------------------------------------------------------------------------------ connection


def conninfo(database_url: str, *, search_path: bool = True) -> str:
    """libpq connection string for a Billow (SQLAlchemy) PostgreSQL URL; with ``search_path``, the
    sessions see procrastinate's schema first (procrastinate's SQL names its objects unqualified)."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        raise ValueError("the job engine needs PostgreSQL (BILLOW_DATABASE_URL=postgresql://...)")
    params: dict[str, Any] = {
        "host": url.host,
        "port": url.port,
        "dbname": url.database,
        "user": url.username,
        "password": url.password,
    }
    for key, value in url.query.items():
        params[key] = value if isinstance(value, str) else value[-1]
    if search_path:
        options = params.get("options") or ""
        params["options"] = f"{options} -c search_path={SCHEMA}".strip()
    return psycopg.conninfo.make_conninfo("", **{k: v for k, v in params.items() if v is not None})


# ------------------------------------------------------------------------------------------ schema

_VERSION_COMMENT = re.compile(r"procrastinate (\d+)\.(\d+)\.(\d+)")
_MIGRATION_NAME = re.compile(r"^(\d+)\.(\d+)\.(\d+)_(\d+)_.*\.sql$")


def installed_version() -> tuple[int, int, int]:
    major, minor, patch = (int(part) for part in importlib_metadata.version("procrastinate").split(".")[:3])
    return major, minor, patch


def ensure_schema(database_url: str) -> str:
    """Create procrastinate's schema if it is missing, or apply procrastinate's migrations up to the
    installed version. Idempotent and safe to run concurrently (an advisory lock serializes callers).
    Returns what was done: ``"created"``, ``"upgraded"`` or ``"current"``."""
    version = installed_version()
    with psycopg.connect(conninfo(database_url), autocommit=True) as connection, connection.transaction():
        connection.execute("SELECT pg_advisory_xact_lock(hashtext('billow job engine schema'))")
        connection.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        exists = connection.execute(
            "SELECT to_regclass(%s) IS NOT NULL", [f"{SCHEMA}.procrastinate_jobs"]
        ).fetchone()
        comment = connection.execute(
            "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = %s", [SCHEMA]
        ).fetchone()
        if exists is None or not exists[0]:
            connection.execute(SchemaManager.get_schema().encode())
            outcome = "created"
        else:
            match = _VERSION_COMMENT.search((comment and comment[0]) or "")
            applied = tuple(int(part) for part in match.groups()) if match else None
            if applied is None:
                raise RuntimeError(
                    f"the {SCHEMA} schema has procrastinate tables of an unknown version; apply "
                    "procrastinate's migrations up to the installed version by hand"
                )
            if applied >= version:
                return "current"
            for path in _migrations_between(applied, version):  # type: ignore[arg-type]
                log.info("applying procrastinate migration %s", path.name)
                connection.execute(path.read_bytes())
            outcome = "upgraded"
        label = "procrastinate {}.{}.{} (managed by billow migrate)".format(*version)
        connection.execute(f"COMMENT ON SCHEMA {SCHEMA} IS '{label}'".encode())
    return outcome


def _migrations_between(applied: tuple[int, int, int], version: tuple[int, int, int]) -> list[Path]:
    found = []
    for path in Path(SchemaManager.get_migrations_path()).glob("*.sql"):
        match = _MIGRATION_NAME.match(path.name)
        if match:
            key = tuple(int(part) for part in match.groups())
            if applied < key[:3] <= version:
                found.append((key, path))
    return [path for _, path in sorted(found)]


# ------------------------------------------------------------------------------------------ schedule


def cron_for(every: timedelta) -> str:
    """A cron line (procrastinate's, with an optional 6th field for seconds) running at least as often
    as ``every``: the longest period at most ``every`` among whole divisors of a minute, an hour, a day
    (a scan run more often than asked costs a query, never a double effect)."""
    seconds = max(1, int(every.total_seconds()))
    if seconds >= 86400:
        return "0 0 * * *"
    if seconds >= 3600:
        hours = max(h for h in (1, 2, 3, 4, 6, 8, 12) if h * 3600 <= seconds)
        return "0 * * * *" if hours == 1 else f"0 */{hours} * * *"
    if seconds >= 60:
        minutes = max(m for m in (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30) if m * 60 <= seconds)
        return "* * * * *" if minutes == 1 else f"*/{minutes} * * * *"
    step = max(s for s in (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30) if s <= seconds)
    return "* * * * * *" if step == 1 else f"* * * * * */{step}"


# ------------------------------------------------------------------------------------------ the app


@dataclass
class JobEngine:
    """A procrastinate app bound to one Billow database, with the sessions its tasks use."""

    app: App
    sessionmaker: sessionmaker[Session]
    scans: dict[str, Scan]

    def dispose(self) -> None:
        self.sessionmaker.kw["bind"].dispose()


def make_engine(
    database_url: str, *, scans: Iterable[Scan] | None = None, pool_size: int = 10, periodic: bool = True
) -> JobEngine:
    """The job engine for ``database_url``: tasks ``billow.scan``, ``billow.scan_item`` and
    ``billow.maintenance``, one periodic schedule per scan (default: every registered scan) and one
    for the maintenance (``periodic=False``: none, for tests that defer scans themselves)."""
    from billow.db import make_engine as make_db_engine
    from billow.db import make_sessionmaker

    registered = {s.name: s for s in (scans if scans is not None else load_all().values())}
    factory = make_sessionmaker(make_db_engine(database_url))
    app = App(
        connector=PsycopgConnector(conninfo=conninfo(database_url), min_size=1, max_size=pool_size),
        periodic_defaults={"max_delay": PERIODIC_MAX_DELAY.total_seconds()},
    )

    def lookup(name: str) -> Scan:
        try:
            return registered[name]
        except KeyError:
            raise procrastinate_exceptions.TaskNotFound(f"unknown scan {name!r}") from None

    @app.task(name="billow.scan_item", queue=ITEMS_QUEUE, retry=ITEM_RETRY)
    def scan_item(*, scan: str, item: str, now: str) -> Any:
        """One item of a fan-out scan, e.g. bill one subscription. Raises (so is retried) on failure."""
        definition = lookup(scan)
        assert definition.each is not None
        try:
            result = definition.each(factory, item, datetime.fromisoformat(now))
        except Exception:
            metrics.JOBS_FAILED.labels(scan).inc()
            raise
        metrics.JOBS_SUCCEEDED.labels(scan).inc()
        return result

    @app.task(name="billow.scan", queue=SCANS_QUEUE, retry=SCAN_RETRY)
    async def run_scan(*, scan: str, timestamp: int | None = None, now: str | None = None) -> Any:
        """Run a scan (``now``: the instant to scan at, default the current time; ``timestamp``: the
        periodic tick, informational). A fan-out scan defers one job per item it found."""
        definition = lookup(scan)
        instant = datetime.fromisoformat(now) if now else datetime.now(UTC)
        found = await asyncio.to_thread(definition.run, factory, instant)
        if definition.each is None:
            plain = found is None or isinstance(found, str | int | float | bool | list | dict | tuple)
            return found if plain else str(found)  # shown in procrastinate's log
        deferred = waiting = 0
        for item in found:
            key = item_key(item)
            try:
                await scan_item.configure(queueing_lock=f"{scan}:{key}").defer_async(
                    scan=scan, item=str(item), now=instant.isoformat()
                )
                deferred += 1
                metrics.JOBS_DEFERRED.labels(scan).inc()
            except procrastinate_exceptions.AlreadyEnqueued:
                waiting += 1  # the same item waits in the queue already
        log.info("scan %s at %s: %d job(s) deferred, %d already queued", scan, instant, deferred, waiting)
        return {"deferred": deferred, "already_queued": waiting}

    @app.task(name="billow.maintenance", queue=SCANS_QUEUE, pass_context=True)
    async def maintenance(context: JobContext, timestamp: int | None = None) -> dict[str, int]:
        """Retry the jobs of dead workers; delete succeeded jobs older than KEEP_FINISHED_HOURS."""
        manager = context.app.job_manager
        retried = 0
        for job in await manager.get_stalled_jobs(seconds_since_heartbeat=STALLED_AFTER_SECONDS):
            assert job.id is not None
            try:
                await manager.retry_job(job)
                retried += 1
            except Exception:  # an equivalent job is queued already (queueing lock): drop this one
                await manager.finish_job_by_id_async(job.id, status=Status.FAILED, delete_job=False)
        await manager.delete_old_jobs(nb_hours=KEEP_FINISHED_HOURS)
        return {"retried": retried}

    if not periodic:
        return JobEngine(app=app, sessionmaker=factory, scans=registered)
    app.periodic(cron="* * * * *", periodic_id="maintenance", queueing_lock="billow.maintenance")(maintenance)
    for definition in registered.values():
        app.periodic(
            cron=cron_for(definition.interval),
            periodic_id=definition.name,
            task_kwargs={"scan": definition.name},
            queueing_lock=f"billow.scan:{definition.name}",
            # procrastinate's stub wants the tick as a first positional parameter; it is passed by
            # keyword (``timestamp=``), which run_scan takes.
        )(run_scan)  # type: ignore[arg-type]

    return JobEngine(app=app, sessionmaker=factory, scans=registered)


async def run_worker(
    database_url: str,
    *,
    concurrency: int = 4,
    queues: list[str] | None = None,
    wait: bool = True,
    name: str | None = None,
    install_signal_handlers: bool = True,
) -> None:
    """Run a worker (and the periodic deferrer) until stopped; ``wait=False``: until the queues are empty."""
    engine = make_engine(database_url, pool_size=concurrency + 4)
    try:
        async with engine.app.open_async():
            await engine.app.run_worker_async(
                concurrency=concurrency,
                # WorkerOptions types these without None, but procrastinate's Worker takes None (all
                # queues; no name) and Billow's callers rely on it.
                queues=queues or None,  # type: ignore[arg-type]
                wait=wait,
                name=name,  # type: ignore[arg-type]
                install_signal_handlers=install_signal_handlers,
                stalled_worker_timeout=STALLED_AFTER_SECONDS,
            )
    finally:
        engine.dispose()


def serve_worker(
    database_url: str,
    concurrency: int,
    queues: list[str] | None,
    name: str | None,
    *,
    wait: bool,
    metrics_at: tuple[str, int] | None,
    settings: Settings,
) -> None:
    """``billow worker``: its log lines (``BILLOW_LOG_FORMAT``), its metrics server when asked (the
    process' :data:`billow.kit.metrics.REGISTRY` on ``http://host:port/metrics``), then the worker."""
    from billow.kit import logs

    level = getattr(logging, settings.log_level.upper(), logging.INFO)
    logs.configure(settings.resolved_log_format, logging.getLevelName(level), loggers=("",))
    # procrastinate logs every job at INFO: only from debug on.
    quiet = level if level <= logging.DEBUG else max(level, logging.WARNING)
    logging.getLogger("procrastinate").setLevel(quiet)
    server = None
    if metrics_at is not None:
        from prometheus_client import start_http_server

        server, _ = start_http_server(metrics_at[1], addr=metrics_at[0], registry=metrics.REGISTRY)
    try:
        asyncio.run(run_worker(database_url, concurrency=concurrency, queues=queues, name=name, wait=wait))
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
