"""The signed-in member of a dashboard request (contract; the session store is ``billow.access``).

Every dashboard route takes :data:`CurrentViewer` (any signed-in member) or ``Depends(require("x:y"))``
(a member whose role grants permission ``x:y``, :mod:`billow.access.permissions`). The dependency:

- reads the session cookie (:data:`SESSION_COOKIE`; ``HttpOnly``, ``SameSite=Lax``, ``Secure`` unless
  the server runs on plain ``http://localhost``), finds the live session and its member;
- on ``POST``/``PUT``/``PATCH``/``DELETE`` checks the CSRF token (form field ``csrf_token`` or header
  ``X-CSRF-Token``, which the layout makes htmx send) against the session's;
- marks the request's database session with the member as actor (:mod:`billow.kit.actor`, the audit log);
- puts the :class:`Viewer` on ``request.state.viewer`` (the templates read it there).

No session: :class:`LoginRequired` (a page redirects to the login page, htmx gets ``HX-Redirect``).
A missing permission or a wrong CSRF token: :class:`Forbidden` (403 page). Both are handled by
:func:`billow.web.install`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from billow.db import DbSession

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


def current_viewer(request: Request, session: DbSession) -> Viewer:
    raise NotImplementedError("billow.access implements the session store")


CurrentViewer = Annotated[Viewer, Depends(current_viewer)]


def require(permission: str) -> Callable[[Viewer], Viewer]:
    """A dependency: the viewer, if their role grants ``permission``; else :class:`Forbidden`."""

    def dependency(viewer: CurrentViewer) -> Viewer:
        if not viewer.can(permission):
            raise Forbidden(permission)
        return viewer

    return dependency
