"""All SQL of the events domain.

Ingestion costs two statements per request whatever its number of events: one query that
authenticates the API key and fetches the billable metrics of the request's codes, and one
``INSERT ... ON CONFLICT DO NOTHING RETURNING id`` for all its events (plain rows, never ORM
objects). Rows that conflict with the deduplication key, whether with a stored event, with a
concurrent request's or with another row of the same statement, are skipped by the database and
missing from ``RETURNING``: that is how duplicates are found, race-free.

On PostgreSQL (:class:`PostgresIngestionStore`) the two statements run on an asynchronous psycopg
connection of :class:`IngestionPool`, on the event loop, and the rows travel as one JSON document
expanded by ``jsonb_to_recordset`` (one statement text for any batch size, so it is prepared once per
connection, and one C-level ``json.dumps`` instead of per-value adaptation): several times cheaper in
CPU than SQLAlchemy's per-row parameter processing plus a worker-thread hop. Elsewhere (SQLite,
:class:`CoreIngestionStore`) SQLAlchemy Core runs the equivalent statements in a worker thread.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Collection, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol

import psycopg
from psycopg.pq import TransactionStatus
from sqlalchemy import ColumnElement, Connection, Engine, Row, Select, and_, exists, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from billow.models.billable_metrics import BillableMetric
from billow.models.events import Event
from billow.models.invoices import Invoice, InvoiceStatus, InvoiceSubscription
from billow.models.organizations import ApiKey
from billow.models.plans import Charge
from billow.models.subscriptions import Subscription

_events = Event.__table__
_metrics = BillableMetric.__table__
_subscriptions = Subscription.__table__
_api_keys = ApiKey.__table__

Db = Connection | Session
"""Read queries take either a bare ``Connection`` or the request's session."""


class MetricInfo(NamedTuple):
    """What ingestion and diagnostics need of a live billable metric."""

    code: str
    aggregation_type: str
    field_name: str | None
    expression: str | None


class EventRow(Protocol):
    """An event to insert (:class:`billow.events.schemas.NewEvent` once given its id)."""

    id: str | None
    transaction_id: str
    external_subscription_id: str
    code: str
    timestamp: datetime
    properties: dict[str, Any]
    precise_total_amount_cents: Any


# --------------------------------------------------------------------------------------------------
# PostgreSQL: bare psycopg
# --------------------------------------------------------------------------------------------------

_PG_AUTHENTICATE = """
SELECT k.organization_id, m.code, m.aggregation_type, m.field_name, m.expression
FROM api_keys AS k
LEFT JOIN billable_metrics AS m
  ON m.organization_id = k.organization_id AND m.code = ANY(%(codes)s::varchar[]) AND m.deleted_at IS NULL
WHERE k.value_digest = %(digest)s AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now())
"""

_PG_INSERT = """
INSERT INTO events (id, organization_id, transaction_id, external_subscription_id, code, "timestamp",
                    properties, precise_total_amount_cents, created_at)
SELECT r.i, %(organization_id)s, r.t, r.s, r.c, r.ts, r.p, r.a, %(created_at)s
FROM jsonb_to_recordset(%(rows)s::jsonb) AS r(i uuid, t varchar, s varchar, c varchar, ts timestamptz,
                                              p jsonb, a numeric)
ON CONFLICT DO NOTHING
RETURNING id::text
"""


# Authentication and insertion in one statement, for the common case where no billable metric of the
# request's codes has an expression: the insert happens only if the key is valid and no such metric
# exists (the CTEs share one snapshot). Otherwise nothing is written and the caller evaluates the
# expressions and inserts with _PG_INSERT.
_PG_AUTHENTICATE_AND_INSERT = """
WITH k AS (
  SELECT organization_id FROM api_keys
  WHERE value_digest = %(digest)s AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
), x AS (
  SELECT 1 FROM billable_metrics AS m JOIN k ON m.organization_id = k.organization_id
  WHERE m.code = ANY(%(codes)s::varchar[]) AND m.deleted_at IS NULL
    AND m.expression IS NOT NULL AND m.expression <> '' AND m.field_name IS NOT NULL AND m.field_name <> ''
  LIMIT 1
), inserted AS (
  INSERT INTO events (id, organization_id, transaction_id, external_subscription_id, code, "timestamp",
                      properties, precise_total_amount_cents, created_at)
  SELECT r.i, k.organization_id, r.t, r.s, r.c, r.ts, r.p, r.a, %(created_at)s
  FROM k CROSS JOIN jsonb_to_recordset(%(rows)s::jsonb) AS r(i uuid, t varchar, s varchar, c varchar,
                                                             ts timestamptz, p jsonb, a numeric)
  WHERE NOT EXISTS (SELECT 1 FROM x)
  ON CONFLICT DO NOTHING
  RETURNING id
)
SELECT (SELECT organization_id FROM k), EXISTS (SELECT 1 FROM x), ARRAY(SELECT id::text FROM inserted)
"""


def _json_default(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _insert_document(events: Sequence[EventRow]) -> str:
    """The events as the JSON array that ``_PG_INSERT`` expands (short keys: built for every event)."""
    return json.dumps(
        [
            {
                "i": event.id,
                "t": event.transaction_id,
                "s": event.external_subscription_id,
                "c": event.code,
                "ts": event.timestamp.isoformat(),
                "p": event.properties,
                "a": None if (amount := event.precise_total_amount_cents) is None else str(amount),
            }
            for event in events
        ],
        ensure_ascii=False,
        allow_nan=False,
        separators=(",", ":"),
        default=_json_default,
    )


def _metrics_of(rows: Sequence[Any]) -> tuple[uuid.UUID | None, dict[str, MetricInfo]]:
    if not rows:
        return None, {}
    return rows[0][0], {row[1]: MetricInfo(*row[1:]) for row in rows if row[1] is not None}


class PostgresIngestionStore:
    """Ingestion on an ``AsyncConnection`` of :class:`IngestionPool` (inside its transaction)."""

    def __init__(self, connection: psycopg.AsyncConnection[Any]) -> None:
        self.connection = connection

    async def authenticate(
        self, key_digest: str, codes: Collection[str]
    ) -> tuple[uuid.UUID | None, dict[str, MetricInfo]]:
        async with self.connection.cursor() as cursor:
            await cursor.execute(_PG_AUTHENTICATE, {"codes": list(codes), "digest": key_digest})
            return _metrics_of(await cursor.fetchall())

    async def authenticate_and_insert(
        self, key_digest: str, events: Sequence[EventRow], created_at: datetime
    ) -> tuple[uuid.UUID | None, set[str] | None]:
        """One round trip for the common case: the organization owning the key (``None``: unknown
        key, nothing written) and the ids of the events inserted, or ``None`` when a billable metric
        of their codes has an expression (nothing written: evaluate it, then :meth:`insert`)."""
        parameters = {
            "digest": key_digest,
            "codes": list({event.code for event in events}),
            "created_at": created_at,
            "rows": _insert_document(events),
        }
        async with self.connection.cursor() as cursor:
            await cursor.execute(_PG_AUTHENTICATE_AND_INSERT, parameters)
            organization_id, has_expressions, inserted = await cursor.fetchone()  # type: ignore[misc]
        if organization_id is None or has_expressions:
            return organization_id, None
        return organization_id, set(inserted)

    async def insert(
        self, organization_id: uuid.UUID, events: Sequence[EventRow], created_at: datetime
    ) -> set[str]:
        parameters = {
            "organization_id": organization_id,
            "created_at": created_at,
            "rows": _insert_document(events),
        }
        async with self.connection.cursor() as cursor:
            await cursor.execute(_PG_INSERT, parameters)
            return {row[0] for row in await cursor.fetchall()}


class IngestionPool:
    """A small pool of psycopg ``AsyncConnection`` s, per server process and event loop.

    Ingestion on PostgreSQL runs on the event loop: no worker-thread hop (each costs as much CPU as the
    two statements of a single-event request), no SQLAlchemy layers, and the loop keeps serving other
    connections while the database works. A connection that fails is closed, not reused; the next
    request opens a new one (a request that hits a dead connection answers 500 once).
    """

    def __init__(self, conninfo: str, max_size: int = 10, *, reuse: bool = True) -> None:
        self.conninfo = conninfo
        self.loop = asyncio.get_running_loop()
        self.reuse = reuse
        self._idle: list[psycopg.AsyncConnection[Any]] = []
        self._slots = asyncio.Semaphore(max_size)

    @classmethod
    def for_engine(cls, engine: Engine, *, reuse: bool = True) -> IngestionPool:
        url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        return cls(url, max_size=engine.pool.size(), reuse=reuse)  # type: ignore[attr-defined]

    @asynccontextmanager
    async def store(self, *, atomic: bool) -> AsyncIterator[PostgresIngestionStore]:
        """A store on a pooled connection. ``atomic``: in a transaction of its own, committed when the
        block ends and rolled back if it raises. Otherwise each statement commits by itself, which
        saves the ``BEGIN`` and ``COMMIT`` round trips when one statement writes everything (a
        single event)."""
        async with self._slots:
            if self._idle:
                connection = self._idle.pop()
            else:
                connection = await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True)
            try:
                if atomic:
                    async with connection.transaction():
                        yield PostgresIngestionStore(connection)
                else:
                    yield PostgresIngestionStore(connection)
            finally:
                # Reuse only a connection at rest (not broken, no transaction or query in flight:
                # a request cancelled mid-query leaves one that is not).
                idle = connection.info.transaction_status == TransactionStatus.IDLE
                if self.reuse and idle and not connection.closed:
                    self._idle.append(connection)
                else:
                    await connection.close()

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            await connection.close()

    def discard(self) -> None:
        """Close the idle connections (synchronously: the pool's event loop may be gone)."""
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.pgconn.finish()


# --------------------------------------------------------------------------------------------------
# Any other database (SQLite): SQLAlchemy Core
# --------------------------------------------------------------------------------------------------

_SQLITE_INSERT = sqlite.insert(_events).on_conflict_do_nothing().returning(_events.c.id)
#: The same on PostgreSQL, for the Core store on a session's connection (the dashboard's test event);
#: the API's ingestion on PostgreSQL goes through :class:`PostgresIngestionStore`.
_POSTGRES_INSERT = postgresql.insert(_events).on_conflict_do_nothing().returning(_events.c.id)


class CoreIngestionStore:
    """Ingestion through SQLAlchemy Core on a ``Connection`` (the API's on SQLite; the dashboard's on a
    request session's connection, either database), inside its transaction."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def authenticate(
        self, key_digest: str, codes: Collection[str]
    ) -> tuple[uuid.UUID | None, dict[str, MetricInfo]]:
        k, m = _api_keys.c, _metrics.c
        joined = _api_keys.outerjoin(
            _metrics,
            and_(m.organization_id == k.organization_id, m.code.in_(list(codes)), m.deleted_at.is_(None)),
        )
        rows = self.connection.execute(
            select(k.organization_id, m.code, m.aggregation_type, m.field_name, m.expression)
            .select_from(joined)
            .where(
                k.value_digest == key_digest,
                k.revoked_at.is_(None),
                or_(k.expires_at.is_(None), k.expires_at > datetime.now(UTC)),
            )
        ).all()
        return _metrics_of(rows)

    def insert(
        self, organization_id: uuid.UUID, events: Sequence[EventRow], created_at: datetime
    ) -> set[str]:
        rows = [
            {
                "id": uuid.UUID(event.id),
                "organization_id": organization_id,
                "transaction_id": event.transaction_id,
                "external_subscription_id": event.external_subscription_id,
                "code": event.code,
                "timestamp": event.timestamp,
                "properties": event.properties,
                "precise_total_amount_cents": event.precise_total_amount_cents,
                "created_at": created_at,
            }
            for event in events
        ]
        statement = _POSTGRES_INSERT if self.connection.dialect.name == "postgresql" else _SQLITE_INSERT
        return {str(new_id) for new_id in self.connection.execute(statement, rows).scalars()}


@contextmanager
def ingestion_store(engine: Engine) -> Iterator[CoreIngestionStore]:
    """A Core store in a transaction of its own: committed when the block ends, rolled back if it raises."""
    with engine.begin() as connection:
        yield CoreIngestionStore(connection)


class EventRepository:
    def metrics_for_codes(
        self, db: Db, organization_id: uuid.UUID, codes: Collection[str]
    ) -> dict[str, MetricInfo]:
        """Live billable metrics named by ``codes``."""
        if not codes:
            return {}
        m = _metrics.c
        rows = db.execute(
            select(m.code, m.aggregation_type, m.field_name, m.expression).where(
                m.organization_id == organization_id, m.code.in_(list(codes)), m.deleted_at.is_(None)
            )
        )
        return {row.code: MetricInfo(*row) for row in rows}

    def subscriptions_for(
        self, db: Db, organization_id: uuid.UUID, external_ids: Collection[str]
    ) -> dict[str, list[Row[*tuple[Any, ...]]]]:
        """Every subscription (any status) carrying one of ``external_ids``, newest first per id."""
        if not external_ids:
            return {}
        s = _subscriptions.c
        rows = db.execute(
            select(
                s.id,
                s.external_id,
                s.customer_id,
                s.status,
                s.started_at,
                s.terminated_at,
                s.created_at,
                s.plan_id,
            )
            .where(s.organization_id == organization_id, s.external_id.in_(list(external_ids)))
            .order_by(s.created_at.desc(), s.id)
        )
        found: dict[str, list[Row[*tuple[Any, ...]]]] = {}
        for row in rows:
            found.setdefault(row.external_id, []).append(row)
        return found

    def invoiced_windows(
        self,
        db: Db,
        organization_id: uuid.UUID,
        subscription_ids: Collection[uuid.UUID],
        timestamp_from: datetime,
        timestamp_to: datetime,
    ) -> dict[uuid.UUID, list[Row[*tuple[Any, ...]]]]:
        """The usage windows ``[charges_from, charges_to)`` of the subscriptions' issued (not draft)
        invoices overlapping ``[timestamp_from, timestamp_to]``, with the wall-clock instant their fees
        were last computed (``fees_computed_at``; events are stamped with the wall clock too)."""
        if not subscription_ids:
            return {}
        link = InvoiceSubscription
        rows = db.execute(
            select(
                link.subscription_id,
                link.charges_from_datetime,
                link.charges_to_datetime,
                _fees_computed_at().label("fees_computed_at"),
            )
            .join(Invoice, Invoice.id == link.invoice_id)
            .where(
                link.organization_id == organization_id,
                link.subscription_id.in_(list(subscription_ids)),
                link.charges_from_datetime <= timestamp_to,
                link.charges_to_datetime > timestamp_from,
                Invoice.status != InvoiceStatus.DRAFT,
                Invoice.finalized_at.is_not(None),
            )
        )
        found: dict[uuid.UUID, list[Row[*tuple[Any, ...]]]] = {}
        for row in rows:
            found.setdefault(row.subscription_id, []).append(row)
        return found

    def pay_in_advance_codes(
        self, db: Db, organization_id: uuid.UUID, plan_ids: Collection[uuid.UUID]
    ) -> dict[uuid.UUID, set[str]]:
        """Per plan, the metric codes of its pay-in-advance charges (billed per event, not per period)."""
        if not plan_ids:
            return {}
        rows = db.execute(
            select(Charge.plan_id, BillableMetric.code)
            .join(BillableMetric, BillableMetric.id == Charge.billable_metric_id)
            .where(
                Charge.organization_id == organization_id,
                Charge.plan_id.in_(list(plan_ids)),
                Charge.pay_in_advance.is_(True),
                Charge.deleted_at.is_(None),
            )
        )
        found: dict[uuid.UUID, set[str]] = {}
        for plan_id, code in rows:
            found.setdefault(plan_id, set()).add(code)
        return found

    def find(
        self,
        session: Session,
        organization_id: uuid.UUID,
        transaction_id: str,
        external_subscription_id: str | None = None,
    ) -> Event | None:
        """The event with this transaction id (and external subscription id when given); the most
        recently stored one when several subscriptions used the same transaction id."""
        stmt = select(Event).where(
            Event.organization_id == organization_id, Event.transaction_id == transaction_id
        )
        if external_subscription_id is not None:
            stmt = stmt.where(Event.external_subscription_id == external_subscription_id)
        return session.scalars(stmt.order_by(Event.created_at.desc(), Event.id.desc()).limit(1)).first()

    def list_stmt(
        self,
        organization_id: uuid.UUID,
        *,
        code: str | None = None,
        external_subscription_id: str | None = None,
        timestamp_from: datetime | None = None,
        timestamp_to: datetime | None = None,
        period_already_invoiced: bool = False,
    ) -> Select[Event]:
        """Newest first (Lago's order: timestamp desc, then transaction id)."""
        stmt = select(Event).where(Event.organization_id == organization_id)
        if period_already_invoiced:
            stmt = stmt.where(_period_already_invoiced(organization_id))
        if code is not None:
            stmt = stmt.where(Event.code == code)
        if external_subscription_id is not None:
            stmt = stmt.where(Event.external_subscription_id == external_subscription_id)
        if timestamp_from is not None:
            stmt = stmt.where(Event.timestamp >= timestamp_from)
        if timestamp_to is not None:
            stmt = stmt.where(Event.timestamp <= timestamp_to)
        return stmt.order_by(Event.timestamp.desc(), Event.transaction_id, Event.id)

    def subscription_started_at(
        self, session: Session, organization_id: uuid.UUID, external_id: str
    ) -> datetime | None:
        """``started_at`` of the subscription Lago picks for ``timestamp_from_started_at``: a live one
        first, else the last terminated."""
        return session.scalar(
            select(Subscription.started_at)
            .where(Subscription.organization_id == organization_id, Subscription.external_id == external_id)
            .order_by(
                Subscription.terminated_at.desc().nulls_first(),
                Subscription.started_at.desc().nulls_last(),
            )
            .limit(1)
        )


def _fees_computed_at() -> ColumnElement[datetime]:
    """When an invoice's fees were last computed, by the wall clock (a draft's last refresh, which
    finalizing does, else its creation), as ``InvoiceRepository.drafts_to_refresh`` reads it."""
    return func.coalesce(Invoice.refreshed_at, Invoice.created_at)


def _period_already_invoiced(organization_id: uuid.UUID) -> ColumnElement[bool]:
    """SQL for "the event arrived after the invoice of its period was issued": a live metric has its code,
    an issued invoice of a subscription with its external id has a usage window containing its timestamp
    and its fees were computed (for good: it is not a draft) before the event was stored, and the code is
    not a pay-in-advance charge's of that subscription's plan (those are billed per event)."""
    link, subscription = InvoiceSubscription, Subscription
    pay_in_advance = (
        exists()
        .where(
            Charge.plan_id == subscription.plan_id,
            Charge.pay_in_advance.is_(True),
            Charge.deleted_at.is_(None),
            BillableMetric.id == Charge.billable_metric_id,
            BillableMetric.code == Event.code,
        )
        .correlate(Event, subscription)
    )
    invoiced = (
        exists()
        .where(
            subscription.organization_id == organization_id,
            subscription.external_id == Event.external_subscription_id,
            link.subscription_id == subscription.id,
            Invoice.id == link.invoice_id,
            Invoice.status != InvoiceStatus.DRAFT,
            Invoice.finalized_at.is_not(None),
            _fees_computed_at() < Event.created_at,
            link.charges_from_datetime <= Event.timestamp,
            link.charges_to_datetime > Event.timestamp,
            ~pay_in_advance,
        )
        .correlate(Event)
    )
    metric = (
        exists()
        .where(
            BillableMetric.organization_id == organization_id,
            BillableMetric.code == Event.code,
            BillableMetric.deleted_at.is_(None),
        )
        .correlate(Event)
    )
    return and_(metric, invoiced)


event_repository = EventRepository()
