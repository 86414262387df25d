"""The job engine on PostgreSQL: real procrastinate workers run the scans and their jobs."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy import select, text

from billow.billing import tasks as billing_tasks
from billow.kit.metrics import REGISTRY
from billow.metering import tasks as metering_tasks
from billow.models.subscriptions import Subscription
from billow.worker import engine as job_engine
from billow.worker.engine import JobEngine, conninfo, cron_for, ensure_schema, make_engine
from billow.worker.scans import SCANS, Scan
from tests.worker.catalog import AS_OF, EXPECTED, backdated_subscription, billed_periods, invoice_totals

# These tests subscribe in the past and bill the periods since (off by default, as Lago).
pytestmark = pytest.mark.usefixtures("bill_backdated_periods")

BILLING = SCANS["billing"]
PRUNE = SCANS["usage_rollups_prune"]


class TestCron:
    @pytest.mark.parametrize(
        ("every", "cron"),
        [
            (timedelta(seconds=1), "* * * * * *"),
            (timedelta(seconds=0.2), "* * * * * *"),
            (timedelta(seconds=10), "* * * * * */10"),
            (timedelta(seconds=45), "* * * * * */30"),
            (timedelta(minutes=1), "* * * * *"),
            (timedelta(minutes=10), "*/10 * * * *"),
            (timedelta(minutes=7), "*/6 * * * *"),
            (timedelta(hours=1), "0 * * * *"),
            (timedelta(hours=6), "0 */6 * * *"),
            (timedelta(days=1), "0 0 * * *"),
            (timedelta(days=3), "0 0 * * *"),
        ],
    )
    def test_at_least_as_often_as_asked(self, every: timedelta, cron: str) -> None:
        assert cron_for(every) == cron


class TestConninfo:
    def test_from_a_sqlalchemy_url(self) -> None:
        info = psycopg.conninfo.conninfo_to_dict(
            conninfo("postgresql+psycopg://bill:s%40cret@db.example:5433/billow?sslmode=require")
        )
        assert info == {
            "host": "db.example",
            "port": "5433",
            "dbname": "billow",
            "user": "bill",
            "password": "s@cret",
            "sslmode": "require",
            "options": "-c search_path=procrastinate",
        }

    def test_sqlite_is_refused(self) -> None:
        with pytest.raises(ValueError, match="PostgreSQL"):
            conninfo("sqlite:///billow.db")


def _run(engine: JobEngine, *scans: tuple[str, str], workers: int = 1) -> None:
    """Defer the ``(scan, now)`` runs, then run ``workers`` workers until the queues are empty."""

    async def main() -> None:
        async with engine.app.open_async():
            for name, now in scans:
                await engine.app.configure_task("billow.scan").defer_async(scan=name, now=now)
            # A worker with wait=False stops when it finds no job, even if a running job defers more:
            # run workers until nothing is ready.
            for _ in range(10):
                await asyncio.gather(
                    *(
                        engine.app.run_worker_async(
                            wait=False, install_signal_handlers=False, concurrency=2, name=f"w{n}"
                        )
                        for n in range(workers)
                    )
                )
                if not await _ready_jobs(engine):
                    break

    asyncio.run(main())


async def _ready_jobs(engine: JobEngine) -> int:
    rows = await engine.app.connector.execute_query_one_async(
        "SELECT count(*) AS n FROM procrastinate_jobs "
        "WHERE status = 'todo' AND (scheduled_at IS NULL OR scheduled_at <= now())"
    )
    return int(rows["n"])


def _jobs(url: str) -> list[tuple[str, str, str, int]]:
    with psycopg.connect(conninfo(url)) as connection:
        return [
            tuple(row)  # type: ignore[misc]
            for row in connection.execute(
                "SELECT task_name, status::text, coalesce(queueing_lock, ''), attempts "
                "FROM procrastinate_jobs ORDER BY id"
            )
        ]


def billing_jobs() -> list[float]:
    """``billow_jobs_{deferred,succeeded,failed}_total`` of the billing scan (/metrics)."""
    return [
        REGISTRY.get_sample_value(f"billow_jobs_{kind}_total", {"scan": "billing"}) or 0.0
        for kind in ("deferred", "succeeded", "failed")
    ]


@pytest.fixture
def jobs(job_database: str, factory):
    engine = make_engine(job_database, scans=[BILLING, PRUNE], periodic=False)
    yield engine
    engine.dispose()


class TestSchema:
    def test_applied_once(self, job_database: str) -> None:
        assert ensure_schema(job_database) == "current"
        with psycopg.connect(conninfo(job_database)) as connection:
            comment = connection.execute(
                "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace "
                "WHERE nspname = 'procrastinate'"
            ).fetchone()
            public = connection.execute(
                "SELECT count(*) FROM pg_tables "
                "WHERE schemaname = 'public' AND tablename LIKE 'procrastinate%'"
            ).fetchone()
        assert comment is not None and comment[0].startswith("procrastinate 3.")
        assert public == (0,)  # out of Alembic's sight

    def test_an_older_version_is_upgraded(self, job_database: str) -> None:
        with psycopg.connect(conninfo(job_database), autocommit=True) as connection:
            connection.execute("COMMENT ON SCHEMA procrastinate IS 'procrastinate 3.9.0'")
        assert ensure_schema(job_database) == "upgraded"  # no migration file between 3.9 and 3.10
        assert ensure_schema(job_database) == "current"

    def test_unknown_version_is_not_touched(self, job_database: str) -> None:
        with psycopg.connect(conninfo(job_database), autocommit=True) as connection:
            connection.execute("COMMENT ON SCHEMA procrastinate IS NULL")
            with pytest.raises(RuntimeError, match="unknown version"):
                ensure_schema(job_database)
            current = "procrastinate {}.{}.{}".format(*job_engine.installed_version())
            connection.execute(f"COMMENT ON SCHEMA procrastinate IS '{current}'".encode())

    def test_upgrade_applies_the_newer_migrations(self, job_database: str) -> None:
        paths = job_engine._migrations_between((3, 3, 0), (3, 4, 0))
        assert [p.name for p in paths][:1] == ["03.04.00_01_pre_add_retry_failed_job_procedure.sql"]
        assert all(p.name.startswith("03.04.00") for p in paths)


class TestBillingScan:
    def test_one_job_per_batch_of_due_subscriptions_then_invoices(
        self, jobs, factory, session, job_database, monkeypatch
    ) -> None:
        monkeypatch.setenv("BILLOW_BILLING_BATCH_SIZE", "2")
        subscriptions = [backdated_subscription(session, f"sub_{n}") for n in range(5)]

        def expected() -> list[Any]:
            # Bucketed by customer (a customer's subscriptions in one job, so on one invoice).
            return billing_tasks.batches(
                [s.id for s in subscriptions], 2, customers={s.id: s.customer_id for s in subscriptions}
            )

        # Random customer ids can all fall in one bucket (1 time in 256 with 5): add one until they do not.
        while len(expected()) < 2:
            subscriptions.append(backdated_subscription(session, f"sub_{len(subscriptions)}"))
        expected_batches = expected()
        before = billing_jobs()
        _run(jobs, ("billing", AS_OF.isoformat()))
        assert invoice_totals(factory) == sorted(EXPECTED * len(subscriptions))
        items = [job for job in _jobs(job_database) if job[0] == "billow.scan_item"]
        assert len(items) == len(expected_batches) > 1
        # /metrics: one job deferred and succeeded per batch.
        moved = [after - then for after, then in zip(billing_jobs(), before, strict=True)]
        assert moved == [len(items), len(items), 0]
        assert sorted(lock for _, _, lock, _ in items) == sorted(f"billing:{b.key}" for b in expected_batches)
        assert all(status == "succeeded" and lock.startswith("billing:") for _, status, lock, _ in items)

    def test_exactly_once_with_two_workers_and_repeated_scans(self, jobs, factory, session) -> None:
        for n in range(4):
            backdated_subscription(session, f"sub_{n}")
        now = AS_OF.isoformat()
        _run(jobs, ("billing", now), ("billing", now), ("billing", now), workers=2)
        assert billed_periods(factory) == 12
        assert invoice_totals(factory) == sorted(EXPECTED * 4)
        _run(jobs, ("billing", now), workers=2)  # nothing left to do
        assert billed_periods(factory) == 12

    def test_a_queued_subscription_is_not_queued_twice(self, jobs, factory, session, job_database) -> None:
        backdated_subscription(session)

        async def scan_twice() -> None:
            async with jobs.app.open_async():
                for _ in range(2):
                    job = jobs.app.configure_task("billow.scan")
                    await job.defer_async(scan="billing", now=AS_OF.isoformat())
                # Only the scan queue: the item jobs stay queued.
                await jobs.app.run_worker_async(
                    wait=False, install_signal_handlers=False, queues=[job_engine.SCANS_QUEUE]
                )

        asyncio.run(scan_twice())
        items = [job for job in _jobs(job_database) if job[0] == "billow.scan_item"]
        assert [(status, attempts) for _, status, _, attempts in items] == [("todo", 0)]
        assert invoice_totals(factory) == []
        _run(jobs)
        assert invoice_totals(factory) == EXPECTED

    def test_activates_pending_and_bills_them(self, jobs, factory, session) -> None:
        subscription = backdated_subscription(session)
        subscription.status = "pending"
        subscription.subscription_at = subscription.started_at
        subscription.started_at = None
        session.commit()
        _run(jobs, ("billing", AS_OF.isoformat()))
        assert invoice_totals(factory) == EXPECTED

    def test_a_failed_job_is_retried(self, job_database, factory, session) -> None:
        backdated_subscription(session)
        calls: list[str] = []

        def flaky(session_factory, item: str, now):
            calls.append(item)
            if len(calls) == 1:
                raise RuntimeError("database hiccup")
            return billing_tasks.bill_one_subscription(session_factory, item, now)

        scan = Scan("billing", timedelta(minutes=1), billing_tasks.find_due_subscriptions, flaky)
        flaky_jobs = make_engine(job_database, scans=[scan], periodic=False)
        try:
            _run(flaky_jobs, ("billing", AS_OF.isoformat()))
            [item] = [job for job in _jobs(job_database) if job[0] == "billow.scan_item"]
            assert item[1:] == ("todo", "billing:0/1", 1)  # waits for its retry
            assert invoice_totals(factory) == []
            with psycopg.connect(conninfo(job_database), autocommit=True) as connection:
                connection.execute("UPDATE procrastinate_jobs SET scheduled_at = now()")  # don't wait
            _run(flaky_jobs)
            assert invoice_totals(factory) == EXPECTED
            [item] = [job for job in _jobs(job_database) if job[0] == "billow.scan_item"]
            assert item[1:] == ("succeeded", "billing:0/1", 2)
            assert calls[0] == calls[1] == str(session.scalars(select(Subscription.id)).one())
        finally:
            flaky_jobs.dispose()


class TestPruneScan:
    def test_orphan_journal_rows_are_deleted(self, jobs, factory, session) -> None:
        org = backdated_subscription(session).organization_id
        session.execute(
            text(
                "INSERT INTO usage_touches "
                "(organization_id, external_subscription_id, code, xid, hours, removal) "
                "VALUES (:org, 'sub_1', 'api', 1, '{1}', false)"
            ),
            {"org": org},
        )
        session.commit()
        _run(jobs, ("usage_rollups_prune", AS_OF.isoformat()))
        assert session.execute(text("SELECT count(*) FROM usage_touches")).scalar_one() == 0
        assert metering_tasks.prune_rollup_journal(factory, AS_OF) == (0, 0)


class TestPeriodic:
    def test_every_scan_is_scheduled(self, job_database: str) -> None:
        engine = make_engine(job_database, scans=[BILLING, PRUNE])
        try:
            schedules = {
                periodic_id: (task.name, cron)
                for (task_name, periodic_id), (task, cron) in (
                    (key, (p.task, p.cron)) for key, p in engine.app.periodic_registry.periodic_tasks.items()
                )
            }
        finally:
            engine.dispose()
        assert schedules == {
            "maintenance": ("billow.maintenance", "* * * * *"),
            "billing": ("billow.scan", "* * * * *"),
            "usage_rollups_prune": ("billow.scan", "*/10 * * * *"),
        }

    def test_a_worker_starting_runs_every_scan_once(self, job_database: str, factory) -> None:
        daily = Scan("usage_rollups_prune", timedelta(days=1), PRUNE.run)
        engine = make_engine(job_database, scans=[daily])
        try:
            for _ in range(2):  # the second worker does not defer the same tick again
                asyncio.run(_work_until_scanned(engine))
        finally:
            engine.dispose()
        scans = [(name, status) for name, status, _, _ in _jobs(job_database) if name == "billow.scan"]
        assert scans == [("billow.scan", "succeeded")]


async def _work_until_scanned(engine: JobEngine) -> None:
    async with engine.app.open_async():
        worker = asyncio.create_task(
            engine.app.run_worker_async(install_signal_handlers=False, fetch_job_polling_interval=0.1)
        )
        for _ in range(100):
            await asyncio.sleep(0.1)
            row = await engine.app.connector.execute_query_one_async(
                "SELECT count(*) AS n FROM procrastinate_jobs "
                "WHERE task_name = 'billow.scan' AND status = 'succeeded'"
            )
            if row["n"]:
                break
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker


class TestMaintenance:
    def test_jobs_of_a_dead_worker_are_retried(self, jobs, factory, session, job_database) -> None:
        backdated_subscription(session)

        async def scan_then_die() -> None:
            async with jobs.app.open_async():
                await jobs.app.configure_task("billow.scan").defer_async(
                    scan="billing", now=AS_OF.isoformat()
                )
                await jobs.app.run_worker_async(
                    wait=False, install_signal_handlers=False, queues=[job_engine.SCANS_QUEUE]
                )

        asyncio.run(scan_then_die())
        with psycopg.connect(conninfo(job_database), autocommit=True) as connection:
            # A worker took the item, then vanished (no worker row, so no heartbeat).
            connection.execute(
                "UPDATE procrastinate_jobs SET status = 'doing', worker_id = NULL "
                "WHERE task_name = 'billow.scan_item'"
            )

        async def maintain() -> None:
            async with jobs.app.open_async():
                await jobs.app.configure_task("billow.maintenance").defer_async()
                await jobs.app.run_worker_async(
                    wait=False, install_signal_handlers=False, queues=[job_engine.SCANS_QUEUE]
                )

        asyncio.run(maintain())
        [item] = [job for job in _jobs(job_database) if job[0] == "billow.scan_item"]
        assert item[1] == "todo"
        _run(jobs)
        assert invoice_totals(factory) == EXPECTED
