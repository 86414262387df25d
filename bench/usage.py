"""Current-usage benchmark: the aggregation engine on a throwaway PostgreSQL database.

Usage::

    .venv/bin/python bench/usage.py [--sizes 10000,100000,1000000] [--iterations 30] [--http] [--explain]

It creates a database on ``BILLOW_BENCH_DATABASE_URL`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``; that database is only used to create and drop the
throwaway one), builds one organization with a plan of three charges:

* ``storage`` — ``sum_agg`` on ``gb`` (decimal strings and JSON numbers), standard price;
* ``active_users`` — ``unique_count_agg`` on ``user_id`` (20,000 users, 5 % removals), graduated price;
* ``api_calls`` — ``count_agg`` with two charge filters (``region = us``; ``region = us`` and
  ``cloud = aws``) and the default bucket, standard prices;

then, per size, a customer and subscription whose current month holds that many events (a third per
charge, spread from the first of the month to now), loaded with ``COPY`` and ``ANALYZE``d. Every size
lives in the same ``events`` table (1.11 M rows with the default sizes).

Timings, per size: ``customer_usage_service.current_usage`` called directly (a fresh session per call, as a
request), warm-up excluded, p50 / p99 / mean over ``--iterations`` calls; with ``--http``, the same through
``GET /api/v1/customers/{id}/current_usage`` on a ``billow serve`` subprocess (one worker, keep-alive
client). Then the growth from the smallest to the largest size (p50 ratio).

On PostgreSQL current usage is answered from usage rollups (:mod:`billow.metering.rollups`): the first call
of a subscription builds them (timed separately: ``first call``); the timed calls refresh them (nothing to
do when no event arrived). ``--after-ingest N`` then inserts N more events per size (10 % of them late:
timestamps in hours already rolled up, the rest in the current hour) in 100-event statements, and times
the next call (which folds them in) and the calls after it. ``--compare-raw`` also times the plain
aggregation (rollups switched off) and checks that both give the same usage.

``--explain`` prints ``EXPLAIN (ANALYZE, BUFFERS)`` of each query the largest size's usage runs on events
or rollups. The script prints the core count and its exact command.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import shlex
import socket
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
HOST = "127.0.0.1"
API_KEY = "bench_" + uuid.uuid4().hex


def _sqlalchemy_url(url: str) -> str:
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class ThrowawayDatabase:
    def __init__(self, admin_url: str) -> None:
        self.admin = create_engine(_sqlalchemy_url(admin_url), isolation_level="AUTOCOMMIT")
        self.name = f"billow_bench_{uuid.uuid4().hex[:10]}"
        self.url = (
            make_url(_sqlalchemy_url(admin_url)).set(database=self.name).render_as_string(hide_password=False)
        )

    def __enter__(self) -> ThrowawayDatabase:
        with self.admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{self.name}"'))
        return self

    def __exit__(self, *_exc: object) -> None:
        with self.admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self.admin.dispose()


@dataclass
class Catalog:
    organization_id: uuid.UUID
    codes: dict[str, str]  # charge role → metric code


def _prepare(url: str) -> Catalog:
    from billow.db import make_engine, make_sessionmaker
    from billow.migrate import upgrade
    from billow.models import metadata
    from billow.models.billable_metrics import BillableMetric, BillableMetricFilter
    from billow.models.plans import Charge, ChargeFilter, ChargeFilterValue, Plan
    from billow.organizations.service import organization_service

    upgrade(url)
    engine = make_engine(url)
    metadata.create_all(engine)
    with make_sessionmaker(engine).begin() as session:
        organization, _ = organization_service.create(session, name="Bench", raw_key=API_KEY)
        org_id = organization.id

        def metric(code: str, kind: str, field: str | None) -> BillableMetric:
            row = BillableMetric(
                organization_id=org_id, name=code, code=code, aggregation_type=kind, field_name=field
            )
            session.add(row)
            session.flush()
            return row

        plan = Plan(
            organization_id=org_id,
            name="Bench",
            code="bench",
            interval="monthly",
            amount_cents=0,
            amount_currency="USD",
        )
        session.add(plan)
        session.flush()
        storage = metric("storage", "sum_agg", "gb")
        users = metric("active_users", "unique_count_agg", "user_id")
        calls = metric("api_calls", "count_agg", None)
        session.add(
            BillableMetricFilter(
                organization_id=org_id, billable_metric_id=calls.id, key="region", values=["us", "eu", "asia"]
            )
        )
        session.add(
            BillableMetricFilter(
                organization_id=org_id, billable_metric_id=calls.id, key="cloud", values=["aws", "gcp"]
            )
        )
        graduated = {
            "graduated_ranges": [
                {"from_value": 0, "to_value": 1000, "per_unit_amount": "0.5", "flat_amount": "10"},
                {"from_value": 1001, "to_value": None, "per_unit_amount": "0.25", "flat_amount": "0"},
            ]
        }
        for position, (row, model, properties) in enumerate(
            [
                (storage, "standard", {"amount": "0.02"}),
                (users, "graduated", graduated),
                (calls, "standard", {"amount": "0.001"}),
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
                for index, values in enumerate([{"region": ["us"]}, {"region": ["us"], "cloud": ["aws"]}]):
                    charge_filter = ChargeFilter(
                        organization_id=org_id,
                        charge_id=charge.id,
                        properties={"amount": str(0.002 * (index + 1))},
                        position=index,
                    )
                    session.add(charge_filter)
                    session.flush()
                    for key, accepted in values.items():
                        session.add(
                            ChargeFilterValue(
                                organization_id=org_id,
                                charge_filter_id=charge_filter.id,
                                key=key,
                                values=accepted,
                            )
                        )
        session.add(plan)
    engine.dispose()
    return Catalog(org_id, {"sum": "storage", "unique": "active_users", "count": "api_calls"})


def _subscribe(url: str, catalog: Catalog, name: str, started_at: datetime) -> None:
    from sqlalchemy import func, select

    from billow.db import make_engine, make_sessionmaker
    from billow.models.customers import Customer
    from billow.models.plans import Plan
    from billow.models.subscriptions import Subscription

    engine = make_engine(url)
    with make_sessionmaker(engine).begin() as session:
        plan = session.scalars(select(Plan).where(Plan.organization_id == catalog.organization_id)).one()
        number = (session.scalar(select(func.count()).select_from(Customer)) or 0) + 1
        customer = Customer(
            organization_id=catalog.organization_id,
            external_id=f"cus_{name}",
            sequential_id=number,
            slug=f"BENCH-{number:03d}",
        )
        session.add(customer)
        session.flush()
        session.add(
            Subscription(
                organization_id=catalog.organization_id,
                customer_id=customer.id,
                plan_id=plan.id,
                external_id=f"sub_{name}",
                status="active",
                subscription_at=started_at,
                started_at=started_at,
            )
        )
    engine.dispose()


def _load_events(url: str, catalog: Catalog, name: str, count: int, start: datetime, end: datetime) -> float:
    """COPY ``count`` events for subscription ``sub_<name>``; returns the seconds it took."""
    import psycopg

    rng = random.Random(count)
    span = (end - start).total_seconds()
    began = time.perf_counter()
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    created = datetime.now(UTC)
    with psycopg.connect(conninfo) as connection, connection.cursor() as cursor:
        columns = (
            "id, organization_id, transaction_id, external_subscription_id, code, timestamp, properties, "
            "precise_total_amount_cents, created_at"
        )
        with cursor.copy(f"COPY events ({columns}) FROM STDIN") as copy:
            buffer = io.StringIO()
            for i in range(count):
                role = ("sum", "unique", "count")[i % 3]
                if role == "sum":
                    value: Any = (
                        rng.randint(1, 100_000) / 100 if i % 2 else str(rng.randint(1, 100_000) / 100)
                    )
                    properties: dict[str, Any] = {"gb": value, "region": rng.choice(["us", "eu"])}
                elif role == "unique":
                    properties = {"user_id": f"u{rng.randint(0, 20_000)}"}
                    if rng.random() < 0.05:
                        properties["operation_type"] = "remove"
                else:
                    properties = {
                        "region": rng.choice(["us", "eu", "asia"]),
                        "cloud": rng.choice(["aws", "gcp"]),
                        "path": f"/v1/items/{rng.randint(0, 999)}",
                    }
                timestamp = start + timedelta(seconds=rng.random() * span)
                row = (
                    str(uuid.uuid4()),
                    str(catalog.organization_id),
                    f"{name}-{i}",
                    f"sub_{name}",
                    catalog.codes[role],
                    timestamp.isoformat(),
                    json.dumps(properties, separators=(",", ":")),
                    "\\N",
                    (created + timedelta(microseconds=i)).isoformat(),
                )
                buffer.write(
                    "\t".join(field.replace("\\", "\\\\") if field != "\\N" else field for field in row)
                )
                buffer.write("\n")
                if buffer.tell() > 1 << 20:
                    copy.write(buffer.getvalue())
                    buffer = io.StringIO()
            copy.write(buffer.getvalue())
        connection.commit()
    return time.perf_counter() - began


def _percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))] * 1000
    mean = statistics.fmean(ordered) * 1000
    return f"p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  mean {mean:7.1f} ms  (n={len(ordered)})"


def _usage_once(factory: Any, catalog: Catalog, name: str, now: datetime, source: Any) -> tuple[float, str]:
    from billow.models.organizations import Organization
    from billow.usage.service import customer_usage_service

    with factory() as session:
        started = time.perf_counter()
        organization = session.get(Organization, catalog.organization_id)
        usage = customer_usage_service.current_usage(
            session,
            organization,
            external_customer_id=f"cus_{name}",
            external_subscription_id=f"sub_{name}",
            now=now,
            source=source,
        )
        session.commit()  # as a request: the rollups' refresh is kept
        elapsed = time.perf_counter() - started
        units = {c.metric.code: str(sum(fee.units for fee in c.fees)) for c in usage.charges}
        return elapsed, f"amount_cents={usage.amount_cents} units={units}"


def _time_service(
    url: str, catalog: Catalog, name: str, iterations: int, now: datetime, *, raw: bool = False
) -> tuple[float, list[float], Any]:
    """(first call, timed calls after two warm-ups, usage summary)."""
    from billow.db import make_engine, make_sessionmaker
    from billow.metering.aggregation import PLAIN

    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    samples, body, first = [], None, 0.0
    for iteration in range(iterations + 2):
        elapsed, body = _usage_once(factory, catalog, name, now, PLAIN if raw else None)
        if iteration == 0:
            first = elapsed
        if iteration >= 2:
            samples.append(elapsed)
    engine.dispose()
    return first, samples, body


def _ingest_more(url: str, catalog: Catalog, name: str, count: int, start: datetime, now: datetime) -> None:
    """``count`` more events for ``sub_<name>``, a third per charge, in 100-event INSERT statements (as
    the batch endpoint writes them): 10 % late (anywhere since ``start``), the rest in the last hour."""
    import psycopg

    rng = random.Random(count + 1)
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    span = (now - start).total_seconds()
    rows = []
    for i in range(count):
        role = ("sum", "unique", "count")[i % 3]
        if role == "sum":
            properties: dict[str, Any] = {"gb": str(rng.randint(1, 100_000) / 100), "region": "us"}
        elif role == "unique":
            properties = {"user_id": f"u{rng.randint(0, 25_000)}"}
        else:
            properties = {"region": rng.choice(["us", "eu"]), "cloud": rng.choice(["aws", "gcp"])}
        late = rng.random() < 0.1
        seconds = rng.random() * span if late else span - rng.random() * min(span, 3600)
        rows.append(
            (
                str(uuid.uuid4()),
                str(catalog.organization_id),
                f"{name}-more-{uuid.uuid4().hex}",
                f"sub_{name}",
                catalog.codes[role],
                start + timedelta(seconds=seconds),
                json.dumps(properties),
            )
        )
    with psycopg.connect(conninfo) as connection, connection.cursor() as cursor:
        for offset in range(0, count, 100):
            chunk = rows[offset : offset + 100]
            cursor.execute(
                "INSERT INTO events (id, organization_id, transaction_id, external_subscription_id, code,"
                ' "timestamp", properties, created_at) SELECT r.i::uuid, r.o::uuid, r.t, r.s, r.c, r.ts,'
                " r.p::jsonb, now() FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[],"
                " %s::timestamptz[], %s::text[]) AS r(i, o, t, s, c, ts, p)",
                [list(column) for column in zip(*chunk, strict=True)],
            )
            connection.commit()


def _explain(url: str, catalog: Catalog, name: str, now: datetime) -> None:
    from billow.db import make_engine, make_sessionmaker
    from billow.models.organizations import Organization
    from billow.usage.service import customer_usage_service

    engine = make_engine(url)
    captured: list[tuple[str, Any]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _capture(
        _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool
    ) -> None:
        if "FROM events" in statement or "FROM usage_rollup" in statement:
            captured.append((statement, parameters))

    with make_sessionmaker(engine)() as session:
        organization = session.get(Organization, catalog.organization_id)
        customer_usage_service.current_usage(
            session,
            organization,
            external_customer_id=f"cus_{name}",
            external_subscription_id=f"sub_{name}",
            now=now,
        )
        # In the same transaction, so with the settings the aggregation applied (MeteringDialect.prepare).
        raw = session.connection().connection.dbapi_connection
        for statement, parameters in captured:
            with raw.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
                plan = [row[0] for row in cursor.fetchall()]
            print("\n--- EXPLAIN (ANALYZE, BUFFERS):", " ".join(statement.split())[:160], "...")
            print("\n".join(plan))
    engine.dispose()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _wait_healthy(port: int, server: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"billow serve exited with {server.returncode}")
        try:
            if httpx.get(f"http://{HOST}:{port}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("billow serve did not become healthy")


def _time_http(port: int, name: str, iterations: int) -> list[float]:
    samples = []
    with httpx.Client(
        base_url=f"http://{HOST}:{port}/api/v1", headers={"Authorization": f"Bearer {API_KEY}"}, timeout=60
    ) as client:
        for iteration in range(iterations + 2):
            started = time.perf_counter()
            response = client.get(
                f"/customers/cus_{name}/current_usage", params={"external_subscription_id": f"sub_{name}"}
            )
            elapsed = time.perf_counter() - started
            if response.status_code != 200:
                raise SystemExit(f"current_usage answered {response.status_code}: {response.text[:300]}")
            if iteration >= 2:
                samples.append(elapsed)
    return samples


def _print_growth(sizes: list[int], p50s: dict[int, float]) -> None:
    if len(sizes) < 2:
        return
    small, large = sizes[0], sizes[-1]
    ratio = p50s[large] / p50s[small] if p50s[small] else float("inf")
    print(
        f"  growth {small:,} -> {large:,} events ({large / small:,.0f}x the events): p50"
        f" {p50s[small] * 1000:.1f} ms -> {p50s[large] * 1000:.1f} ms ({ratio:.2f}x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="events per subscription")
    parser.add_argument("--iterations", type=int, default=30, help="timed calls per size (after 2 warm-ups)")
    parser.add_argument("--http", action="store_true", help="also time GET current_usage on billow serve")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE the largest size's queries")
    parser.add_argument(
        "--after-ingest", type=int, default=1000, help="then ingest this many events per size and time again"
    )
    parser.add_argument("--compare-raw", action="store_true", help="also time the plain aggregation")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]

    print(f"command: {shlex.join([sys.executable, *sys.argv])}")
    print(f"cores: {os.cpu_count()}  python {sys.version.split()[0]}")
    admin_url = os.environ.get("BILLOW_BENCH_DATABASE_URL", DEFAULT_ADMIN_URL)
    now = datetime.now(UTC)
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    with ThrowawayDatabase(admin_url) as database:
        catalog = _prepare(database.url)
        engine = create_engine(database.url)
        with engine.connect() as connection:
            print(
                "postgres:",
                connection.execute(text("SHOW server_version")).scalar(),
                " max_parallel_workers_per_gather:",
                connection.execute(text("SHOW max_parallel_workers_per_gather")).scalar(),
                " shared_buffers:",
                connection.execute(text("SHOW shared_buffers")).scalar(),
                " work_mem:",
                connection.execute(text("SHOW work_mem")).scalar(),
            )
        for size in sizes:
            name = f"{size}"
            _subscribe(database.url, catalog, name, started_at=month_start - timedelta(days=90))
            seconds = _load_events(database.url, catalog, name, size, month_start, now)
            print(f"loaded {size:>9,} events for sub_{name} in {seconds:6.1f} s")
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            began = time.perf_counter()
            connection.execute(text("VACUUM ANALYZE events"))
            print(f"VACUUM ANALYZE events: {time.perf_counter() - began:.1f} s")
        engine.dispose()

        print("\ncustomer_usage_service.current_usage (direct call, fresh session per call):")
        p50s: dict[int, float] = {}
        summaries: dict[int, str] = {}
        for size in sizes:
            first, samples, summary = _time_service(database.url, catalog, f"{size}", args.iterations, now)
            p50s[size] = statistics.median(samples)
            summaries[size] = summary
            print(
                f"  {size:>9,} events: {_percentiles(samples)}  first call {first * 1000:7.1f} ms  {summary}"
            )
        _print_growth(sizes, p50s)

        if args.compare_raw:
            print("\nthe same, plain aggregation (rollups switched off):")
            raw_p50s: dict[int, float] = {}
            for size in sizes:
                _first, samples, summary = _time_service(
                    database.url, catalog, f"{size}", args.iterations, now, raw=True
                )
                raw_p50s[size] = statistics.median(samples)
                same = "same usage" if summary == summaries[size] else f"DIFFERENT USAGE: {summary}"
                print(f"  {size:>9,} events: {_percentiles(samples)}  {same}")
            _print_growth(sizes, raw_p50s)

        if args.http:
            port = _free_port()
            env = {
                **os.environ,
                "BILLOW_DATABASE_URL": database.url,
                "BILLOW_API_KEY": API_KEY,
                "BILLOW_LOG_LEVEL": "warning",
            }
            command = [sys.executable, "-m", "billow.cli", "serve", "--host", HOST, "--port", str(port)]
            server = subprocess.Popen(command, env=env, start_new_session=True)
            try:
                _wait_healthy(port, server)
                print("\nGET /api/v1/customers/{id}/current_usage (billow serve, 1 worker, keep-alive):")
                http_p50s: dict[int, float] = {}
                for size in sizes:
                    samples = _time_http(port, f"{size}", args.iterations)
                    http_p50s[size] = statistics.median(samples)
                    print(f"  {size:>9,} events: {_percentiles(samples)}")
                _print_growth(sizes, http_p50s)
            finally:
                server.terminate()
                server.wait(timeout=30)

        if args.after_ingest:
            print(
                f"\nafter inserting {args.after_ingest:,} more events per subscription (10 % late), in"
                " 100-event statements:"
            )
            later = now + timedelta(seconds=1)
            for size in sizes:
                _ingest_more(database.url, catalog, f"{size}", args.after_ingest, month_start, now)
                first, samples, summary = _time_service(
                    database.url, catalog, f"{size}", args.iterations, later
                )
                line = f"  {size:>9,} events: next call {first * 1000:7.1f} ms, then {_percentiles(samples)}"
                if args.compare_raw:
                    _f, _s, raw_summary = _time_service(database.url, catalog, f"{size}", 0, later, raw=True)
                    line += (
                        "  same usage as plain" if raw_summary == summary else f"  DIFFERENT: {raw_summary}"
                    )
                print(f"{line}  {summary}")

        if args.explain:
            _explain(database.url, catalog, f"{sizes[-1]}", now)


if __name__ == "__main__":
    main()
