"""``billow worker --metrics-port``: the worker process serves its own metrics while it runs."""

from __future__ import annotations

import socket
import urllib.request
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from billow.config import Settings
from billow.kit import logs
from billow.worker import engine


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_metrics_served_while_the_worker_runs_then_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    scraped: list[str] = []

    async def worker(database_url: str, **options: Any) -> None:
        # Stands for the job engine: scrape the port as a Prometheus server would, meanwhile.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            scraped.append(response.read().decode())

    monkeypatch.setattr(engine, "run_worker", worker)
    monkeypatch.setattr(logs, "configure", lambda *args, **kwargs: None)  # leave the root logger alone
    engine.serve_worker(
        "postgresql://unused", 1, None, None, wait=False, metrics_at=("127.0.0.1", port), settings=Settings()
    )
    [text] = scraped
    names = {family.name for family in text_string_to_metric_families(text)}
    assert {"billow_jobs_deferred", "billow_jobs_failed", "billow_tasks_queued"} <= names
    with pytest.raises(OSError):  # closed with the worker
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2)
