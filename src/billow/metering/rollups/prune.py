"""The rollups' maintenance (:mod:`billow.metering.rollups`): states nobody used lately and touches no
state needs are deleted by a periodic scan (:mod:`billow.metering.tasks`)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

from billow.metering.rollups.state import LOCK_ALL, STALE_AFTER


def prune(session: Session, *, stale_after: timedelta = STALE_AFTER, limit: int = 10_000) -> tuple[int, int]:
    """Delete states unused for ``stale_after`` (with their rows) and the touches of keys that have no
    state (nobody asked for their usage, or not since ``stale_after``): at most ``limit`` of each per
    call. Meant for a periodic job; returns (states deleted, touches deleted). Holds, until the caller's
    transaction ends, the lock that every usage refresh takes shared: commit soon."""
    if session.get_bind().dialect.name != "postgresql":
        return (0, 0)
    session.execute(LOCK_ALL)
    states = session.execute(
        text(
            """
WITH stale AS (
  DELETE FROM usage_rollup_states
  WHERE id IN (SELECT id FROM usage_rollup_states
               WHERE used_at < now() - CAST(:stale AS interval) LIMIT :limit)
    AND pg_try_advisory_xact_lock(hashtextextended(
          organization_id::text || '/' || external_subscription_id || '/' || code, 0))
  RETURNING id
), hours AS (
  DELETE FROM usage_rollup_hours WHERE state_id IN (SELECT id FROM stale)
), rows AS (
  DELETE FROM usage_rollup_values WHERE state_id IN (SELECT id FROM stale)
)
SELECT count(*) FROM stale
"""
        ),
        {"stale": f"{int(stale_after.total_seconds())} seconds", "limit": limit},
    ).scalar_one()
    touches = session.execute(
        text(
            """
DELETE FROM usage_touches
WHERE ctid IN (
  SELECT t.ctid FROM usage_touches AS t
  WHERE NOT EXISTS (
    SELECT 1 FROM usage_rollup_states AS s
    WHERE s.organization_id = t.organization_id AND s.external_subscription_id = t.external_subscription_id
      AND s.code = t.code)
  LIMIT :limit)
"""
        ),
        {"limit": limit},
        # A DELETE's result is a CursorResult at run time; Session.execute() is typed as the plain
        # Result, which has no rowcount.
    ).rowcount  # type: ignore[attr-defined]
    return (states, touches)
