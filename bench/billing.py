"""Billing-run benchmark: bill one monthly period for many subscriptions on a throwaway PostgreSQL database,
with the data put there the way a user puts it (through the API) or, for large runs, with ``COPY``.

Usage::

    .venv/bin/python bench/billing.py [--subscriptions 10000] [--events 100] [--load api|copy]
                                      [--processes 1] [--workers 1,2] [--worker-concurrency 1]
                                      [--statements N] [--profile N] [--keep] [--database NAME]

It creates a database on ``BILLOW_BENCH_DATABASE_URL`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``; that database is only used to create and drop the
throwaway one). The data: one organization with a 20 % plan tax and a monthly plan (10.00, in arrears)
with three usage charges:

* ``storage`` — ``sum_agg`` on ``gb`` (decimals with 2 digits), standard at 0.02;
* ``users`` — ``unique_count_agg`` on ``user_id`` (50 possible users per subscription), graduated
  (0-10 at 1.00 + 5.00 flat, 11+ at 0.50);
* ``calls`` — ``count_agg`` with a charge filter ``region = us`` at 0.05, default bucket at 0.01.

``--subscriptions`` customers with one calendar subscription each, started on the 1st of a past month
(``--month``, default: the previous calendar month), and ``--events`` events per subscription in that
month (a third per charge). Billing is then timed at the first instant of the next month (one invoice
per subscription).

``--load api`` (default; the user's path): a real ``billow serve --workers 2`` (subprocess,
``BILLOW_SCHEDULER=off`` so that its scans bill nothing behind the benchmark's back) creates the
catalog, the customers and the subscriptions (``POST /customers``, ``POST /subscriptions``, 8 concurrent
clients) and ingests the events through ``POST /events/batch`` (100 events per request, 8 concurrent
clients), in time order: round ``i`` sends every subscription's ``i``-th event, subscriptions shuffled,
so a batch holds events of ~100 subscriptions as live traffic does. Nothing is ``ANALYZE``d or vacuumed by
the benchmark, before or between the billing runs (what the database knows is what the API left).
``--load copy``: the catalog, customers and subscriptions inserted directly, the events loaded with
``COPY`` in subscription order and the database ``VACUUM ANALYZE``d (also before each billing run); fast
to set up for large runs, but it hides what the database does on the user's path.

Billing runs (each from an empty invoice table; all with ``BILLOW_BILL_BACKDATED_PERIODS=true`` since the
subscriptions were created after the period they bill):

* ``--processes 1``: ``billow bill --as-of <first instant of the next month>`` (a subprocess: the scan
  of due subscriptions, then every invoice); ``--processes N`` (N > 1): the scan in this process, then N
  forked processes calling :func:`billow.billing.run.bill_subscriptions` on chunks of 25 taken from a
  shared queue;
* ``--workers 1,2``: the billing scan as a ``billow.scan`` job (it defers one ``billow.scan_item`` job
  per batch of due subscriptions, :mod:`billow.billing.tasks`), then that many ``billow worker --queue
  items --once --concurrency C`` processes sharing the jobs.

Printed: the exact command, the core count and load, the set-up and ingestion times, the planner's
statistics of the main tables before billing (``pg_stat_user_tables``), and per run the wall time,
subscriptions/s and invoices/s. Checks: the number of invoices equals the number of subscriptions, and
three sampled subscriptions' invoice totals equal totals computed here from the generated events
(independently of Billow's engine). ``--statements N`` prints the N statements of each run that took the
most database time (``pg_stat_statements``, when the server preloads it). ``--profile N`` then bills N
more subscriptions (a fresh invoice table) under ``cProfile`` in this process and prints the top functions
and the SQL statement counts. ``--keep`` keeps the database; ``--database NAME`` bills such a kept
database again (same ``--subscriptions``, ``--events``, ``--order`` and ``--month``) without loading.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import multiprocessing
import os
import pstats
import random
import shlex
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import webhook_sink
from sqlalchemy import create_engine, event, insert, text
from sqlalchemy.engine import make_url

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
HOST = "127.0.0.1"
API_KEY = "bench_" + uuid.uuid4().hex
PLAN_CENTS = 1000
TAX_RATE = Decimal(20)
STORAGE_PRICE = Decimal("0.02")
US_PRICE, DEFAULT_PRICE = Decimal("0.05"), Decimal("0.01")
USERS = 50
CHUNK = 25
BATCH_EVENTS = 100
CONNECTIONS = 8
#: The environment of every Billow process of the benchmark: the subscriptions are created after the
#: period they bill (backdated), and the server's own scans must not bill behind the benchmark's back.
BILLOW_ENV = {
    "BILLOW_BILL_BACKDATED_PERIODS": "true",
    "BILLOW_SCHEDULER": "off",
    "BILLOW_LOG_LEVEL": "warning",
    # Production on PostgreSQL: every process shares the sealing key (webhook signing keys).
    "BILLOW_SECRET_KEY": "kZ1mQy0bFq1b1oQhQ0vJ7o3Q5Jx2mW3o2q9pYlQnZQ0=",
}


def _sqlalchemy_url(url: str) -> str:
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class ThrowawayDatabase:
    """A new database, dropped on exit unless ``keep``; or ``existing`` (never dropped)."""

    def __init__(self, admin_url: str, keep: bool, existing: str | None = None) -> None:
        self.admin = create_engine(_sqlalchemy_url(admin_url), isolation_level="AUTOCOMMIT")
        self.name = existing or f"billow_bench_{uuid.uuid4().hex[:10]}"
        self.keep = keep or existing is not None
        self.existing = existing is not None
        self.url = (
            make_url(_sqlalchemy_url(admin_url)).set(database=self.name).render_as_string(hide_password=False)
        )

    def __enter__(self) -> ThrowawayDatabase:
        if not self.existing:
            with self.admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{self.name}"'))
        return self

    def __exit__(self, *_exc: object) -> None:
        if not self.keep:
            with self.admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self.admin.dispose()


def _month(spec: str | None) -> tuple[datetime, datetime]:
    """The billed month ``[start, as_of)``: ``YYYY-MM``, or the previous calendar month (UTC)."""
    if spec:
        start = datetime.strptime(spec, "%Y-%m").replace(tzinfo=UTC)
    else:
        today = datetime.now(UTC)
        first = today.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        start = (first - timedelta(days=1)).replace(day=1)
    as_of = (start + timedelta(days=32)).replace(day=1)
    return start, as_of


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


@dataclass(frozen=True)
class GeneratedEvent:
    subscription: int
    index: int
    code: str
    properties: dict[str, Any]
    #: Milliseconds since the epoch.
    timestamp_ms: int


def _events(
    subscriptions: int,
    per_subscription: int,
    start: datetime,
    as_of: datetime,
    expected: dict[int, Expected],
    *,
    interleaved: bool,
) -> Iterator[GeneratedEvent]:
    """Every subscription's events (the ``i``-th one of a subscription is for charge ``i % 3``), with
    timestamps in ``[start, as_of)``; the sampled subscriptions' expected usage is accumulated in
    ``expected`` as they are generated. ``interleaved``: in time order (round ``i`` holds every
    subscription's ``i``-th event, subscriptions shuffled, in the ``i``-th slice of the month);
    otherwise subscription by subscription, at random instants of the month."""
    rng = random.Random(42)
    start_ms = int(start.timestamp() * 1000)
    span_ms = int((as_of - start).total_seconds() * 1000)

    def one(s: int, i: int, position: float) -> GeneratedEvent:
        role = i % 3
        sample = expected.get(s)
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
        return GeneratedEvent(s, i, code, properties, start_ms + int(position * span_ms))

    if interleaved:
        order = list(range(subscriptions))
        for i in range(per_subscription):
            rng.shuffle(order)
            for s in order:
                yield one(s, i, (i + rng.random()) / per_subscription)
    else:
        for s in range(subscriptions):
            for i in range(per_subscription):
                yield one(s, i, rng.random())


# ------------------------------------------------------------------------------------------ copy path


def _prepare_copy(url: str, subscriptions: int, start: datetime) -> uuid.UUID:
    from sqlalchemy import insert as sa_insert

    from billow.db import make_engine, make_sessionmaker
    from billow.models.billable_metrics import BillableMetric, BillableMetricFilter
    from billow.models.customers import Customer
    from billow.models.plans import Charge, ChargeFilter, ChargeFilterValue, Plan, plan_taxes
    from billow.models.subscriptions import Subscription
    from billow.models.taxes import Tax
    from billow.organizations.service import organization_service

    _prepare_schema(url)
    engine = make_engine(url)
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
                    "subscription_at": start,
                    "started_at": start,
                    "created_at": start,  # not backdated: its periods since the start are billable
                }
                for i, customer in enumerate(customers)
            ],
        )
    engine.dispose()
    return org_id


def _prepare_schema(url: str) -> None:
    """Migrate, then create the tables that no migration has yet (models newer than the migrations);
    Billow's commands then find the database at head."""
    from billow.db import make_engine
    from billow.migrate import upgrade
    from billow.models import metadata

    upgrade(url)
    engine = make_engine(url)
    metadata.create_all(engine)
    engine.dispose()


def _load_copy(url: str, org_id: uuid.UUID, events: Iterator[GeneratedEvent]) -> int:
    """COPY the events, then ANALYZE; returns how many were loaded."""
    import psycopg

    created = datetime.now(UTC)
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    count = 0
    with psycopg.connect(conninfo) as connection, connection.cursor() as cursor:
        columns = (
            "id, organization_id, transaction_id, external_subscription_id, code, timestamp, properties,"
            " created_at"
        )
        org = str(org_id)
        with cursor.copy(f"COPY events ({columns}) FROM STDIN") as copy:
            buffer = io.StringIO()
            for item in events:
                timestamp = datetime.fromtimestamp(item.timestamp_ms / 1000, UTC)
                buffer.write(
                    f"{uuid.uuid4()}\t{org}\tsub_{item.subscription}-{item.index}\tsub_{item.subscription}\t"
                    f"{item.code}\t{timestamp.isoformat()}\t"
                    f"{json.dumps(item.properties, separators=(',', ':'))}\t"
                    f"{(created + timedelta(microseconds=count)).isoformat()}\n"
                )
                count += 1
                if buffer.tell() > 1 << 20:
                    copy.write(buffer.getvalue())
                    buffer = io.StringIO()
            copy.write(buffer.getvalue())
        connection.commit()
        cursor.execute("ANALYZE")
        connection.commit()
    return count


# ------------------------------------------------------------------------------------------ API path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _billow_env(url: str, **extra: str) -> dict[str, str]:
    return {**os.environ, **BILLOW_ENV, "BILLOW_DATABASE_URL": url, **extra}


def _billow(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "billow.cli", *arguments]


class Server:
    """``billow serve`` in a subprocess (its own process group), stopped on exit."""

    def __init__(self, url: str, workers: int) -> None:
        self.port = _free_port()
        self.command = _billow("serve", "--host", HOST, "--port", str(self.port), "--workers", str(workers))
        self.process = subprocess.Popen(
            self.command, env=_billow_env(url, BILLOW_API_KEY=API_KEY), start_new_session=True
        )

    def __enter__(self) -> Server:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"billow serve exited with {self.process.returncode}")
            try:
                with socket.create_connection((HOST, self.port), timeout=1) as sock:
                    sock.sendall(
                        f"GET /health HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode()
                    )
                    if b" 200 " in sock.recv(200):
                        return self
            except OSError:
                pass
            time.sleep(0.2)
        self.__exit__()
        raise SystemExit("billow serve did not become healthy")

    def __exit__(self, *_exc: object) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


Request = tuple[str, str, Any]  # method, path, JSON body


class Client:
    """A minimal HTTP/1.1 keep-alive client on asyncio (it takes little CPU from the server): work items
    (each a list of requests sent in order on one connection) are shared by ``connections`` connections;
    every response must be a 200."""

    def __init__(self, port: int) -> None:
        self.port = port

    def _bytes(self, method: str, path: str, body: Any) -> bytes:
        payload = json.dumps(body, separators=(",", ":")).encode()
        head = (
            f"{method} /api/v1{path} HTTP/1.1\r\nHost: {HOST}:{self.port}\r\n"
            f"Authorization: Bearer {API_KEY}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
        )
        return head.encode() + payload

    @staticmethod
    async def _response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, (await reader.readexactly(length) if length else b"")

    async def run(self, work: Iterator[list[Request]], connections: int = CONNECTIONS) -> int:
        sent = 0

        async def connection() -> None:
            nonlocal sent
            reader, writer = await asyncio.open_connection(HOST, self.port)
            try:
                for item in work:
                    for method, path, body in item:
                        writer.write(self._bytes(method, path, body))
                        status, answer = await self._response(reader)
                        if status != 200:
                            raise SystemExit(f"{method} {path}: {status} {answer[:500]!r}")
                        sent += 1
            finally:
                writer.close()

        await asyncio.gather(*(connection() for _ in range(connections)))
        return sent

    def send(self, work: Iterator[list[Request]], connections: int = CONNECTIONS) -> int:
        return asyncio.run(self.run(work, connections))


_GRADUATED = {
    "graduated_ranges": [
        {"from_value": 0, "to_value": 10, "per_unit_amount": "1", "flat_amount": "5"},
        {"from_value": 11, "to_value": None, "per_unit_amount": "0.5", "flat_amount": "0"},
    ]
}


def _create_catalog(port: int) -> None:
    """The organization's prefix, the tax, the three metrics and the plan, through the API."""
    import httpx

    with httpx.Client(
        base_url=f"http://{HOST}:{port}/api/v1", headers={"Authorization": f"Bearer {API_KEY}"}, timeout=30
    ) as http:

        def call(method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
            response = http.request(method, path, json=body)
            if response.status_code != 200:
                raise SystemExit(f"{method} {path}: {response.status_code} {response.text[:500]}")
            return dict(response.json())

        call("PUT", "/organizations", {"organization": {"document_number_prefix": "BEN"}})
        call("POST", "/taxes", {"tax": {"name": "VAT", "code": "vat", "rate": str(TAX_RATE)}})
        metrics: dict[str, str] = {}
        for code, kind, field_name, filters in [
            ("storage", "sum_agg", "gb", None),
            ("users", "unique_count_agg", "user_id", None),
            ("calls", "count_agg", None, [{"key": "region", "values": ["us", "eu", "asia"]}]),
        ]:
            body: dict[str, Any] = {"name": code, "code": code, "aggregation_type": kind}
            if field_name:
                body["field_name"] = field_name
            if filters:
                body["filters"] = filters
            metrics[code] = call("POST", "/billable_metrics", {"billable_metric": body})["billable_metric"][
                "lago_id"
            ]
        charges = [
            {
                "billable_metric_id": metrics["storage"],
                "charge_model": "standard",
                "properties": {"amount": str(STORAGE_PRICE)},
            },
            {"billable_metric_id": metrics["users"], "charge_model": "graduated", "properties": _GRADUATED},
            {
                "billable_metric_id": metrics["calls"],
                "charge_model": "standard",
                "properties": {"amount": str(DEFAULT_PRICE)},
                "filters": [{"values": {"region": ["us"]}, "properties": {"amount": str(US_PRICE)}}],
            },
        ]
        plan = {
            "name": "Bench",
            "code": "bench",
            "interval": "monthly",
            "amount_cents": PLAN_CENTS,
            "amount_currency": "USD",
            "pay_in_advance": False,
            "tax_codes": ["vat"],
            "charges": charges,
        }
        call("POST", "/plans", {"plan": plan})


def _subscriber_requests(subscriptions: int, start: datetime) -> Iterator[list[Request]]:
    """Per subscriber: the customer, then its calendar subscription started at ``start``."""
    subscription_at = start.isoformat().replace("+00:00", "Z")
    for i in range(subscriptions):
        yield [
            (
                "POST",
                "/customers",
                {"customer": {"external_id": f"cus_{i}", "name": f"Customer {i}", "currency": "USD"}},
            ),
            (
                "POST",
                "/subscriptions",
                {
                    "subscription": {
                        "external_customer_id": f"cus_{i}",
                        "external_id": f"sub_{i}",
                        "plan_code": "bench",
                        "billing_time": "calendar",
                        "subscription_at": subscription_at,
                    }
                },
            ),
        ]


def _event_requests(events: Iterator[GeneratedEvent]) -> Iterator[list[Request]]:
    """``POST /events/batch`` with :data:`BATCH_EVENTS` events each (what lago-python-client sends)."""
    batch: list[dict[str, Any]] = []
    for item in events:
        batch.append(
            {
                "transaction_id": f"sub_{item.subscription}-{item.index}",
                "external_subscription_id": f"sub_{item.subscription}",
                "code": item.code,
                "timestamp": f"{item.timestamp_ms // 1000}.{item.timestamp_ms % 1000:03d}",
                "properties": item.properties,
                "precise_total_amount_cents": None,
            }
        )
        if len(batch) == BATCH_EVENTS:
            yield [("POST", "/events/batch", {"events": batch})]
            batch = []
    if batch:
        yield [("POST", "/events/batch", {"events": batch})]


# ------------------------------------------------------------------------------------------ runs


def _reset(url: str, vacuum: bool) -> None:
    """Empty the invoices (and the job queue). ``vacuum``: then ``VACUUM ANALYZE`` (copy path only: the
    user's path keeps the statistics and visibility the API left)."""
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text("TRUNCATE applied_taxes, fees, invoice_subscriptions, invoices, invoice_sequences CASCADE")
        )
        if connection.execute(text("SELECT to_regclass('procrastinate.procrastinate_jobs')")).scalar():
            connection.execute(text("TRUNCATE procrastinate.procrastinate_jobs CASCADE"))
    if vacuum:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))
    engine.dispose()


def _factory(url: str) -> Any:
    from billow.db import make_engine, make_sessionmaker

    return make_sessionmaker(make_engine(url))


def _worker(url: str, ids: list[uuid.UUID], as_of: datetime, cursor: Any, lock: Any, results: Any) -> None:
    from billow.billing.run import bill_subscriptions

    factory = _factory(url)
    created = failed = 0
    while True:
        with lock:
            start = cursor.value
            cursor.value = start + CHUNK
        if start >= len(ids):
            break
        summary = bill_subscriptions(factory, ids[start : start + CHUNK], as_of)
        created += summary.invoices_created
        failed += len(summary.failed)
    results.put((created, failed))


@dataclass
class RunResult:
    label: str
    wall: float
    scan: float
    invoices: int
    failed: int
    note: str = ""


def _count_invoices(url: str) -> int:
    engine = create_engine(url)
    with engine.connect() as connection:
        invoices = connection.execute(text("SELECT count(*) FROM invoices")).scalar_one()
    engine.dispose()
    return int(invoices)


def _run_bill(url: str, as_of: datetime) -> RunResult:
    """``billow bill --as-of`` in a subprocess, as a user runs it (from cron)."""
    from billow.billing.run import due_subscription_ids

    command = _billow("bill", "--as-of", as_of.isoformat())
    began = time.perf_counter()
    done = subprocess.run(command, env=_billow_env(url), capture_output=True, text=True)
    wall = time.perf_counter() - began
    if done.returncode != 0:
        print(done.stdout, done.stderr[-3000:], sep="\n")
    factory = _factory(url)
    scan_began = time.perf_counter()
    due_subscription_ids(factory, as_of)  # the scan alone (nothing is due any more: its fixed cost)
    scan = time.perf_counter() - scan_began
    factory.kw["bind"].dispose()
    failed = sum(1 for line in done.stderr.splitlines() if line.startswith("failed:"))
    return RunResult(
        f"{shlex.join(command[2:])}", wall, scan, _count_invoices(url), failed, done.stdout.strip()
    )


def _run_processes(url: str, processes: int, as_of: datetime) -> RunResult:
    from billow.billing.run import due_subscription_ids

    context = multiprocessing.get_context("fork")
    factory = _factory(url)
    began = time.perf_counter()
    ids = due_subscription_ids(factory, as_of)
    scan = time.perf_counter() - began
    factory.kw["bind"].dispose()
    cursor = context.Value("q", 0)
    lock = context.Lock()
    results = context.Queue()
    workers = [
        context.Process(target=_worker, args=(url, ids, as_of, cursor, lock, results))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    outcomes = [results.get() for _ in workers]
    for worker in workers:
        worker.join()
    wall = time.perf_counter() - began
    return RunResult(
        f"{processes} processes x bill_subscriptions",
        wall,
        scan,
        sum(created for created, _ in outcomes),
        sum(failed for _, failed in outcomes),
    )


def _run_workers(url: str, processes: int, concurrency: int, as_of: datetime) -> RunResult:
    """The billing scan as a ``billow.scan`` job (it defers one ``billow.scan_item`` job per batch of
    due subscriptions, :mod:`billow.billing.tasks`), then ``processes`` ``billow worker --queue items
    --once`` processes sharing those jobs."""
    from billow.worker.engine import make_engine as make_job_engine

    async def scan() -> None:
        jobs = make_job_engine(url, periodic=False)
        try:
            async with jobs.app.open_async():
                await jobs.app.configure_task("billow.scan").defer_async(
                    scan="billing", now=as_of.isoformat()
                )
                await jobs.app.run_worker_async(queues=["scans"], wait=False, install_signal_handlers=False)
        finally:
            jobs.dispose()

    began = time.perf_counter()
    asyncio.run(scan())
    scanned = time.perf_counter() - began
    command = _billow("worker", "--queue", "items", "--once", "--concurrency", str(concurrency))
    workers = [
        subprocess.Popen(command, env=_billow_env(url), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for _ in range(processes)
    ]
    for worker in workers:
        _, errors = worker.communicate()
        if worker.returncode != 0:
            print(errors.decode()[-3000:])
    wall = time.perf_counter() - began
    engine = create_engine(url)
    with engine.connect() as connection:
        failed = connection.execute(
            text(
                "SELECT count(*) FROM procrastinate.procrastinate_jobs WHERE status <> 'succeeded'"
                " AND queue_name = 'items'"
            )
        ).scalar_one()
    engine.dispose()
    return RunResult(
        f"{processes} x {shlex.join(command[2:])}", wall, scanned, _count_invoices(url), int(failed)
    )


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
            ).scalar()
            want = sample.total_cents()
            status = "ok" if total == want else "MISMATCH"
            print(
                f"  sub_{index}: invoice total {total} cents, computed from its events {want} cents: {status}"
            )
            if total != want:
                problems.append(f"sub_{index}: {total} != {want}")
    engine.dispose()
    return problems


_TABLES = (
    "events",
    "subscriptions",
    "customers",
    "invoice_subscriptions",
    "invoices",
    "fees",
    "usage_touches",
)


def _table_stats(url: str) -> None:
    """What the planner knows of the main tables (``reltuples`` -1: never analyzed)."""
    engine = create_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT s.relname, s.n_live_tup, s.n_mod_since_analyze, c.reltuples::bigint,"
                " greatest(s.last_analyze, s.last_autoanalyze) IS NOT NULL AS analyzed"
                " FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid"
                " WHERE s.relname = ANY(:tables) ORDER BY s.relname"
            ),
            {"tables": list(_TABLES)},
        ).all()
    engine.dispose()
    print(
        "planner statistics: "
        + "; ".join(
            f"{r[0]} {r[1]} rows ({r[2]} changed since analyze, reltuples {r[3]}"
            f"{'' if r[4] else ', never analyzed'})"
            for r in rows
        )
    )


class Statements:
    """``pg_stat_statements`` of the benchmark's database, when the server preloads it."""

    def __init__(self, url: str, top: int) -> None:
        self.engine = create_engine(url, isolation_level="AUTOCOMMIT")
        self.top = top
        self.available = False
        if top:
            try:
                with self.engine.connect() as connection:
                    connection.execute(text("CREATE EXTENSION IF NOT EXISTS pg_stat_statements"))
                    connection.execute(text("SELECT pg_stat_statements_reset()"))
                self.available = True
            except Exception as error:
                print(f"pg_stat_statements unavailable ({str(error).splitlines()[0]})")

    def reset(self) -> None:
        if self.available:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT pg_stat_statements_reset()"))

    def report(self) -> None:
        if not self.available:
            return
        with self.engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT calls, total_exec_time, rows, shared_blks_hit + shared_blks_read, query"
                    " FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database"
                    " WHERE datname = current_database()) ORDER BY total_exec_time DESC LIMIT :n"
                ),
                {"n": self.top},
            ).all()
            total = connection.execute(
                text(
                    "SELECT sum(total_exec_time), sum(calls) FROM pg_stat_statements WHERE dbid ="
                    " (SELECT oid FROM pg_database WHERE datname = current_database())"
                )
            ).one()
        print(f"  database time {total[0] / 1000:.1f} s in {total[1]} statements; the most expensive:")
        for calls, ms, nrows, blocks, query in rows:
            print(
                f"  {ms / 1000:7.2f} s {calls:7d} calls {ms / max(calls, 1):8.3f} ms/call {nrows:8d} rows"
                f" {blocks / max(calls, 1):9.1f} blocks/call  {' '.join(query.split())[:150]}"
            )

    def dispose(self) -> None:
        self.engine.dispose()


def _profile(url: str, subscriptions: int, as_of: datetime, vacuum: bool) -> None:
    from billow.billing.run import bill_subscriptions, due_subscription_ids

    _reset(url, vacuum)
    factory = _factory(url)
    ids = due_subscription_ids(factory, as_of)[:subscriptions]
    statements: Counter[str] = Counter()

    @event.listens_for(factory.kw["bind"], "before_cursor_execute")
    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements[" ".join(statement.split())[:110]] += 1

    profiler = cProfile.Profile()
    began, cpu = time.perf_counter(), time.process_time()
    profiler.enable()
    bill_subscriptions(factory, ids, as_of)
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


# ------------------------------------------------------------------------------------------ main


def _load_api(
    url: str, args: argparse.Namespace, start: datetime, as_of: datetime, expected: dict[int, Expected]
) -> None:
    _prepare_schema(url)
    with Server(url, args.serve_workers) as server:
        print(f"server: {shlex.join(server.command[2:])} (BILLOW_SCHEDULER=off)")
        began = time.perf_counter()
        _create_catalog(server.port)
        client = Client(server.port)
        requests = client.send(_subscriber_requests(args.subscriptions, start))
        print(
            f"catalog, {args.subscriptions} customers and subscriptions through the API"
            f" ({requests} requests): {time.perf_counter() - began:.1f} s"
        )
        began = time.perf_counter()
        events = _events(
            args.subscriptions, args.events, start, as_of, expected, interleaved=args.order == "time"
        )
        requests = client.send(_event_requests(events))
        seconds = time.perf_counter() - began
        total = args.subscriptions * args.events
        print(
            f"{total} events ingested through POST /events/batch ({requests} requests of {BATCH_EVENTS},"
            f" {CONNECTIONS} connections, {args.order} order) in {seconds:.1f} s"
            f" ({total / seconds:,.0f} events/s)"
        )


def _load_copy_path(
    url: str, args: argparse.Namespace, start: datetime, as_of: datetime, expected: dict[int, Expected]
) -> None:
    began = time.perf_counter()
    org_id = _prepare_copy(url, args.subscriptions, start)
    print(
        f"catalog, {args.subscriptions} customers and subscriptions (direct inserts):"
        f" {time.perf_counter() - began:.1f} s"
    )
    began = time.perf_counter()
    events = _events(
        args.subscriptions, args.events, start, as_of, expected, interleaved=args.order == "time"
    )
    count = _load_copy(url, org_id, events)
    print(
        f"{count} events loaded (COPY, {args.order} order, + ANALYZE) in {time.perf_counter() - began:.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subscriptions", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=100, help="events per subscription")
    parser.add_argument(
        "--load", choices=("api", "copy"), default="api", help="how the data gets there (default: api)"
    )
    parser.add_argument(
        "--order",
        choices=("time", "subscription"),
        default=None,
        help="order of the events (default: time with --load api, subscription with --load copy)",
    )
    parser.add_argument("--month", default=None, help="billed month YYYY-MM (default: the previous one)")
    parser.add_argument("--serve-workers", type=int, default=2, help="billow serve --workers (--load api)")
    parser.add_argument(
        "--processes",
        default="1",
        help="comma-separated process counts to time (1: billow bill; N: N forked bill_subscriptions)",
    )
    parser.add_argument(
        "--workers", default="1,2", help="comma-separated counts of billow worker processes to time"
    )
    parser.add_argument("--worker-concurrency", type=int, default=1, help="jobs at a time per worker")
    parser.add_argument("--statements", type=int, default=0, help="print the N costliest statements per run")
    parser.add_argument("--profile", type=int, default=0, help="then profile billing N subscriptions")
    parser.add_argument(
        "--webhook-endpoints",
        type=int,
        default=0,
        help="register N webhook endpoints (a local sink) before billing; deliver while billing runs",
    )
    parser.add_argument("--keep", action="store_true", help="keep the database")
    parser.add_argument(
        "--database",
        default=None,
        help="bill the data of a database kept by an earlier run (--keep) instead of loading new data",
    )
    args = parser.parse_args()
    if args.order is None:
        args.order = "time" if args.load == "api" else "subscription"

    print("command:", shlex.join([sys.executable, *sys.argv]))
    print(f"cores: {os.cpu_count()}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    os.environ.update(BILLOW_ENV)  # the scan and the profile run in this process
    start, as_of = _month(args.month)
    print(f"billed month [{start.isoformat()}, {as_of.isoformat()}), billing at {as_of.isoformat()}")
    admin_url = os.environ.get("BILLOW_BENCH_DATABASE_URL", DEFAULT_ADMIN_URL)
    samples = {0, args.subscriptions // 2, args.subscriptions - 1}
    expected = {i: Expected() for i in samples}
    vacuum = args.load == "copy"
    with ThrowawayDatabase(admin_url, args.keep, existing=args.database) as database:
        url = database.url
        if args.database:
            # The data set of an earlier run (same --subscriptions, --events, --order, --month): only the
            # expected totals are computed again (the events are generated from a fixed seed).
            for _ in _events(
                args.subscriptions, args.events, start, as_of, expected, interleaved=args.order == "time"
            ):
                pass
            print(f"reusing database {args.database} (loaded with --load {args.load})")
        elif args.load == "api":
            _load_api(url, args, start, as_of, expected)
        else:
            _load_copy_path(url, args, start, as_of, expected)
        statements = Statements(url, args.statements)
        failures = []
        runs: list[tuple[str, int]] = [("processes", int(p)) for p in args.processes.split(",") if p]
        runs += [("workers", int(w)) for w in args.workers.split(",") if w]
        if any(kind == "workers" for kind, _ in runs):
            from billow.worker.engine import ensure_schema

            ensure_schema(url)
        sink = None
        if args.webhook_endpoints:
            sink = webhook_sink.Sink()
            webhook_sink.register_endpoints(url, args.webhook_endpoints, sink.url)
            print(f"{args.webhook_endpoints} webhook endpoints, delivered while billing runs")
        for kind, count in runs:
            _reset(url, vacuum)
            _table_stats(url)
            statements.reset()
            deliverer = None
            if sink is not None:
                webhook_sink.reset_outbox(url)
                deliverer = webhook_sink.Deliverer(url, _billow_env(url))
            if kind == "processes":
                result = _run_bill(url, as_of) if count == 1 else _run_processes(url, count, as_of)
            else:
                result = _run_workers(url, count, args.worker_concurrency, as_of)
            if deliverer is not None and sink is not None:
                written, waited = deliverer.drain(url)
                deliverer.stop()
                print(
                    f"  webhooks: {written} written; all delivered {waited:.1f} s after the billing ended"
                    f" (the sink received {sink.count} in all)"
                )
            print(
                f"\n[{result.label}]: {result.invoices} invoices in {result.wall:.1f} s wall"
                f" ({args.subscriptions / result.wall:.0f} subscriptions/s,"
                f" {result.invoices / result.wall:.0f} invoices/s; scan {result.scan:.2f} s);"
                f" failed: {result.failed}"
            )
            if result.note:
                print(f"  {result.note}")
            statements.report()
            failures += _check(url, args.subscriptions, expected)
        statements.dispose()
        if args.profile:
            _profile(url, args.profile, as_of, vacuum)
        if database.keep and not database.existing:
            print(f"kept database {database.name}")
    if failures:
        print("CHECK FAILED:", "; ".join(failures))
        sys.exit(1)


if __name__ == "__main__":
    main()
