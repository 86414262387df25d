"""Test fixtures. Every storage test runs on SQLite and on PostgreSQL.

PostgreSQL comes from ``BILLOW_TEST_DATABASE_URL`` (default: the local server at 127.0.0.1:5432,
user postgres); each run creates a throwaway database and drops it at the end. Set
``BILLOW_TEST_BACKENDS=sqlite`` (or ``postgresql``) to run one backend only.

A database error in the usage-rollup path fails every test (``BILLOW_ROLLUP_ERRORS=raise``, also in the
servers the end-to-end tests start) instead of silently falling back to the plain aggregation.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from billow.app import create_app
from billow.config import Settings, normalize_database_url
from billow.db import make_engine, make_sessionmaker
from billow.migrate import alembic_config
from billow.models import metadata
from billow.models.organizations import Organization
from billow.organizations.service import organization_service
from tests.fixtures.pages import Pages, sign_in

# Before any settings are read (get_settings() is cached).
os.environ.setdefault("BILLOW_ROLLUP_ERRORS", "raise")
# One sealing key for the tests and the servers they start (docs/decisions/0007; a fixed test key).
os.environ.setdefault("BILLOW_SECRET_KEY", "dGVzdC1zZWNyZXQta2V5LWZvci1iaWxsb3ctdGVzdHM=")
# Documents rendered by the tests (billow.documents) go to a temporary folder, not the user's data_dir.
os.environ.setdefault("BILLOW_DOCUMENTS_DIR", tempfile.mkdtemp(prefix="billow-test-documents-"))
# Rendering them after every finalization would slow the whole suite: tests/documents turns it on.
os.environ.setdefault("BILLOW_GENERATE_DOCUMENTS", "false")

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _backends() -> list[str]:
    wanted = os.environ.get("BILLOW_TEST_BACKENDS", "sqlite,postgresql")
    return [b.strip() for b in wanted.split(",") if b.strip()]


def _admin_pg_url() -> str:
    return normalize_database_url(os.environ.get("BILLOW_TEST_DATABASE_URL", DEFAULT_PG_URL))


@dataclass
class ThrowawayDatabase:
    backend: str
    url: str


def create_throwaway_database(backend: str, tmp_dir: Path) -> tuple[ThrowawayDatabase, Any]:
    """A new, empty database; returns it and a function that drops it."""
    if backend == "sqlite":
        path = tmp_dir / f"billow-{uuid.uuid4().hex[:8]}.db"
        return ThrowawayDatabase("sqlite", f"sqlite:///{path}"), lambda: None
    admin_url = _admin_pg_url()
    name = f"billow_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return ThrowawayDatabase("postgresql", url), drop


@pytest.fixture(scope="session", params=_backends())
def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ThrowawayDatabase]:
    db, drop = create_throwaway_database(request.param, tmp_path_factory.mktemp("db"))
    engine = make_engine(db.url)
    metadata.create_all(engine)
    engine.dispose()
    # The tables are the migrations' (tests/test_migrations.py): recorded at head, as `billow migrate`
    # leaves a database (GET /health/ready).
    command.stamp(alembic_config(db.url), "head")
    yield db
    drop()


@pytest.fixture(scope="session")
def engine(database: ThrowawayDatabase) -> Iterator[Engine]:
    engine = make_engine(database.url)
    yield engine
    engine.dispose()


def _wipe(engine: Engine) -> None:
    """Empty every table. ``DELETE`` in dependency order, on PostgreSQL too: ``TRUNCATE`` of the ~40
    tables costs 0.2-1 s per test (it swaps every table's files), ``DELETE`` of a test's few rows ~20 ms."""
    tables = list(reversed(metadata.sorted_tables))
    with engine.begin() as connection:
        for table in tables:
            connection.execute(table.delete())
        if engine.dialect.name == "postgresql":
            # Report these deletes to the statistics now, not up to 10 s later, in the middle of the next
            # test (tests/billing/test_statistics.py counts the changes since the last ANALYZE).
            connection.execute(text("SELECT pg_stat_force_next_flush()"))


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session on a clean database; wiped after the test."""
    factory = make_sessionmaker(engine)
    with factory() as session:
        yield session
    _wipe(engine)


@pytest.fixture
def factory(engine: Engine, session: Session) -> Iterator[sessionmaker[Session]]:
    """Sessions on the test database, for code that opens its own (billing runs, tasks); ``session``
    wipes the database after the test."""
    yield make_sessionmaker(engine)


@pytest.fixture
def billow(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """``billow <args>`` (Typer's runner) on the test database (its tables exist: no migration)."""
    from typer.testing import CliRunner

    from billow import cli

    monkeypatch.setattr(
        cli, "_prepare_database", lambda *_, **__: engine.url.render_as_string(hide_password=False)
    )

    def run(*args: str) -> Any:
        return CliRunner().invoke(cli.app, list(args))

    return run


@pytest.fixture(scope="session")
def app(database: ThrowawayDatabase) -> Iterator[FastAPI]:
    app = create_app(Settings(database_url=database.url), dispatch="sync")
    yield app
    app.state.engine.dispose()


class Api:
    """A TestClient bound to one organization's API key, with helpers for Lago-shaped calls."""

    def __init__(self, client: TestClient, key: str, organization: Organization):
        self.client = client
        self.key = key
        self.organization = organization
        self.headers = {"Authorization": f"Bearer {key}"}

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(f"/api/v1{path}", headers=self.headers, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return self.client.post(f"/api/v1{path}", json=json, headers=self.headers, **kwargs)

    def put(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return self.client.put(f"/api/v1{path}", json=json, headers=self.headers, **kwargs)

    def patch(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return self.client.patch(f"/api/v1{path}", json=json, headers=self.headers, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.client.delete(f"/api/v1{path}", headers=self.headers, **kwargs)


def make_organization(app: FastAPI, name: str) -> tuple[Organization, str]:
    with app.state.sessionmaker.begin() as session:
        return organization_service.create(session, name=name)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client
    _wipe(app.state.engine)


@pytest.fixture
def api(app: FastAPI, client: TestClient) -> Api:
    """The API as seen by organization "Acme"."""
    organization, key = make_organization(app, "Acme")
    return Api(client, key, organization)


@pytest.fixture
def other_api(app: FastAPI, client: TestClient) -> Api:
    """A second organization, to prove tenants cannot see each other."""
    organization, key = make_organization(app, "Globex")
    return Api(client, key, organization)


@pytest.fixture
def pages_as(app: FastAPI, client: TestClient, api: Api) -> Iterator[Callable[..., Pages]]:
    """Dashboard pages signed in as a member with a role (``tests/fixtures/pages.py``)."""

    def sign(role: str = "admin", organization: Organization | None = None) -> Pages:
        return sign_in(app, client, organization or api.organization, role)

    yield sign


@pytest.fixture
def bill_backdated_periods(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Opt in to billing the past of backdated subscriptions (``BILLOW_BILL_BACKDATED_PERIODS``; off by
    default, as Lago): for the tests that create subscriptions started long before today and bill the
    periods since."""
    from billow.config import get_settings

    monkeypatch.setenv("BILLOW_BILL_BACKDATED_PERIODS", "true")
    get_settings.cache_clear()
    yield
    monkeypatch.delenv("BILLOW_BILL_BACKDATED_PERIODS")
    get_settings.cache_clear()


@pytest.fixture
def invoices_read_only_the_locked_columns(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """PostgreSQL: the lock statement of an invoice loads some columns of the subscription and the
    customer (``billow.billing.locks``); reading another one while writing the invoice raises here
    (``BILLOW_STRICT_INVOICE_COLUMNS``; in production it would cost one more query per invoice).
    Automatic under ``tests/billing/``."""
    from billow.config import get_settings

    monkeypatch.setenv("BILLOW_STRICT_INVOICE_COLUMNS", "true")
    get_settings.cache_clear()
    yield
    monkeypatch.delenv("BILLOW_STRICT_INVOICE_COLUMNS")
    get_settings.cache_clear()


class Clock:
    """The request time the subscription endpoints see (``request_time``), frozen and set by the test."""

    def __init__(self, app: FastAPI, start: str = "2024-01-01T00:00:00Z"):
        from billow.subscriptions.dependencies import request_time

        self.now = datetime.fromisoformat(start).astimezone(UTC)
        app.dependency_overrides[request_time] = lambda: self.now

    def set(self, value: str) -> None:
        self.now = datetime.fromisoformat(value).astimezone(UTC)


@pytest.fixture
def clock(app: FastAPI) -> Iterator[Clock]:
    """A frozen request clock at 2024-01-01T00:00:00Z (``clock.set(...)`` moves it)."""
    from billow.subscriptions.dependencies import request_time

    yield Clock(app)
    app.dependency_overrides.pop(request_time, None)
