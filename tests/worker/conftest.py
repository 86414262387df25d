"""Fixtures for the job engine tests: a billing catalog, the invoices it produced, a clean job queue."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from tests.conftest import ThrowawayDatabase


@pytest.fixture
def job_database(database: ThrowawayDatabase) -> Iterator[str]:
    """The test database's URL with procrastinate's schema, and no jobs left after the test."""
    if database.backend != "postgresql":
        pytest.skip("the job engine runs on PostgreSQL")
    from billow.worker.engine import conninfo, ensure_schema

    ensure_schema(database.url)
    yield database.url
    with psycopg.connect(conninfo(database.url), autocommit=True) as connection:
        connection.execute(
            "TRUNCATE procrastinate_jobs, procrastinate_events, procrastinate_periodic_defers, "
            "procrastinate_workers CASCADE"
        )
