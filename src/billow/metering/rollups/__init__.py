"""Usage rollups: count, sum, max, latest and unique-count aggregations answered from pre-aggregated
rows instead of a scan of every event (PostgreSQL). The decision and its trade-offs:
docs/decisions/0002-usage-rollups.md.

The package: :mod:`~billow.metering.rollups.state` (whether the trigger is installed, a state's
definition and signature, the statements that lock a key and read and store a state),
:mod:`~billow.metering.rollups.refresh` (build a state or recompute its touched hours),
:mod:`~billow.metering.rollups.read` (answer the aggregation from a state's rows) and
:mod:`~billow.metering.rollups.prune` (delete what nobody uses); :func:`partials` runs a usage query.

How it works
------------

A **rollup state** is one charge's aggregation for one subscription (external id) and metric code, keyed
by a **signature**: the hash of everything its numbers depend on (aggregation type, field name, the
charge filters' resolved values in order, grouping keys, the time window, and :data:`FORMAT`). A change
of metric or charge definition, or a new period, gives a new signature, hence a new state built from the
events; nothing stored is ever reinterpreted. States keep, per UTC hour, bucket (charge filter) and group,
the count, sum, precise-amount sum, maximum and latest event of the window's events
(:class:`~billow.models.metering.UsageRollupHour`), or for unique counts each distinct value's latest
operation (:class:`~billow.models.metering.UsageRollupValue`).

**Which events are already in a state**: a trigger on ``events``
(:data:`billow.models.metering.TRIGGER_DDL`) journals, in the same statement as any insert, update or
delete of events, one :class:`~billow.models.metering.UsageTouch` per (organization, subscription, code)
with the writing transaction's id (``pg_current_xact_id()``) and the UTC hours written. A state records
the PostgreSQL snapshot (``pg_current_snapshot()``) taken *before* it read the events: a transaction
visible in that snapshot is in the state, and any other transaction's touches are its pending changes.
Events and their touch become visible atomically (one transaction), so a change committed at any time,
whatever its timestamp (late events) and whatever the commit order of concurrent transactions, is either
in the state or pending; there is no time-based watermark to race with.

**A usage query** (:func:`partials`, for :class:`billow.metering.sources.RollupSource`): take the key's
advisory lock (one refresher per subscription and code at a time); read the state and its pending
touches in one statement (which also takes the new snapshot); recompute the touched hours from the
events (count, sum, max, latest: the hours' rows are *replaced*, so recomputing an hour twice is
harmless) or merge the touched hours' events into the per-value rows (unique count: keeping the later of
two operations is idempotent too; a touch from an update or delete rebuilds the state); store the new
snapshot; delete the touches every state of the key now covers; then answer from the rollup rows: a few
hundred hour rows, or one row per distinct value. The first query of a state builds it with one scan, as
the plain aggregation would.

Exactness: the stored rows are the very SQL expressions of :mod:`billow.metering.aggregation.query`
(bucket ``CASE``, grouping keys, numeric rule, ``numeric`` sums) grouped by hour; sums of hour sums are exact
``numeric`` sums with the same scale; latest and unique count order by (timestamp, reception, id) as the
plain queries do. Window bounds inside an hour need no special case: a state's rows only ever hold the
events of its own window. ``tests/metering/test_rollups.py`` compares both paths on random histories.

Not handled here (the plain aggregation runs): SQLite, weighted sums, pay-in-advance charges and
per-event values (percentage charges), which stream every event anyway; a database whose trigger is not
installed (the migration must run :data:`billow.models.metering.TRIGGER_DDL`); ``BILLOW_USAGE_ROLLUPS=0``
(:func:`billow.metering.sources.usage_source` then gives the plain source), and whoever passes the plain
source (the closed windows an invoice bills, :mod:`billow.fees.window`).
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from billow.metering.aggregation.query import Partials, Query
from billow.metering.rollups.prune import prune
from billow.metering.rollups.read import read
from billow.metering.rollups.refresh import MAX_INTERVALS, Rollup, merge_intervals
from billow.metering.rollups.state import (
    FORMAT,
    STALE_AFTER,
    SUPPORTED,
    definition_of,
    install,
    installed,
    recheck,
    signature_of,
)

__all__ = [
    "FORMAT",
    "MAX_INTERVALS",
    "STALE_AFTER",
    "SUPPORTED",
    "definition_of",
    "install",
    "installed",
    "merge_intervals",
    "partials",
    "prune",
    "recheck",
    "signature_of",
]

log = logging.getLogger(__name__)


def partials(
    session: Session, query: Query, lower: datetime | None, upper: datetime, *, raise_errors: bool = False
) -> Partials | None:
    """The aggregation's partial results from its rollup (refreshed first), or ``None`` when rollups do
    not apply (the caller then runs the plain queries). ``lower``/``upper``: the events' window, as the
    plain aggregation uses it (``lower`` ``None`` for recurring sums and unique counts)."""
    if query.metric.aggregation_type not in SUPPORTED or not installed(session):
        return None
    rollup = Rollup(session, query, lower, upper)
    try:
        # In a savepoint: a failure (a deadlock with a caller locking keys in another order, a lock or
        # statement timeout...) costs the plain aggregation, never the request.
        with session.begin_nested():
            if not rollup.lock():
                raise _NotApplicable
            state_id = rollup.refresh()
            return read(session, rollup.kind, state_id)
    except _NotApplicable:
        return None
    except DBAPIError:
        if raise_errors:
            raise
        log.warning("usage rollup failed, using the plain aggregation", exc_info=True)
        return None


class _NotApplicable(Exception):
    """The transaction cannot use rollups (not READ COMMITTED, or read-only)."""
