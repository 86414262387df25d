"""The rollup journal scan: prune stale usage rollup states and the journal rows (``usage_touches``)
nobody will read (:func:`billow.metering.rollups.prune`). PostgreSQL only; a no-op on SQLite."""

from __future__ import annotations

from datetime import datetime, timedelta

from billow.metering import rollups
from billow.worker.scans import SessionFactory, scan

#: Rows deleted per transaction (each transaction briefly holds the lock every usage refresh shares).
BATCH = 10_000
#: At most this many transactions per run; what is left waits for the next run.
MAX_BATCHES = 20


@scan("usage_rollups_prune", every=timedelta(minutes=10))
def prune_rollup_journal(session_factory: SessionFactory, now: datetime) -> tuple[int, int]:
    """Delete stale rollup states and orphan touches, in batches; returns (states, touches) deleted."""
    states = touches = 0
    for _ in range(MAX_BATCHES):
        with session_factory() as session, session.begin():
            batch_states, batch_touches = rollups.prune(session, limit=BATCH)
        states, touches = states + batch_states, touches + batch_touches
        if batch_states < BATCH and batch_touches < BATCH:
            break
    return states, touches
