"""The signed-in member of a dashboard request (contract; the session store is ``billow.access``).

Every dashboard route takes :data:`CurrentViewer` (any signed-in member) or ``Depends(require("x:y"))``
(a member whose role grants permission ``x:y``, :mod:`billow.access.permissions`). The dependency:

- reads the session cookie (:data:`SESSION_COOKIE`; ``HttpOnly``, ``SameSite=Lax``, ``Secure`` unless
  the request is plain ``http://localhost`` or ``BILLOW_COOKIE_SECURE=false``), finds the live session
  and its member (:mod:`billow.access.sessions`);
- on ``POST``/``PUT``/``PATCH``/``DELETE`` checks the CSRF token (form field ``csrf_token`` or header
  ``X-CSRF-Token``, which the layout makes htmx send) against the session's;
- marks the request's database session with the member as actor (:mod:`billow.kit.actor`, the audit log);
- puts the :class:`Viewer` on ``request.state.viewer`` (the templates read it there).

No session: :class:`LoginRequired` (a page redirects to the login page, htmx gets ``HX-Redirect``).
A missing permission or a wrong CSRF token: :class:`Forbidden` (403 page). Both are handled by
:func:`billow.web.install`.
"""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Response

from billow.db import DbSession
from billow.kit.actor import Actor, set_actor

SESSION_COOKIE = "billow_session"


@dataclass(frozen=True)
class Viewer:
    organization_id: uuid.UUID
    organization_name: str
    member_id: uuid.UUID
    email: str
    role: str
    permissions: frozenset[str]
    csrf_token: str

    def can(self, permission: str) -> bool:
        return permission in self.permissions


class LoginRequired(Exception):
    """No valid session: sign in first."""


class Forbidden(Exception):
    """Signed in, but not allowed (permission or CSRF)."""

    def __init__(self, reason: str = "forbidden") -> None:
        super().__init__(reason)
        self.reason = reason


#: Methods that change something: they carry the session's CSRF token.
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1"})


def _signed_in(request: Request, session: DbSession) -> tuple[Viewer, str]:
    """The viewer of the request's session cookie and its CSRF token (sync: it queries the database)."""
    from billow.access.sessions import session_service

    live = session_service.live(session, request.cookies.get(SESSION_COOKIE, ""))
    if live is None:
        raise LoginRequired()
    member = live.member
    viewer = Viewer(
        organization_id=member.organization_id,
        organization_name=live.organization_name,
        member_id=member.id,
        email=member.email,
        role=member.role,
        permissions=live.permissions,
        csrf_token=live.member_session.csrf_token,
    )
    set_actor(session, Actor(source="front", member_id=member.id, email=member.email))
    request.state.viewer = viewer
    request.state.member_session = live.member_session
    return viewer, live.member_session.csrf_token


async def current_viewer(
    request: Request, found: Annotated[tuple[Viewer, str], Depends(_signed_in)]
) -> Viewer:
    """The signed-in member; on an unsafe method, only with the session's CSRF token (header, or the
    form field: ``request.form()`` caches the parsed body, which the route's ``Form`` parameters reuse)."""
    viewer, expected = found
    if request.method in UNSAFE_METHODS:
        given = request.headers.get(CSRF_HEADER)
        if given is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")
        ):
            value = (await request.form()).get(CSRF_FIELD)
            given = value if isinstance(value, str) else None
        if not given or not hmac.compare_digest(given.encode(), expected.encode()):
            raise Forbidden("csrf")
    return viewer


def cookie_secure(request: Request) -> bool:
    """Whether the session cookie is ``Secure``: always, except for plain ``http`` to localhost or when
    ``BILLOW_COOKIE_SECURE=false``."""
    settings = getattr(request.app.state, "settings", None)
    if settings is not None and not settings.cookie_secure:
        return False
    return not (request.url.scheme == "http" and request.url.hostname in _LOCAL_HOSTS)


def set_session_cookie(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        path="/",
        secure=cookie_secure(request),
    )


def clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=cookie_secure(request)
    )


CurrentViewer = Annotated[Viewer, Depends(current_viewer)]


def require(permission: str) -> Callable[[Viewer], Viewer]:
    """A dependency: the viewer, if their role grants ``permission``; else :class:`Forbidden`."""

    def dependency(viewer: CurrentViewer) -> Viewer:
        if not viewer.can(permission):
            raise Forbidden(permission)
        return viewer

    return dependency
