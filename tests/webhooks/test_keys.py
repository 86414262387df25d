"""Webhook signing keys (:mod:`billow.webhooks.keys`): the public key served as Lago serves it, the HMAC
key in ``GET /organizations``, signatures that the public libraries verify, secrets sealed at rest."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from typing import Any

import jwt
import pytest
from cryptography.fernet import Fernet
from fastapi import FastAPI
from sqlalchemy import func, select

from billow.models.organizations import Organization
from billow.models.webhook_endpoints import WebhookSigningKeys
from billow.webhooks.keys import hmac_signature, jwt_signature, signing_keys
from tests.conftest import Api


def public_pem(api: Api) -> bytes:
    response = api.get("/webhooks/json_public_key")
    assert response.status_code == 200, response.text
    [key] = response.json()["webhook"].keys()
    assert key == "public_key"
    return base64.b64decode(response.json()["webhook"]["public_key"])


def test_public_key_both_routes_and_a_jwt_signature_verifies(api: Api, app: FastAPI) -> None:
    pem = public_pem(api)
    assert pem.startswith(b"-----BEGIN PUBLIC KEY-----")
    plain = api.get("/webhooks/public_key")
    assert plain.status_code == 200
    assert plain.headers["content-type"].startswith("text/plain")
    assert base64.b64decode(plain.text) == pem
    body = json.dumps({"webhook_type": "invoice.created", "invoice": {"lago_id": "x"}})
    with app.state.sessionmaker() as session:
        organization = session.get(Organization, api.organization.id)
        assert organization is not None
        token = jwt_signature(signing_keys(session, organization), body, "https://billow.example")
    # As a receiver does (Lago's documented check): decode with the published key, compare the data.
    decoded = jwt.decode(token, pem, algorithms=["RS256"], issuer="https://billow.example")
    assert decoded["data"] == body


def test_hmac_key_in_the_organization_and_an_hmac_signature_verifies(api: Api, app: FastAPI) -> None:
    hmac_key = api.get("/organizations").json()["organization"]["hmac_key"]
    assert len(hmac_key) >= 32
    body = '{"webhook_type":"customer.created"}'
    with app.state.sessionmaker() as session:
        organization = session.get(Organization, api.organization.id)
        assert organization is not None
        signature = hmac_signature(signing_keys(session, organization), body)
    expected = base64.b64encode(hmac.new(hmac_key.encode(), body.encode(), hashlib.sha256).digest()).decode()
    assert signature == expected


def test_one_set_per_organization_stable_and_sealed(api: Api, other_api: Api, app: FastAPI) -> None:
    first = public_pem(api)
    assert public_pem(api) == first  # created once, then read
    assert public_pem(other_api) != first  # each organization its own
    assert (
        api.get("/organizations").json()["organization"]["hmac_key"]
        != other_api.get("/organizations").json()["organization"]["hmac_key"]
    )
    with app.state.sessionmaker() as session:
        assert session.scalar(select(func.count()).select_from(WebhookSigningKeys)) == 2
        for row in session.scalars(select(WebhookSigningKeys)):
            # Only the public key is in clear.
            assert "PRIVATE KEY" not in row.private_key_sealed
            assert row.hmac_key_sealed not in api.get("/organizations").text


def test_unauthenticated(client) -> None:
    assert client.get("/api/v1/webhooks/json_public_key").status_code == 401


def test_rotating_the_sealing_key(
    api: Api, app: FastAPI, billow: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``billow migrate --rotate-secrets``: with a new key put first, every sealed secret is sealed again
    with it; the old key can then be removed and the secrets still open (the same keys sign)."""
    hmac_key = api.get("/organizations").json()["organization"]["hmac_key"]
    old = os.environ["BILLOW_SECRET_KEY"]
    new = Fernet.generate_key().decode()
    monkeypatch.setenv("BILLOW_SECRET_KEY", f"{new},{old}")
    result = billow("migrate", "--rotate-secrets")
    assert result.exit_code == 0, result.output
    assert "re-sealed 2 secret(s)" in result.output
    monkeypatch.setenv("BILLOW_SECRET_KEY", new)  # the old key is gone
    assert api.get("/organizations").json()["organization"]["hmac_key"] == hmac_key
    with app.state.sessionmaker() as session:
        organization = session.get(Organization, api.organization.id)
        assert organization is not None
        keys = signing_keys(session, organization)
    assert keys.hmac_key == hmac_key


def test_no_response_model_carries_a_sealed_column() -> None:
    """Secrets sealed at rest are never answered: no field of any response model of the API is named like
    a sealed column (``*_sealed``) or is the raw secret's column name."""
    from billow.app import create_app
    from billow.config import Settings
    from billow.models import metadata

    sealed = {c.name for t in metadata.sorted_tables for c in t.columns if c.name.endswith("_sealed")}
    assert sealed  # the webhook signing keys at least
    schema = create_app(Settings(database_url="sqlite://"), dispatch="off").openapi()
    fields = {
        name
        for component in schema["components"]["schemas"].values()
        for name in component.get("properties", {})
    }
    assert not fields & sealed
    assert not {name for name in fields if name.endswith("_sealed") or name == "private_key_pem"}
