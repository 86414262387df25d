"""Passwords (argon2id, ``argon2-cffi``'s defaults: RFC 9106's low-memory profile) and random tokens."""

from __future__ import annotations

import hashlib
import secrets
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

#: Shortest password accepted.
MIN_PASSWORD_LENGTH = 12
#: Longest password accepted (argon2 takes any length; this bounds the work of one request).
MAX_PASSWORD_LENGTH = 1024

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(digest: str, password: str) -> bool:
    try:
        return _hasher.verify(digest, password)
    except (VerificationError, InvalidHashError):
        return False


@cache
def _dummy_digest() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))


def verify_nothing(password: str) -> None:
    """Spend the time of a verification when there is no member to check (an unknown e-mail), so that
    the answer's timing does not tell whether the e-mail exists."""
    verify_password(_dummy_digest(), password)


def new_token() -> str:
    """256 bits from the OS's CSPRNG, URL-safe."""
    return secrets.token_urlsafe(32)


def digest_token(token: str) -> str:
    """What is stored of a session or invitation token: its SHA-256, hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_password() -> str:
    """A random password for a bootstrap administrator (or a reset): 20 URL-safe characters."""
    return secrets.token_urlsafe(15)
