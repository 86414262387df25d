"""Billing scenarios: whole subscription cycles billed by :func:`billow.billing.run.bill_due` at frozen
instants, on SQLite and PostgreSQL. Every expected amount is hand-computed in a comment next to it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from billow.db import make_sessionmaker
from billow.models import metadata


def _delete_rows(engine: Engine) -> None:
    """Empty every table with ``DELETE``: much faster than the root fixture's ``TRUNCATE ... CASCADE`` on
    PostgreSQL for these small scenarios."""
    with engine.begin() as connection:
        for table in reversed(metadata.sorted_tables):
            connection.execute(table.delete())


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session on a clean database; emptied after the test (overrides the root fixture)."""
    with make_sessionmaker(engine)() as session:
        yield session
    _delete_rows(engine)


@pytest.fixture
def factory(engine: Engine, session: Session) -> Iterator[sessionmaker[Session]]:
    yield make_sessionmaker(engine)
