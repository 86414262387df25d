"""Webhook signing keys through ``lago-python-client`` (``webhooks.public_key()`` decodes the base64 PEM)."""

from __future__ import annotations

import pytest
from lago_python_client.client import Client

pytestmark = pytest.mark.e2e


def test_public_key(lago: Client, other_lago: Client) -> None:
    pem = lago.webhooks.public_key()
    assert pem.startswith(b"-----BEGIN PUBLIC KEY-----")
    assert lago.webhooks.public_key() == pem
    assert other_lago.webhooks.public_key() != pem
