"""What is stored of an API key besides its digest, and which BILLOW_API_KEY values are accepted where."""

from __future__ import annotations

import pytest

from billow.config import Settings
from billow.organizations.service import bootstrap_key_problem, display_prefix, generate_key


class TestDisplayPrefix:
    def test_an_issued_key_keeps_blw_and_four_characters(self) -> None:
        key = generate_key()
        assert len(key) == 47
        assert display_prefix(key) == key[:8]

    @pytest.mark.parametrize(
        "key",
        [
            "dev_key",
            "blw_",
            "blw_abcd",  # as long as a prefix: the whole key
            "blw_" + "a" * 42,  # not the shape of an issued key
            "blw_" + "a" * 44,
            "blw_" + "a" * 42 + "!",
            "x" * 64,  # long but chosen by the operator
            "sk_live_" + "a" * 40,
        ],
    )
    def test_any_other_key_keeps_nothing(self, key: str) -> None:
        assert display_prefix(key) == ""


class TestBootstrapKeyProblem:
    def test_short_keys_only_in_development(self) -> None:
        assert bootstrap_key_problem("dev_key", development=True) is None
        problem = bootstrap_key_problem("dev_key", development=False)
        assert problem is not None and "7 characters long" in problem
        assert bootstrap_key_problem("k" * 31, development=False) is not None

    def test_32_characters_are_enough_anywhere(self) -> None:
        assert bootstrap_key_problem("k" * 32, development=False) is None
        assert bootstrap_key_problem(generate_key(), development=False) is None


class TestIsDevelopment:
    @pytest.mark.parametrize(
        ("url", "env", "development"),
        [
            (None, None, True),  # the embedded SQLite database
            ("sqlite:///somewhere.db", None, True),
            ("postgresql://u@h/billow", None, False),
            ("postgresql://u@h/billow", "development", True),
            (None, "production", False),
        ],
    )
    def test_from_billow_env_else_the_database(
        self, url: str | None, env: str | None, development: bool
    ) -> None:
        assert Settings(database_url=url, env=env).is_development is development

    def test_read_from_billow_env(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("BILLOW_ENV", "production")
        monkeypatch.delenv("BILLOW_DATABASE_URL", raising=False)
        assert Settings().is_development is False
