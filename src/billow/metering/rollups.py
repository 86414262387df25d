"""Usage rollups: count, sum, max, latest and unique-count aggregations answered from pre-aggregated
rows instead of a scan of every event (PostgreSQL). The decision and its trade-offs:
docs/decisions/0002-usage-rollups.md.

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

**Which events are already in a state**: a trigger on ``events`` (:data:`TRIGGER_DDL`) journals, in the
same statement as any insert, update or delete of events, one :class:`~billow.models.metering.UsageTouch`
per (organization, subscription, code) with the writing transaction's id (``pg_current_xact_id()``) and
the UTC hours written. A state records the PostgreSQL snapshot (``pg_current_snapshot()``)
taken *before* it read the events: a transaction visible in that snapshot is in the state, and any other
transaction's touches are its pending changes. Events and their touch become visible atomically (one
transaction), so a change committed at any time, whatever its timestamp (late events) and whatever the
commit order of concurrent transactions, is either in the state or pending; there is no time-based
watermark to race with.

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
installed (the migration must run :data:`TRIGGER_DDL`); ``BILLOW_USAGE_ROLLUPS=0``
(:func:`billow.metering.sources.usage_source` then gives the plain source), and whoever passes the plain
source (the closed windows an invoice bills, :mod:`billow.fees.window`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
import weakref
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Text,
    Uuid,
    and_,
    cast,
    delete,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    text,
    tuple_,
)
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from billow.metering.aggregation.query import (
    ZERO,
    GroupValues,
    Partial,
    Partials,
    Query,
    operation_of,
)
from billow.metering.sql import to_decimal
from billow.models.billable_metrics import COMPUTED_AGGREGATIONS, AggregationType
from billow.models.events import Event
from billow.models.metering import (
    TRIGGER_DDL,
    UsageRollupHour,
    UsageRollupState,
    UsageRollupValue,
    UsageTouch,
)

log = logging.getLogger(__name__)

#: Bump when the meaning of the stored rows changes: every state is then rebuilt.
FORMAT = 1

SUPPORTED = COMPUTED_AGGREGATIONS - {AggregationType.WEIGHTED_SUM}

#: States of a key unused for this long are deleted when another state of the key is refreshed (and by
#: :func:`prune`): they would otherwise keep their touches alive.
STALE_AFTER = timedelta(days=2)
_USED_AT_GRANULARITY = timedelta(hours=1)

#: At most this many disjoint hour ranges are recomputed in one statement (a ``BitmapOr`` of index ranges).
_MAX_INTERVALS = 200

_HOUR = 3600

_hours = UsageRollupHour.__table__
_values = UsageRollupValue.__table__
_states = UsageRollupState.__table__
_touches = UsageTouch.__table__


def install(connection: Connection) -> None:
    """Install the trigger (PostgreSQL; the rollup tables must exist)."""
    for statement in TRIGGER_DDL:
        connection.exec_driver_sql(statement)
    _installed.pop(connection.engine, None)


# ------------------------------------------------------------------------------------------- switches

_installed: weakref.WeakKeyDictionary[Engine, bool] = weakref.WeakKeyDictionary()

#: PostgreSQL 14 or later (``date_bin``; 13 for snapshots) and the four triggers installed and enabled.
_CHECK_TRIGGER = text(
    "SELECT current_setting('server_version_num')::integer >= 140000 AND (SELECT count(*) FROM pg_trigger"
    " WHERE tgrelid = to_regclass('events') AND tgenabled <> 'D'"
    " AND tgname IN ('billow_usage_touch_insert', 'billow_usage_touch_update',"
    " 'billow_usage_touch_delete', 'billow_usage_rollups_truncate')) = 4"
)


def installed(session: Session) -> bool:
    """Rollups can answer for this session: PostgreSQL with the trigger installed (checked once per
    engine)."""
    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        return False
    engine = bind.engine
    found = _installed.get(engine)
    if found is None:
        found = bool(session.execute(_CHECK_TRIGGER).scalar_one())
        _installed[engine] = found
    return found


# ------------------------------------------------------------------------------------------- entry point


def partials(
    session: Session, query: Query, lower: datetime | None, upper: datetime, *, raise_errors: bool = False
) -> Partials | None:
    """The aggregation's partial results from its rollup (refreshed first), or ``None`` when rollups do
    not apply (the caller then runs the plain queries). ``lower``/``upper``: the events' window, as the
    plain aggregation uses it (``lower`` ``None`` for recurring sums and unique counts)."""
    if query.metric.aggregation_type not in SUPPORTED or not installed(session):
        return None
    rollup = _Rollup(session, query, lower, upper)
    try:
        # In a savepoint: a failure (a deadlock with a caller locking keys in another order, a lock or
        # statement timeout...) costs the plain aggregation, never the request.
        with session.begin_nested():
            if not rollup.lock():
                raise _NotApplicable
            rollup.refresh()
            return rollup.read()
    except _NotApplicable:
        return None
    except DBAPIError:
        if raise_errors:
            raise
        log.warning("usage rollup failed, using the plain aggregation", exc_info=True)
        return None


class _NotApplicable(Exception):
    """The transaction cannot use rollups (not READ COMMITTED, or read-only)."""


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


# ------------------------------------------------------------------------------------------------ SQL

#: Every refresher holds the global lock shared and its key's lock; :func:`prune` holds the global one
#: exclusively (it deletes touches of keys without a state, which a concurrent first build would need).
#: Rollups need READ COMMITTED (each statement sees what committed before it: the state as the previous
#: lock holder left it) and a writable transaction; otherwise no lock is taken and the plain path runs.
_LOCK = text(
    """
SELECT CASE WHEN current_setting('transaction_isolation') = 'read committed'
             AND current_setting('transaction_read_only') = 'off'
       THEN (SELECT true
             FROM (SELECT pg_advisory_xact_lock_shared(hashtextextended('billow usage rollups', 0)),
                          pg_advisory_xact_lock(hashtextextended(:key, 0))) AS locked)
       ELSE false END
"""
)
_LOCK_ALL = text("SELECT pg_advisory_xact_lock(hashtextextended('billow usage rollups', 0))")

# The state, the snapshot of this statement, and the UTC hours (hours since the epoch) touched by the
# transactions the state does not cover, and whether any of them updated or deleted events, all read
# with that one snapshot.
_STATE = text(
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

_SNAPSHOT = text("SELECT pg_current_snapshot()::text, pg_current_xact_id()::text::bigint, now()")

_SAVE_STATE = text(
    """
UPDATE usage_rollup_states
SET snapshot = :snapshot, snapshot_xmin = :snapshot_xmin,
    own_xid = pg_current_xact_id()::text::bigint, refreshed_at = now(), used_at = now(), updated_at = now()
WHERE id = :id
"""
)

_TOUCH_STATE = text("UPDATE usage_rollup_states SET used_at = now() WHERE id = :id")

# Other states of the key left unused: deleted so that they stop holding touches.
_DROP_STALE = text(
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
_PRUNE_KEY = text(
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


#: The UTC hour of an event (``date_bin``: arithmetic, unlike a time-zone aware ``date_trunc``).
_HOUR_BIN = func.date_bin(
    text("interval '1 hour'"), Event.timestamp, text("TIMESTAMPTZ '1970-01-01 00:00:00+00'")
)

_HOURS_COLUMNS = [
    ("hour", "timestamptz"),
    ("bucket", "integer"),
    ("grp", "text"),
    ("events_count", "bigint"),
    ("total", "numeric"),
    ("precise_total", "numeric"),
    ("largest", "numeric"),
    ("latest_value", "numeric"),
    ("latest_timestamp", "timestamptz"),
    ("latest_created_at", "timestamptz"),
    ("latest_event_id", "uuid"),
]
_VALUES_COLUMNS = [
    ("bucket", "integer"),
    ("grp", "text"),
    ("value", "text"),
    ("timestamp", "timestamptz"),
    ("created_at", "timestamptz"),
    ("event_id", "uuid"),
    ("is_add", "boolean"),
]


def _insert_from_arrays(table: str, columns: Sequence[tuple[str, str]]) -> str:
    names = ", ".join(f'"{name}"' for name, _type in columns)
    arrays = ", ".join(f"CAST(:{name} AS {kind}[])" for name, kind in columns)
    return (
        f"INSERT INTO {table} AS existing (state_id, organization_id, {names})"
        f" SELECT :state_id, :organization_id, * FROM unnest({arrays})"
    )


_INSERT_HOURS = _insert_from_arrays("usage_rollup_hours", _HOURS_COLUMNS)


def _hour_start(index: int) -> datetime:
    return datetime.fromtimestamp(index * _HOUR, UTC)


def _hour_index(instant: datetime) -> int:
    return int(instant.timestamp() // _HOUR)


def _hour_index_ceil(instant: datetime) -> int:
    seconds = instant.timestamp()
    index = int(seconds // _HOUR)
    return index if index * _HOUR == seconds else index + 1


def merge_intervals(hours: Sequence[int], lower: datetime | None, upper: datetime) -> list[tuple[int, int]]:
    """Touched UTC hours (hours since the epoch) as half-open intervals ``[start, end)`` of hours, clipped
    to the window's hours, consecutive hours joined; at most :data:`_MAX_INTERVALS` (the smallest gaps
    between intervals are filled first: their hours are recomputed too, which is harmless)."""
    floor = _hour_index(lower) if lower is not None else None
    ceil = _hour_index_ceil(upper)
    runs: list[list[int]] = []
    for hour in sorted(set(hours)):
        if (floor is not None and hour < floor) or hour >= ceil:
            continue
        if runs and hour == runs[-1][1]:
            runs[-1][1] = hour + 1
        else:
            runs.append([hour, hour + 1])
    if len(runs) > _MAX_INTERVALS:
        gaps = sorted(range(1, len(runs)), key=lambda i: (runs[i][0] - runs[i - 1][1], i))
        joined = set(gaps[: len(runs) - _MAX_INTERVALS])
        merged: list[list[int]] = []
        for index, run in enumerate(runs):
            if index in joined:
                merged[-1][1] = run[1]
            else:
                merged.append(list(run))
        runs = merged
    return [(start, end) for start, end in runs]


class _Rollup:
    """One aggregation's state: refresh, then read."""

    def __init__(self, session: Session, query: Query, lower: datetime | None, upper: datetime) -> None:
        self.session = session
        self.query = query
        self.kind = query.metric.aggregation_type
        self.lower = lower
        self.upper = upper
        self.definition = definition_of(query, lower, upper)
        self.signature = signature_of(self.definition)
        self.key = {
            "organization_id": query.organization_id,
            "external_subscription_id": query.external_subscription_id,
            "code": query.metric.code,
        }
        self.state_id: uuid.UUID | None = None

    # ------------------------------------------------------------------------------------- refresh

    def lock(self) -> bool:
        """Take the key's lock (until the transaction ends); ``False``: rollups cannot be used."""
        query = self.query
        key = f"{query.organization_id}/{query.external_subscription_id}/{query.metric.code}"
        return bool(self.session.execute(_LOCK, {"key": key}).scalar_one())

    def refresh(self) -> None:
        session = self.session
        row = session.execute(_STATE, {**self.key, "signature": self.signature}).one()
        if row.id is None:
            self._build()
            return
        self.state_id = row.id
        hours, removal = row.changes
        if not hours:
            if row.used_at is None or datetime.now(UTC) - row.used_at > _USED_AT_GRANULARITY:
                session.execute(_TOUCH_STATE, {"id": self.state_id})
            return
        if self.kind == AggregationType.UNIQUE_COUNT and removal:
            # A value's latest operation cannot be "unmerged": start over.
            session.execute(delete(_values).where(_values.c.state_id == self.state_id))
            self._fill(None)
        else:
            intervals = merge_intervals(hours, self.lower, self.upper)
            if intervals:
                self._fill(intervals)
        session.execute(
            _SAVE_STATE,
            {"id": self.state_id, "snapshot": row.now_snapshot, "snapshot_xmin": _xmin_of(row.now_snapshot)},
        )
        session.execute(_DROP_STALE, {**self.key, "id": self.state_id, "stale": f"{STALE_AFTER.days} days"})
        session.execute(_PRUNE_KEY, self.key)

    def _build(self) -> None:
        session = self.session
        # The snapshot comes first: the events read afterwards include at least what it shows.
        snapshot, own_xid, now = session.execute(_SNAPSHOT).one()
        self.state_id = uuid.uuid4()
        session.execute(
            insert(_states).values(
                id=self.state_id,
                organization_id=self.query.organization_id,
                external_subscription_id=self.query.external_subscription_id,
                code=self.query.metric.code,
                signature=self.signature,
                definition=self.definition,
                snapshot=snapshot,
                snapshot_xmin=_xmin_of(snapshot),
                own_xid=own_xid,
                created_at=now,
                updated_at=now,
                refreshed_at=now,
                used_at=now,
            )
        )
        self._fill(None)

    # ---------------------------------------------------------------------------------------- fill

    def _fill(self, intervals: list[tuple[int, int]] | None) -> None:
        """Recompute the rows of the given hour intervals (all of the window when ``None``).

        The events are aggregated by a plain ``SELECT`` (which PostgreSQL may run in parallel: a statement
        that writes never is) and the rows inserted by a second statement."""
        conditions: list[ColumnElement[bool]] = []
        if intervals is not None:
            conditions.append(
                or_(
                    *[
                        and_(Event.timestamp >= _hour_start(start), Event.timestamp < _hour_start(end))
                        for start, end in intervals
                    ]
                )
            )
        if self.kind == AggregationType.UNIQUE_COUNT:
            # Many rows (one per distinct value): inserted by the database itself, which is faster than a
            # parallel SELECT whose rows travel to Python and back.
            statement = pg_insert(_values).from_select(
                ["state_id", "organization_id", *(name for name, _type in _VALUES_COLUMNS)],
                self._values_select(conditions),
            )
            if intervals is not None:
                excluded = statement.excluded
                statement = statement.on_conflict_do_update(
                    index_elements=["state_id", "bucket", "grp", "value"],
                    set_={name: excluded[name] for name in ("timestamp", "created_at", "event_id", "is_add")},
                    where=tuple_(excluded.timestamp, excluded.created_at, excluded.event_id)
                    > tuple_(_values.c.timestamp, _values.c.created_at, _values.c.event_id),
                )
            self.session.execute(statement)
            return
        if intervals is not None:
            self.session.execute(
                delete(_hours).where(
                    _hours.c.state_id == self.state_id,
                    or_(
                        *[
                            and_(_hours.c.hour >= _hour_start(start), _hours.c.hour < _hour_start(end))
                            for start, end in intervals
                        ]
                    ),
                )
            )
        rows = self.session.execute(self._hours_select(conditions)).all()
        self._insert(_INSERT_HOURS, _HOURS_COLUMNS, rows)

    def _insert(self, statement: str, columns: Sequence[tuple[str, str]], rows: Sequence[Any]) -> None:
        if not rows:
            return
        parameters: dict[str, Any] = {
            "state_id": self.state_id,
            "organization_id": self.query.organization_id,
        }
        for index, (name, _type) in enumerate(columns):
            parameters[name] = [row[index] for row in rows]
        self.session.execute(text(statement), parameters)

    def _hours_select(self, conditions: list[ColumnElement[bool]]) -> Any:
        """Per hour, bucket and group: the columns of :data:`_HOURS_COLUMNS`."""
        query, kind = self.query, self.kind
        dialect = query.dialect
        extra: list[ColumnElement[Any]] = [_HOUR_BIN.label("h")]
        if kind in (AggregationType.SUM, AggregationType.MAX, AggregationType.LATEST):
            extra.append(dialect.number(query.field).label("v"))
        if kind == AggregationType.SUM:
            extra.append(dialect.precise_amount().label("p"))
        if kind == AggregationType.LATEST:
            extra += [Event.timestamp.label("ts"), Event.created_at.label("ca"), Event.id.label("id")]
        inner = query.inner(extra, [*query.where(self.lower, self.upper), *conditions])
        names = [column.key for column in extra]
        level = select(
            inner.c.b, *query.layout.group_columns(inner), *[inner.c[name] for name in names]
        ).subquery("l")
        keys = [level.c[f"g{i}"] for i in range(len(query.layout.keys))]
        grp = cast(func.jsonb_build_array(*keys), Text)
        none = null()
        if kind == AggregationType.LATEST:
            partition = [level.c.h, level.c.b, *keys]
            ranked_rows = select(
                level.c.h,
                level.c.b,
                grp.label("grp"),
                level.c.v,
                level.c.ts,
                level.c.ca,
                level.c.id,
                func.count().over(partition_by=partition).label("n"),
                func.row_number()
                .over(
                    partition_by=partition, order_by=[level.c.ts.desc(), level.c.ca.desc(), level.c.id.desc()]
                )
                .label("rn"),
            ).subquery("r")
            r = ranked_rows.c
            return select(r.h, r.b, r.grp, r.n, none, none, none, r.v, r.ts, r.ca, r.id).where(r.rn == 1)
        if kind == AggregationType.SUM:
            aggregates = [func.sum(level.c.v), func.sum(level.c.p), none]
        elif kind == AggregationType.MAX:
            aggregates = [none, none, func.max(level.c.v)]
        else:
            aggregates = [none, none, none]
        return select(level.c.h, level.c.b, grp, func.count(), *aggregates, none, none, none, none).group_by(
            level.c.h, level.c.b, *keys
        )

    def _values_select(self, conditions: list[ColumnElement[bool]]) -> Any:
        """Per bucket, group and value, its latest event: the columns of :data:`_VALUES_COLUMNS`."""
        query = self.query
        dialect = query.dialect
        value = dialect.text(query.field)
        inner = query.inner(
            [
                value.label("v"),
                operation_of(dialect).label("op"),
                Event.timestamp.label("ts"),
                Event.created_at.label("ca"),
                Event.id.label("id"),
            ],
            [*query.where(self.lower, self.upper), value.is_not(None), *conditions],
        )
        level = select(
            inner.c.b,
            *query.layout.group_columns(inner),
            inner.c.v,
            inner.c.op,
            inner.c.ts,
            inner.c.ca,
            inner.c.id,
        ).subquery("l")
        keys = [level.c[f"g{i}"] for i in range(len(query.layout.keys))]
        grp = cast(func.jsonb_build_array(*keys), Text)
        return (
            select(
                literal(self.state_id, Uuid()),
                literal(query.organization_id, Uuid()),
                level.c.b,
                grp,
                level.c.v,
                level.c.ts,
                level.c.ca,
                level.c.id,
                level.c.op == "add",
            )
            .ext(distinct_on(level.c.b, *keys, level.c.v))
            .order_by(level.c.b, *keys, level.c.v, level.c.ts.desc(), level.c.ca.desc(), level.c.id.desc())
        )

    # ---------------------------------------------------------------------------------------- read

    def read(self) -> Partials:
        session, kind = self.session, self.kind
        partials: Partials = {}
        if kind == AggregationType.UNIQUE_COUNT:
            v = _values.c
            rows = session.execute(
                select(v.bucket, v.grp, func.count().filter(v.is_add))
                .where(v.state_id == self.state_id)
                .group_by(v.bucket, v.grp)
            )
            for bucket, grp, count in rows:
                partials[(bucket, _group(grp))] = Partial(units=Decimal(int(count)), events_count=int(count))
            return partials
        h = _hours.c
        if kind == AggregationType.LATEST:
            rows = session.execute(
                select(
                    h.bucket,
                    h.grp,
                    h.latest_value,
                    func.sum(h.events_count).over(partition_by=[h.bucket, h.grp]),
                )
                .where(h.state_id == self.state_id)
                .ext(distinct_on(h.bucket, h.grp))
                .order_by(
                    h.bucket,
                    h.grp,
                    h.latest_timestamp.desc(),
                    h.latest_created_at.desc(),
                    h.latest_event_id.desc(),
                )
            )
            for bucket, grp, value, count in rows:
                latest = to_decimal(value) or ZERO
                partials[(bucket, _group(grp))] = Partial(units=max(latest, ZERO), events_count=int(count))
            return partials
        rows = session.execute(
            select(
                h.bucket,
                h.grp,
                func.sum(h.events_count),
                func.sum(h.total),
                func.sum(h.precise_total),
                func.max(h.largest),
            )
            .where(h.state_id == self.state_id)
            .group_by(h.bucket, h.grp)
        )
        for bucket, grp, count, total, precise, largest in rows:
            events = int(count)
            if kind == AggregationType.COUNT:
                partial = Partial(units=Decimal(events), events_count=events)
            elif kind == AggregationType.SUM:
                partial = Partial(
                    units=to_decimal(total) or ZERO,
                    events_count=events,
                    precise_total_amount_cents=to_decimal(precise) or ZERO,
                )
            else:
                partial = Partial(units=to_decimal(largest) or ZERO, events_count=events)
            partials[(bucket, _group(grp))] = partial
        return partials


def _group(grp: str) -> GroupValues:
    return tuple(json.loads(grp))


def _xmin_of(snapshot: str) -> int:
    """``pg_snapshot_xmin`` of a snapshot's text form ``xmin:xmax:xip,...``."""
    return int(snapshot.split(":", 1)[0])


# ----------------------------------------------------------------------------------------- maintenance


def prune(session: Session, *, stale_after: timedelta = STALE_AFTER, limit: int = 10_000) -> tuple[int, int]:
    """Delete states unused for ``stale_after`` (with their rows) and the touches of keys that have no
    state (nobody asked for their usage, or not since ``stale_after``): at most ``limit`` of each per
    call. Meant for a periodic job; returns (states deleted, touches deleted). Holds, until the caller's
    transaction ends, the lock that every usage refresh takes shared: commit soon."""
    if session.get_bind().dialect.name != "postgresql":
        return (0, 0)
    session.execute(_LOCK_ALL)
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
