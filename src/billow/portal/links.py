"""Portal links: ``<public_url>/portal/<token>``, where the token is the credential (no API key, no session).

A token is the url-safe base64 (no padding) of ``version (1 byte) | organization id (16) | customer id (16)
| expires (8, unix seconds, big-endian) | HMAC-SHA256 of the 41 bytes before it (32)``, under a key derived
from ``BILLOW_SECRET_KEY`` for :data:`PURPOSE` (:func:`billow.kit.secrets.derived_keys`: any configured key
opens a token, so rotating the secret key keeps the links of the old one valid until it is removed). The
signature binds the organization and the customer: changing either byte breaks it.

The portal's forms carry a second value derived from the token (:func:`form_token`, another purpose): a
form of the portal posts it back (defence in depth; the token in the path is already unguessable).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import struct
import uuid
from dataclasses import dataclass

from billow.config import Settings
from billow.kit.secrets import derived_keys

PURPOSE = "billow.portal.links"
FORM_PURPOSE = "billow.portal.forms"
VERSION = 1
_BODY = struct.Struct(">B16s16sQ")
_MAC_BYTES = 32
PATH = "/portal"
#: The only characters of a token (base64 would otherwise skip others and read a longer string alike).
_ALPHABET = re.compile(r"[A-Za-z0-9_-]{1,200}")


@dataclass(frozen=True)
class PortalToken:
    organization_id: uuid.UUID
    customer_id: uuid.UUID
    expires: int


class TokenRefused(Exception):
    """``invalid`` (malformed or not signed by any configured key: 403) or ``expired`` (410)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _mac(key: bytes, body: bytes) -> bytes:
    return hmac.new(key, body, hashlib.sha256).digest()


def make_token(settings: Settings, organization_id: uuid.UUID, customer_id: uuid.UUID, expires: int) -> str:
    body = _BODY.pack(VERSION, organization_id.bytes, customer_id.bytes, expires)
    return _encode(body + _mac(derived_keys(settings, PURPOSE)[0], body))


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def read_token(settings: Settings, token: str, *, now: int) -> PortalToken:
    """The token's ids, if one of the keys signed it and it has not expired (else :class:`TokenRefused`).
    The signature is checked first: a tampered token is ``invalid`` whatever its expiry says."""
    if not _ALPHABET.fullmatch(token):
        raise TokenRefused("invalid")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise TokenRefused("invalid") from None
    # One spelling per token: the decoder would also take other trailing bits in the last character.
    if len(raw) != _BODY.size + _MAC_BYTES or _encode(raw) != token:
        raise TokenRefused("invalid")
    body, given = raw[: _BODY.size], raw[_BODY.size :]
    if not any(hmac.compare_digest(_mac(key, body), given) for key in derived_keys(settings, PURPOSE)):
        raise TokenRefused("invalid")
    version, organization, customer, expires = _BODY.unpack(body)
    if version != VERSION:
        raise TokenRefused("invalid")
    if expires <= now:
        raise TokenRefused("expired")
    return PortalToken(uuid.UUID(bytes=organization), uuid.UUID(bytes=customer), expires)


def portal_url(settings: Settings, organization_id: uuid.UUID, customer_id: uuid.UUID, *, now: int) -> str:
    """A link valid ``BILLOW_PORTAL_LINK_TTL_HOURS`` from ``now`` (unix seconds)."""
    expires = now + settings.portal_link_ttl_hours * 3600
    token = make_token(settings, organization_id, customer_id, expires)
    return f"{settings.public_url.rstrip('/')}{PATH}/{token}"


def form_token(settings: Settings, token: str) -> str:
    return hmac.new(
        derived_keys(settings, FORM_PURPOSE)[0], token.encode("ascii"), hashlib.sha256
    ).hexdigest()


def form_token_ok(settings: Settings, token: str, given: str) -> bool:
    return any(
        hmac.compare_digest(hmac.new(key, token.encode("ascii"), hashlib.sha256).hexdigest(), given)
        for key in derived_keys(settings, FORM_PURPOSE)
    )
