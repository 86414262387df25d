"""Event ingestion benchmark: ``billow serve`` on a throwaway PostgreSQL database, driven from this machine.

Usage::

    .venv/bin/python bench/ingest.py [--workers 2] [--connections 8] [--batch-requests 1000]
                                     [--single-requests 20000] [--max-seconds 30] [--repeat 1]

It creates a database on ``BILLOW_BENCH_DATABASE_URL`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``; the database named there is only used to create and
drop the throwaway one), starts ``billow serve --workers N`` on 127.0.0.1 with a key given through
``BILLOW_API_KEY``, creates one billable metric, then runs two phases, each bounded by a request count
and by a duration:

1. ``POST /events/batch`` with 100 events per request;
2. ``POST /events`` with one event per request;

``--repeat`` runs both again on the same server (the figures of a shared machine vary from run to run).

``--subscriptions`` first creates a plan charging the metric, a customer and the 50 subscriptions the
events go to (``sub_0`` ... ``sub_49``, started 2024-01-01), and dates the events in the current
charges period (the last hours), so that what follows an ingestion has usage to measure; ``--alerts``
(implies ``--subscriptions``) also puts a ``current_usage_amount`` alert on each subscription (thresholds
10000, 50000 and a recurring 100000 cents), evaluated after each ingestion (``billing/usage_alerts.py``).
Compare a run with ``--subscriptions`` with the same command with ``--alerts``.

The load generator is a minimal HTTP/1.1 keep-alive client on asyncio (uvloop when installed;
``--connections`` concurrent connections; request bodies built before the clock starts) so that it
takes as little of the machine's CPU as possible away from the server. It prints events/s per phase,
the peak RSS (VmHWM) of each server process, the core count and the exact command; every response
must be a 200.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import webhook_sink
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
HOST = "127.0.0.1"
API_KEY = "bench_" + uuid.uuid4().hex
BATCH_SIZE = 100


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


def _prepare_schema(url: str) -> None:
    """Migrate, then create the tables that no migration has yet (models newer than the migrations);
    ``billow serve`` then finds the database at head."""
    from billow.db import make_engine
    from billow.migrate import upgrade
    from billow.models import metadata

    upgrade(url)
    engine = make_engine(url)
    metadata.create_all(engine)
    engine.dispose()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------------------------------
# Server processes
# --------------------------------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            found.append(int(entry.name))
    return found


def _process_tree(pid: int) -> list[int]:
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(_children(current))
    return tree


def _vm_hwm_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


# --------------------------------------------------------------------------------------------------
# Load generator
# --------------------------------------------------------------------------------------------------


@dataclass
class PhaseResult:
    name: str
    requests: int = 0
    events: int = 0
    seconds: float = 0.0
    statuses: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)

    def line(self) -> str:
        rate = self.events / self.seconds if self.seconds else 0.0
        lat = sorted(self.latencies)
        p50 = lat[len(lat) // 2] * 1000 if lat else 0.0
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000 if lat else 0.0
        return (
            f"{self.name}: {self.events} events in {self.requests} requests, {self.seconds:.2f} s -> "
            f"{rate:,.0f} events/s ({self.requests / self.seconds:,.0f} req/s; "
            f"latency p50 {p50:.1f} ms, p99 {p99:.1f} ms; statuses {self.statuses})"
        )


def _request_bytes(port: int, path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nAuthorization: Bearer {API_KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    body = await reader.readexactly(length) if length else b""
    return status, body


async def _run_phase(
    name: str, port: int, requests: list[bytes], events_per_request: int, connections: int, max_seconds: float
) -> PhaseResult:
    result = PhaseResult(name)
    queue = iter(requests)
    deadline = time.perf_counter() + max_seconds
    first_error: list[bytes] = []

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            for payload in queue:
                if time.perf_counter() > deadline:
                    break
                started = time.perf_counter()
                writer.write(payload)
                status, body = await _read_response(reader)
                result.latencies.append(time.perf_counter() - started)
                result.statuses[status] = result.statuses.get(status, 0) + 1
                result.requests += 1
                if status == 200:
                    result.events += events_per_request
                elif not first_error:
                    first_error.append(body[:500])
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    result.seconds = time.perf_counter() - started
    if first_error:
        print(f"  first error body: {first_error[0]!r}", flush=True)
    return result


def _run(coroutine: Any) -> Any:
    """Run the load generator on uvloop when it is installed (less client CPU taken from the server)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def _batch_requests(port: int, count: int, run: str, recent: bool = False) -> list[bytes]:
    base = int(time.time()) - count * BATCH_SIZE - 60 if recent else 1_720_000_000
    payloads = []
    for r in range(count):
        events = [
            {
                "transaction_id": f"{run}-b{r}-{i}",
                "external_subscription_id": f"sub_{(r * BATCH_SIZE + i) % 50}",
                "code": "storage",
                "timestamp": base + r * BATCH_SIZE + i,
                "properties": {"gb": str((i % 7) + 1), "region": "eu-west-1"},
                "precise_total_amount_cents": None,
            }
            for i in range(BATCH_SIZE)
        ]
        body = json.dumps({"events": events}, separators=(",", ":")).encode()
        payloads.append(_request_bytes(port, "/api/v1/events/batch", body))
    return payloads


def _single_requests(port: int, count: int, run: str, recent: bool = False) -> list[bytes]:
    base = int(time.time()) - count - 60 if recent else 1_730_000_000
    payloads = []
    for r in range(count):
        # What lago-python-client sends: every key present, unset ones as null.
        event = {
            "transaction_id": f"{run}-s{r}",
            "external_subscription_id": f"sub_{r % 50}",
            "code": "storage",
            "timestamp": base + r,
            "precise_total_amount_cents": None,
            "properties": {"gb": str((r % 7) + 1), "region": "eu-west-1"},
        }
        body = json.dumps({"event": event}, separators=(",", ":")).encode()
        payloads.append(_request_bytes(port, "/api/v1/events", body))
    return payloads


async def _setup_catalog(port: int, subscriptions: bool = False, alerts: bool = False) -> None:
    reader, writer = await asyncio.open_connection(HOST, port)

    async def post(path: str, payload: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(payload).encode()
        writer.write(_request_bytes(port, f"/api/v1{path}", body))
        status, answer = await _read_response(reader)
        if status != 200:
            raise SystemExit(f"POST {path} failed: {status} {answer[:300]!r}")
        return dict(json.loads(answer))

    metric = {"name": "Storage", "code": "storage", "aggregation_type": "sum_agg", "field_name": "gb"}
    created = await post("/billable_metrics", {"billable_metric": metric})
    if subscriptions or alerts:
        charge = {
            "billable_metric_id": created["billable_metric"]["lago_id"],
            "charge_model": "standard",
            "properties": {"amount": "1"},
        }
        plan = {"name": "Bench", "code": "bench", "interval": "monthly", "amount_cents": 0}
        await post("/plans", {"plan": {**plan, "amount_currency": "USD", "charges": [charge]}})
        await post("/customers", {"customer": {"external_id": "bench_customer", "name": "Bench"}})
        for i in range(50):
            subscription = {
                "external_customer_id": "bench_customer",
                "plan_code": "bench",
                "external_id": f"sub_{i}",
                "subscription_at": "2024-01-01T00:00:00Z",
            }
            await post("/subscriptions", {"subscription": subscription})
            if alerts:
                thresholds = [{"value": 10000}, {"value": 50000}, {"value": 100000, "recurring": True}]
                alert = {"alert_type": "current_usage_amount", "code": "usage", "thresholds": thresholds}
                await post(f"/subscriptions/sub_{i}/alerts", {"alert": alert})
    writer.close()


def _alert_figures(url: str) -> str:
    """The alerts' evaluations when the phases ended (the tasks still queued then are not counted)."""
    engine = create_engine(_sqlalchemy_url(url))
    with engine.connect() as connection:
        evaluated = connection.execute(
            text("SELECT count(*) FROM alerts WHERE last_processed_at IS NOT NULL")
        ).scalar_one()
        triggered = connection.execute(text("SELECT count(*) FROM triggered_alerts")).scalar_one()
    engine.dispose()
    return f"alerts: {evaluated} of 50 evaluated at least once, {triggered} triggered alerts written"


async def _add_endpoint(port: int, url: str, algo: str) -> None:
    body = json.dumps({"webhook_endpoint": {"webhook_url": url, "signature_algo": algo}}).encode()
    reader, writer = await asyncio.open_connection(HOST, port)
    writer.write(_request_bytes(port, "/api/v1/webhook_endpoints", body))
    status, answer = await _read_response(reader)
    writer.close()
    if status != 200:
        raise SystemExit(f"creating a webhook endpoint failed: {status} {answer[:300]!r}")


def _wait_healthy(port: int, server: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"billow serve exited with {server.returncode}")
        try:
            with socket.create_connection((HOST, port), timeout=1) as sock:
                sock.sendall(f"GET /health HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode())
                if b" 200 " in sock.recv(200):
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("billow serve did not become healthy")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2, help="billow serve --workers")
    parser.add_argument("--connections", type=int, default=8, help="concurrent client connections")
    parser.add_argument("--batch-requests", type=int, default=1000, help="at most this many batch requests")
    parser.add_argument(
        "--single-requests", type=int, default=20000, help="at most this many single requests"
    )
    parser.add_argument("--max-seconds", type=float, default=30.0, help="time limit of each phase")
    parser.add_argument("--repeat", type=int, default=1, help="run both phases this many times")
    parser.add_argument(
        "--webhook-endpoints", type=int, default=0, help="register N webhook endpoints (a local sink) first"
    )
    parser.add_argument(
        "--subscriptions", action="store_true", help="the events' 50 subscriptions exist (recent events)"
    )
    parser.add_argument("--alerts", action="store_true", help="a usage alert on each subscription")
    args = parser.parse_args()
    alert_lines = ""

    admin_url = os.environ.get("BILLOW_BENCH_DATABASE_URL", DEFAULT_ADMIN_URL)
    port = _free_port()
    run = uuid.uuid4().hex[:6]
    with ThrowawayDatabase(admin_url) as database:
        _prepare_schema(database.url)
        env = {
            **os.environ,
            "BILLOW_DATABASE_URL": database.url,
            "BILLOW_API_KEY": API_KEY,
            "BILLOW_LOG_LEVEL": "warning",
            "BILLOW_SECRET_KEY": "kZ1mQy0bFq1b1oQhQ0vJ7o3Q5Jx2mW3o2q9pYlQnZQ0=",
        }
        command = [sys.executable, "-m", "billow.cli", "serve", "--host", HOST, "--port", str(port)]
        command += ["--workers", str(args.workers)]
        server = subprocess.Popen(command, env=env, start_new_session=True)
        try:
            _wait_healthy(port, server)
            recent = args.subscriptions or args.alerts
            _run(_setup_catalog(port, subscriptions=recent, alerts=args.alerts))
            sink = None
            if args.webhook_endpoints:
                sink = webhook_sink.Sink()
                for n in range(args.webhook_endpoints):
                    _run(_add_endpoint(port, f"{sink.url}?n={n}", "jwt" if n % 2 == 0 else "hmac"))
            # Warm-up: let every worker open its connections and prepare its statements.
            warm = _single_requests(port, 200, run + "w", recent)
            _run(_run_phase("warm-up", port, warm, 1, args.connections, 10))
            results = []
            for round_ in range(1, args.repeat + 1):
                tag = f"{run}r{round_}"
                suffix = f", round {round_}/{args.repeat}" if args.repeat > 1 else ""
                batch_payloads = _batch_requests(port, args.batch_requests, tag, recent)
                results.append(
                    _run(
                        _run_phase(
                            f"batch ({BATCH_SIZE} events/request{suffix})",
                            port,
                            batch_payloads,
                            BATCH_SIZE,
                            args.connections,
                            args.max_seconds,
                        )
                    )
                )
                del batch_payloads
                single_payloads = _single_requests(port, args.single_requests, tag, recent)
                results.append(
                    _run(
                        _run_phase(
                            f"single (1 event/request{suffix})",
                            port,
                            single_payloads,
                            1,
                            args.connections,
                            args.max_seconds,
                        )
                    )
                )
            processes = _process_tree(server.pid)
            rss = {pid: _vm_hwm_kib(pid) for pid in processes}
            if args.alerts:
                alert_lines = _alert_figures(database.url)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()

    print()
    print("command: " + shlex.join([sys.executable, *sys.argv]))
    print(f"server: {shlex.join(command[2:])} (uvicorn, PostgreSQL at {make_url(admin_url).host})")
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    print(f"cores: {os.cpu_count()}; client: {loop} HTTP/1.1 keep-alive, {args.connections} connections")
    if args.webhook_endpoints:
        print(f"webhook endpoints: {args.webhook_endpoints} (bench/webhook_sink.py)")
    for result in results:
        print(result.line())
    peaks = ", ".join(f"pid {pid}: {kib / 1024:.1f} MiB" for pid, kib in rss.items() if kib is not None)
    total = sum(kib for kib in rss.values() if kib is not None) / 1024
    print(f"server peak RSS (VmHWM): {peaks}; sum {total:.1f} MiB")
    if args.alerts:
        print(alert_lines)
    if any(status != 200 for r in results for status in r.statuses):
        raise SystemExit("some requests failed")


if __name__ == "__main__":
    main()
