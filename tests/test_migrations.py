"""Migrations and models agree, on both databases; every tenant table carries organization_id."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect

from billow.db import make_engine
from billow.migrate import check, upgrade
from billow.models import metadata
from tests.conftest import _backends, create_throwaway_database

#: Tables that belong to no single organization.
GLOBAL_TABLES = {"organizations", "alembic_version"}


@pytest.mark.parametrize("backend", _backends())
def test_upgrade_from_empty_matches_models(backend: str, tmp_path: Path) -> None:
    database, drop = create_throwaway_database(backend, tmp_path)
    try:
        upgrade(database.url)
        check(database.url)  # raises if autogenerate would find any difference
        engine = make_engine(database.url)
        tables = set(inspect(engine).get_table_names())
        engine.dispose()
        assert set(metadata.tables) <= tables
        upgrade(database.url)  # a second run is a no-op
    finally:
        drop()


def test_every_tenant_table_has_organization_id() -> None:
    missing = [
        name
        for name, table in metadata.tables.items()
        if name not in GLOBAL_TABLES and "organization_id" not in table.columns
    ]
    assert missing == []
