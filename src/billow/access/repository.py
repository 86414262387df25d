"""Every query of team access; each one is scoped to an organization, except the sign-in lookups (by
e-mail, by session token digest) that find it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from billow.models.access import Invitation, LoginAttempt, Member, MemberSession, Role
from billow.models.organizations import Organization


class AccessRepository:
    # -- members ---------------------------------------------------------------------------------------

    def members(self, session: Session, organization_id: uuid.UUID) -> Sequence[Member]:
        return session.scalars(
            select(Member).where(Member.organization_id == organization_id).order_by(Member.email)
        ).all()

    def member(self, session: Session, organization_id: uuid.UUID, member_id: uuid.UUID) -> Member | None:
        return session.scalars(
            select(Member).where(Member.organization_id == organization_id, Member.id == member_id)
        ).first()

    def member_by_email(self, session: Session, organization_id: uuid.UUID, email: str) -> Member | None:
        return session.scalars(
            select(Member).where(Member.organization_id == organization_id, Member.email == email)
        ).first()

    def members_by_email(self, session: Session, email: str) -> Sequence[Member]:
        """Every organization's member of this e-mail (sign-in), oldest first."""
        return session.scalars(
            select(Member).where(Member.email == email).order_by(Member.created_at, Member.id)
        ).all()

    def count_members(self, session: Session, organization_id: uuid.UUID) -> int:
        return session.scalar(select(func.count()).where(Member.organization_id == organization_id)) or 0

    def count_active_with_role(self, session: Session, organization_id: uuid.UUID, role: str) -> int:
        return (
            session.scalar(
                select(func.count()).where(
                    Member.organization_id == organization_id,
                    Member.role == role,
                    Member.disabled_at.is_(None),
                )
            )
            or 0
        )

    def role_in_use(self, session: Session, organization_id: uuid.UUID, code: str) -> bool:
        used = select(Member.id).where(Member.organization_id == organization_id, Member.role == code)
        invited = select(Invitation.id).where(
            Invitation.organization_id == organization_id,
            Invitation.role == code,
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
        )
        return session.scalar(select(used.exists() | invited.exists())) or False

    def organizations_without_members(self, session: Session) -> Sequence[Organization]:
        has_member = select(Member.id).where(Member.organization_id == Organization.id).exists()
        return session.scalars(
            select(Organization).where(~has_member).order_by(Organization.created_at, Organization.id)
        ).all()

    def add(self, session: Session, row: object) -> None:
        session.add(row)
        session.flush()

    # -- roles -----------------------------------------------------------------------------------------

    def roles(self, session: Session, organization_id: uuid.UUID) -> Sequence[Role]:
        return session.scalars(
            select(Role).where(Role.organization_id == organization_id).order_by(Role.code)
        ).all()

    def role(self, session: Session, organization_id: uuid.UUID, code: str) -> Role | None:
        return session.scalars(
            select(Role).where(Role.organization_id == organization_id, Role.code == code)
        ).first()

    def delete(self, session: Session, row: object) -> None:
        session.delete(row)
        session.flush()

    # -- invitations -----------------------------------------------------------------------------------

    def invitations(self, session: Session, organization_id: uuid.UUID) -> Sequence[Invitation]:
        return session.scalars(
            select(Invitation)
            .where(Invitation.organization_id == organization_id)
            .order_by(Invitation.created_at.desc(), Invitation.id)
        ).all()

    def invitation(
        self, session: Session, organization_id: uuid.UUID, invitation_id: uuid.UUID
    ) -> Invitation | None:
        return session.scalars(
            select(Invitation).where(
                Invitation.organization_id == organization_id, Invitation.id == invitation_id
            )
        ).first()

    def invitation_by_digest(self, session: Session, digest: str) -> Invitation | None:
        return session.scalars(select(Invitation).where(Invitation.token_digest == digest)).first()

    # -- sessions --------------------------------------------------------------------------------------

    def session_by_digest(self, session: Session, digest: str) -> tuple[MemberSession, Member, str] | None:
        """The session of this token digest, its member and its organization's name (one query)."""
        row = session.execute(
            select(MemberSession, Member, Organization.name)
            .join(Member, Member.id == MemberSession.member_id)
            .join(Organization, Organization.id == MemberSession.organization_id)
            .where(MemberSession.token_digest == digest)
        ).first()
        return (row[0], row[1], row[2]) if row else None

    def revoke_sessions(self, session: Session, member_id: uuid.UUID, at: datetime) -> int:
        result = session.execute(
            update(MemberSession)
            .where(MemberSession.member_id == member_id, MemberSession.revoked_at.is_(None))
            .values(revoked_at=at)
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def prune_sessions(self, session: Session, before: datetime) -> None:
        session.execute(
            delete(MemberSession).where(
                or_(MemberSession.expires_at < before, MemberSession.revoked_at < before)
            )
        )

    # -- login attempts --------------------------------------------------------------------------------

    def failures_since(
        self, session: Session, *, email: str | None, ip: str | None, since: datetime
    ) -> list[datetime]:
        """Instants of the failed sign-ins of this e-mail (or IP) since ``since``, newest first."""
        stmt = select(LoginAttempt.attempted_at).where(LoginAttempt.attempted_at >= since)
        if email is not None:
            stmt = stmt.where(LoginAttempt.email == email)
        if ip is not None:
            stmt = stmt.where(LoginAttempt.ip == ip)
        return list(session.scalars(stmt.order_by(LoginAttempt.attempted_at.desc())).all())

    def forget_failures(self, session: Session, email: str) -> None:
        session.execute(delete(LoginAttempt).where(LoginAttempt.email == email))

    def prune_attempts(self, session: Session, before: datetime) -> None:
        session.execute(delete(LoginAttempt).where(LoginAttempt.attempted_at < before))


access_repository = AccessRepository()
