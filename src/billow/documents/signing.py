"""Signed links to the documents Billow serves itself (local storage): ``GET /documents/{id}?expires=..&
signature=..`` needs no API key; the signature is HMAC-SHA256 of ``"<id>:<expires>"`` under a key derived
from ``BILLOW_SECRET_KEY`` (:func:`billow.kit.secrets.derived_keys`: a rotated key still opens links).

``expires`` is rounded up to the hour, so the link of a document stays the same for an hour of answers.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid

from billow.config import Settings
from billow.kit.secrets import derived_keys

PURPOSE = "billow.documents.links"
ROUNDING = 3600


def expiry(now: int, ttl: int) -> int:
    """The expiry of a link made at ``now`` (unix seconds): ``now + ttl`` rounded down to a whole hour
    (between ``ttl - ROUNDING`` and ``ttl`` seconds away). E.g. ttl=7,200: now=7,200 → 14,400; now=7,201 →
    14,401 // 3,600 * 3,600 = 14,400 (the same link for the hour)."""
    return (now + ttl) // ROUNDING * ROUNDING


def signature(key: bytes, document_id: uuid.UUID, expires: int) -> str:
    return hmac.new(key, f"{document_id}:{expires}".encode("ascii"), hashlib.sha256).hexdigest()


def sign(settings: Settings, document_id: uuid.UUID, expires: int) -> str:
    return signature(derived_keys(settings, PURPOSE)[0], document_id, expires)


def verify(settings: Settings, document_id: uuid.UUID, expires: int, given: str, *, now: int) -> bool:
    """Whether ``given`` signs ``(document_id, expires)`` under one of the keys and ``expires`` is ahead."""
    if expires <= now:
        return False
    return any(
        hmac.compare_digest(signature(key, document_id, expires), given)
        for key in derived_keys(settings, PURPOSE)
    )


def link(settings: Settings, document_id: uuid.UUID, *, now: int) -> str:
    expires = expiry(now, settings.documents_url_ttl)
    base = settings.public_url.rstrip("/")
    return (
        f"{base}/documents/{document_id}?expires={expires}&signature={sign(settings, document_id, expires)}"
    )
