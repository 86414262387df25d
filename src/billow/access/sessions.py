"""Signing in and out: dashboard sessions and login throttling.

A session is a 256-bit random token in the ``billow_session`` cookie, stored as its SHA-256 digest with
a CSRF token of its own. It ends after :data:`IDLE_TIMEOUT` without a request, :data:`ABSOLUTE_TIMEOUT`
after sign-in, at sign-out, or when the member's password changes or the member is disabled.

Throttling: after :data:`MAX_FAILURES_PER_EMAIL` failed sign-ins of one e-mail (from any address) or
:data:`MAX_FAILURES_PER_IP` from one client address within :data:`THROTTLE_WINDOW`, every sign-in of that
e-mail (or from that address) is refused for :data:`THROTTLE_WINDOW`, even with the right password.
Failures are rows of ``login_attempts`` (shared by every process), pruned after an hour. The answer is
the same whatever the cause, and an unknown e-mail costs the time of a password check.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

import billow.db as db
from billow.access.passwords import (
    MAX_PASSWORD_LENGTH,
    digest_token,
    new_token,
    verify_nothing,
    verify_password,
)
from billow.access.repository import access_repository as repository
from billow.access.service import access_service, normalize_email
from billow.models.access import LoginAttempt, Member, MemberSession

IDLE_TIMEOUT = timedelta(hours=12)
ABSOLUTE_TIMEOUT = timedelta(days=7)
#: ``last_seen_at`` is written at most this often (not on every page).
SEEN_RESOLUTION = timedelta(minutes=1)
THROTTLE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_EMAIL = 5
MAX_FAILURES_PER_IP = 20
ATTEMPTS_KEPT = timedelta(hours=1)


@dataclass(frozen=True)
class SignIn:
    #: ``ok``, ``failed`` (wrong e-mail or password, or disabled) or ``throttled``.
    outcome: str
    token: str = ""
    member_session: MemberSession | None = None


@dataclass(frozen=True)
class LiveSession:
    member_session: MemberSession
    member: Member
    organization_name: str
    permissions: frozenset[str]


def _locked(failures: list[datetime], limit: int, now: datetime) -> bool:
    """Whether ``failures`` (newest first) hold ``limit`` failures within one window ending less than a
    window ago: the ``limit``-th failure locks for a window from then."""
    if len(failures) < limit:
        return False
    for i in range(len(failures) - limit + 1):
        newest, oldest = failures[i], failures[i + limit - 1]
        if newest - oldest <= THROTTLE_WINDOW and now < newest + THROTTLE_WINDOW:
            return True
    return False


class SessionService:
    def throttled(self, session: Session, email: str, ip: str, now: datetime) -> bool:
        since = now - 2 * THROTTLE_WINDOW
        by_email = repository.failures_since(session, email=email, ip=None, since=since)
        if _locked(by_email, MAX_FAILURES_PER_EMAIL, now):
            return True
        by_ip = repository.failures_since(session, email=None, ip=ip, since=since)
        return _locked(by_ip, MAX_FAILURES_PER_IP, now)

    def sign_in(
        self, session: Session, *, email: str, password: str, ip: str, user_agent: str | None
    ) -> SignIn:
        now = db.utcnow()
        email = normalize_email(email)[:255]
        ip = ip[:64]
        if self.throttled(session, email, ip, now):
            return SignIn("throttled")
        member = None
        candidates = (
            [m for m in repository.members_by_email(session, email) if m.disabled_at is None] if email else []
        )
        if not candidates or len(password) > MAX_PASSWORD_LENGTH:
            verify_nothing(password[:MAX_PASSWORD_LENGTH])
        else:
            member = next((m for m in candidates if verify_password(m.password_digest, password)), None)
        if member is None:
            repository.prune_attempts(session, now - ATTEMPTS_KEPT)
            repository.add(session, LoginAttempt(email=email, ip=ip, attempted_at=now))
            return SignIn("failed")
        repository.forget_failures(session, email)
        token, member_session = self.start(session, member, user_agent)
        return SignIn("ok", token, member_session)

    def start(self, session: Session, member: Member, user_agent: str | None) -> tuple[str, MemberSession]:
        """A new session of ``member`` (signed in, or just invited, or after a password change); its
        cookie token is returned once."""
        now = db.utcnow()
        member.last_login_at = now
        token = new_token()
        member_session = MemberSession(
            organization_id=member.organization_id,
            member_id=member.id,
            token_digest=digest_token(token),
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            last_seen_at=now,
            expires_at=now + ABSOLUTE_TIMEOUT,
            user_agent=(user_agent or "")[:255] or None,
        )
        repository.add(session, member_session)
        repository.prune_sessions(session, now - ABSOLUTE_TIMEOUT)
        return token, member_session

    def live(self, session: Session, token: str) -> LiveSession | None:
        """The live session of this cookie token, its member and their permissions; ``None`` for an
        unknown, ended (idle, absolute, revoked) session or a disabled member."""
        if not token or len(token) > 128:
            return None
        found = repository.session_by_digest(session, digest_token(token))
        if found is None:
            return None
        member_session, member, organization_name = found
        now = db.utcnow()
        if (
            member_session.revoked_at is not None
            or member_session.expires_at <= now
            or member_session.last_seen_at + IDLE_TIMEOUT <= now
            or member.disabled_at is not None
            or member.organization_id != member_session.organization_id
        ):
            return None
        if now - member_session.last_seen_at >= SEEN_RESOLUTION:
            member_session.last_seen_at = now
            session.flush()
        return LiveSession(
            member_session, member, organization_name, access_service.member_permissions(session, member)
        )

    def sign_out(self, session: Session, member_session: MemberSession) -> None:
        if member_session.revoked_at is None:
            member_session.revoked_at = db.utcnow()
            session.flush()


session_service = SessionService()
