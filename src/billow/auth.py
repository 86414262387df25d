"""Authentication: ``Authorization: Bearer <api key>`` binds the request to one organization.

:class:`billow.transport.AuthenticationMiddleware` authenticates every ``/api/v1/*`` request before its
body is read, with one query on the request's session; :data:`CurrentOrganization` is the organization
it found (attached to that session, which :data:`billow.db.DbSession` then is). Event ingestion
authenticates by itself (:mod:`billow.events.endpoints`), with :func:`bearer_key` and
:class:`RecentKeys`.
"""

from __future__ import annotations

import hashlib
import time
from typing import Annotated, Any

from fastapi import Depends, Request

from billow.errors import Unauthorized
from billow.models.organizations import Organization


def digest_key(raw_key: str) -> str:
    """What is stored of an API key: its SHA-256, hex (keys are looked up by digest, never stored)."""
    return hashlib.sha256(raw_key.encode()).hexdigest()


#: Key of ``scope["state"]`` where the authentication middleware puts the caller's organization.
ORGANIZATION = "billow.organization"


def bearer_key_of(headers: list[tuple[bytes, bytes]] | Any) -> str | None:
    """The API key of ``Authorization: Bearer <key>``, or ``None``."""
    for name, value in headers:
        if name == b"authorization":
            scheme, _, key = value.decode("latin-1").partition(" ")
            key = key.strip()
            if scheme.lower() != "bearer" or not key:
                return None
            return key
    return None


def bearer_key(request: Request) -> str:
    """The API key of ``Authorization: Bearer <key>``; 401 when there is none."""
    key = bearer_key_of(request.scope["headers"])
    if key is None:
        raise Unauthorized()
    return key


async def current_organization(request: Request) -> Organization:
    """The organization the authentication middleware found (async: no thread hop, no I/O). A route
    the middleware does not authenticate gets a 401, never another organization."""
    organization: Organization | None = request.scope.get("state", {}).get(ORGANIZATION)
    if organization is None:
        raise Unauthorized()
    return organization


CurrentOrganization = Annotated[Organization, Depends(current_organization)]


class RecentKeys:
    """Digests of API keys found valid in the last ``ttl`` seconds, in this process (at most ``size``).

    Event ingestion reads the body before its authentication query (that query also fetches the metrics
    of the events' codes), so it first checks that the key is one of these, or else looks it up alone:
    a wrong key never makes the server read a body. Only a hint: the ingestion query still
    authenticates every request (a key revoked less than ``ttl`` ago is refused after its body is read,
    which the body-size limit bounds)."""

    def __init__(self, ttl: float = 60.0, size: int = 4096) -> None:
        self.ttl = ttl
        self.size = size
        self._expiry: dict[str, float] = {}

    def __contains__(self, digest: str) -> bool:
        expiry = self._expiry.get(digest)
        return expiry is not None and expiry > time.monotonic()

    def add(self, digest: str) -> None:
        if len(self._expiry) >= self.size and digest not in self._expiry:
            now = time.monotonic()
            self._expiry = {d: e for d, e in self._expiry.items() if e > now}
            if len(self._expiry) >= self.size:
                self._expiry.clear()
        self._expiry[digest] = time.monotonic() + self.ttl

    def discard(self, digest: str) -> None:
        self._expiry.pop(digest, None)
