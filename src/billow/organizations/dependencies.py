"""Authentication: ``Authorization: Bearer <api key>`` binds the request to one organization."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from billow.db import DbSession
from billow.errors import Unauthorized
from billow.organizations.models import Organization
from billow.organizations.service import organization_service


def bearer_key(request: Request) -> str:
    """The API key of ``Authorization: Bearer <key>``; 401 when there is none."""
    header = request.headers.get("authorization", "")
    parts = header.split(" ", 1)
    if len(parts) != 2 or parts[0].lower() != "bearer" or not parts[1].strip():
        raise Unauthorized()
    return parts[1].strip()


def current_organization(request: Request, session: DbSession) -> Organization:
    organization = organization_service.authenticate(session, bearer_key(request))
    if organization is None:
        raise Unauthorized()
    return organization


CurrentOrganization = Annotated[Organization, Depends(current_organization)]
