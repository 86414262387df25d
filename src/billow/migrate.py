"""Apply Alembic migrations programmatically (``billow migrate``, ``billow serve``, tests)."""

from __future__ import annotations

from functools import lru_cache

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", "billow:migrations")
    config.set_main_option(
        "file_template", "%%(year)d-%%(month).2d-%%(day).2d-%%(hour).2d%%(minute).2d_%%(slug)s"
    )
    config.attributes["url"] = url
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


@lru_cache(maxsize=1)
def head_revisions() -> frozenset[str]:
    """The revision(s) this Billow's migrations end at."""
    from alembic.script import ScriptDirectory

    return frozenset(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())


def at_head(connection: Connection) -> bool:
    """Whether the database on ``connection`` has every migration of this Billow applied (readiness)."""
    from alembic.runtime.migration import MigrationContext

    return frozenset(MigrationContext.configure(connection).get_current_heads()) == head_revisions()


def check(url: str) -> None:
    """Fail if the models and the migrations differ (``alembic check``)."""
    command.check(alembic_config(url))


def rotate_secrets(url: str) -> int:
    """Re-seal every sealed secret (each ``*_sealed`` column of every table) with the first key of
    ``BILLOW_SECRET_KEY``: after a new key is put first, the old one can be removed once this ran. Returns
    the number of values re-sealed."""
    from sqlalchemy import select, update

    from billow.config import current_settings
    from billow.db import make_engine
    from billow.kit.secrets import reseal
    from billow.models import metadata

    settings = current_settings()
    engine = make_engine(url)
    count = 0
    try:
        with engine.begin() as connection:
            for table in metadata.sorted_tables:
                sealed = [column for column in table.columns if column.name.endswith("_sealed")]
                if not sealed:
                    continue
                for row in connection.execute(select(table.c.id, *sealed)).all():
                    values = {
                        column.name: reseal(value, settings)
                        for column, value in zip(sealed, row[1:], strict=True)
                        if value is not None
                    }
                    if values:
                        connection.execute(update(table).where(table.c.id == row[0]).values(**values))
                        count += len(values)
    finally:
        engine.dispose()
    return count
