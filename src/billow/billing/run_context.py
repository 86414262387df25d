"""What one billing run (or one worker's batch of jobs) knows beyond its arguments: a :class:`BillingRun`,
created by the run (:func:`billow.billing.run.bill_subscriptions` and :func:`~billow.billing.run.bill_due`)
and carried by every invoice it writes (:attr:`billow.billing.context.InvoiceContext.run`; ``None``
outside a run: a draft's refresh, an immediate invoice, which then load everything themselves).

* **The catalog cache** (:meth:`BillingRun.cached`). A run bills thousands of subscriptions of a few plans;
  without it every invoice would load its plan, organization, taxes and charges again (about ten queries of
  the ~30 an invoice costs). Cached values are read-only snapshots of the catalog as the run first found it
  (a plan edited during the run is seen by the next run). Their ORM rows are expunged from the session that
  loaded them, so they stay readable after that session ends or rolls back (sessions do not expire rows on
  commit; a rollback would). Never write to a cached row or attach it to another session.
* **The prefetched window fees** (:attr:`BillingRun.window_fees`): the usage of a chunk of invoices priced
  in batch before their own transactions (:func:`billow.billing.charge_fees.prefetch`), by (subscription,
  plan, charges from, charges to); an invoice takes its own (:meth:`BillingRun.take_window_fees`) instead
  of aggregating.
* **The absence hints** (:attr:`BillingRun.absent`): keys known, at the start of a chunk of ~200 invoices,
  to have nothing of a kind: customers with no credit note to consume, subscriptions with no
  progressive-billing invoice and no usage threshold. They spare an invoice a query that would find
  nothing. Set for one chunk (a few seconds) and cleared after it (:meth:`BillingRun.end_chunk`). What
  appears during that time is taken by a later invoice (a credit note) or cannot appear (a progressive
  invoice needs a threshold on the plan; the run's catalog is frozen anyway).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import inspect
from sqlalchemy.orm import Session

T = TypeVar("T")

#: A prefetched usage window: (subscription, plan, charges from, charges to).
WindowKey = tuple[uuid.UUID, uuid.UUID, datetime, datetime]


@dataclass
class BillingRun:
    """The state of one billing run (see the module's docstring)."""

    catalog: dict[Hashable, Any] = field(default_factory=dict)
    #: The priced charges of an invoice's usage window (``billow.billing.charge_fees``'s ``priced``).
    window_fees: dict[WindowKey, Any] = field(default_factory=dict)
    absent: dict[str, set[Hashable]] = field(default_factory=dict)

    def cached(self, session: Session, key: Hashable, load: Callable[[], T]) -> T:
        """``load()``'s value, loaded once per ``key`` for the run."""
        if key in self.catalog:
            return self.catalog[key]
        value = load()
        self.store(session, key, value)
        return value

    def store(self, session: Session, key: Hashable, value: Any) -> None:
        """Put ``value`` in the catalog cache (a caller that loaded many keys at once)."""
        _detach(session, value, set())
        self.catalog[key] = value

    def known_absent(self, kind: str, key: Hashable) -> bool:
        """Whether ``key`` is known to have nothing of ``kind`` (``False`` when unknown: query)."""
        return key in self.absent.get(kind, ())

    def take_window_fees(self, key: WindowKey) -> Any | None:
        """The prefetched usage of one invoice's window (once), ``None`` when not prefetched."""
        return self.window_fees.pop(key, None)

    def end_chunk(self) -> None:
        """Forget what was prefetched for a chunk of invoices: its window fees and absence hints."""
        self.window_fees.clear()
        self.absent = {}


def cached(run: BillingRun | None, session: Session, key: Hashable, load: Callable[[], T]) -> T:
    """``load()``'s value, once per run (every call outside a run)."""
    return load() if run is None else run.cached(session, key, load)


def known_absent(run: BillingRun | None, kind: str, key: Hashable) -> bool:
    """Whether the run knows ``key`` has nothing of ``kind`` (never outside a run)."""
    return run is not None and run.known_absent(kind, key)


def _detach(session: Session, value: Any, seen: set[int]) -> None:
    if value is None or isinstance(value, str | bytes | int | float | bool) or id(value) in seen:
        return
    seen.add(id(value))
    if hasattr(value, "__table__") and inspect(value, raiseerr=False) is not None:
        if value in session:  # an ORM row
            session.expunge(value)
    elif isinstance(value, dict):
        for item in value.values():
            _detach(session, item, seen)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            _detach(session, item, seen)
    elif is_dataclass(value) and not isinstance(value, type):
        for item in fields(value):
            _detach(session, getattr(value, item.name), seen)
