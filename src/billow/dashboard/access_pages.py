"""Signing in and out, accepting an invitation, and one's own password (``/app/login``, ``/app/logout``,
``/app/invitations/{token}``, ``/app/account``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from billow.access.service import access_service
from billow.access.sessions import THROTTLE_WINDOW, session_service
from billow.dashboard.access_forms import client_ip, done, invalid
from billow.db import DbSession
from billow.errors import BillowError
from billow.web.auth import CurrentViewer, clear_session_cookie, set_session_cookie
from billow.web.templating import render

router = APIRouter(prefix="/app")

HOME = "/app/"
FAILED = "Wrong e-mail or password."
THROTTLED = f"Too many sign-in attempts. Try again in {int(THROTTLE_WINDOW.total_seconds() // 60)} minutes."


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path of this site only (never ``//host`` or ``https://...``)."""
    if (
        not target
        or len(target) > 2048
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or any(ord(ch) < 32 or ord(ch) == 127 for ch in target)
    ):
        return HOME
    return target


@router.get("/login")
def login_form(request: Request, next: str | None = None) -> HTMLResponse:
    return render(request, "access/login.html", {"next": safe_next(next), "email": "", "error": None})


@router.post("/login")
def login(
    request: Request,
    session: DbSession,
    # No length limits here: whatever is typed gets the login page (session_service bounds them).
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = HOME,
) -> Response:
    result = session_service.sign_in(
        session,
        email=email,
        password=password,
        ip=client_ip(request),
        user_agent=request.headers.get("user-agent"),
    )
    if result.outcome != "ok":
        throttled = result.outcome == "throttled"
        return render(
            request,
            "access/login.html",
            {"next": safe_next(next), "email": email[:255], "error": THROTTLED if throttled else FAILED},
            status_code=429 if throttled else 401,
        )
    response = RedirectResponse(safe_next(next), status_code=303)
    set_session_cookie(response, request, result.token)
    return response


@router.post("/logout")
def logout(request: Request, session: DbSession, viewer: CurrentViewer) -> Response:
    session_service.sign_out(session, request.state.member_session)
    response = RedirectResponse("/app/login", status_code=303)
    clear_session_cookie(response, request)
    return response


# -- invitations ---------------------------------------------------------------------------------------

_ENDED = {
    "accepted": "This invitation was already accepted. Sign in with your e-mail and password.",
    "expired": "This invitation has expired. Ask an administrator of the organization for a new one.",
    "revoked": "This invitation was revoked. Ask an administrator of the organization for a new one.",
    "unknown": "This invitation link is not valid. Ask an administrator of the organization for a new one.",
}


def _ended(request: Request, status: str) -> HTMLResponse:
    return render(
        request,
        "access/message.html",
        {"title": "Invitation not valid", "message": _ENDED[status]},
        status_code=404 if status == "unknown" else 410,
    )


@router.get("/invitations/{token}")
def invitation_form(request: Request, session: DbSession, token: str) -> HTMLResponse:
    state = access_service.invitation_of_token(session, token)
    if state.invitation is None or state.status != "pending":
        return _ended(request, state.status)
    return render(
        request, "access/invitation.html", {"invitation": state.invitation, "token": token, "errors": {}}
    )


@router.post("/invitations/{token}")
def accept_invitation(
    request: Request,
    session: DbSession,
    token: str,
    password: Annotated[str, Form(max_length=4096)] = "",
    password_confirmation: Annotated[str, Form(max_length=4096)] = "",
) -> Response:
    state = access_service.invitation_of_token(session, token)
    if state.invitation is None or state.status != "pending":
        return _ended(request, state.status)
    context = {"invitation": state.invitation, "token": token}
    try:
        member = access_service.accept(session, token, password=password, confirmation=password_confirmation)
    except BillowError as error:
        return invalid(request, session, "access/invitation.html", context, error)
    if member is None:  # pragma: no cover - checked above, in the same transaction
        return _ended(request, "unknown")
    raw, _ = session_service.start(session, member, request.headers.get("user-agent"))
    response = RedirectResponse(HOME, status_code=303)
    set_session_cookie(response, request, raw)
    return response


# -- one's own password --------------------------------------------------------------------------------


@router.get("/account")
def account(request: Request, viewer: CurrentViewer) -> HTMLResponse:
    return render(request, "access/account.html", {"errors": {}})


@router.post("/account")
def change_password(
    request: Request,
    session: DbSession,
    viewer: CurrentViewer,
    current_password: Annotated[str, Form(max_length=4096)] = "",
    password: Annotated[str, Form(max_length=4096)] = "",
    password_confirmation: Annotated[str, Form(max_length=4096)] = "",
) -> Response:
    member = access_service.member(session, viewer.organization_id, viewer.member_id)
    try:
        access_service.change_password(
            session, member, current=current_password, password=password, confirmation=password_confirmation
        )
    except BillowError as error:
        return invalid(request, session, "access/account.html", {}, error)
    # Every session of the member ended (others' devices too); this one goes on with a new session.
    raw, _ = session_service.start(session, member, request.headers.get("user-agent"))
    response = done("/app/account", "Password changed. Your other sessions were signed out.")
    set_session_cookie(response, request, raw)
    return response
