"""Secrets at rest (:mod:`billow.kit.secrets`, docs/decisions/0007)."""

from __future__ import annotations

import stat

import pytest
from cryptography.fernet import Fernet

from billow.config import Settings
from billow.kit.secrets import SealedSecretUnreadable, SecretKeyMissing, open_sealed, seal

A, B = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def test_seal_and_open() -> None:
    settings = Settings(secret_key=A)
    token = seal(b"sk_live_123", settings)
    assert b"sk_live_123" not in token.encode()
    assert open_sealed(token, settings) == b"sk_live_123"


def test_rotation_the_first_key_seals_every_key_opens() -> None:
    old = seal(b"secret", Settings(secret_key=A))
    rotated = Settings(secret_key=f"{B},{A}")
    assert open_sealed(old, rotated) == b"secret"
    assert open_sealed(seal(b"new", rotated), Settings(secret_key=B)) == b"new"
    with pytest.raises(SealedSecretUnreadable):
        open_sealed(old, Settings(secret_key=B))


def test_embedded_key_file_written_once_private(tmp_path) -> None:
    settings = Settings(secret_key=None, data_dir=tmp_path, database_url=None, env=None)
    token = seal(b"x", settings)
    path = tmp_path / "secret.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = path.read_text()
    assert open_sealed(token, settings) == b"x"
    assert path.read_text() == key  # not rewritten


def test_production_requires_a_key(tmp_path) -> None:
    with pytest.raises(SecretKeyMissing):
        seal(b"x", Settings(secret_key=None, data_dir=tmp_path, env="production"))
    assert not (tmp_path / "secret.key").exists()
