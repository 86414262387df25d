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

SessionFactory = Callable[[], Session]
ScanFunction = Callable[[SessionFactory, datetime], Any]


@dataclass(frozen=True)
class Scan:
    name: str
    every: timedelta
    run: ScanFunction


SCANS: dict[str, Scan] = {}


def scan(name: str, *, every: timedelta) -> Callable[[ScanFunction], ScanFunction]:
    """Register ``function(session_factory, now)`` to run every ``every``."""

    def register(function: ScanFunction) -> ScanFunction:
        SCANS[name] = Scan(name, every, function)
        return function

    return register


#: Modules that register scans (imported by :func:`load_all`). Add yours here.
SCAN_MODULES: list[str] = []


def load_all() -> dict[str, Scan]:
    """Import every module of :data:`SCAN_MODULES` and return the registered scans."""
    import importlib

    for module in SCAN_MODULES:
        importlib.import_module(module)
    return SCANS
