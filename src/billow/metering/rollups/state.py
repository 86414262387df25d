"""A rollup state's bookkeeping (:mod:`billow.metering.rollups`): whether rollups can answer on a
database (the trigger installed), what a state's rows depend on (its definition and signature), and the
statements that lock a key, read a state with its pending touches, and store a refreshed state."""

from __future__ import annotations

import hashlib
import json
import weakref
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session

from billow.metering.aggregation.query import Query
from billow.models.billable_metrics import COMPUTED_AGGREGATIONS, AggregationType
from billow.models.metering import TRIGGER_DDL

#: Bump when the meaning of the stored rows changes: every state is then rebuilt.
FORMAT = 1

SUPPORTED = COMPUTED_AGGREGATIONS - {AggregationType.WEIGHTED_SUM}

#: States of a key unused for this long are deleted when another state of the key is refreshed (and by
#: the pruning, :mod:`billow.metering.rollups.prune`): they would otherwise keep their touches alive.
STALE_AFTER = timedelta(days=2)
#: A state's ``used_at`` is moved forward at most this often by reads that change nothing.
USED_AT_GRANULARITY = timedelta(hours=1)


# ------------------------------------------------------------------------------------------- switches

#: Whether the trigger is installed, per engine (checked once: :func:`installed`).
_installed: weakref.WeakKeyDictionary[Engine, bool] = weakref.WeakKeyDictionary()

#: PostgreSQL 14 or later (``date_bin``; 13 for snapshots) and the four triggers installed and enabled.
_CHECK_TRIGGER = text(
    "SELECT current_setting('server_version_num')::integer >= 140000 AND (SELECT count(*) FROM pg_trigger"
    " WHERE tgrelid = to_regclass('events') AND tgenabled <> 'D'"
    " AND tgname IN ('billow_usage_touch_insert', 'billow_usage_touch_update',"
    " 'billow_usage_touch_delete', 'billow_usage_rollups_truncate')) = 4"
)


def install(connection: Connection) -> None:
    """Install the trigger (PostgreSQL; the rollup tables must exist)."""
    for statement in TRIGGER_DDL:
        connection.exec_driver_sql(statement)
    recheck(connection.engine)


def recheck(engine: Engine) -> None:
    """Check again, at the next usage query on ``engine``, whether the trigger is installed (after
    installing, dropping or disabling it)."""
    _installed.pop(engine, None)


def installed(session: Session) -> bool:
    """Rollups can answer for this session: PostgreSQL with the trigger installed (checked once per
    engine, until :func:`recheck`)."""
    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        return False
    engine = bind.engine
    found = _installed.get(engine)
    if found is None:
        found = bool(session.execute(_CHECK_TRIGGER).scalar_one())
        _installed[engine] = found
    return found


# ----------------------------------------------------------------------------------------- definition


def definition_of(query: Query, lower: datetime | None, upper: datetime) -> dict[str, Any]:
    """Everything a state's rows depend on."""
    layout = query.layout
    return {
        "format": FORMAT,
        "aggregation_type": query.metric.aggregation_type,
        "field_name": query.metric.field_name or "",
        "filters": [
            {
                "values": {key: list(values) for key, values in spec.values.items()},
                "pricing_group_keys": layout.keys_by_bucket[index + 1],
            }
            for index, spec in enumerate(layout.specs)
        ],
        "pricing_group_keys": layout.keys_by_bucket[0],
        "from": None if lower is None else lower.astimezone(UTC).isoformat(),
        "to": upper.astimezone(UTC).isoformat(),
    }


def signature_of(definition: dict[str, Any]) -> str:
    document = json.dumps(definition, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(document.encode()).hexdigest()


def xmin_of(snapshot: str) -> int:
    """``pg_snapshot_xmin`` of a snapshot's text form ``xmin:xmax:xip,...``."""
    return int(snapshot.split(":", 1)[0])


# ------------------------------------------------------------------------------------------------ SQL

#: Every refresher holds the global lock shared and its key's lock; the pruning
#: (:mod:`billow.metering.rollups.prune`) holds the global one exclusively (it deletes touches of keys
#: without a state, which a concurrent first build would need).
#: Rollups need READ COMMITTED (each statement sees what committed before it: the state as the previous
#: lock holder left it) and a writable transaction; otherwise no lock is taken and the plain path runs.
LOCK_KEY = text(
    """
SELECT CASE WHEN current_setting('transaction_isolation') = 'read committed'
             AND current_setting('transaction_read_only') = 'off'
       THEN (SELECT true
             FROM (SELECT pg_advisory_xact_lock_shared(hashtextextended('billow usage rollups', 0)),
                          pg_advisory_xact_lock(hashtextextended(:key, 0))) AS locked)
       ELSE false END
"""
)
LOCK_ALL = text("SELECT pg_advisory_xact_lock(hashtextextended('billow usage rollups', 0))")

# The state, the snapshot of this statement, and the UTC hours (hours since the epoch) touched by the
# transactions the state does not cover, and whether any of them updated or deleted events, all read
# with that one snapshot.
READ_STATE = text(
    """
SELECT s.id, s.used_at, s.snapshot, pg_current_snapshot()::text AS now_snapshot,
  (SELECT json_build_array(coalesce(json_agg(DISTINCT h.hour), '[]'::json),
                           coalesce(bool_or(t.removal), false))
   FROM usage_touches AS t CROSS JOIN LATERAL unnest(t.hours) AS h(hour)
   WHERE t.organization_id = s.organization_id
     AND t.external_subscription_id = s.external_subscription_id AND t.code = s.code
     AND (t.xid = s.own_xid
          OR (t.xid >= s.snapshot_xmin
              AND NOT pg_visible_in_snapshot(t.xid::text::xid8, s.snapshot::pg_snapshot)))) AS changes
FROM (SELECT 1) AS one
LEFT JOIN usage_rollup_states AS s
  ON s.organization_id = :organization_id AND s.external_subscription_id = :external_subscription_id
 AND s.code = :code AND s.signature = :signature
"""
)

SNAPSHOT = text("SELECT pg_current_snapshot()::text, pg_current_xact_id()::text::bigint, now()")

SAVE_STATE = text(
    """
UPDATE usage_rollup_states
SET snapshot = :snapshot, snapshot_xmin = :snapshot_xmin,
    own_xid = pg_current_xact_id()::text::bigint, refreshed_at = now(), used_at = now(), updated_at = now()
WHERE id = :id
"""
)

TOUCH_STATE = text("UPDATE usage_rollup_states SET used_at = now() WHERE id = :id")

# Other states of the key left unused: deleted so that they stop holding touches.
DROP_STALE = text(
    """
WITH stale AS (
  DELETE FROM usage_rollup_states
  WHERE organization_id = :organization_id AND external_subscription_id = :external_subscription_id
    AND code = :code AND id <> :id AND used_at < now() - CAST(:stale AS interval)
  RETURNING id
), hours AS (
  DELETE FROM usage_rollup_hours WHERE state_id IN (SELECT id FROM stale)
)
DELETE FROM usage_rollup_values WHERE state_id IN (SELECT id FROM stale)
"""
)

# Touches every state of the key covers are no longer needed.
PRUNE_KEY = text(
    """
DELETE FROM usage_touches AS t
WHERE t.organization_id = :organization_id AND t.external_subscription_id = :external_subscription_id
  AND t.code = :code
  AND NOT EXISTS (
    SELECT 1 FROM usage_rollup_states AS s
    WHERE s.organization_id = t.organization_id AND s.external_subscription_id = t.external_subscription_id
      AND s.code = t.code
      AND (t.xid = s.own_xid
           OR (t.xid >= s.snapshot_xmin
               AND NOT pg_visible_in_snapshot(t.xid::text::xid8, s.snapshot::pg_snapshot))))
"""
)
