"""``billow members ...`` and the first administrator printed once by ``billow serve`` and
``billow organizations create``."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from billow.models.access import Member, MemberSession
from tests.conftest import Api


def login(app: FastAPI, email: str, password: str) -> int:
    client = TestClient(app, base_url="https://testserver")
    data = {"email": email, "password": password}
    return client.post("/app/login", data=data, follow_redirects=False).status_code


def printed_password(output: str) -> str:
    found = re.search(r"password \(shown once, store it now\): (\S+)", output)
    assert found, output
    return found.group(1)


class TestBootstrap:
    def test_organizations_create_prints_an_admin_once(
        self, app: FastAPI, client: TestClient, billow: Callable[..., Any], session: Session
    ) -> None:
        result = billow("organizations", "create", "--name", "Wayne Enterprises")
        assert result.exit_code == 0, result.output
        assert "dashboard admin of organization 'Wayne Enterprises'" in result.output
        assert "  e-mail: admin@wayne-enterprises.local" in result.output
        password = printed_password(result.output.split("dashboard admin")[1])
        assert login(app, "admin@wayne-enterprises.local", password) == 303
        members = session.execute(select(Member.email, Member.role)).all()
        assert [tuple(m) for m in members] == [("admin@wayne-enterprises.local", "admin")]

    def test_serve_creates_admins_for_organizations_without_members_once(
        self, app: FastAPI, api: Api, billow: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        import uvicorn

        monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: None)
        monkeypatch.setenv("BILLOW_SCHEDULER", "off")
        first = billow("serve", "--port", "3999")
        assert first.exit_code == 0, first.output
        assert "dashboard admin of organization 'Acme': http://127.0.0.1:3999/app/" in first.output
        assert "  e-mail: admin@acme.local" in first.output
        assert login(app, "admin@acme.local", printed_password(first.output)) == 303
        second = billow("serve", "--port", "3999")
        assert second.exit_code == 0, second.output
        assert "dashboard admin" not in second.output
        assert "shown once" not in second.output

    def test_admin_email_and_password_from_the_environment(
        self, app: FastAPI, api: Api, billow: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        import uvicorn

        from billow.config import get_settings

        monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: None)
        monkeypatch.setenv("BILLOW_SCHEDULER", "off")
        monkeypatch.setenv("BILLOW_ADMIN_EMAIL", "Boss@Acme.example")
        monkeypatch.setenv("BILLOW_ADMIN_PASSWORD", "a chosen passphrase")
        get_settings.cache_clear()
        try:
            result = billow("serve")
        finally:
            monkeypatch.delenv("BILLOW_ADMIN_EMAIL")
            monkeypatch.delenv("BILLOW_ADMIN_PASSWORD")
            get_settings.cache_clear()
        assert "  e-mail: boss@acme.example" in result.output
        assert "  password: BILLOW_ADMIN_PASSWORD" in result.output
        assert "a chosen passphrase" not in result.output
        assert login(app, "boss@acme.example", "a chosen passphrase") == 303


class TestMembersCommands:
    def test_create_and_reset_password(
        self, app: FastAPI, api: Api, billow: Callable[..., Any], session: Session
    ) -> None:
        created = billow(
            "members", "create", "--organization", "Acme", "--email", "Ops@Acme.example", "--role", "finance"
        )
        assert created.exit_code == 0, created.output
        assert "(ops@acme.example, finance) of 'Acme'" in created.output
        password = printed_password(created.output)
        assert login(app, "ops@acme.example", password) == 303

        reset = billow(
            "members",
            "reset-password",
            "--organization",
            str(api.organization.id),
            "--email",
            "ops@acme.example",
        )
        assert reset.exit_code == 0, reset.output
        new = re.search(r"\(shown once, store it now\): (\S+)", reset.output)
        assert new is not None
        assert login(app, "ops@acme.example", password) == 401
        assert login(app, "ops@acme.example", new.group(1)) == 303
        sessions = session.scalars(select(MemberSession.revoked_at)).all()
        assert sorted(r is None for r in sessions) == [False, True]  # the first one ended with the reset

    @pytest.mark.parametrize(
        ("args", "error"),
        [
            (("--email", "a@b.example", "--role", "overlord"), "error: role: value_is_invalid"),
            (("--email", "not an e-mail", "--role", "viewer"), "error: email: invalid_email_format"),
        ],
    )
    def test_create_refuses(
        self, api: Api, billow: Callable[..., Any], args: tuple[str, ...], error: str
    ) -> None:
        result = billow("members", "create", "--organization", "Acme", *args)
        assert result.exit_code == 1
        assert error in result.output

    def test_reset_of_an_unknown_member(self, api: Api, billow: Callable[..., Any]) -> None:
        result = billow("members", "reset-password", "--organization", "Acme", "--email", "nobody@x.example")
        assert result.exit_code == 1
        assert "error: no member of 'Acme' has the e-mail nobody@x.example" in result.output
