"""Signing in and out, sessions (cookie, expiry, CSRF) and login throttling, through the real pages."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

import billow.db
from billow.access.passwords import digest_token
from billow.models.access import LoginAttempt, Member, MemberSession
from tests.conftest import Api
from tests.fixtures.pages import PASSWORD, Pages, create_member

FAILED = "Wrong e-mail or password."
THROTTLED = "Too many sign-in attempts. Try again in 15 minutes."


class Clock:
    """``billow.db.utcnow`` (what billow.access reads), frozen and moved by the test."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def move(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def now(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    clock = Clock()
    monkeypatch.setattr(billow.db, "utcnow", clock)
    yield clock


def browser(app: FastAPI, base_url: str = "https://testserver") -> TestClient:
    return TestClient(app, base_url=base_url)


def login(client: TestClient, email: str, password: str, **data: str) -> Any:
    return client.post(
        "/app/login", data={"email": email, "password": password, **data}, follow_redirects=False
    )


class TestLogin:
    def test_the_right_password_signs_in_and_redirects_to_the_dashboard(self, app: FastAPI, api: Api) -> None:
        email = create_member(app, api.organization, "finance")
        client = browser(app)
        answer = login(client, email, PASSWORD)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/app/"
        assert client.get("/app/account").status_code == 200

    def test_a_wrong_password_and_an_unknown_email_get_the_same_answer(self, app: FastAPI, api: Api) -> None:
        email = create_member(app, api.organization, "viewer")
        wrong = login(browser(app), email, "not the password at all")
        unknown = login(browser(app), "nobody@example.com", PASSWORD)
        assert wrong.status_code == unknown.status_code == 401
        assert FAILED in wrong.text and FAILED in unknown.text
        assert "billow_session" not in wrong.headers.get("set-cookie", "")
        assert "billow_session" not in unknown.headers.get("set-cookie", "")
        # The e-mail typed comes back in the form, nothing else differs.
        assert wrong.text.replace(email, "X") == unknown.text.replace("nobody@example.com", "X")

    def test_overlong_fields_get_the_login_page(self, app: FastAPI, api: Api) -> None:
        answer = login(browser(app), "a" * 300 + "@example.com", "p" * 5000, next="/" + "x" * 3000)
        assert answer.status_code == 401
        assert FAILED in answer.text

    def test_the_email_is_not_case_sensitive(self, app: FastAPI, api: Api) -> None:
        create_member(app, api.organization, "viewer", email="Ann@Example.com")
        assert login(browser(app), "ANN@example.COM", PASSWORD).status_code == 303

    def test_a_disabled_member_cannot_sign_in(self, app: FastAPI, api: Api) -> None:
        email = create_member(app, api.organization, "viewer")
        with app.state.sessionmaker.begin() as session:
            session.execute(
                Member.__table__.update().where(Member.email == email).values(disabled_at=datetime.now(UTC))
            )
        assert login(browser(app), email, PASSWORD).status_code == 401

    @pytest.mark.parametrize(
        ("target", "location"),
        [
            ("/app/members?x=1", "/app/members?x=1"),
            ("//evil.example/app", "/app/"),
            ("https://evil.example/", "/app/"),
            ("/\\evil.example", "/app/"),
            ("", "/app/"),
        ],
    )
    def test_next_goes_only_to_paths_of_this_site(
        self, app: FastAPI, api: Api, target: str, location: str
    ) -> None:
        email = create_member(app, api.organization, "viewer")
        answer = login(browser(app), email, PASSWORD, next=target)
        assert answer.headers["location"] == location

    def test_a_page_without_session_redirects_to_the_login_page(self, app: FastAPI, api: Api) -> None:
        answer = browser(app).get("/app/members", follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/app/login?next=/app/members"
        htmx = browser(app).get("/app/members", headers={"HX-Request": "true"}, follow_redirects=False)
        assert htmx.status_code == 204
        assert htmx.headers["hx-redirect"] == "/app/login?next=/app/members"

    def test_the_password_is_stored_as_an_argon2_digest(self, app: FastAPI, api: Api) -> None:
        email = create_member(app, api.organization, "viewer")
        with app.state.sessionmaker() as session:
            member = session.scalars(select(Member).where(Member.email == email)).one()
        assert member.password_digest.startswith("$argon2id$")
        assert PASSWORD not in member.password_digest


class TestCookie:
    def test_flags_over_https(self, app: FastAPI, api: Api) -> None:
        email = create_member(app, api.organization, "viewer")
        cookie = login(browser(app), email, PASSWORD).headers["set-cookie"]
        assert cookie.startswith("billow_session=")
        flags = {part.strip().lower() for part in cookie.split(";")[1:]}
        assert flags == {"httponly", "path=/", "samesite=lax", "secure"}

    @pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
    def test_not_secure_on_plain_http_to_localhost(self, app: FastAPI, api: Api, host: str) -> None:
        email = create_member(app, api.organization, "viewer")
        cookie = login(browser(app, f"http://{host}"), email, PASSWORD).headers["set-cookie"]
        assert "secure" not in cookie.lower()
        assert "httponly" in cookie.lower()

    def test_secure_on_plain_http_to_another_host(self, app: FastAPI, api: Api) -> None:
        email = create_member(app, api.organization, "viewer")
        cookie = login(browser(app, "http://billing.example.com"), email, PASSWORD).headers["set-cookie"]
        assert "; secure" in cookie.lower()

    def test_billow_cookie_secure_false(
        self, app: FastAPI, api: Api, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(app.state.settings, "cookie_secure", False)
        email = create_member(app, api.organization, "viewer")
        cookie = login(browser(app), email, PASSWORD).headers["set-cookie"]
        assert "secure" not in cookie.lower()


class TestSessionLifetime:
    def test_logout_ends_the_session(self, app: FastAPI, pages_as: Any) -> None:
        pages: Pages = pages_as("viewer")
        token = pages.client.cookies["billow_session"]
        answer = pages.post("/app/logout")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/app/login"
        assert 'billow_session=""' in answer.headers["set-cookie"]
        # Even with the old cookie, the session is over.
        again = browser(app)
        again.cookies.set("billow_session", token)
        assert again.get("/app/account", follow_redirects=False).status_code == 303

    def test_logout_needs_the_csrf_token(self, pages_as: Any) -> None:
        pages: Pages = pages_as("viewer")
        assert pages.post("/app/logout", csrf=False).status_code == 403
        assert pages.get("/app/account").status_code == 200

    def test_idle_timeout(self, now: Clock, pages_as: Any) -> None:
        pages: Pages = pages_as("viewer")
        now.move(hours=11, minutes=59)
        assert pages.get("/app/account").status_code == 200  # seen: the 12 idle hours start again
        now.move(hours=11, minutes=59)
        assert pages.get("/app/account").status_code == 200
        now.move(hours=12)
        answer = pages.get("/app/account")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/app/login?next=/app/account"

    def test_absolute_timeout(self, now: Clock, pages_as: Any) -> None:
        pages: Pages = pages_as("viewer")
        for _ in range(16):  # active every 10 hours (160 h): never idle...
            now.move(hours=10)
            assert pages.get("/app/account").status_code == 200
        now.move(hours=8, seconds=1)  # ...yet over 7 days (168 h) after signing in
        assert pages.get("/app/account").status_code == 303

    def test_last_seen_is_written_at_most_once_a_minute(
        self, app: FastAPI, now: Clock, pages_as: Any
    ) -> None:
        pages: Pages = pages_as("viewer")

        def seen() -> datetime:
            with app.state.sessionmaker() as session:
                return session.scalars(select(MemberSession.last_seen_at)).one()

        first = seen()
        now.move(seconds=30)
        pages.get("/app/account")
        assert seen() == first
        now.move(seconds=31)
        pages.get("/app/account")
        assert seen() == now.now

    def test_a_new_password_ends_every_session(self, app: FastAPI, pages_as: Any) -> None:
        pages: Pages = pages_as("viewer")
        elsewhere = browser(app)
        assert login(elsewhere, pages.viewer.email, PASSWORD).status_code == 303
        answer = pages.post(
            "/app/account",
            {
                "current_password": PASSWORD,
                "password": "a brand new passphrase",
                "password_confirmation": "a brand new passphrase",
            },
        )
        assert answer.status_code == 303
        # This browser goes on (a new session), the other one is signed out.
        assert pages.get("/app/account").status_code == 200
        assert elsewhere.get("/app/account", follow_redirects=False).status_code == 303
        assert login(browser(app), pages.viewer.email, "a brand new passphrase").status_code == 303

    def test_a_wrong_current_password_changes_nothing(self, pages_as: Any) -> None:
        pages: Pages = pages_as("viewer")
        answer = pages.post(
            "/app/account",
            {"current_password": "nope", "password": "a brand new passphrase", "password_confirmation": "x"},
        )
        assert answer.status_code == 422
        assert "current_password: value_is_invalid" in answer.text


class TestCsrf:
    def test_missing_or_wrong_token_is_403(self, pages_as: Any) -> None:
        pages: Pages = pages_as("admin")
        assert pages.post("/app/api_keys", {"name": "ci"}, csrf=False).status_code == 403
        assert pages.post("/app/api_keys", {"name": "ci", "csrf_token": "wrong"}).status_code == 403
        assert (
            pages.post("/app/api_keys", {"name": "ci"}, headers={"X-CSRF-Token": "wrong"}).status_code == 403
        )

    def test_the_right_form_token_passes_and_the_form_is_still_read(self, pages_as: Any) -> None:
        pages: Pages = pages_as("admin")
        answer = pages.post("/app/api_keys", {"name": "from the form"})
        assert answer.status_code == 201
        assert "from the form" in answer.text

    def test_the_htmx_header_passes(self, pages_as: Any) -> None:
        pages: Pages = pages_as("admin")
        answer = pages.post(
            "/app/api_keys", {"name": "htmx"}, csrf=False, headers={"X-CSRF-Token": pages.viewer.csrf_token}
        )
        assert answer.status_code == 201

    def test_another_sessions_token_is_refused(self, pages_as: Any) -> None:
        first: Pages = pages_as("admin")
        second: Pages = pages_as("admin")
        assert first.viewer.csrf_token != second.viewer.csrf_token
        answer = first.post("/app/api_keys", {"name": "x", "csrf_token": second.viewer.csrf_token})
        assert answer.status_code == 403


class TestThrottling:
    def test_five_failures_lock_the_email_even_for_the_right_password(
        self, app: FastAPI, api: Api, now: Clock
    ) -> None:
        email = create_member(app, api.organization, "viewer")
        for _ in range(5):
            assert login(browser(app), email, "wrong password!").status_code == 401
        refused = login(browser(app), email, PASSWORD)
        assert refused.status_code == 429
        assert THROTTLED in refused.text
        assert "set-cookie" not in refused.headers
        now.move(minutes=14)
        assert login(browser(app), email, PASSWORD).status_code == 429
        now.move(minutes=2)
        assert login(browser(app), email, PASSWORD).status_code == 303

    def test_an_unknown_email_is_throttled_alike(self, app: FastAPI, api: Api, now: Clock) -> None:
        for _ in range(5):
            assert login(browser(app), "ghost@example.com", "wrong password!").status_code == 401
        refused = login(browser(app), "ghost@example.com", "wrong password!")
        assert refused.status_code == 429
        assert THROTTLED in refused.text

    def test_failures_spread_over_more_than_the_window_do_not_lock(
        self, app: FastAPI, api: Api, now: Clock
    ) -> None:
        email = create_member(app, api.organization, "viewer")
        for _ in range(8):
            assert login(browser(app), email, "wrong password!").status_code == 401
            now.move(minutes=4)
        assert login(browser(app), email, PASSWORD).status_code == 303

    def test_twenty_failures_from_one_address_lock_it(self, app: FastAPI, api: Api, now: Clock) -> None:
        email = create_member(app, api.organization, "viewer")
        for n in range(20):
            assert login(browser(app), f"someone{n}@example.com", "wrong password!").status_code == 401
        assert login(browser(app), email, PASSWORD).status_code == 429

    def test_a_success_forgets_the_failures_and_old_rows_are_pruned(
        self, app: FastAPI, api: Api, now: Clock
    ) -> None:
        email = create_member(app, api.organization, "viewer")
        for _ in range(4):
            login(browser(app), email, "wrong password!")
        assert login(browser(app), email, PASSWORD).status_code == 303
        for _ in range(4):
            login(browser(app), email, "wrong password!")
        assert login(browser(app), email, PASSWORD).status_code == 303
        login(browser(app), "other@example.com", "wrong password!")
        now.move(hours=2)
        login(browser(app), "late@example.com", "wrong password!")
        with app.state.sessionmaker() as session:
            assert session.scalars(select(LoginAttempt.email)).all() == ["late@example.com"]
            assert session.scalar(select(func.count()).select_from(MemberSession)) == 2


def test_session_tokens_are_stored_as_digests(app: FastAPI, pages_as: Any) -> None:
    pages: Pages = pages_as("viewer")
    token = pages.client.cookies["billow_session"]
    with app.state.sessionmaker() as session:
        stored = session.scalars(select(MemberSession)).one()
    assert stored.token_digest == digest_token(token)
    assert len(token) == 43
