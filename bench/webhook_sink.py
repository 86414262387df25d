"""Webhook endpoints for the benchmarks (``--webhook-endpoints N`` of ``bench/billing.py`` and
``bench/ingest.py``): N endpoints of the benchmark's organization pointing at a local sink (an HTTP server
in a thread of the benchmark answering 200), and a delivery process (the scan's work: every endpoint with
webhooks due, delivered by :func:`billow.webhooks.delivery.deliver_endpoint`, in a loop), so that the
outbox is written *and* delivered while the measured work runs, on the same machine.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sqlalchemy import create_engine, text

DELIVERY_LOOP = """
import sys, time, uuid
from billow.config import normalize_database_url
from billow.db import make_engine, make_sessionmaker, utcnow
from billow.webhooks import delivery
factory = make_sessionmaker(make_engine(normalize_database_url(sys.argv[1])))
while True:
    with factory() as session:
        due = delivery.due_endpoints(session, utcnow())
    for endpoint_id in due:
        delivery.deliver_endpoint(factory, endpoint_id, utcnow())
    if not due:
        time.sleep(0.2)
"""


class Sink:
    """Counts the webhooks it receives."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with sink._lock:
                    sink.count += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def register_endpoints(url: str, count: int, sink_url: str) -> None:
    """``count`` endpoints (every webhook type) for every organization of the database, on the sink."""
    import uuid

    engine = create_engine(url)
    with engine.begin() as connection:
        for (organization_id,) in connection.execute(text("SELECT id FROM organizations")).all():
            for n in range(count):
                connection.execute(
                    text(
                        "INSERT INTO webhook_endpoints (id, organization_id, webhook_url, signature_algo,"
                        " created_at, updated_at) VALUES (:id, :org, :url, :algo, now(), now())"
                    ),
                    {
                        "id": uuid.uuid4(),
                        "org": organization_id,
                        "url": f"{sink_url}?n={n}",
                        "algo": "jwt" if n % 2 == 0 else "hmac",
                    },
                )
    engine.dispose()


def reset_outbox(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("TRUNCATE webhook_attempts, webhooks, webhook_events CASCADE"))
    engine.dispose()


def open_webhooks(url: str) -> tuple[int, int]:
    """(webhooks written, still open)."""
    engine = create_engine(url)
    with engine.connect() as connection:
        total, open_ = connection.execute(
            text("SELECT count(*), count(*) FILTER (WHERE status IN ('pending', 'retrying')) FROM webhooks")
        ).one()
    engine.dispose()
    return int(total), int(open_)


class Deliverer:
    """The delivery loop in its own process (as ``billow serve``/``billow worker`` would run it)."""

    def __init__(self, sqlalchemy_url: str, env: dict[str, str]) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", DELIVERY_LOOP, sqlalchemy_url], env=env)

    def drain(self, url: str, timeout: float = 600.0) -> tuple[int, float]:
        """Wait until no webhook is open; (webhooks written, seconds waited)."""
        began = time.perf_counter()
        while True:
            total, still_open = open_webhooks(url)
            if still_open == 0 or time.perf_counter() - began > timeout:
                return total, time.perf_counter() - began
            time.sleep(0.5)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
