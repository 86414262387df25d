"""The keys that sign an organization's webhooks, with Lago's two schemes (reference §8):

* ``jwt``: ``X-Lago-Signature`` is a JWT (RS256) of ``{"data": <the JSON body>, "iss": <issuer>}`` signed
  with the organization's RSA key (2048 bits); receivers verify it with the public key of
  ``GET /webhooks/json_public_key`` (base64 of the PEM, as Lago);
* ``hmac``: ``X-Lago-Signature`` is base64(HMAC-SHA256(key, body)); Lago shows the key only in its UI,
  Billow answers it as ``hmac_key`` in ``GET /organizations``.

The keys are generated on first use, under the organization's row lock (two requests create one set), the
private key and the HMAC key sealed at rest (:mod:`billow.kit.secrets`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from functools import cached_property

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select
from sqlalchemy.orm import Session

from billow.config import Settings, current_settings
from billow.kit.locking import lock_row
from billow.kit.secrets import open_sealed, seal
from billow.models.organizations import Organization
from billow.models.webhook_endpoints import WebhookSigningKeys

RSA_BITS = 2048


@dataclass(frozen=True)
class SigningKeys:
    public_key_pem: bytes
    private_key_pem: bytes
    hmac_key: str

    @cached_property
    def private_key(self) -> rsa.RSAPrivateKey:
        """The loaded key (loading checks the key: ~0.1 s; done once per :class:`SigningKeys`). Its own
        key, generated here: the expensive validation is skipped."""
        key = serialization.load_pem_private_key(
            self.private_key_pem, password=None, unsafe_skip_rsa_key_validation=True
        )
        assert isinstance(key, rsa.RSAPrivateKey)
        return key

    @property
    def public_key_base64(self) -> str:
        """What ``GET /webhooks/json_public_key`` answers: base64 of the PEM (Lago)."""
        return base64.b64encode(self.public_key_pem).decode("ascii")


def jwt_signature(keys: SigningKeys, body: str, issuer: str) -> str:
    """The ``jwt`` scheme's signature of the JSON ``body``."""
    return jwt.encode({"data": body, "iss": issuer}, keys.private_key, algorithm="RS256")


def hmac_signature(keys: SigningKeys, body: str) -> str:
    """The ``hmac`` scheme's signature of ``body``: base64 of its HMAC-SHA256 under the HMAC key."""
    digest = hmac.new(keys.hmac_key.encode("utf-8"), body.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def signing_keys(session: Session, organization: Organization) -> SigningKeys:
    """The organization's keys, created (and flushed) on first use."""
    settings = current_settings()
    row = _row(session, organization)
    if row is None:
        lock_row(session, Organization, organization.id)
        row = _row(session, organization) or _create(session, organization, settings)
    return SigningKeys(
        public_key_pem=row.public_key_pem.encode("ascii"),
        private_key_pem=open_sealed(row.private_key_sealed, settings),
        hmac_key=open_sealed(row.hmac_key_sealed, settings).decode("ascii"),
    )


def _row(session: Session, organization: Organization) -> WebhookSigningKeys | None:
    return session.scalars(
        select(WebhookSigningKeys).where(WebhookSigningKeys.organization_id == organization.id)
    ).first()


def _create(session: Session, organization: Organization, settings: Settings) -> WebhookSigningKeys:
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    row = WebhookSigningKeys(
        organization_id=organization.id,
        public_key_pem=public_pem.decode("ascii"),
        private_key_sealed=seal(private_pem, settings),
        hmac_key_sealed=seal(secrets.token_urlsafe(32).encode("ascii"), settings),
    )
    session.add(row)
    session.flush()
    return row
