"""The ``billow`` command as a newcomer meets it: where the embedded database lives (not in the working
directory), which database each command says it opens, no empty database created by a typo or from
another directory, ``--version``."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import pytest

import billow
from billow.config import Settings, get_settings
from tests.e2e.conftest import _billow_command

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="XDG directories: Linux")


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BILLOW_", "XDG_"))}
    env["HOME"] = str(tmp_path / "home")
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")
    env.update(extra)
    return env


def _billow(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [*_billow_command(), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@linux_only
class TestDefaultDataDirectory:
    def test_is_under_xdg_data_home(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("BILLOW_DATA_DIR", raising=False)
        monkeypatch.delenv("BILLOW_DATABASE_URL", raising=False)
        monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
        monkeypatch.chdir(tmp_path)
        settings = Settings()
        assert settings.data_dir == tmp_path / "xdg" / "billow"
        assert settings.resolved_database_url == f"sqlite:///{tmp_path}/xdg/billow/billow.db"

    def test_without_xdg_data_home_it_is_in_the_home_directory(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv("BILLOW_DATA_DIR", raising=False)
        monkeypatch.delenv("XDG_DATA_HOME", raising=False)
        monkeypatch.setenv("HOME", str(tmp_path / "home"))
        assert Settings().data_dir == tmp_path / "home" / ".local" / "share" / "billow"

    def test_billow_data_dir_overrides_it_and_is_made_absolute(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
        monkeypatch.setenv("BILLOW_DATA_DIR", "mine")
        monkeypatch.chdir(tmp_path)
        assert Settings().data_dir == tmp_path / "mine"


@linux_only
class TestMissingDatabase:
    @pytest.mark.parametrize(
        "args", [["bill"], ["organizations", "create", "--name", "Acme"]], ids=["bill", "organizations"]
    )
    def test_other_commands_refuse_to_create_the_embedded_database(
        self, tmp_path: Path, args: list[str]
    ) -> None:
        elsewhere = tmp_path / "elsewhere"
        result = _billow(*args, env=_env(tmp_path), cwd=elsewhere)
        database = tmp_path / "xdg" / "billow" / "billow.db"
        assert result.returncode == 1, result.stderr
        assert f"database: embedded SQLite at {database}\n" in result.stderr
        assert f"no Billow database at {database}: `billow serve` (or `billow migrate`) creates it" in (
            result.stderr
        )
        assert "BILLOW_DATA_DIR" in result.stderr
        assert result.stdout == ""
        assert not (tmp_path / "xdg").exists()
        assert list(elsewhere.iterdir()) == []

    def test_a_sqlite_url_naming_a_missing_file_is_refused_too(self, tmp_path: Path) -> None:
        elsewhere = tmp_path / "elsewhere"
        env = _env(tmp_path, BILLOW_DATABASE_URL="sqlite:///typo.db")
        result = _billow("bill", env=env, cwd=elsewhere)
        assert result.returncode == 1
        assert f"database: SQLite at {elsewhere / 'typo.db'}\n" in result.stderr
        assert f"no Billow database at {elsewhere / 'typo.db'}" in result.stderr
        assert "set BILLOW_DATABASE_URL to an existing database" in result.stderr
        assert list(elsewhere.iterdir()) == []

    def test_a_database_in_the_former_default_location_is_pointed_out(self, tmp_path: Path) -> None:
        project = tmp_path / "project"
        (project / ".billow").mkdir(parents=True)
        (project / ".billow" / "billow.db").touch()
        result = _billow("bill", env=_env(tmp_path), cwd=project)
        assert result.returncode == 1
        assert (
            f"note: {project / '.billow' / 'billow.db'} (the former default location) exists; "
            "to keep using it, set BILLOW_DATA_DIR=.billow"
        ) in result.stderr


@linux_only
def test_migrate_creates_the_database_every_directory_then_uses(tmp_path: Path) -> None:
    env = _env(tmp_path)
    database = tmp_path / "xdg" / "billow" / "billow.db"
    migrated = _billow("migrate", env=env, cwd=tmp_path / "a")
    assert migrated.returncode == 0, migrated.stderr
    assert f"creating a new database at {database}" in migrated.stderr
    assert migrated.stdout == f"migrated embedded SQLite at {database}\n"
    created = _billow("organizations", "create", "--name", "Acme", env=env, cwd=tmp_path / "b")
    assert created.returncode == 0, created.stderr
    assert f"database: embedded SQLite at {database}\n" in created.stderr
    assert "api key (shown once, store it now): " in created.stdout
    assert database.is_file()
    assert list((tmp_path / "a").iterdir()) == list((tmp_path / "b").iterdir()) == []


def test_the_startup_line_hides_the_password(monkeypatch: pytest.MonkeyPatch, fresh_settings: None) -> None:
    from billow.cli import _describe_database

    monkeypatch.setenv("BILLOW_DATABASE_URL", "postgres://billow:s3cret@db.internal:5433/billing")
    url = get_settings().resolved_database_url
    assert _describe_database(url) == "postgresql+psycopg://billow:***@db.internal:5433/billing"


def test_version(tmp_path: Path) -> None:
    result = _billow("--version", env=_env(tmp_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"billow {version('billow')}\n"
    assert version("billow") == billow.__version__


@pytest.mark.parametrize(
    "settings",
    [
        {"BILLOW_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nothing"},
        {"BILLOW_ENV": "production"},
    ],
    ids=["postgresql", "production"],
)
def test_serve_refuses_a_short_api_key_outside_development(tmp_path: Path, settings: dict[str, str]) -> None:
    """Before touching the database (the PostgreSQL URL above leads nowhere) or creating one."""
    env = _env(tmp_path, BILLOW_API_KEY="dev_key", **settings)
    result = _billow("serve", "--port", "1", env=env, cwd=tmp_path / "cwd")
    assert result.returncode == 2, result.stderr
    assert "error: BILLOW_API_KEY is 7 characters long" in result.stderr
    assert "accepted only in development (BILLOW_ENV=development, or the embedded SQLite database)" in (
        result.stderr
    )
    assert not (tmp_path / "xdg").exists()
