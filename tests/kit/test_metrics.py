"""The metrics registry (:mod:`billow.kit.metrics`): status classes, and prometheus-client's multiprocess
mode adding up the processes of ``billow serve --workers N``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from billow.kit import metrics


def test_status_class() -> None:
    assert [metrics.status_class(code) for code in (200, 204, 301, 404, 422, 500)] == [
        "2xx",
        "2xx",
        "3xx",
        "4xx",
        "4xx",
        "5xx",
    ]


def test_not_multiprocess_without_the_directory() -> None:
    assert not metrics.multiprocess_mode()
    body, content_type = metrics.exposition()
    assert content_type.startswith("text/plain")
    assert b"billow_events_ingested_total" in body


def run(code: str, directory: Path) -> str:
    environment = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=environment, capture_output=True, text=True, check=True
    )
    return done.stdout


def test_multiprocess_mode_adds_up_every_process(tmp_path: Path) -> None:
    count = (
        "from billow.kit import metrics; metrics.EVENTS_INGESTED.inc({n}); assert metrics.multiprocess_mode()"
    )
    run(count.format(n=2), tmp_path)
    run(count.format(n=3), tmp_path)
    text = run("from billow.kit import metrics; print(metrics.exposition()[0].decode())", tmp_path)
    [family] = [f for f in text_string_to_metric_families(text) if f.name == "billow_events_ingested"]
    assert [sample.value for sample in family.samples if sample.name == "billow_events_ingested_total"] == [
        5.0
    ]
