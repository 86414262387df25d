"""Billow's Prometheus metrics: the registry and the metric objects (no domain knowledge here; the
domains increment them). Served by ``GET /metrics`` (:mod:`billow.app`) and by ``billow worker
--metrics-port``, in Prometheus' text format.

Every metric lives in one registry per process. ``billow serve --workers N`` (N > 1) runs N processes:
set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory shared by them (prometheus-client's multiprocess
mode) and every scrape then adds up all the processes' values.
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)

REGISTRY = CollectorRegistry(auto_describe=True)

#: Seconds: from a 2 ms ingestion to a 30 s report.
_LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: Seconds of one billing run: a few subscriptions to a whole month-end.
_RUN_BUCKETS = (0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
_COUNT_BUCKETS = (0, 1, 5, 10, 50, 100, 500, 1000, 5000, 10000)

EVENTS_INGESTED = Counter(
    "billow_events_ingested", "Events stored by POST /events and /events/batch.", registry=REGISTRY
)
EVENTS_REJECTED = Counter(
    "billow_events_rejected",
    "Ingestion requests refused (a batch counts once), by reason: the first error code "
    "(value_already_exist, too_many_events...) or unauthorized.",
    ["reason"],
    registry=REGISTRY,
)
HTTP_REQUEST_DURATION = Histogram(
    "billow_http_request_duration_seconds",
    "Time to answer an HTTP request, by method, route template (unmatched: no route) and status class.",
    ["method", "route", "status"],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
TASKS_QUEUED = Counter(
    "billow_tasks_queued", "After-commit tasks queued, by task name.", ["task"], registry=REGISTRY
)
TASKS_SUCCEEDED = Counter(
    "billow_tasks_succeeded", "After-commit tasks that ran without error.", ["task"], registry=REGISTRY
)
TASKS_FAILED = Counter(
    "billow_tasks_failed", "After-commit tasks that raised (the scans retry).", ["task"], registry=REGISTRY
)
JOBS_DEFERRED = Counter(
    "billow_jobs_deferred",
    "Jobs a scan of `billow worker` put in the queue, by scan name.",
    ["scan"],
    registry=REGISTRY,
)
JOBS_SUCCEEDED = Counter(
    "billow_jobs_succeeded", "Scan jobs of `billow worker` that succeeded.", ["scan"], registry=REGISTRY
)
JOBS_FAILED = Counter(
    "billow_jobs_failed",
    "Scan jobs of `billow worker` that raised (retried by the job engine).",
    ["scan"],
    registry=REGISTRY,
)
BILLING_RUN_DURATION = Histogram(
    "billow_billing_run_duration_seconds",
    "Duration of a billing run, by kind: scan (every due subscription) or subscriptions (a task's).",
    ["kind"],
    buckets=_RUN_BUCKETS,
    registry=REGISTRY,
)
BILLING_RUN_INVOICES = Histogram(
    "billow_billing_run_invoices",
    "Invoices created by one billing run.",
    ["kind"],
    buckets=_COUNT_BUCKETS,
    registry=REGISTRY,
)
BILLING_FAILURES = Counter(
    "billow_billing_failures",
    "Subscription periods a billing run could not bill (recorded as failed invoices, retried).",
    registry=REGISTRY,
)
WEBHOOK_DELIVERIES = Counter(
    "billow_webhook_deliveries",
    "Webhook delivery attempts, by outcome: succeeded, retrying (failed, another attempt is planned) or "
    "failed (the last attempt failed).",
    ["outcome"],
    registry=REGISTRY,
)
INTEGRATION_JOBS = Counter(
    "billow_integration_jobs",
    "Provider calls of integration jobs, by provider, operation and outcome (succeeded, retrying, failed).",
    ["provider", "operation", "outcome"],
    registry=REGISTRY,
)


def status_class(status: int) -> str:
    """``2xx``, ``4xx``...: the status label (a bounded set of values)."""
    return f"{status // 100}xx"


def multiprocess_mode() -> bool:
    """Whether prometheus-client keeps the values in ``PROMETHEUS_MULTIPROC_DIR`` (several processes)."""
    return values.ValueClass is not values.MutexValue


def exposition() -> tuple[bytes, str]:
    """The metrics in Prometheus' text format, and the content type to answer them with."""
    if multiprocess_mode():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
