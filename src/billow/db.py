"""Database engine, declarative base and the per-request session.

One transaction per request: :func:`session_dependency` opens a session, commits when the endpoint
returns and rolls back when it raises. Services and repositories never commit; they ``flush`` when
they need generated values.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from fastapi import Depends, Request
from sqlalchemy import ForeignKey, MetaData, Table, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from billow.kit.db_types import UTCDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)

    if TYPE_CHECKING:
        # Every Billow model is mapped to one Table (no mapping to a select or a join), so its
        # ``__table__`` can go to insert()/update()/delete() and has ``.c``; SQLAlchemy types it
        # as the wider FromClause.
        __table__: ClassVar[Table]


class RecordMixin:
    """UUID primary key (Lago's ``lago_id``) and creation/update instants."""

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class TenantMixin(RecordMixin):
    """A row owned by one organization. Every repository query filters on ``organization_id``."""

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )


class SoftDeleteMixin:
    """Catalog rows are kept after deletion so that past invoices can still name them."""

    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        from billow.kit.sqlite_decimal import register as register_metering_functions

        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()
            # Exact decimal JSON/aggregate functions for metering (billow.kit.sqlite_decimal).
            register_metering_functions(dbapi_connection)

        return engine
    _cache_psycopg_queries()
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, **kwargs)


#: Statements psycopg keeps converted (its placeholders to ``$n``) in its 128-entry LRU cache: up to this
#: many characters and parameters (psycopg's own limits: 4,096 and 50).
PSYCOPG_CACHED_QUERY_LENGTH = 16_384
PSYCOPG_CACHED_QUERY_PARAMS = 400


def _cache_psycopg_queries() -> None:
    """Let psycopg cache the conversion of statements up to :data:`PSYCOPG_CACHED_QUERY_LENGTH` characters
    and :data:`PSYCOPG_CACHED_QUERY_PARAMS` parameters. An invoice's fees are one ``INSERT ... VALUES``
    of ~6,000 characters and ~120 parameters: above psycopg's limits, psycopg parsed it again in pure
    Python for every invoice (~1.5 ms of a billing run's ~11 ms of CPU per invoice, measured). Its limits
    protect its shared LRU cache (128 entries) from huge multi-row inserts of varying sizes; with these
    bounds an entry stays under ~50 KB (event batches, ~800 parameters, stay uncached). Process-wide,
    only raised, and a no-op if psycopg's internals differ."""
    try:
        from psycopg import _queries
    except ImportError:  # pragma: no cover - psycopg is a dependency
        return
    for name, value in (
        ("MAX_CACHED_STATEMENT_LENGTH", PSYCOPG_CACHED_QUERY_LENGTH),
        ("MAX_CACHED_STATEMENT_PARAMS", PSYCOPG_CACHED_QUERY_PARAMS),
    ):
        current = getattr(_queries, name, None)
        if isinstance(current, int) and current < value:
            setattr(_queries, name, value)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    from billow.kit.strings import guard_flushes

    return guard_flushes(sessionmaker(bind=engine, expire_on_commit=False, autoflush=True))


def session_dependency(request: Request) -> Iterator[Session]:
    """FastAPI dependency: one session and one transaction per request. An authenticated request brings
    the session its authentication ran on (:class:`billow.transport.AuthenticationMiddleware`): it is
    taken over here, so the organization stays attached to the request's session."""
    session: Session | None = request.scope.get("state", {}).pop("billow.session", None)
    if session is None:
        factory: sessionmaker[Session] = request.app.state.sessionmaker
        session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


DbSession = Annotated[Session, Depends(session_dependency, scope="function")]
"""The request's session. ``scope="function"`` commits before the response is sent, so a failed
commit becomes an error response instead of a lost write behind a 200."""
