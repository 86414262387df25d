"""A cache of catalog rows for the length of one billing run (or one worker's batch of jobs).

A run bills thousands of subscriptions of a few plans; without this cache every invoice would load its
plan, organization, taxes and charges again (about ten queries of the ~30 an invoice costs). Inside
:func:`run_cache`, :func:`cached` loads a value once per key; outside, it just loads it.

Cached values are read-only snapshots of the catalog as the run first found it (a plan edited during the
run is seen by the next run). Their ORM rows are expunged from the session that loaded them, so they stay
readable after that session ends or rolls back (sessions do not expire rows on commit; a rollback would).
Never write to a cached row or attach it to another session.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import fields, is_dataclass
from typing import Any, TypeVar

from sqlalchemy import inspect
from sqlalchemy.orm import Session

T = TypeVar("T")

_cache: contextvars.ContextVar[dict[Hashable, Any] | None] = contextvars.ContextVar(
    "billow_billing_run_cache", default=None
)


@contextmanager
def run_cache() -> Iterator[None]:
    """Cache catalog lookups in this block (nested blocks share the outer cache)."""
    if _cache.get() is not None:
        yield
        return
    token = _cache.set({})
    try:
        yield
    finally:
        _cache.reset(token)


def active() -> bool:
    return _cache.get() is not None


def cached(session: Session, key: Hashable, load: Callable[[], T]) -> T:
    """``load()``'s value, once per ``key`` inside :func:`run_cache` (every call outside)."""
    cache = _cache.get()
    if cache is None:
        return load()
    if key in cache:
        return cache[key]
    value = load()
    _detach(session, value, set())
    cache[key] = value
    return value


def store(session: Session, key: Hashable, value: Any) -> None:
    """Put ``value`` in the cache (a caller that loaded many keys at once); no-op outside a run."""
    cache = _cache.get()
    if cache is not None:
        _detach(session, value, set())
        cache[key] = value


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


# ------------------------------------------------------------------------------------ absence hints

#: Keys known, at the start of a chunk of a billing run, to have nothing of a kind: e.g. customers with
#: no credit note to consume, subscriptions with no progressive-billing invoice and no usage threshold.
#: They spare an invoice a query that would find nothing. Set by the run for one chunk of ~200 invoices
#: (a few seconds) and cleared after it. What appears during that time is taken by a later invoice (a
#: credit note) or cannot appear (a progressive invoice needs a threshold on the plan; the run's catalog
#: is frozen anyway).
_absent: contextvars.ContextVar[dict[str, set[Hashable]] | None] = contextvars.ContextVar(
    "billow_billing_absent", default=None
)


@contextmanager
def absence_hints(hints: dict[str, set[Hashable]]) -> Iterator[None]:
    token = _absent.set(hints)
    try:
        yield
    finally:
        _absent.reset(token)


def known_absent(kind: str, key: Hashable) -> bool:
    """Whether ``key`` is known to have nothing of ``kind`` (``False`` when unknown: query)."""
    hints = _absent.get()
    return hints is not None and key in hints.get(kind, ())
