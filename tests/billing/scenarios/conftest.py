"""Billing scenarios: whole subscription cycles billed by :func:`billow.billing.run.bill_due` at frozen
instants, on SQLite and PostgreSQL. Every expected amount is hand-computed in a comment next to it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from billow.db import make_sessionmaker


@pytest.fixture
def factory(engine: Engine, session: Session) -> Iterator[sessionmaker[Session]]:
    yield make_sessionmaker(engine)
