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
#: Tables of no organization: failed sign-ins are counted per e-mail and client address whatever the
#: organization (billow.access.sessions), and pruned after an hour.
GLOBAL_TABLES = {"organizations", "alembic_version", "login_attempts"}


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


@pytest.mark.parametrize("backend", _backends())
def test_0007_blanks_the_stored_prefixes_of_keys_billow_did_not_issue(backend: str, tmp_path: Path) -> None:
    """Before 0007 ``api_keys.prefix`` held the first 8 characters of any key: all of a key of 8 or fewer."""
    import hashlib
    import uuid
    from datetime import UTC, datetime

    import sqlalchemy as sa

    from billow.kit.db_types import UTCDateTime
    from billow.models.organizations import Organization

    # api_keys as revision 0006 left it (the model has more columns now).
    api_keys = sa.table(
        "api_keys",
        sa.column("id", sa.Uuid()),
        sa.column("organization_id", sa.Uuid()),
        sa.column("value_digest", sa.String()),
        sa.column("prefix", sa.String()),
        sa.column("created_at", UTCDateTime()),
        sa.column("updated_at", UTCDateTime()),
    )
    keys = {
        "issued": "blw_" + "Ab9_" + "x" * 39,
        "dev": "dev_key",
        "eight": "blw_abcd",  # looks like an issued key's prefix, but is the whole key
        "chosen": "my-own-long-production-key-0123456789",
    }
    digests = {label: hashlib.sha256(raw_key.encode()).hexdigest() for label, raw_key in keys.items()}
    database, drop = create_throwaway_database(backend, tmp_path)
    try:
        upgrade(database.url, "0006")
        engine = make_engine(database.url)
        organization_id, now = uuid.uuid4(), datetime.now(UTC)
        with engine.begin() as connection:
            connection.execute(
                sa.insert(Organization.__table__).values(
                    id=organization_id, name="Acme", document_number_prefix="ACM", email_settings=[]
                )
            )
            for label, raw_key in keys.items():
                connection.execute(
                    sa.insert(api_keys).values(
                        id=uuid.uuid4(),
                        organization_id=organization_id,
                        value_digest=digests[label],
                        prefix=raw_key[:8],
                        created_at=now,
                        updated_at=now,
                    )
                )
        engine.dispose()
        upgrade(database.url)
        engine = make_engine(database.url)
        with engine.connect() as connection:
            stored = dict(connection.execute(sa.select(api_keys.c.value_digest, api_keys.c.prefix)).all())
        engine.dispose()
        assert {label: stored[digest] for label, digest in digests.items()} == {
            "issued": "blw_Ab9_",
            "dev": "",
            "eight": "",
            "chosen": "",
        }
    finally:
        drop()
