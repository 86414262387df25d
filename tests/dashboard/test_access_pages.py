"""The team access pages: members, invitations, roles, API keys, settings; every built-in role against
every mutating route; two organizations."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update

import billow.db
from billow.access.permissions import BUILTIN_ROLES
from billow.access.service import access_service
from billow.models.access import Invitation, Member
from billow.models.organizations import ApiKey, Organization
from tests.conftest import Api
from tests.fixtures.pages import PASSWORD, Pages, create_member


def member_id(app: FastAPI, organization: Organization, email: str) -> str:
    with app.state.sessionmaker() as session:
        return str(
            session.scalars(
                select(Member.id).where(Member.organization_id == organization.id, Member.email == email)
            ).one()
        )


def invitation_link(answer: Any) -> str:
    found = re.search(r'value="(https?://[^"]+/app/invitations/[^"]+)"', answer.text)
    assert found, answer.text
    return found.group(1)


def shown_key(answer: Any) -> str:
    found = re.search(r'id="new-key" type="text" readonly value="(blw_[^"]+)"', answer.text)
    assert found, answer.text
    return found.group(1)


def key_ids(app: FastAPI, organization: Organization) -> list[str]:
    with app.state.sessionmaker() as session:
        return [
            str(k)
            for k in session.scalars(
                select(ApiKey.id).where(ApiKey.organization_id == organization.id).order_by(ApiKey.created_at)
            )
        ]


def mutations(app: FastAPI, api: Api) -> list[tuple[str, dict[str, Any], str]]:
    """Every mutating route of the access pages, on rows made for it, with the permission it needs; in
    an order in which an admin can run them all."""
    target = member_id(app, api.organization, create_member(app, api.organization, "viewer"))
    with app.state.sessionmaker.begin() as session:
        invitation, _ = access_service.invite(
            session, api.organization.id, email="invited@example.com", role="viewer", invited_by=None
        )
        access_service.create_role(
            session, api.organization.id, code="spare", name="Spare", permissions=["invoices:view"]
        )
        invitation_id = str(invitation.id)
    first_key = key_ids(app, api.organization)[0]
    settings = {"name": "Acme 2", "timezone": "Europe/Paris", "default_currency": "EUR"}
    return [
        ("/app/members/invitations", {"email": "new@example.com", "role": "viewer"}, "members:manage"),
        (f"/app/members/{target}/role", {"role": "finance"}, "members:manage"),
        (f"/app/members/{target}/disable", {}, "members:manage"),
        (f"/app/members/{target}/enable", {}, "members:manage"),
        (f"/app/members/invitations/{invitation_id}/revoke", {}, "members:manage"),
        (
            "/app/roles",
            {"code": "auditor", "name": "Auditor", "permissions": ["invoices:view"]},
            "roles:manage",
        ),
        ("/app/roles/spare", {"name": "Spare 2", "permissions": ["plans:view"]}, "roles:manage"),
        ("/app/roles/spare/delete", {}, "roles:manage"),
        ("/app/api_keys", {"name": "ci"}, "api_keys:manage"),
        (f"/app/api_keys/{first_key}/rotate", {"expires_in_hours": "1"}, "api_keys:manage"),
        (f"/app/api_keys/{first_key}/revoke", {}, "api_keys:manage"),
        ("/app/settings", settings, "organization:update"),
    ]


@pytest.mark.parametrize("role", list(BUILTIN_ROLES))
def test_each_role_against_each_mutating_route(app: FastAPI, api: Api, pages_as: Any, role: str) -> None:
    pages: Pages = pages_as(role)
    for path, data, permission in mutations(app, api):
        answer = pages.post(path, data)
        if permission in BUILTIN_ROLES[role]:
            assert answer.status_code in (201, 303), (path, answer.status_code, answer.text)
        else:
            assert answer.status_code == 403, (path, answer.status_code)
            assert "Not allowed" in answer.text


@pytest.mark.parametrize(
    "path", ["/app/members", "/app/roles", "/app/api_keys", "/app/settings", "/app/account"]
)
def test_a_viewer_reads_every_page_without_its_buttons(pages_as: Any, path: str) -> None:
    answer = pages_as("viewer").get(path)
    assert answer.status_code == 200
    assert answer.text.count("<h1>") == 1
    for button in ("Invite</button>", "Create role", "Create key", "Save settings", "Revoke</button>"):
        assert button not in answer.text


class TestMembers:
    def test_invite_then_accept(self, app: FastAPI, api: Api, pages_as: Any) -> None:
        admin: Pages = pages_as("admin")
        answer = admin.post("/app/members/invitations", {"email": "Zoe@Example.com", "role": "finance"})
        assert answer.status_code == 201
        link = invitation_link(answer)
        path = link[link.index("/app/") :]
        assert "zoe@example.com" in admin.get("/app/members").text
        assert link not in admin.get("/app/members").text  # shown once

        browser = TestClient(app, base_url="https://testserver")
        form = browser.get(path)
        assert form.status_code == 200
        assert "Join as zoe@example.com" in form.text
        short = browser.post(path, data={"password": "short", "password_confirmation": "short"})
        assert short.status_code == 422
        assert "value_is_too_short" in short.text
        mismatch = browser.post(
            path, data={"password": "long enough pass", "password_confirmation": "other one!!!"}
        )
        assert "password_confirmation: does_not_match" in mismatch.text
        accepted = browser.post(
            path,
            data={"password": "long enough pass", "password_confirmation": "long enough pass"},
            follow_redirects=False,
        )
        assert accepted.status_code == 303
        assert accepted.headers["location"] == "/app/"
        assert browser.get("/app/account").text.count("zoe@example.com (finance)") == 2

        # Used once: the link is now a clear page, never a second member.
        again = browser.post(
            path, data={"password": "another password", "password_confirmation": "another password"}
        )
        assert again.status_code == 410
        assert "already accepted" in again.text
        with app.state.sessionmaker() as session:
            assert session.scalars(select(Member.role).where(Member.email == "zoe@example.com")).all() == [
                "finance"
            ]

    def test_an_expired_or_revoked_or_unknown_invitation_is_a_clear_page(
        self, app: FastAPI, api: Api, pages_as: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        admin: Pages = pages_as("admin")
        path = lambda answer: invitation_link(answer)[invitation_link(answer).index("/app/") :]  # noqa: E731
        expiring = path(
            admin.post("/app/members/invitations", {"email": "late@example.com", "role": "viewer"})
        )
        revoked = path(
            admin.post("/app/members/invitations", {"email": "gone@example.com", "role": "viewer"})
        )
        with app.state.sessionmaker() as session:
            revoked_id = session.scalars(
                select(Invitation.id).where(Invitation.email == "gone@example.com")
            ).one()
        assert admin.post(f"/app/members/invitations/{revoked_id}/revoke").status_code == 303

        later = datetime.now(UTC) + timedelta(days=7, minutes=1)
        monkeypatch.setattr(billow.db, "utcnow", lambda: later)
        browser = TestClient(app, base_url="https://testserver")
        data = {"password": "long enough pass", "password_confirmation": "long enough pass"}
        expired = browser.post(expiring, data=data)
        assert expired.status_code == 410
        assert "has expired" in expired.text
        assert browser.get(revoked).status_code == 410
        assert "was revoked" in browser.post(revoked, data=data).text
        unknown = browser.get("/app/invitations/not-a-token")
        assert unknown.status_code == 404
        with app.state.sessionmaker() as session:
            emails = session.scalars(
                select(Member.email).where(Member.organization_id == api.organization.id)
            )
            assert sorted(emails) == ["admin@example.com"]

    def test_inviting_a_member_twice_is_refused(self, pages_as: Any) -> None:
        admin: Pages = pages_as("admin")
        answer = admin.post("/app/members/invitations", {"email": "ADMIN@example.com", "role": "viewer"})
        assert answer.status_code == 422
        assert "email: value_already_exist" in answer.text

    def test_the_last_admin_cannot_demote_or_disable_themselves(
        self, app: FastAPI, api: Api, pages_as: Any
    ) -> None:
        admin: Pages = pages_as("admin")
        me = str(admin.viewer.member_id)
        demoted = admin.post(f"/app/members/{me}/role", {"role": "viewer"})
        assert demoted.status_code == 422
        assert "role: last_admin" in demoted.text
        assert admin.post(f"/app/members/{me}/disable").status_code == 422
        other = member_id(app, api.organization, create_member(app, api.organization, "admin"))
        assert admin.post(f"/app/members/{me}/role", {"role": "manager"}).status_code == 303
        # Now a manager: no longer allowed to manage members.
        assert admin.post(f"/app/members/{other}/disable").status_code == 403

    def test_disabling_a_member_ends_their_sessions(self, app: FastAPI, api: Api, pages_as: Any) -> None:
        admin: Pages = pages_as("admin")
        victim: Pages = pages_as("finance")
        assert victim.get("/app/account").status_code == 200
        assert admin.post(f"/app/members/{victim.viewer.member_id}/disable").status_code == 303
        assert victim.get("/app/account").status_code == 303
        browser = TestClient(app, base_url="https://testserver")
        assert (
            browser.post("/app/login", data={"email": victim.viewer.email, "password": PASSWORD}).status_code
            == 401
        )

    def test_an_unknown_role_is_refused(self, app: FastAPI, api: Api, pages_as: Any) -> None:
        admin: Pages = pages_as("admin")
        other = member_id(app, api.organization, create_member(app, api.organization, "viewer"))
        answer = admin.post(f"/app/members/{other}/role", {"role": "overlord"})
        assert answer.status_code == 422
        assert "role: value_is_invalid" in answer.text


class TestRoles:
    def test_a_custom_role_grants_exactly_its_permissions(self, pages_as: Any) -> None:
        admin: Pages = pages_as("admin")
        created = admin.post(
            "/app/roles",
            {"code": "keeper", "name": "Key keeper", "permissions": ["api_keys:view", "api_keys:manage"]},
        )
        assert created.status_code == 303
        keeper: Pages = pages_as("keeper")
        assert keeper.viewer.permissions == frozenset({"api_keys:view", "api_keys:manage"})
        assert keeper.post("/app/api_keys", {"name": "by keeper"}).status_code == 201
        assert keeper.get("/app/members").status_code == 403
        # Editing the role changes what its members may do, at once.
        assert (
            admin.post(
                "/app/roles/keeper", {"name": "Key reader", "permissions": ["api_keys:view"]}
            ).status_code
            == 303
        )
        assert keeper.post("/app/api_keys", {"name": "again"}).status_code == 403
        edit = admin.get("/app/roles/keeper")
        assert 'value="api_keys:view" checked' in edit.text
        assert 'value="api_keys:manage">' in edit.text

    def test_a_role_in_use_cannot_be_deleted(self, pages_as: Any) -> None:
        admin: Pages = pages_as("admin")
        admin.post("/app/roles", {"code": "auditor", "name": "Auditor", "permissions": ["invoices:view"]})
        pages_as("auditor")
        answer = admin.post("/app/roles/auditor/delete")
        assert answer.status_code == 422
        assert "role: role_in_use" in answer.text
        assert "auditor" in admin.get("/app/roles").text

    @pytest.mark.parametrize(
        ("data", "error"),
        [
            ({"code": "admin", "name": "Mine", "permissions": ["plans:view"]}, "code: value_is_reserved"),
            ({"code": "Bad Code", "name": "Mine", "permissions": ["plans:view"]}, "code: value_is_invalid"),
            ({"code": "mine", "name": "Mine", "permissions": ["plans:fly"]}, "permissions: value_is_invalid"),
            ({"code": "mine", "name": "", "permissions": ["plans:view"]}, "name: value_is_mandatory"),
            ({"code": "mine", "name": "Mine"}, "permissions: value_is_mandatory"),
        ],
    )
    def test_invalid_roles(self, pages_as: Any, data: dict[str, Any], error: str) -> None:
        answer = pages_as("admin").post("/app/roles", data)
        assert answer.status_code == 422
        assert error in answer.text

    def test_a_duplicate_code(self, pages_as: Any) -> None:
        admin: Pages = pages_as("admin")
        data = {"code": "mine", "name": "Mine", "permissions": ["plans:view"]}
        assert admin.post("/app/roles", data).status_code == 303
        assert "code: value_already_exist" in admin.post("/app/roles", data).text


class TestApiKeys:
    def test_create_shows_the_key_once_and_it_works(self, api: Api, pages_as: Any) -> None:
        admin: Pages = pages_as("admin")
        answer = admin.post("/app/api_keys", {"name": "ci"})
        raw = shown_key(answer)
        assert raw not in admin.get("/app/api_keys").text
        assert raw[:8] in admin.get("/app/api_keys").text  # the prefix
        assert (
            api.client.get("/api/v1/customers", headers={"Authorization": f"Bearer {raw}"}).status_code == 200
        )

    def test_rotate_old_key_works_until_its_expiry(self, app: FastAPI, api: Api, pages_as: Any) -> None:
        admin: Pages = pages_as("admin")
        old = key_ids(app, api.organization)[0]
        answer = admin.post(f"/app/api_keys/{old}/rotate", {"expires_in_hours": "2"})
        assert answer.status_code == 201
        new_raw = shown_key(answer)
        with app.state.sessionmaker() as session:
            keys = session.scalars(select(ApiKey).where(ApiKey.organization_id == api.organization.id)).all()
        by_id = {str(k.id): k for k in keys}
        assert by_id[old].expires_at is not None
        assert (
            timedelta(hours=1, minutes=59) < by_id[old].expires_at - datetime.now(UTC) <= timedelta(hours=2)
        )
        assert [k.name for k in keys if str(k.id) != old] == [by_id[old].name]
        new_headers = {"Authorization": f"Bearer {new_raw}"}
        assert api.get("/customers").status_code == 200
        assert (
            api.post(
                "/events", {"event": {"transaction_id": "t1", "code": "x", "external_subscription_id": "s"}}
            ).status_code
            == 200
        )
        with app.state.sessionmaker.begin() as session:
            session.execute(
                update(ApiKey)
                .where(ApiKey.id == by_id[old].id)
                .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )
        assert api.get("/customers").status_code == 401
        event = {"event": {"transaction_id": "t2", "code": "x", "external_subscription_id": "s"}}
        assert api.post("/events", event).status_code == 401
        assert api.client.get("/api/v1/customers", headers=new_headers).status_code == 200
        assert "expired" in admin.get("/app/api_keys").text

    def test_rotate_with_zero_hours_revokes_now(self, app: FastAPI, api: Api, pages_as: Any) -> None:
        admin: Pages = pages_as("admin")
        old = key_ids(app, api.organization)[0]
        assert admin.post(f"/app/api_keys/{old}/rotate", {"expires_in_hours": "0"}).status_code == 201
        assert api.get("/customers").status_code == 401

    def test_revoke_is_immediate_but_not_of_the_last_live_key(
        self, app: FastAPI, api: Api, pages_as: Any
    ) -> None:
        admin: Pages = pages_as("admin")
        only = key_ids(app, api.organization)[0]
        refused = admin.post(f"/app/api_keys/{only}/revoke")
        assert refused.status_code == 422
        assert "api_key: last_live_key" in refused.text
        assert api.get("/customers").status_code == 200
        admin.post("/app/api_keys", {"name": "spare"})
        assert admin.post(f"/app/api_keys/{only}/revoke").status_code == 303
        assert api.get("/customers").status_code == 401
        assert (
            api.post(
                "/events", {"event": {"transaction_id": "t", "code": "x", "external_subscription_id": "s"}}
            ).status_code
            == 401
        )

    def test_last_used_at_is_set_by_a_real_call_at_most_once_a_minute(self, app: FastAPI, api: Api) -> None:
        def last_used() -> datetime | None:
            with app.state.sessionmaker() as session:
                return session.scalars(
                    select(ApiKey.last_used_at).where(ApiKey.organization_id == api.organization.id)
                ).one()

        assert last_used() is None
        assert api.get("/customers").status_code == 200
        first = last_used()
        assert first is not None and datetime.now(UTC) - first < timedelta(seconds=30)
        assert api.get("/customers").status_code == 200
        assert last_used() == first
        with app.state.sessionmaker.begin() as session:
            session.execute(update(ApiKey).values(last_used_at=first - timedelta(seconds=61)))
        assert api.get("/customers").status_code == 200
        assert last_used() is not None and last_used() > first - timedelta(seconds=1)  # type: ignore[operator]

    def test_an_invalid_rotation_window(self, app: FastAPI, api: Api, pages_as: Any) -> None:
        old = key_ids(app, api.organization)[0]
        answer = pages_as("admin").post(f"/app/api_keys/{old}/rotate", {"expires_in_hours": "721"})
        assert answer.status_code == 422
        assert "expires_in_hours: value_is_out_of_range" in answer.text


class TestSettings:
    def test_update_through_the_organization_service(self, app: FastAPI, api: Api, pages_as: Any) -> None:
        admin: Pages = pages_as("admin")
        data = {
            "name": "Acme Europe",
            "email": "billing@acme.example",
            "address_line1": "1 rue de la Paix",
            "city": "Paris",
            "zipcode": "75002",
            "country": "fr",
            "timezone": "Europe/Paris",
            "default_currency": "eur",
            "net_payment_term": "30",
            "invoice_grace_period": "3",
        }
        answer = admin.post("/app/settings", data)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/app/settings?flash=Settings%20saved."
        with app.state.sessionmaker() as session:
            organization = session.get(Organization, api.organization.id)
            assert organization is not None
            assert (
                organization.name,
                organization.email,
                organization.city,
                organization.country,
                organization.timezone,
                organization.default_currency,
                organization.net_payment_term,
                organization.invoice_grace_period,
            ) == ("Acme Europe", "billing@acme.example", "Paris", "FR", "Europe/Paris", "EUR", 30, 3)
        assert 'value="Acme Europe"' in admin.get("/app/settings").text

    @pytest.mark.parametrize(
        ("field", "value", "error"),
        [
            ("timezone", "Mars/Olympus", "timezone: invalid_timezone"),
            ("default_currency", "XYZ", "default_currency: value_is_invalid"),
            ("net_payment_term", "-1", "net_payment_term: value_is_out_of_range"),
            ("name", " ", "name: value_is_mandatory"),
        ],
    )
    def test_invalid_settings_change_nothing(
        self, app: FastAPI, api: Api, pages_as: Any, field: str, value: str, error: str
    ) -> None:
        data = {"name": "Renamed", "timezone": "UTC", "default_currency": "USD", field: value}
        answer = pages_as("admin").post("/app/settings", data)
        assert answer.status_code == 422
        assert error in answer.text
        with app.state.sessionmaker() as session:
            organization = session.get(Organization, api.organization.id)
            assert organization is not None and organization.name == "Acme"


class TestTenancy:
    def test_a_member_of_one_organization_never_sees_the_other(
        self, app: FastAPI, api: Api, other_api: Api, pages_as: Any
    ) -> None:
        acme: Pages = pages_as("admin")
        acme.post("/app/roles", {"code": "acme_only", "name": "Acme only", "permissions": ["plans:view"]})
        acme_member = member_id(app, api.organization, create_member(app, api.organization, "finance"))
        acme_key = key_ids(app, api.organization)[0]
        globex: Pages = pages_as("admin", other_api.organization)
        members = globex.get("/app/members").text
        assert "finance@example.com" not in members
        assert "Globex" in members
        assert "acme_only" not in globex.get("/app/roles").text
        assert globex.get("/app/roles/acme_only").status_code == 404
        assert globex.post(f"/app/members/{acme_member}/disable").status_code == 404
        assert globex.post(f"/app/members/{acme_member}/role", {"role": "viewer"}).status_code == 404
        assert globex.post(f"/app/api_keys/{acme_key}/revoke").status_code == 404
        assert globex.post(f"/app/api_keys/{acme_key}/rotate", {"expires_in_hours": "1"}).status_code == 404
        assert globex.post("/app/roles/acme_only/delete").status_code == 404
        acme_prefixes = {k.prefix for k in _keys(app, api.organization)}
        keys_page = globex.get("/app/api_keys").text
        assert not any(prefix in keys_page for prefix in acme_prefixes)
        assert api.get("/customers").status_code == 200  # untouched

    def test_an_invitation_of_one_organization_makes_a_member_of_that_one_only(
        self, app: FastAPI, api: Api, other_api: Api, pages_as: Any
    ) -> None:
        answer = pages_as("admin").post(
            "/app/members/invitations", {"email": "x@example.com", "role": "admin"}
        )
        link = invitation_link(answer)
        globex: Pages = pages_as("admin", other_api.organization)
        # Whoever opens it, the Acme link makes an Acme member, nothing in Globex.
        accepted = TestClient(app, base_url="https://testserver").post(
            link[link.index("/app/") :],
            data={"password": "long enough pass", "password_confirmation": "long enough pass"},
            follow_redirects=False,
        )
        assert accepted.status_code == 303
        with app.state.sessionmaker() as session:
            rows = session.execute(
                select(Member.organization_id).where(Member.email == "x@example.com")
            ).all()
        assert [r[0] for r in rows] == [api.organization.id]
        assert "x@example.com" not in globex.get("/app/members").text
        assert globex.post(f"/app/members/invitations/{_invitation_id(app)}/revoke").status_code == 404


def _keys(app: FastAPI, organization: Organization) -> list[ApiKey]:
    with app.state.sessionmaker() as session:
        return list(session.scalars(select(ApiKey).where(ApiKey.organization_id == organization.id)))


def _invitation_id(app: FastAPI) -> str:
    with app.state.sessionmaker() as session:
        return str(session.scalars(select(Invitation.id)).one())
