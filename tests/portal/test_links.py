"""Portal tokens, pure: round trip, tampering, expiry, key rotation, the form token."""

from __future__ import annotations

import base64
import uuid

import pytest
from cryptography.fernet import Fernet

from billow.config import Settings
from billow.portal.links import (
    PortalToken,
    TokenRefused,
    form_token,
    form_token_ok,
    make_token,
    portal_url,
    read_token,
)

ORG = uuid.UUID("11111111-1111-1111-1111-111111111111")
CUSTOMER = uuid.UUID("22222222-2222-2222-2222-222222222222")
KEY_A = Fernet.generate_key().decode()
KEY_B = Fernet.generate_key().decode()


def settings(key: str = KEY_A, **extra: object) -> Settings:
    return Settings(secret_key=key, **extra)  # type: ignore[arg-type]


def refusal(s: Settings, token: str, now: int = 1000) -> str:
    with pytest.raises(TokenRefused) as caught:
        read_token(s, token, now=now)
    return caught.value.reason


def test_round_trip() -> None:
    token = make_token(settings(), ORG, CUSTOMER, 5000)
    assert read_token(settings(), token, now=4999) == PortalToken(ORG, CUSTOMER, 5000)
    assert len(token) == 98 and "=" not in token


def test_expired_at_its_second() -> None:
    token = make_token(settings(), ORG, CUSTOMER, 5000)
    assert refusal(settings(), token, now=5000) == "expired"


def test_every_byte_is_signed() -> None:
    token = make_token(settings(), ORG, CUSTOMER, 5000)
    raw = bytearray(base64.urlsafe_b64decode(token + "=="))
    for index in range(len(raw)):
        changed = bytearray(raw)
        changed[index] ^= 1
        forged = base64.urlsafe_b64encode(bytes(changed)).decode().rstrip("=")
        assert refusal(settings(), forged) == "invalid", index


def test_swapped_ids_or_a_later_expiry_are_invalid() -> None:
    """The signature binds the organization, the customer and the expiry."""
    good = base64.urlsafe_b64decode(make_token(settings(), ORG, CUSTOMER, 5000) + "==")
    other = base64.urlsafe_b64decode(make_token(settings(), CUSTOMER, ORG, 9000) + "==")
    body, mac = good[:41], other[41:]
    assert refusal(settings(), base64.urlsafe_b64encode(body + mac).decode().rstrip("=")) == "invalid"
    swapped = good[:1] + good[17:33] + good[1:17] + good[33:]
    assert refusal(settings(), base64.urlsafe_b64encode(swapped).decode().rstrip("=")) == "invalid"


@pytest.mark.parametrize("token", ["", "x", "not a token", "a" * 98, "ab.cd", "é" * 10, "a" * 500])
def test_malformed(token: str) -> None:
    assert refusal(settings(), token) == "invalid"


def test_padding_or_extra_characters_are_refused() -> None:
    token = make_token(settings(), ORG, CUSTOMER, 5000)
    # The last character carries 2 bits of the MAC and 4 unused ones: another spelling is refused.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    same_bits = alphabet[alphabet.index(token[-1]) ^ 1]
    assert refusal(settings(), token[:-1] + same_bits) == "invalid"
    assert refusal(settings(), token + "==") == "invalid"
    assert refusal(settings(), token[:10] + "." + token[10:]) == "invalid"


def test_another_key_refuses_and_rotation_keeps_old_links() -> None:
    token = make_token(settings(KEY_A), ORG, CUSTOMER, 5000)
    assert refusal(settings(KEY_B), token) == "invalid"
    rotated = settings(f"{KEY_B},{KEY_A}")
    assert read_token(rotated, token, now=1).customer_id == CUSTOMER


def test_url() -> None:
    s = settings(public_url="https://b.example/", portal_link_ttl_hours=3)
    url = portal_url(s, ORG, CUSTOMER, now=1000)
    assert url.startswith("https://b.example/portal/")
    assert read_token(s, url.rsplit("/", 1)[1], now=1000).expires == 1000 + 3 * 3600


def test_form_token_is_per_link() -> None:
    first = make_token(settings(), ORG, CUSTOMER, 5000)
    second = make_token(settings(), ORG, CUSTOMER, 6000)
    assert form_token_ok(settings(), first, form_token(settings(), first))
    assert not form_token_ok(settings(), second, form_token(settings(), first))
    assert not form_token_ok(settings(), first, "")
