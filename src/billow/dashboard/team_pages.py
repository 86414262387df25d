"""The organization's members, invitations and custom roles (``/app/members``, ``/app/roles``)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

import billow.db as db
from billow.access.permissions import AREAS, BUILTIN_ROLES
from billow.access.service import access_service
from billow.dashboard.access_forms import done, invalid, not_found
from billow.db import DbSession
from billow.errors import BillowError, NotFound
from billow.web.auth import Viewer, require
from billow.web.templating import render

router = APIRouter(prefix="/app")

ViewMembers = Annotated[Viewer, Depends(require("members:view"))]
ManageMembers = Annotated[Viewer, Depends(require("members:manage"))]
ViewRoles = Annotated[Viewer, Depends(require("roles:view"))]
ManageRoles = Annotated[Viewer, Depends(require("roles:manage"))]


def _members_context(session: Session, viewer: Viewer, **extra: Any) -> dict[str, Any]:
    now = db.utcnow()
    invitations = [
        (invitation, access_service.status(invitation, now))
        for invitation in access_service.invitations(session, viewer.organization_id)
    ]
    return {
        "members": access_service.members(session, viewer.organization_id),
        "invitations": invitations,
        "role_names": access_service.role_names(session, viewer.organization_id),
        "errors": {},
        "invitation_link": None,
        "invite_email": "",
        **extra,
    }


@router.get("/members")
def members(request: Request, session: DbSession, viewer: ViewMembers) -> HTMLResponse:
    return render(request, "access/members.html", _members_context(session, viewer))


@router.post("/members/invitations")
def invite(
    request: Request,
    session: DbSession,
    viewer: ManageMembers,
    email: Annotated[str, Form(max_length=255)] = "",
    role: Annotated[str, Form(max_length=64)] = "viewer",
) -> Response:
    try:
        _, token = access_service.invite(
            session, viewer.organization_id, email=email, role=role, invited_by=viewer.member_id
        )
    except BillowError as error:
        session.rollback()
        return invalid(
            request,
            session,
            "access/members.html",
            _members_context(session, viewer, invite_email=email),
            error,
        )
    # The link is shown here, once (only the token's digest is stored): no redirect.
    link = str(request.url_for("invitation_form", token=token))
    return render(
        request,
        "access/members.html",
        _members_context(session, viewer, invitation_link=link),
        status_code=201,
    )


@router.post("/members/invitations/{invitation_id}/revoke")
def revoke_invitation(
    session: DbSession, viewer: ManageMembers, request: Request, invitation_id: uuid.UUID
) -> Response:
    try:
        access_service.revoke_invitation(session, viewer.organization_id, invitation_id)
    except NotFound:
        return not_found(request, "invitation")
    return done("/app/members", "Invitation revoked.")


def _member_change(request: Request, session: Session, viewer: Viewer, change: Any, message: str) -> Response:
    try:
        change()
    except NotFound:
        return not_found(request, "member")
    except BillowError as error:
        session.rollback()
        return invalid(request, session, "access/members.html", _members_context(session, viewer), error)
    return done("/app/members", message)


@router.post("/members/{member_id}/role")
def change_role(
    request: Request,
    session: DbSession,
    viewer: ManageMembers,
    member_id: uuid.UUID,
    role: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    return _member_change(
        request,
        session,
        viewer,
        lambda: access_service.change_role(session, viewer.organization_id, member_id, role),
        "Role changed.",
    )


@router.post("/members/{member_id}/disable")
def disable(request: Request, session: DbSession, viewer: ManageMembers, member_id: uuid.UUID) -> Response:
    return _member_change(
        request,
        session,
        viewer,
        lambda: access_service.disable(session, viewer.organization_id, member_id),
        "Member disabled; their sessions ended.",
    )


@router.post("/members/{member_id}/enable")
def enable(request: Request, session: DbSession, viewer: ManageMembers, member_id: uuid.UUID) -> Response:
    return _member_change(
        request,
        session,
        viewer,
        lambda: access_service.enable(session, viewer.organization_id, member_id),
        "Member enabled.",
    )


# -- custom roles --------------------------------------------------------------------------------------


def _roles_context(session: Session, viewer: Viewer, **extra: Any) -> dict[str, Any]:
    return {
        "roles": access_service.roles(session, viewer.organization_id),
        "builtin_roles": BUILTIN_ROLES,
        "areas": AREAS,
        "errors": {},
        "form": {"code": "", "name": "", "permissions": []},
        **extra,
    }


@router.get("/roles")
def roles(request: Request, session: DbSession, viewer: ViewRoles) -> HTMLResponse:
    return render(request, "access/roles.html", _roles_context(session, viewer))


@router.post("/roles")
def create_role(
    request: Request,
    session: DbSession,
    viewer: ManageRoles,
    code: Annotated[str, Form(max_length=64)] = "",
    name: Annotated[str, Form(max_length=255)] = "",
    permissions: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies form defaults
) -> Response:
    try:
        access_service.create_role(
            session, viewer.organization_id, code=code, name=name, permissions=permissions
        )
    except BillowError as error:
        session.rollback()
        form = {"code": code, "name": name, "permissions": permissions}
        return invalid(
            request, session, "access/roles.html", _roles_context(session, viewer, form=form), error
        )
    return done("/app/roles", f"Role {code} created.")


@router.get("/roles/{code}")
def role(request: Request, session: DbSession, viewer: ViewRoles, code: str) -> HTMLResponse:
    try:
        found = access_service.role(session, viewer.organization_id, code)
    except NotFound:
        return not_found(request, "role")
    form = {"code": found.code, "name": found.name, "permissions": found.permissions}
    return render(request, "access/role.html", {"role": found, "areas": AREAS, "form": form, "errors": {}})


@router.post("/roles/{code}")
def update_role(
    request: Request,
    session: DbSession,
    viewer: ManageRoles,
    code: str,
    name: Annotated[str, Form(max_length=255)] = "",
    permissions: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies form defaults
) -> Response:
    try:
        found = access_service.role(session, viewer.organization_id, code)
    except NotFound:
        return not_found(request, "role")
    try:
        access_service.update_role(session, viewer.organization_id, code, name=name, permissions=permissions)
    except BillowError as error:
        form = {"code": code, "name": name, "permissions": permissions}
        return invalid(
            request, session, "access/role.html", {"role": found, "areas": AREAS, "form": form}, error
        )
    return done(f"/app/roles/{code}", "Role saved.")


@router.post("/roles/{code}/delete")
def delete_role(request: Request, session: DbSession, viewer: ManageRoles, code: str) -> Response:
    try:
        access_service.delete_role(session, viewer.organization_id, code)
    except NotFound:
        return not_found(request, "role")
    except BillowError as error:
        session.rollback()
        return invalid(request, session, "access/roles.html", _roles_context(session, viewer), error)
    return done("/app/roles", f"Role {code} deleted.")
