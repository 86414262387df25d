"""Team access: the members of an organization, custom roles, invitations, dashboard sessions and
login attempts (:mod:`billow.access`).

A member belongs to one organization; e-mails are stored lower-cased and unique per organization.
Passwords are argon2 digests; invitation and session tokens are 256-bit random values stored as their
SHA-256 digests (nothing to brute-force, so a fast hash is enough, as for API keys).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from billow.db import Base, RecordMixin, TenantMixin
from billow.kit.db_types import UTCDateTime


class Member(TenantMixin, Base):
    __tablename__ = "members"
    __table_args__ = (Index("ix_members_organization_email", "organization_id", "email", unique=True),)

    #: Lower-cased: unique per organization whatever its case.
    email: Mapped[str] = mapped_column(String(255), index=True)
    #: argon2id digest (``$argon2id$...``); the password itself is never stored.
    password_digest: Mapped[str] = mapped_column(String(255))
    #: A built-in role (``admin``, ``manager``, ``finance``, ``viewer``) or a custom role's code.
    role: Mapped[str] = mapped_column(String(64))
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Role(TenantMixin, Base):
    __tablename__ = "roles"
    __table_args__ = (Index("ix_roles_organization_code", "organization_id", "code", unique=True),)

    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))
    #: Permissions of :data:`billow.access.permissions.PERMISSIONS`, in that order.
    permissions: Mapped[list[str]] = mapped_column(JSON, default=list)


class Invitation(TenantMixin, Base):
    __tablename__ = "invitations"

    email: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(64))
    #: SHA-256 hex digest of the invitation token (shown once, in the invitation link).
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    invited_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), index=True
    )


class MemberSession(TenantMixin, Base):
    __tablename__ = "member_sessions"

    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    #: SHA-256 hex digest of the cookie's token.
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    #: Refreshed at most once a minute; the session ends after 12 idle hours.
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: The absolute end (7 days after sign-in).
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    user_agent: Mapped[str | None] = mapped_column(String(255))


class LoginAttempt(RecordMixin, Base):
    """A failed sign-in (for throttling, across processes); rows older than an hour are pruned."""

    __tablename__ = "login_attempts"

    email: Mapped[str] = mapped_column(String(255), index=True)
    ip: Mapped[str] = mapped_column(String(64), index=True)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
