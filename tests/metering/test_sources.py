"""The event store an aggregation reads (:func:`billow.metering.sources.usage_source`) and its settings."""

from __future__ import annotations

from typing import Any

import pytest

from billow.config import Settings
from billow.metering.aggregation import PLAIN
from billow.metering.sources import RollupSource, usage_source


class _Dialect:
    def __init__(self, name: str) -> None:
        self.name = name


class _Bind:
    def __init__(self, name: str) -> None:
        self.dialect = _Dialect(name)


class _Session:
    """What the factory reads of a session: its bind's dialect."""

    def __init__(self, name: str) -> None:
        self.bind = _Bind(name)

    def get_bind(self) -> Any:
        return self.bind


def test_sqlite_reads_the_events() -> None:
    assert usage_source(_Session("sqlite"), Settings()) is PLAIN  # type: ignore[arg-type]


def test_postgresql_reads_the_rollups_falling_back_to_the_events() -> None:
    source = usage_source(_Session("postgresql"), Settings(rollup_errors="fallback"))  # type: ignore[arg-type]
    assert isinstance(source, RollupSource)
    assert source.fallback is PLAIN
    assert source.raise_errors is False
    raising = usage_source(_Session("postgresql"), Settings(rollup_errors="raise"))  # type: ignore[arg-type]
    assert isinstance(raising, RollupSource) and raising.raise_errors is True


@pytest.mark.parametrize("value", ["0", "false", "off", "no", "OFF"])
def test_rollups_switched_off(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("BILLOW_USAGE_ROLLUPS", value)
    settings = Settings()
    assert settings.usage_rollups is False
    assert usage_source(_Session("postgresql"), settings) is PLAIN  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["1", "true", "on", "yes", "anything"])
def test_rollups_on_unless_switched_off(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("BILLOW_USAGE_ROLLUPS", value)
    assert Settings().usage_rollups is True


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BILLOW_USAGE_ROLLUPS", raising=False)
    monkeypatch.delenv("BILLOW_ROLLUP_ERRORS", raising=False)
    settings = Settings()
    assert settings.usage_rollups is True
    assert settings.rollup_errors == "fallback"
