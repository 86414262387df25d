"""Periodic scans: the database is the source of truth for pending work (due invoices, drafts past their
grace period, fees to create for pay-in-advance events, the rollup journal to prune...). A scan finds
that work and does it — or, on the job engine, hands it out as jobs. Every scan is idempotent and safe to
run concurrently with itself, so a lost or repeated run costs a delay, never money.

Domain modules register their scans here with :func:`scan`; the job engine (``billow worker`` on
PostgreSQL) and the in-process scheduler of ``billow serve`` (embedded SQLite) both run :data:`SCANS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from billow.config import current_settings

SessionFactory = Callable[[], Session]
ScanFunction = Callable[[SessionFactory, datetime], Any]


#: ``each(session_factory, item, now)``: one unit of the work a fan-out scan found (see :func:`scan`).
ItemFunction = Callable[[SessionFactory, str, datetime], Any]


@dataclass(frozen=True)
class Scan:
    name: str
    every: timedelta
    run: ScanFunction
    #: Set for a fan-out scan: ``run`` returns work items and ``each`` processes one of them.
    each: ItemFunction | None = None

    @property
    def interval(self) -> timedelta:
        """``every``, unless ``BILLOW_SCAN_INTERVAL`` (seconds; tests, demos) overrides every scan's."""
        override = current_settings().scan_interval
        return timedelta(seconds=override) if override else self.every


@dataclass(frozen=True)
class WorkItem:
    """A work item whose queueing key differs from its payload (e.g. a batch of subscriptions keyed by
    its bucket, so a later scan does not queue the same bucket twice). ``str(item)`` is the payload."""

    key: str
    payload: str

    def __str__(self) -> str:
        return self.payload


def item_key(item: object) -> str:
    """The key under which an item is queued (one queued job per key at a time)."""
    return item.key if isinstance(item, WorkItem) else str(item)


SCANS: dict[str, Scan] = {}


def scan(
    name: str, *, every: timedelta, each: ItemFunction | None = None
) -> Callable[[ScanFunction], ScanFunction]:
    """Register ``function(session_factory, now)`` to run every ``every``.

    With ``each``, the scan *fans out*: ``function`` only finds the work and returns its items
    (strings, e.g. subscription ids, or :class:`WorkItem`), and ``each(session_factory, item, now)``
    does one item, raising when it failed. In-process they run one after the other; on the job engine
    every item becomes its own job (one per item key queued at a time, retried on failure), so the work
    spreads over every worker.
    ``now`` is the scan's instant. Both functions must be idempotent.
    """

    def register(function: ScanFunction) -> ScanFunction:
        SCANS[name] = Scan(name, every, function, each)
        return function

    return register


#: Modules that register scans (imported by :func:`load_all`). Add yours here.
SCAN_MODULES: list[str] = [
    "billow.billing.tasks",
    "billow.billing.ongoing_balances",
    "billow.billing.usage_alerts",
    "billow.metering.tasks",
    "billow.invoices.tasks",
    "billow.coupons.tasks",
    "billow.wallets.tasks",
    "billow.documents.tasks",
    "billow.webhooks.delivery",
    "billow.subscriptions.notices",
    "billow.mail.deliveries",
    "billow.payments.receipts",
    "billow.integrations.jobs",
    "billow.dunning.run",
    "billow.audit.tasks",
]


def load_all() -> dict[str, Scan]:
    """Import every module of :data:`SCAN_MODULES` and return the registered scans."""
    import importlib

    for module in SCAN_MODULES:
        importlib.import_module(module)
    return SCANS
