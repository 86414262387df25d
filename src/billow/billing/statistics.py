"""Fresh planner statistics before a billing run (PostgreSQL).

A billing run prices thousands of invoices with a few queries per charge over the period's events
(:mod:`billow.metering.batch`); PostgreSQL plans them from the tables' statistics. Events written
through the API since the last ``ANALYZE`` are invisible to the planner until autovacuum analyzes the
table: it lags behind a large ingestion (it wakes up every minute and analyzes a table once 10 % of it
changed), and it may be off. With no or stale statistics on ``events``, the batch query of 200
subscriptions is planned as one range scan of the organization's whole period
(``ix_events_organization_id_timestamp``) instead of the 200 subscriptions' index ranges
(``ix_events_usage``): measured on 200,000 events, 196,067 buffers and 337 ms per query instead of
1,977 buffers and 54 ms; the cost grows with the organization's events, not with the batch.

:func:`refresh` analyzes the tables a billing run reads whose statistics are stale by autovacuum's own
default rule (never analyzed although not empty, or more than 50 rows + 10 % changed since the last
analyze; a table the planner has never measured (``reltuples`` -1) also counts, since the change
counters are lost when the server crashes), before the run's scan. ``ANALYZE`` reads a fixed-size
sample (about a second for millions of events), takes a lock that only conflicts with another
``ANALYZE``/``VACUUM`` of the table (a concurrent run or autovacuum: then this one gives up after
:data:`LOCK_TIMEOUT` by default, and the other's statistics serve), and runs in its own transaction,
never in a request. SQLite: nothing to do.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

#: The tables whose statistics shape the billing run's plans.
TABLES = ("events", "subscriptions", "customers", "invoice_subscriptions", "invoices", "fees")
#: autovacuum's defaults (``autovacuum_analyze_threshold``, ``autovacuum_analyze_scale_factor``).
THRESHOLD = 50
SCALE_FACTOR = 0.1
LOCK_TIMEOUT = "2s"

_STALE = text(
    "SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid"
    " WHERE s.relid IN (SELECT to_regclass(t) FROM unnest(CAST(:tables AS text[])) AS t)"
    " AND ((s.last_analyze IS NULL AND s.last_autoanalyze IS NULL AND s.n_live_tup > 0)"
    "      OR (c.reltuples < 0 AND pg_relation_size(c.oid) > 0)"
    "      OR s.n_mod_since_analyze > :threshold + :scale * greatest(c.reltuples, 0))"
    " ORDER BY s.relname"
)


def stale_tables(engine: Engine) -> list[str]:
    """The billing run's tables whose statistics are stale (PostgreSQL; ``[]`` elsewhere)."""
    if engine.dialect.name != "postgresql":
        return []
    with engine.connect() as connection:
        return list(
            connection.execute(
                _STALE, {"tables": list(TABLES), "threshold": THRESHOLD, "scale": SCALE_FACTOR}
            ).scalars()
        )


def refresh(engine: Engine, *, lock_timeout: str = LOCK_TIMEOUT) -> list[str]:
    """``ANALYZE`` the billing run's tables whose statistics are stale; returns the tables analyzed.
    A table whose lock is not granted within ``lock_timeout`` (a PostgreSQL interval) is skipped. Never
    raises for a database error (a run with stale statistics is slower, not wrong)."""
    try:
        tables = stale_tables(engine)
    except DBAPIError:
        log.warning("could not read the tables' statistics", exc_info=True)
        return []
    analyzed = []
    for table in tables:
        began = time.perf_counter()
        try:
            with engine.begin() as connection:
                connection.execute(text("SELECT set_config('lock_timeout', :t, true)"), {"t": lock_timeout})
                quoted = connection.dialect.identifier_preparer.quote(table)
                connection.execute(text(f"ANALYZE {quoted}"))
        except DBAPIError as error:  # another ANALYZE/VACUUM holds the table: its statistics will do
            log.info("statistics of %s not refreshed: %s", table, str(error.orig).strip().splitlines()[0])
            continue
        analyzed.append(table)
        log.info("analyzed %s (stale statistics) in %.2f s", table, time.perf_counter() - began)
    return analyzed


def refresh_for_run(session_factory: Callable[[], Session]) -> list[str]:
    """:func:`refresh` on the database of ``session_factory`` (a billing run's)."""
    with session_factory() as session:
        bind = session.get_bind()
    engine = bind.engine if isinstance(bind, Connection) else bind
    return refresh(engine)


__all__ = ["TABLES", "refresh", "refresh_for_run", "stale_tables"]
