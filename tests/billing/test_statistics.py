"""Fresh planner statistics before a billing run (:mod:`billow.billing.statistics`)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import insert, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from billow.billing import statistics
from billow.billing.run import bill_due, due_subscription_ids
from billow.models.events import Event
from tests.fixtures import factories as f
from tests.fixtures.factories import at


@pytest.fixture
def pg(engine: Engine, session: Session) -> Iterator[Engine]:
    if engine.dialect.name != "postgresql":
        pytest.skip("planner statistics are PostgreSQL's")
    yield engine


def _analyze(engine: Engine, table: str) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(f"ANALYZE {table}"))


def _insert_events(engine: Engine, count: int) -> None:
    """``count`` committed events, the writer's statistics flushed to the server's counters."""
    with Session(engine) as session:
        org = f.organization(session).id
        session.commit()
    with engine.connect() as connection:
        connection.execute(
            insert(Event),
            [
                {
                    "id": uuid.uuid4(),
                    "organization_id": org,
                    "transaction_id": f"tr_{i}",
                    "external_subscription_id": f"sub_{i % 7}",
                    "code": "calls",
                    "timestamp": at("2024-01-10T00:00:00"),
                    "properties": {},
                    "created_at": at("2024-01-10T00:00:00"),
                }
                for i in range(count)
            ],
        )
        connection.commit()
        connection.execute(text("SELECT pg_stat_force_next_flush()"))
        connection.commit()


def _wait_until_stale(engine: Engine, table: str) -> None:
    deadline = time.monotonic() + 10
    while table not in statistics.stale_tables(engine):
        if time.monotonic() > deadline:
            raise AssertionError(f"{table}'s changes never reached pg_stat_user_tables")
        time.sleep(0.05)


def _reltuples(engine: Engine, table: str) -> float:
    with engine.connect() as connection:
        return float(
            connection.execute(
                text("SELECT reltuples FROM pg_class WHERE oid = to_regclass(:t)"), {"t": table}
            ).scalar_one()
        )


class TestStaleTables:
    def test_nothing_to_do_on_sqlite(self, engine: Engine, session: Session) -> None:
        if engine.dialect.name != "sqlite":
            pytest.skip("the SQLite case")
        f.organization(session)
        session.commit()
        assert statistics.stale_tables(engine) == []
        assert statistics.refresh(engine) == []

    def test_events_written_since_the_last_analyze_make_them_stale(self, pg: Engine) -> None:
        _analyze(pg, "events")
        assert "events" not in statistics.stale_tables(pg)
        _insert_events(pg, 30)  # under autovacuum's threshold (50 + 10 %)
        time.sleep(0.2)
        assert "events" not in statistics.stale_tables(pg)
        _insert_events(pg, 60)
        _wait_until_stale(pg, "events")

    def test_a_table_never_measured_is_stale_even_when_the_counters_were_lost(self, pg: Engine) -> None:
        with pg.begin() as connection:
            connection.execute(text("TRUNCATE events"))  # the planner's figures: unknown (reltuples -1)
        _insert_events(pg, 20)
        with pg.begin() as connection:
            # What a crash does to the change counters.
            connection.execute(text("SELECT pg_stat_reset_single_table_counters('events'::regclass)"))
        assert "events" in statistics.stale_tables(pg)
        assert "events" in statistics.refresh(pg)
        assert _reltuples(pg, "events") == 20

    def test_refresh_analyzes_the_stale_tables_only(self, pg: Engine) -> None:
        _analyze(pg, "events")
        _insert_events(pg, 120)
        _wait_until_stale(pg, "events")
        analyzed = statistics.refresh(pg)
        assert "events" in analyzed
        assert set(analyzed) <= set(statistics.TABLES)
        assert _reltuples(pg, "events") == 120  # what the planner now knows
        assert "events" not in statistics.stale_tables(pg)

    def test_a_table_being_analyzed_elsewhere_is_skipped(self, pg: Engine) -> None:
        _analyze(pg, "events")
        _insert_events(pg, 120)
        _wait_until_stale(pg, "events")
        with pg.connect() as holder:
            # What a concurrent ANALYZE or autovacuum holds.
            holder.execute(text("LOCK TABLE events IN SHARE UPDATE EXCLUSIVE MODE"))
            analyzed = statistics.refresh(pg, lock_timeout="100ms")
            holder.rollback()
        assert "events" not in analyzed
        assert "events" in statistics.stale_tables(pg)


class TestBillingRunsRefreshThem:
    def test_bill_due(self, pg: Engine, factory: sessionmaker[Session]) -> None:
        _analyze(pg, "events")
        _insert_events(pg, 150)
        _wait_until_stale(pg, "events")
        bill_due(factory, at("2024-02-01T00:00:00"))
        assert _reltuples(pg, "events") == 150
        assert "events" not in statistics.stale_tables(pg)

    def test_the_workers_scan(self, pg: Engine, factory: sessionmaker[Session]) -> None:
        _analyze(pg, "events")
        _insert_events(pg, 150)
        _wait_until_stale(pg, "events")
        due_subscription_ids(factory, at("2024-02-01T00:00:00"))
        assert _reltuples(pg, "events") == 150


class TestLockStatementPlan:
    """The per-invoice check "is this period billed already" (:func:`billow.billing.repository.billed_clause`)
    under a generic plan, which psycopg's prepared statement gets after a few executions: it must use the
    period's (partial) unique index, not read every ``invoice_subscriptions`` row for every invoice."""

    def test_generic_plan_uses_the_period_index(self, pg: Engine) -> None:
        import re

        from sqlalchemy import select

        from billow.billing.repository import billed_clause
        from billow.billing.schedule import DueInvoice, InvoicingReason

        due = DueInvoice(
            subscription_id=uuid.uuid4(),
            reason=InvoicingReason.SUBSCRIPTION_PERIODIC,
            period_start=at("2024-01-01T00:00:00"),
            due_at=at("2024-02-01T00:00:00"),
            fee_period=None,
            charges_from=None,
            charges_to=None,
        )
        compiled = select(billed_clause(due)).compile(
            dialect=pg.dialect, compile_kwargs={"render_postcompile": True}
        )
        names: list[str] = []

        def positional(match: re.Match[str]) -> str:
            names.append(match.group(1))
            return f"${len(names)}"

        sql = re.sub(r"%\((\w+)\)s", positional, str(compiled))
        arguments = ", ".join(f"'{compiled.params[name]}'" for name in names)
        with pg.connect() as connection:
            connection.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
            # What other tests left in the table (a few rows, dead ones) can make a sequential scan the
            # cheaper plan; with it disfavoured, the index shows whenever a generic plan CAN use it (with
            # the reason as a parameter it cannot, and the plan stays a sequential scan).
            connection.exec_driver_sql("SET enable_seqscan = off")
            connection.exec_driver_sql(f"PREPARE billed AS {sql}")
            plan = "\n".join(
                row[0] for row in connection.exec_driver_sql(f"EXPLAIN EXECUTE billed({arguments})")
            )
            connection.rollback()
        assert "uq_invoice_subscriptions_period" in plan, plan
