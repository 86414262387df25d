"""Billing-run benchmark: bill one monthly period for many subscriptions on a throwaway PostgreSQL database.

Usage::

    .venv/bin/python bench/billing.py [--subscriptions 10000] [--events 100] [--processes 1,2]
                                      [--profile N] [--keep]

It creates a database on ``BILLOW_BENCH_DATABASE_URL`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``; that database is only used to create and drop the
throwaway one), migrates it, and builds one organization with a 20 % plan tax and a monthly plan (10.00,
in arrears) with three usage charges:

* ``storage`` — ``sum_agg`` on ``gb`` (decimals with 2 digits), standard at 0.02;
* ``users`` — ``unique_count_agg`` on ``user_id`` (50 possible users per subscription), graduated
  (0-10 at 1.00 + 5.00 flat, 11+ at 0.50);
* ``calls`` — ``count_agg`` with a charge filter ``region = us`` at 0.05, default bucket at 0.01.

Then ``--subscriptions`` customers and subscriptions started on 2024-01-01 (calendar billing), and
``--events`` events per subscription in January 2024 (a third per charge), loaded with ``COPY`` and
``ANALYZE``d. The billing run is then timed for ``as_of = 2024-02-01T00:00Z`` (one invoice per
subscription, for January), once per entry of ``--processes``, from an empty invoice table each time:

* 1 process: :func:`billow.billing.run.bill_due` (the scan of due subscriptions, then every invoice);
* N processes: the scan (:func:`billow.billing.run.due_subscription_ids`) in the parent, then N OS
  processes each calling :func:`billow.billing.run.bill_subscription` on ids taken from one shared
  queue (chunks of 25) — the shape of ``billow worker`` jobs (one ``bill_subscription`` job per due
  subscription), without the job engine.

Printed per run: wall time (scan included), subscriptions/s, invoices/s, the scan's share. Checks: the
number of invoices equals the number of subscriptions, and three sampled subscriptions' invoice totals
equal totals computed here from the generated events (independently of Billow's engine).

``--profile N`` then bills N more subscriptions (a fresh invoice table) under ``cProfile`` in this
process and prints the top functions and the SQL statement counts. The script prints the core count and
its exact command.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import multiprocessing
import os
import pstats
import random
import shlex
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import create_engine, event, insert, text
from sqlalchemy.engine import make_url

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
AS_OF = datetime(2024, 2, 1, tzinfo=UTC)
START = datetime(2024, 1, 1, tzinfo=UTC)
PLAN_CENTS = 1000
TAX_RATE = Decimal(20)
STORAGE_PRICE = Decimal("0.02")
US_PRICE, DEFAULT_PRICE = Decimal("0.05"), Decimal("0.01")
USERS = 50
CHUNK = 25


def _sqlalchemy_url(url: str) -> str:
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class ThrowawayDatabase:
    def __init__(self, admin_url: str, keep: bool) -> None:
        self.admin = create_engine(_sqlalchemy_url(admin_url), isolation_level="AUTOCOMMIT")
        self.name = f"billow_bench_{uuid.uuid4().hex[:10]}"
        self.keep = keep
        self.url = (
            make_url(_sqlalchemy_url(admin_url)).set(database=self.name).render_as_string(hide_password=False)
        )

    def __enter__(self) -> ThrowawayDatabase:
        with self.admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{self.name}"'))
        return self

    def __exit__(self, *_exc: object) -> None:
        if not self.keep:
            with self.admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self.admin.dispose()


# ------------------------------------------------------------------------------------------ data set


@dataclass
class Expected:
    """What a sampled subscription's invoice must hold, computed from its generated events."""

    storage: Decimal = Decimal(0)
    users: set[str] = field(default_factory=set)
    us_calls: int = 0
    other_calls: int = 0

    def total_cents(self) -> int:
        storage = _cents(self.storage * STORAGE_PRICE)
        distinct = len(self.users)  # graduated 0-10 at 1.00 + 5.00 flat, 11+ at 0.50
        users = _cents(Decimal(5) + min(distinct, 10) * Decimal(1) + max(distinct - 10, 0) * Decimal("0.5"))
        calls_us = _cents(self.us_calls * US_PRICE) if self.us_calls else None
        calls_other = _cents(self.other_calls * DEFAULT_PRICE)
        fees = [PLAN_CENTS, storage, users, calls_other] + ([calls_us] if calls_us is not None else [])
        taxes = int((Decimal(sum(fees)) * TAX_RATE / 100).to_integral_value(rounding=ROUND_HALF_UP))
        return sum(fees) + taxes


def _cents(amount: Decimal) -> int:
    return int((amount * 100).to_integral_value(rounding=ROUND_HALF_UP))


def _prepare(url: str, subscriptions: int) -> uuid.UUID:
    from sqlalchemy import insert as sa_insert

    from billow.billable_metrics.models import BillableMetric, BillableMetricFilter
    from billow.customers.models import Customer
    from billow.db import make_engine, make_sessionmaker
    from billow.models import metadata
    from billow.organizations.service import organization_service
    from billow.plans.models import Charge, ChargeFilter, ChargeFilterValue, Plan, plan_taxes
    from billow.subscriptions.models import Subscription
    from billow.taxes.models import Tax

    # The tables from the models, as the tests build them (the working tree may hold columns that no
    # migration has yet).
    engine = make_engine(url)
    metadata.create_all(engine)
    with make_sessionmaker(engine).begin() as session:
        organization, _ = organization_service.create(
            session, name="Bench", raw_key="bench_" + uuid.uuid4().hex
        )
        org_id = organization.id
        organization.document_number_prefix = "BEN"

        def metric(code: str, kind: str, field_name: str | None) -> BillableMetric:
            row = BillableMetric(
                organization_id=org_id, name=code, code=code, aggregation_type=kind, field_name=field_name
            )
            session.add(row)
            session.flush()
            return row

        plan = Plan(
            organization_id=org_id,
            name="Bench",
            code="bench",
            interval="monthly",
            amount_cents=PLAN_CENTS,
            amount_currency="USD",
        )
        session.add(plan)
        tax = Tax(organization_id=org_id, name="VAT", code="vat", rate=TAX_RATE)
        session.add(tax)
        session.flush()
        session.execute(sa_insert(plan_taxes).values(plan_id=plan.id, tax_id=tax.id, organization_id=org_id))
        storage = metric("storage", "sum_agg", "gb")
        users = metric("users", "unique_count_agg", "user_id")
        calls = metric("calls", "count_agg", None)
        session.add(
            BillableMetricFilter(
                organization_id=org_id, billable_metric_id=calls.id, key="region", values=["us", "eu", "asia"]
            )
        )
        graduated = {
            "graduated_ranges": [
                {"from_value": 0, "to_value": 10, "per_unit_amount": "1", "flat_amount": "5"},
                {"from_value": 11, "to_value": None, "per_unit_amount": "0.5", "flat_amount": "0"},
            ]
        }
        for position, (row, model, properties) in enumerate(
            [
                (storage, "standard", {"amount": str(STORAGE_PRICE)}),
                (users, "graduated", graduated),
                (calls, "standard", {"amount": str(DEFAULT_PRICE)}),
            ]
        ):
            charge = Charge(
                organization_id=org_id,
                plan_id=plan.id,
                billable_metric_id=row.id,
                code=row.code,
                charge_model=model,
                properties=properties,
                position=position,
            )
            session.add(charge)
            session.flush()
            if row is calls:
                charge_filter = ChargeFilter(
                    organization_id=org_id,
                    charge_id=charge.id,
                    properties={"amount": str(US_PRICE)},
                    position=0,
                )
                session.add(charge_filter)
                session.flush()
                session.add(
                    ChargeFilterValue(
                        organization_id=org_id, charge_filter_id=charge_filter.id, key="region", values=["us"]
                    )
                )
        session.flush()
        customers = [
            {
                "id": uuid.uuid4(),
                "organization_id": org_id,
                "external_id": f"cus_{i}",
                "sequential_id": i + 1,
                "slug": f"BEN-{i + 1:05d}",
            }
            for i in range(subscriptions)
        ]
        session.execute(insert(Customer), customers)
        session.execute(
            insert(Subscription),
            [
                {
                    "id": uuid.uuid4(),
                    "organization_id": org_id,
                    "customer_id": customer["id"],
                    "plan_id": plan.id,
                    "external_id": f"sub_{i}",
                    "status": "active",
                    "billing_time": "calendar",
                    "subscription_at": START,
                    "started_at": START,
                    "created_at": START,  # not backdated: its periods since START are billable
                }
                for i, customer in enumerate(customers)
            ],
        )
    engine.dispose()
    return org_id


def _load_events(url: str, org_id: uuid.UUID, subscriptions: int, per_subscription: int, samples: set[int]):
    """COPY the events; returns (seconds, expected totals of the sampled subscriptions)."""
    import psycopg

    rng = random.Random(42)
    expected = {i: Expected() for i in samples}
    span = (AS_OF - START).total_seconds()
    created = datetime.now(UTC)
    began = time.perf_counter()
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo) as connection, connection.cursor() as cursor:
        columns = (
            "id, organization_id, transaction_id, external_subscription_id, code, timestamp, properties,"
            " created_at"
        )
        org = str(org_id)
        with cursor.copy(f"COPY events ({columns}) FROM STDIN") as copy:
            buffer = io.StringIO()
            for s in range(subscriptions):
                sample = expected.get(s)
                for i in range(per_subscription):
                    role = i % 3
                    if role == 0:
                        cents = rng.randint(1, 100_000)
                        value = f"{cents // 100}.{cents % 100:02d}"
                        properties: dict[str, Any] = {"gb": value}
                        code = "storage"
                        if sample:
                            sample.storage += Decimal(value)
                    elif role == 1:
                        user = f"u{rng.randrange(USERS)}"
                        properties = {"user_id": user}
                        code = "users"
                        if sample:
                            sample.users.add(user)
                    else:
                        region = rng.choice(("us", "eu", "asia"))
                        properties = {"region": region}
                        code = "calls"
                        if sample:
                            if region == "us":
                                sample.us_calls += 1
                            else:
                                sample.other_calls += 1
                    timestamp = START + timedelta(seconds=rng.random() * span)
                    buffer.write(
                        f"{uuid.uuid4()}\t{org}\tsub_{s}-{i}\tsub_{s}\t{code}\t{timestamp.isoformat()}\t"
                        f"{json.dumps(properties, separators=(',', ':'))}\t"
                        f"{(created + timedelta(microseconds=s * per_subscription + i)).isoformat()}\n"
                    )
                if buffer.tell() > 1 << 20:
                    copy.write(buffer.getvalue())
                    buffer = io.StringIO()
            copy.write(buffer.getvalue())
        connection.commit()
        cursor.execute("ANALYZE")
        connection.commit()
    return time.perf_counter() - began, expected


# ------------------------------------------------------------------------------------------ runs


def _reset(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text("TRUNCATE applied_taxes, fees, invoice_subscriptions, invoices, invoice_sequences CASCADE")
        )
        if connection.execute(text("SELECT to_regclass('procrastinate.procrastinate_jobs')")).scalar():
            connection.execute(text("TRUNCATE procrastinate.procrastinate_jobs CASCADE"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))
    engine.dispose()


def _factory(url: str) -> Any:
    from billow.db import make_engine, make_sessionmaker

    return make_sessionmaker(make_engine(url))


def _worker(url: str, ids: list[uuid.UUID], cursor: Any, lock: Any, results: Any) -> None:
    from billow.billing.run import bill_subscriptions

    factory = _factory(url)
    created = failed = 0
    while True:
        with lock:
            start = cursor.value
            cursor.value = start + CHUNK
        if start >= len(ids):
            break
        summary = bill_subscriptions(factory, ids[start : start + CHUNK], AS_OF)
        created += summary.invoices_created
        failed += len(summary.failed)
    results.put((created, failed))


@dataclass
class RunResult:
    processes: int
    wall: float
    scan: float
    invoices: int
    failed: int


def _run(url: str, processes: int) -> RunResult:
    from billow.billing.run import bill_due, due_subscription_ids

    if processes == 1:
        factory = _factory(url)
        began = time.perf_counter()
        summary = bill_due(factory, AS_OF)
        wall = time.perf_counter() - began
        scan_began = time.perf_counter()
        due_subscription_ids(factory, AS_OF)  # the scan alone (nothing is due any more: its fixed cost)
        scan = time.perf_counter() - scan_began
        factory.kw["bind"].dispose()
        return RunResult(1, wall, scan, summary.invoices_created, len(summary.failed))

    context = multiprocessing.get_context("fork")
    factory = _factory(url)
    began = time.perf_counter()
    ids = due_subscription_ids(factory, AS_OF)
    scan = time.perf_counter() - began
    factory.kw["bind"].dispose()
    cursor = context.Value("q", 0)
    lock = context.Lock()
    results = context.Queue()
    workers = [
        context.Process(target=_worker, args=(url, ids, cursor, lock, results)) for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    outcomes = [results.get() for _ in workers]
    for worker in workers:
        worker.join()
    wall = time.perf_counter() - began
    return RunResult(
        processes, wall, scan, sum(created for created, _ in outcomes), sum(failed for _, failed in outcomes)
    )


def _job_worker(url: str, concurrency: int) -> None:
    import asyncio

    from billow.worker.engine import run_worker

    asyncio.run(
        run_worker(url, concurrency=concurrency, queues=["items"], wait=False, install_signal_handlers=False)
    )


def _run_worker(url: str, processes: int, concurrency: int) -> RunResult:
    """The billing scan as a ``billow.scan`` job (it defers one ``billow.scan_item`` job per batch of
    due subscriptions, :mod:`billow.billing.tasks`), then ``processes`` job-engine workers (``billow
    worker --queue items --once``, in forked processes) sharing those jobs."""
    import asyncio

    from billow.worker.engine import make_engine as make_job_engine

    async def scan() -> None:
        jobs = make_job_engine(url, periodic=False)
        try:
            async with jobs.app.open_async():
                await jobs.app.configure_task("billow.scan").defer_async(
                    scan="billing", now=AS_OF.isoformat()
                )
                await jobs.app.run_worker_async(queues=["scans"], wait=False, install_signal_handlers=False)
        finally:
            jobs.dispose()

    began = time.perf_counter()
    asyncio.run(scan())
    scanned = time.perf_counter() - began
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_job_worker, args=(url, concurrency)) for _ in range(processes)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    wall = time.perf_counter() - began
    engine = create_engine(url)
    with engine.connect() as connection:
        invoices = connection.execute(text("SELECT count(*) FROM invoices")).scalar_one()
        failed = connection.execute(
            text(
                "SELECT count(*) FROM procrastinate.procrastinate_jobs WHERE status <> 'succeeded'"
                " AND queue_name = 'items'"
            )
        ).scalar_one()
    engine.dispose()
    return RunResult(processes, wall, scanned, invoices, failed)


def _check(url: str, subscriptions: int, expected: dict[int, Expected]) -> list[str]:
    engine = create_engine(url)
    problems = []
    with engine.connect() as connection:
        count = connection.execute(text("SELECT count(*) FROM invoices")).scalar_one()
        if count != subscriptions:
            problems.append(f"{count} invoices for {subscriptions} subscriptions")
        for index, sample in sorted(expected.items()):
            total = connection.execute(
                text(
                    "SELECT i.total_amount_cents FROM invoices i"
                    " JOIN invoice_subscriptions l ON l.invoice_id = i.id"
                    " JOIN subscriptions s ON s.id = l.subscription_id WHERE s.external_id = :e"
                ),
                {"e": f"sub_{index}"},
            ).scalar_one()
            want = sample.total_cents()
            status = "ok" if total == want else "MISMATCH"
            print(
                f"  sub_{index}: invoice total {total} cents, computed from its events {want} cents: {status}"
            )
            if total != want:
                problems.append(f"sub_{index}: {total} != {want}")
    engine.dispose()
    return problems


def _profile(url: str, subscriptions: int) -> None:
    from billow.billing.run import bill_subscriptions, due_subscription_ids

    _reset(url)
    factory = _factory(url)
    ids = due_subscription_ids(factory, AS_OF)[:subscriptions]
    statements: Counter[str] = Counter()

    @event.listens_for(factory.kw["bind"], "before_cursor_execute")
    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements[" ".join(statement.split())[:110]] += 1

    profiler = cProfile.Profile()
    began, cpu = time.perf_counter(), time.process_time()
    profiler.enable()
    bill_subscriptions(factory, ids, AS_OF)
    profiler.disable()
    elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu
    print(
        f"\nprofile: {len(ids)} subscriptions billed in {elapsed:.2f} s"
        f" ({elapsed / len(ids) * 1000:.1f} ms each, {cpu / len(ids) * 1000:.1f} ms CPU in this process)"
    )
    print(f"SQL statements per subscription: {sum(statements.values()) / len(ids):.1f}")
    for statement, n in statements.most_common(25):
        print(f"  {n / len(ids):5.2f}  {statement}")
    stats = pstats.Stats(profiler, stream=sys.stdout)
    stats.sort_stats("cumulative").print_stats(r"billow/", 40)
    stats.sort_stats("tottime").print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subscriptions", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=100, help="events per subscription")
    parser.add_argument("--processes", default="1,2", help="comma-separated process counts to time")
    parser.add_argument(
        "--workers",
        default="",
        help="comma-separated counts of job-engine worker processes (billow worker) to time",
    )
    parser.add_argument("--worker-concurrency", type=int, default=4, help="jobs at a time per worker")
    parser.add_argument("--profile", type=int, default=0, help="then profile billing N subscriptions")
    parser.add_argument("--keep", action="store_true", help="keep the database")
    args = parser.parse_args()

    print("command:", shlex.join([sys.executable, *sys.argv]))
    print(f"cores: {os.cpu_count()}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    admin_url = os.environ.get("BILLOW_BENCH_DATABASE_URL", DEFAULT_ADMIN_URL)
    samples = {0, args.subscriptions // 2, args.subscriptions - 1}
    with ThrowawayDatabase(admin_url, args.keep) as database:
        url = database.url
        began = time.perf_counter()
        org_id = _prepare(url, args.subscriptions)
        print(
            f"catalog, {args.subscriptions} customers and subscriptions: {time.perf_counter() - began:.1f} s"
        )
        seconds, expected = _load_events(url, org_id, args.subscriptions, args.events, samples)
        total_events = args.subscriptions * args.events
        print(f"{total_events} events loaded (COPY + ANALYZE) in {seconds:.1f} s")
        failures = []
        for processes in [int(p) for p in args.processes.split(",") if p]:
            _reset(url)
            result = _run(url, processes)
            label = "bill_due" if processes == 1 else f"{processes} processes x bill_subscriptions"
            print(
                f"\n{processes} process(es) [{label}]: {result.invoices} invoices in {result.wall:.1f} s wall"
                f" ({args.subscriptions / result.wall:.0f} subscriptions/s,"
                f" {result.invoices / result.wall:.0f} invoices/s; scan {result.scan:.2f} s);"
                f" failed: {result.failed}"
            )
            failures += _check(url, args.subscriptions, expected)
        worker_counts = [int(w) for w in args.workers.split(",") if w]
        if worker_counts:
            from billow.worker.engine import ensure_schema

            ensure_schema(url)
        for processes in worker_counts:
            _reset(url)
            result = _run_worker(url, processes, args.worker_concurrency)
            print(
                f"\n{processes} worker process(es) [billow worker, concurrency {args.worker_concurrency},"
                f" one job per batch of due subscriptions]: {result.invoices} invoices"
                f" in {result.wall:.1f} s wall"
                f" ({args.subscriptions / result.wall:.0f} subscriptions/s,"
                f" {result.invoices / result.wall:.0f} invoices/s; scan job {result.scan:.2f} s);"
                f" jobs not succeeded: {result.failed}"
            )
            failures += _check(url, args.subscriptions, expected)
        if args.profile:
            _profile(url, args.profile)
        if database.keep:
            print(f"kept database {database.name}")
    if failures:
        print("CHECK FAILED:", "; ".join(failures))
        sys.exit(1)


if __name__ == "__main__":
    main()
