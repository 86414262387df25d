"""``GET /webhooks/public_key`` (deprecated by Lago: the key as plain text) and
``GET /webhooks/json_public_key``: the public key that verifies the organization's ``jwt`` webhook
signatures, base64 of its PEM (:mod:`billow.webhooks.keys`)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from billow.auth import CurrentOrganization
from billow.db import DbSession
from billow.kit.schemas import Output
from billow.kit.strict_json import StrictJSONRoute
from billow.webhooks.keys import signing_keys

router = APIRouter(tags=["webhooks"], route_class=StrictJSONRoute)


class PublicKeyOut(Output):
    public_key: str


class PublicKeyEnvelope(Output):
    webhook: PublicKeyOut


@router.get("/webhooks/json_public_key", response_model=PublicKeyEnvelope)
def json_public_key(session: DbSession, organization: CurrentOrganization) -> PublicKeyEnvelope:
    keys = signing_keys(session, organization)
    return PublicKeyEnvelope(webhook=PublicKeyOut(public_key=keys.public_key_base64))


@router.get(
    "/webhooks/public_key",
    response_model=None,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    deprecated=True,
)
def public_key(session: DbSession, organization: CurrentOrganization) -> PlainTextResponse:
    return PlainTextResponse(signing_keys(session, organization).public_key_base64)
