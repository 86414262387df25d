"""Members, custom roles, invitations and the first administrator of an organization.

A member belongs to one organization (an e-mail may be a member of several organizations, as separate
members). Their role is a built-in one (:data:`billow.access.permissions.BUILTIN_ROLES`) or the code of
one of the organization's custom roles. An organization keeps at least one active ``admin``.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

import billow.db as db
from billow.access.passwords import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    digest_token,
    hash_password,
    new_password,
    new_token,
    verify_password,
)
from billow.access.permissions import BUILTIN_ROLES, PERMISSIONS
from billow.access.repository import access_repository as repository
from billow.errors import Errors, NotFound, ValidationFailed
from billow.models.access import Invitation, Member, Role
from billow.models.organizations import Organization

#: How long an invitation link works.
INVITATION_LIFETIME = timedelta(days=7)
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_ROLE_CODE = re.compile(r"[a-z][a-z0-9_]{1,63}")


def normalize_email(email: str) -> str:
    return email.strip().lower()


def _check_email(errors: Errors, email: str) -> None:
    if not email:
        errors.add("email", "value_is_mandatory")
    elif len(email) > 255 or not _EMAIL.fullmatch(email):
        errors.add("email", "invalid_email_format")


def check_new_password(errors: Errors, password: str, confirmation: str, field: str = "password") -> None:
    """A new password: at least :data:`MIN_PASSWORD_LENGTH` characters, typed twice alike."""
    if len(password) < MIN_PASSWORD_LENGTH:
        errors.add(field, "value_is_too_short")
    elif len(password) > MAX_PASSWORD_LENGTH:
        errors.add(field, "value_is_too_long")
    elif password != confirmation:
        errors.add("password_confirmation", "does_not_match")


def permissions_of(role: Role | str | None) -> frozenset[str]:
    """The permissions a role grants: a built-in role's name, or a custom :class:`Role`."""
    if isinstance(role, Role):
        return frozenset(p for p in role.permissions if p in PERMISSIONS)
    if role is None:
        return frozenset()
    return BUILTIN_ROLES.get(role, frozenset())


@dataclass(frozen=True)
class InvitationState:
    invitation: Invitation | None
    #: ``pending``, ``accepted``, ``expired``, ``revoked`` or ``unknown``.
    status: str


@dataclass(frozen=True)
class NewAdmin:
    organization: Organization
    email: str
    password: str


class AccessService:
    # -- roles -----------------------------------------------------------------------------------------

    def member_permissions(self, session: Session, member: Member) -> frozenset[str]:
        if member.role in BUILTIN_ROLES:
            return BUILTIN_ROLES[member.role]
        return permissions_of(repository.role(session, member.organization_id, member.role))

    def role_names(self, session: Session, organization_id: uuid.UUID) -> list[str]:
        """Every role a member may have: the built-in ones, then the custom ones' codes."""
        return [*BUILTIN_ROLES, *(r.code for r in repository.roles(session, organization_id))]

    def roles(self, session: Session, organization_id: uuid.UUID) -> list[Role]:
        return list(repository.roles(session, organization_id))

    def role(self, session: Session, organization_id: uuid.UUID, code: str) -> Role:
        role = repository.role(session, organization_id, code)
        if role is None:
            raise NotFound("role")
        return role

    def _check_role_fields(self, errors: Errors, name: str, permissions: list[str]) -> list[str]:
        if not name.strip():
            errors.add("name", "value_is_mandatory")
        elif len(name) > 255:
            errors.add("name", "value_is_too_long")
        unknown = [p for p in permissions if p not in PERMISSIONS]
        if unknown:
            errors.add("permissions", "value_is_invalid")
        if not permissions:
            errors.add("permissions", "value_is_mandatory")
        return [p for p in PERMISSIONS if p in permissions]

    def create_role(
        self, session: Session, organization_id: uuid.UUID, *, code: str, name: str, permissions: list[str]
    ) -> Role:
        errors = Errors()
        code = code.strip()
        if not code:
            errors.add("code", "value_is_mandatory")
        elif code in BUILTIN_ROLES:
            errors.add("code", "value_is_reserved")
        elif not _ROLE_CODE.fullmatch(code):
            errors.add("code", "value_is_invalid")
        elif repository.role(session, organization_id, code) is not None:
            errors.add("code", "value_already_exist")
        ordered = self._check_role_fields(errors, name, permissions)
        errors.raise_if_any()
        role = Role(organization_id=organization_id, code=code, name=name.strip(), permissions=ordered)
        repository.add(session, role)
        return role

    def update_role(
        self, session: Session, organization_id: uuid.UUID, code: str, *, name: str, permissions: list[str]
    ) -> Role:
        role = self.role(session, organization_id, code)
        errors = Errors()
        ordered = self._check_role_fields(errors, name, permissions)
        errors.raise_if_any()
        role.name = name.strip()
        role.permissions = ordered
        session.flush()
        return role

    def delete_role(self, session: Session, organization_id: uuid.UUID, code: str) -> None:
        role = self.role(session, organization_id, code)
        if repository.role_in_use(session, organization_id, code):
            raise ValidationFailed({"role": ["role_in_use"]})
        repository.delete(session, role)

    # -- members ---------------------------------------------------------------------------------------

    def members(self, session: Session, organization_id: uuid.UUID) -> list[Member]:
        return list(repository.members(session, organization_id))

    def member(self, session: Session, organization_id: uuid.UUID, member_id: uuid.UUID) -> Member:
        member = repository.member(session, organization_id, member_id)
        if member is None:
            raise NotFound("member")
        return member

    def _check_role(self, session: Session, errors: Errors, organization_id: uuid.UUID, role: str) -> None:
        if role not in BUILTIN_ROLES and repository.role(session, organization_id, role) is None:
            errors.add("role", "value_is_invalid")

    def create_member(
        self, session: Session, organization_id: uuid.UUID, *, email: str, role: str, password: str
    ) -> Member:
        errors = Errors()
        email = normalize_email(email)
        _check_email(errors, email)
        if email and repository.member_by_email(session, organization_id, email) is not None:
            errors.add("email", "value_already_exist")
        self._check_role(session, errors, organization_id, role)
        check_new_password(errors, password, password)
        errors.raise_if_any()
        member = Member(
            organization_id=organization_id, email=email, role=role, password_digest=hash_password(password)
        )
        repository.add(session, member)
        return member

    def _keep_an_admin(self, session: Session, member: Member) -> None:
        if (
            member.role == "admin"
            and member.disabled_at is None
            and repository.count_active_with_role(session, member.organization_id, "admin") <= 1
        ):
            raise ValidationFailed({"role": ["last_admin"]})

    def change_role(
        self, session: Session, organization_id: uuid.UUID, member_id: uuid.UUID, role: str
    ) -> Member:
        member = self.member(session, organization_id, member_id)
        errors = Errors()
        self._check_role(session, errors, organization_id, role)
        errors.raise_if_any()
        if role != member.role:
            self._keep_an_admin(session, member)
            member.role = role
            session.flush()
        return member

    def disable(self, session: Session, organization_id: uuid.UUID, member_id: uuid.UUID) -> Member:
        """Disable a member: they can no longer sign in, and their sessions end now."""
        member = self.member(session, organization_id, member_id)
        if member.disabled_at is None:
            self._keep_an_admin(session, member)
            now = db.utcnow()
            member.disabled_at = now
            repository.revoke_sessions(session, member.id, now)
            session.flush()
        return member

    def enable(self, session: Session, organization_id: uuid.UUID, member_id: uuid.UUID) -> Member:
        member = self.member(session, organization_id, member_id)
        member.disabled_at = None
        session.flush()
        return member

    def set_password(self, session: Session, member: Member, password: str) -> None:
        """A new password; every session of the member ends."""
        member.password_digest = hash_password(password)
        repository.revoke_sessions(session, member.id, db.utcnow())
        session.flush()

    def change_password(
        self, session: Session, member: Member, *, current: str, password: str, confirmation: str
    ) -> None:
        errors = Errors()
        if not verify_password(member.password_digest, current):
            errors.add("current_password", "value_is_invalid")
        check_new_password(errors, password, confirmation)
        errors.raise_if_any()
        self.set_password(session, member, password)

    def reset_password(self, session: Session, member: Member) -> str:
        """A new random password (``billow members reset-password``), returned once."""
        password = new_password()
        self.set_password(session, member, password)
        return password

    # -- invitations -----------------------------------------------------------------------------------

    def invitations(self, session: Session, organization_id: uuid.UUID) -> list[Invitation]:
        return list(repository.invitations(session, organization_id))

    def invite(
        self,
        session: Session,
        organization_id: uuid.UUID,
        *,
        email: str,
        role: str,
        invited_by: uuid.UUID | None,
    ) -> tuple[Invitation, str]:
        """An invitation; its token (for the link) is returned once, only its digest is stored. A pending
        invitation of the same e-mail is revoked."""
        errors = Errors()
        email = normalize_email(email)
        _check_email(errors, email)
        if email and repository.member_by_email(session, organization_id, email) is not None:
            errors.add("email", "value_already_exist")
        self._check_role(session, errors, organization_id, role)
        errors.raise_if_any()
        now = db.utcnow()
        for pending in repository.invitations(session, organization_id):
            if pending.email == email and self.status(pending, now) == "pending":
                pending.revoked_at = now
        token = new_token()
        invitation = Invitation(
            organization_id=organization_id,
            email=email,
            role=role,
            token_digest=digest_token(token),
            expires_at=now + INVITATION_LIFETIME,
            invited_by_id=invited_by,
        )
        repository.add(session, invitation)
        return invitation, token

    @staticmethod
    def status(invitation: Invitation, now: datetime) -> str:
        if invitation.accepted_at is not None:
            return "accepted"
        if invitation.revoked_at is not None:
            return "revoked"
        if invitation.expires_at <= now:
            return "expired"
        return "pending"

    def invitation_of_token(self, session: Session, token: str) -> InvitationState:
        invitation = repository.invitation_by_digest(session, digest_token(token)) if token else None
        if invitation is None:
            return InvitationState(None, "unknown")
        return InvitationState(invitation, self.status(invitation, db.utcnow()))

    def accept(self, session: Session, token: str, *, password: str, confirmation: str) -> Member | None:
        """The member the invitation creates; ``None`` when the invitation is not pending (accepted,
        expired, revoked, unknown: never a member)."""
        state = self.invitation_of_token(session, token)
        invitation = state.invitation
        if invitation is None or state.status != "pending":
            return None
        errors = Errors()
        check_new_password(errors, password, confirmation)
        errors.raise_if_any()
        role = invitation.role
        if role not in BUILTIN_ROLES and repository.role(session, invitation.organization_id, role) is None:
            role = "viewer"  # the custom role was deleted meanwhile: the least privilege
        member = self.create_member(
            session, invitation.organization_id, email=invitation.email, role=role, password=password
        )
        invitation.accepted_at = db.utcnow()
        session.flush()
        return member

    def revoke_invitation(
        self, session: Session, organization_id: uuid.UUID, invitation_id: uuid.UUID
    ) -> None:
        invitation = repository.invitation(session, organization_id, invitation_id)
        if invitation is None:
            raise NotFound("invitation")
        if invitation.accepted_at is None and invitation.revoked_at is None:
            invitation.revoked_at = db.utcnow()
            session.flush()

    # -- the first administrator -----------------------------------------------------------------------

    def bootstrap_admins(
        self, session: Session, *, email: str | None = None, password: str | None = None
    ) -> list[NewAdmin]:
        """An ``admin`` member for every organization that has no member yet (none: nothing to do, so
        running it again creates and tells nothing). The e-mail is ``email`` (``BILLOW_ADMIN_EMAIL``) or
        ``admin@<organization slug>.local``; the password ``password`` (``BILLOW_ADMIN_PASSWORD``) or a
        random one, returned once."""
        created = []
        for organization in repository.organizations_without_members(session):
            address = normalize_email(email) if email else f"admin@{slug(organization.name)}.local"
            secret = password or new_password()
            self.create_member(session, organization.id, email=address, role="admin", password=secret)
            created.append(NewAdmin(organization, address, secret))
        return created

    def members_by_email(self, session: Session, email: str) -> list[Member]:
        """Every organization's member of this e-mail."""
        return list(repository.members_by_email(session, normalize_email(email)))

    def find_member(self, session: Session, organization_id: uuid.UUID, email: str) -> Member | None:
        return repository.member_by_email(session, organization_id, normalize_email(email))


def slug(name: str) -> str:
    """``"Acme Corp."`` -> ``"acme-corp"`` (``organization`` when nothing is left)."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60] or "organization"


access_service = AccessService()
