"""Usage rollups: pre-aggregated event data that lets current usage answer without scanning every
event (PostgreSQL only; see :mod:`billow.metering.rollups` and docs/decisions/0002-usage-rollups.md).

* :class:`UsageTouch` — the change journal. A trigger on ``events`` (installed with the schema,
  :data:`TRIGGER_DDL`) adds, per statement that inserts, updates or deletes
  events, one row per (organization, external subscription id, code) touched: the inserting
  transaction's id and the UTC hours of the events it wrote. Append-only, no foreign key, one
  index: cheap to write, never contended (rows of different transactions never conflict).
* :class:`UsageRollupState` — one rollup of one charge's aggregation: (organization, external
  subscription id, metric code, ``signature``), the signature being a hash of everything the stored
  numbers depend on (aggregation type, field name, charge filters and their resolved values, grouping
  keys, time window). It records the PostgreSQL snapshot the rollup reflects.
* :class:`UsageRollupHour` — per state, UTC hour, bucket and group: count, sum, precise-amount sum,
  maximum, and the latest event (count, sum, max and latest aggregations).
* :class:`UsageRollupValue` — per state, bucket, group and distinct value: the value's latest
  operation (unique counts).

None of these tables is an API object; they can be emptied at any time (rollups are rebuilt from the
events on the next usage query).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import DDL, JSON, BigInteger, Boolean, Index, Integer, Numeric, String, Text, event
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from billow.db import Base, TenantMixin
from billow.kit.db_types import UTCDateTime

#: An unconstrained NUMERIC on PostgreSQL (sums keep every digit and the inputs' scale); the rollup
#: tables are never used on SQLite, where this is text.
RollupDecimal = Numeric(asdecimal=True).with_variant(String(80), "sqlite")


class UsageTouch(Base):
    __tablename__ = "usage_touches"

    organization_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    external_subscription_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    code: Mapped[str] = mapped_column(String(255), primary_key=True)
    #: ``pg_current_xact_id()`` of the transaction that wrote the events (an xid8, as a bigint).
    xid: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    #: The UTC hours (hours since the epoch) of the events written.
    hours: Mapped[list[int]] = mapped_column(JSON().with_variant(ARRAY(Integer), "postgresql"))
    #: Events were updated or deleted (not only inserted): unique-count rollups are then rebuilt.
    removal: Mapped[bool] = mapped_column(Boolean, default=False)


class UsageRollupState(TenantMixin, Base):
    __tablename__ = "usage_rollup_states"
    __table_args__ = (
        Index(
            "uq_usage_rollup_states_key",
            "organization_id",
            "external_subscription_id",
            "code",
            "signature",
            unique=True,
        ),
    )

    external_subscription_id: Mapped[str] = mapped_column(String(255))
    code: Mapped[str] = mapped_column(String(255))
    #: sha256 (hex) of :attr:`definition`.
    signature: Mapped[str] = mapped_column(String(64))
    #: What the numbers depend on, readable (aggregation type, field, filters, keys, window).
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: ``pg_current_snapshot()`` (text) taken before the events were read: every transaction visible in
    #: it is in the rollup.
    snapshot: Mapped[str] = mapped_column(Text)
    snapshot_xmin: Mapped[int] = mapped_column(BigInteger)
    #: The transaction that last wrote the rollup: its own events may have been written after the
    #: snapshot, so its touches are never considered covered.
    own_xid: Mapped[int] = mapped_column(BigInteger)
    refreshed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime] = mapped_column(UTCDateTime())


class UsageRollupHour(Base):
    __tablename__ = "usage_rollup_hours"

    #: :class:`UsageRollupState` (no foreign key: its per-row check would double the cost of a build;
    #: the rows are deleted with their state by :mod:`billow.metering.rollups`).
    state_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    hour: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    #: 0: the default bucket; i + 1: the i-th charge filter (as in :mod:`billow.metering.aggregation`).
    bucket: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    #: The group's values as a JSON array of strings and nulls (``[]`` without grouping keys).
    grp: Mapped[str] = mapped_column(Text, primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column()
    events_count: Mapped[int] = mapped_column(BigInteger)
    total: Mapped[Decimal | None] = mapped_column(RollupDecimal)
    precise_total: Mapped[Decimal | None] = mapped_column(RollupDecimal)
    largest: Mapped[Decimal | None] = mapped_column(RollupDecimal)
    latest_value: Mapped[Decimal | None] = mapped_column(RollupDecimal)
    latest_timestamp: Mapped[datetime | None] = mapped_column(UTCDateTime())
    latest_created_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    latest_event_id: Mapped[uuid.UUID | None] = mapped_column()


class UsageRollupValue(Base):
    __tablename__ = "usage_rollup_values"

    #: :class:`UsageRollupState` (no foreign key: its per-row check would double the cost of a build;
    #: the rows are deleted with their state by :mod:`billow.metering.rollups`).
    state_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    bucket: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    grp: Mapped[str] = mapped_column(Text, primary_key=True)
    value: Mapped[str] = mapped_column(Text, primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column()
    #: The value's latest event (timestamp, reception, id) and whether it adds the value.
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    event_id: Mapped[uuid.UUID] = mapped_column()
    is_add: Mapped[bool] = mapped_column(Boolean)


# ------------------------------------------------------------------------------------------- the trigger

TRIGGER_NAMES = (
    "billow_usage_touch_insert",
    "billow_usage_touch_update",
    "billow_usage_touch_delete",
    "billow_usage_rollups_truncate",
)

# One function per operation: a transition table can only be named by a trigger that defines it.
_HOUR_OF = 'floor(extract(epoch FROM {0}."timestamp") / 3600)::integer'


def _touch_function(name: str, source: str, removal: bool) -> str:
    """A trigger function journaling the (organization, subscription, code) keys and UTC hours of the rows
    of ``source`` (transition tables), for the current transaction."""
    return f"""
CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
  INSERT INTO usage_touches AS t (organization_id, external_subscription_id, code, xid, hours, removal)
  SELECT c.organization_id, c.external_subscription_id, c.code, pg_current_xact_id()::text::bigint,
         array_agg(DISTINCT {_HOUR_OF.format("c")}), {str(removal).lower()}
  FROM ({source}) AS c
  GROUP BY c.organization_id, c.external_subscription_id, c.code
  ON CONFLICT (organization_id, external_subscription_id, code, xid) DO UPDATE
    SET hours = ARRAY(SELECT DISTINCT h FROM unnest(t.hours || excluded.hours) AS h),
        removal = t.removal OR excluded.removal;
  RETURN NULL;
END
$body$
"""


_COLUMNS = 'organization_id, external_subscription_id, code, "timestamp"'

# One function per operation: a transition table can only be named by a trigger that defines it.
_TOUCH_FUNCTIONS = [
    _touch_function("billow_usage_touch_inserted", f"SELECT {_COLUMNS} FROM billow_new_events", False),
    _touch_function(
        "billow_usage_touch_updated",
        f"SELECT {_COLUMNS} FROM billow_old_events UNION ALL SELECT {_COLUMNS} FROM billow_new_events",
        True,
    ),
    _touch_function("billow_usage_touch_deleted", f"SELECT {_COLUMNS} FROM billow_old_events", True),
    """
CREATE OR REPLACE FUNCTION billow_usage_rollups_reset() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
  DELETE FROM usage_rollup_states;
  DELETE FROM usage_rollup_hours;
  DELETE FROM usage_rollup_values;
  DELETE FROM usage_touches;
  RETURN NULL;
END
$body$
""",
]

#: The statements that install the journal trigger on ``events`` (idempotent). The Alembic migration
#: that creates the rollup tables must run them (``for statement in TRIGGER_DDL: op.execute(statement)``);
#: ``metadata.create_all`` runs them by itself. Without the trigger, usage keeps the plain aggregation.
TRIGGER_DDL: list[str] = [
    *_TOUCH_FUNCTIONS,
    "DROP TRIGGER IF EXISTS billow_usage_touch_insert ON events",
    "CREATE TRIGGER billow_usage_touch_insert AFTER INSERT ON events"
    " REFERENCING NEW TABLE AS billow_new_events"
    " FOR EACH STATEMENT EXECUTE FUNCTION billow_usage_touch_inserted()",
    "DROP TRIGGER IF EXISTS billow_usage_touch_update ON events",
    "CREATE TRIGGER billow_usage_touch_update AFTER UPDATE ON events"
    " REFERENCING OLD TABLE AS billow_old_events NEW TABLE AS billow_new_events"
    " FOR EACH STATEMENT EXECUTE FUNCTION billow_usage_touch_updated()",
    "DROP TRIGGER IF EXISTS billow_usage_touch_delete ON events",
    "CREATE TRIGGER billow_usage_touch_delete AFTER DELETE ON events"
    " REFERENCING OLD TABLE AS billow_old_events"
    " FOR EACH STATEMENT EXECUTE FUNCTION billow_usage_touch_deleted()",
    "DROP TRIGGER IF EXISTS billow_usage_rollups_truncate ON events",
    "CREATE TRIGGER billow_usage_rollups_truncate AFTER TRUNCATE ON events"
    " FOR EACH STATEMENT EXECUTE FUNCTION billow_usage_rollups_reset()",
]

#: ``DROP`` counterpart, for a migration's downgrade.
DROP_TRIGGER_DDL: list[str] = [
    *(f"DROP TRIGGER IF EXISTS {name} ON events" for name in TRIGGER_NAMES),
    "DROP FUNCTION IF EXISTS billow_usage_touch_inserted()",
    "DROP FUNCTION IF EXISTS billow_usage_touch_updated()",
    "DROP FUNCTION IF EXISTS billow_usage_touch_deleted()",
    "DROP FUNCTION IF EXISTS billow_usage_rollups_reset()",
]

for _statement in TRIGGER_DDL:
    event.listen(Base.metadata, "after_create", DDL(_statement).execute_if(dialect="postgresql"))
