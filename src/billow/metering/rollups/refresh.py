"""A rollup state's refresh (:mod:`billow.metering.rollups`): under its key's lock, build the state from
the events (its first use), or recompute the hours its pending touches name, then store the new snapshot
and drop what no state of the key needs any more."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
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
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from billow.metering.aggregation.query import Query, operation_of
from billow.metering.rollups.read import HOURS, VALUES
from billow.metering.rollups.state import (
    DROP_STALE,
    LOCK_KEY,
    PRUNE_KEY,
    READ_STATE,
    SAVE_STATE,
    SNAPSHOT,
    STALE_AFTER,
    TOUCH_STATE,
    USED_AT_GRANULARITY,
    definition_of,
    signature_of,
    xmin_of,
)
from billow.models.billable_metrics import AggregationType
from billow.models.events import Event
from billow.models.metering import UsageRollupState

#: At most this many disjoint hour ranges are recomputed in one statement (a ``BitmapOr`` of index ranges).
MAX_INTERVALS = 200

_HOUR = 3600

_states = UsageRollupState.__table__


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
    to the window's hours, consecutive hours joined; at most :data:`MAX_INTERVALS` (the smallest gaps
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
    if len(runs) > MAX_INTERVALS:
        gaps = sorted(range(1, len(runs)), key=lambda i: (runs[i][0] - runs[i - 1][1], i))
        joined = set(gaps[: len(runs) - MAX_INTERVALS])
        merged: list[list[int]] = []
        for index, run in enumerate(runs):
            if index in joined:
                merged[-1][1] = run[1]
            else:
                merged.append(list(run))
        runs = merged
    return [(start, end) for start, end in runs]


class Rollup:
    """One aggregation's state: lock its key and refresh it (then :func:`billow.metering.rollups.read.read`
    answers from it)."""

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
        return bool(self.session.execute(LOCK_KEY, {"key": key}).scalar_one())

    def refresh(self) -> uuid.UUID:
        """Bring the state up to date with the events (built on its first use); returns its id."""
        self._refresh()
        assert self.state_id is not None
        return self.state_id

    def _refresh(self) -> None:
        session = self.session
        row = session.execute(READ_STATE, {**self.key, "signature": self.signature}).one()
        if row.id is None:
            self._build()
            return
        self.state_id = row.id
        hours, removal = row.changes
        if not hours:
            if row.used_at is None or datetime.now(UTC) - row.used_at > USED_AT_GRANULARITY:
                session.execute(TOUCH_STATE, {"id": self.state_id})
            return
        if self.kind == AggregationType.UNIQUE_COUNT and removal:
            # A value's latest operation cannot be "unmerged": start over.
            session.execute(delete(VALUES).where(VALUES.c.state_id == self.state_id))
            self._fill(None)
        else:
            intervals = merge_intervals(hours, self.lower, self.upper)
            if intervals:
                self._fill(intervals)
        session.execute(
            SAVE_STATE,
            {"id": self.state_id, "snapshot": row.now_snapshot, "snapshot_xmin": xmin_of(row.now_snapshot)},
        )
        session.execute(DROP_STALE, {**self.key, "id": self.state_id, "stale": f"{STALE_AFTER.days} days"})
        session.execute(PRUNE_KEY, self.key)

    def _build(self) -> None:
        session = self.session
        # The snapshot comes first: the events read afterwards include at least what it shows.
        snapshot, own_xid, now = session.execute(SNAPSHOT).one()
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
                snapshot_xmin=xmin_of(snapshot),
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
            statement = pg_insert(VALUES).from_select(
                ["state_id", "organization_id", *(name for name, _type in _VALUES_COLUMNS)],
                self._values_select(conditions),
            )
            if intervals is not None:
                excluded = statement.excluded
                statement = statement.on_conflict_do_update(
                    index_elements=["state_id", "bucket", "grp", "value"],
                    set_={name: excluded[name] for name in ("timestamp", "created_at", "event_id", "is_add")},
                    where=tuple_(excluded.timestamp, excluded.created_at, excluded.event_id)
                    > tuple_(VALUES.c.timestamp, VALUES.c.created_at, VALUES.c.event_id),
                )
            self.session.execute(statement)
            return
        if intervals is not None:
            self.session.execute(
                delete(HOURS).where(
                    HOURS.c.state_id == self.state_id,
                    or_(
                        *[
                            and_(HOURS.c.hour >= _hour_start(start), HOURS.c.hour < _hour_start(end))
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
