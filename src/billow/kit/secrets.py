"""Secrets at rest (docs/decisions/0007): a secret Billow must use again (a webhook signing key, later a
payment provider's API key) is stored *sealed* with Fernet (AES-128-CBC and HMAC-SHA256, from
``cryptography``) under the key of the settings, never in clear and never in an API answer.

The key: ``BILLOW_SECRET_KEY`` (Fernet keys, comma-separated: the first seals, every one opens, so a key
can be rotated). Unset, a key is generated once into ``data_dir/secret.key`` (mode 0600) next to the
embedded database, so a fresh ``billow serve`` needs no configuration; in ``production`` (``BILLOW_ENV``,
or PostgreSQL without it) an unset key is refused: every process must share it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from functools import lru_cache
from pathlib import Path
from typing import Protocol

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class KeySettings(Protocol):
    """What sealing needs of :class:`billow.config.Settings` (passed in: ``kit`` reads no settings)."""

    @property
    def secret_key(self) -> str | None: ...

    @property
    def data_dir(self) -> Path: ...

    @property
    def is_development(self) -> bool: ...


class SecretKeyMissing(RuntimeError):
    """No ``BILLOW_SECRET_KEY`` where one is required."""


class SealedSecretUnreadable(RuntimeError):
    """A sealed value none of the configured keys opens (a lost or rotated-out key)."""


def seal(value: bytes, settings: KeySettings) -> str:
    """``value`` encrypted and authenticated with the current key (a url-safe text token)."""
    return _box(_keys(settings)).encrypt(value).decode("ascii")


def open_sealed(token: str, settings: KeySettings) -> bytes:
    """The value :func:`seal` sealed, with any configured key."""
    try:
        return _box(_keys(settings)).decrypt(token.encode("ascii"))
    except InvalidToken as error:
        raise SealedSecretUnreadable("a sealed secret cannot be opened with the configured keys") from error


def derived_keys(settings: KeySettings, purpose: str) -> list[bytes]:
    """Keys for ``purpose`` (e.g. signing links) derived from every configured key, the current one first:
    HMAC-SHA256 of ``purpose`` under the key, so the secret key itself never signs anything else."""
    return [
        hmac.new(key.encode("ascii"), purpose.encode("utf-8"), hashlib.sha256).digest()
        for key in _keys(settings)
    ]


def reseal(token: str, settings: KeySettings) -> str:
    """``token`` sealed again with the current (first) key, whichever configured key sealed it (key
    rotation: ``billow migrate --rotate-secrets``)."""
    try:
        return _box(_keys(settings)).rotate(token.encode("ascii")).decode("ascii")
    except InvalidToken as error:
        raise SealedSecretUnreadable("a sealed secret cannot be opened with the configured keys") from error


def _keys(settings: KeySettings) -> tuple[str, ...]:
    if settings.secret_key:
        keys = tuple(key.strip() for key in settings.secret_key.split(",") if key.strip())
        if keys:
            return keys
    if not settings.is_development:
        raise SecretKeyMissing(
            "BILLOW_SECRET_KEY is required in production (generate one with "
            '`python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"` '
            "and give every Billow process the same value)"
        )
    return (_key_file(settings.data_dir),)


def _key_file(data_dir: Path) -> str:
    """The key of ``data_dir/secret.key``, written once (0600) when absent."""
    path = data_dir / "secret.key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process wrote it first
            pass
        else:
            with os.fdopen(descriptor, "w") as file:
                file.write(Fernet.generate_key().decode("ascii"))
    return path.read_text().strip()


@lru_cache(maxsize=8)
def _box(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode("ascii")) for key in keys])
