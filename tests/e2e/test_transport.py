"""The body-size limit and authentication-before-the-body against a real ``billow serve``: chunked bodies
(no ``Content-Length``) streamed by the client, the server's memory read from /proc."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from billow.config import Settings
from tests.e2e.conftest import Server

pytestmark = pytest.mark.e2e

MB = 1024 * 1024
LIMIT: int = Settings.model_fields["max_body_bytes"].default
#: How much the server's peak memory may grow while it refuses a large body.
MAX_GROWTH = 30 * MB


def chunked(prefix: bytes, size: int, chunk: int = MB) -> Iterator[bytes]:
    """``prefix`` then spaces, ``size`` bytes in all, as a generator (sent chunked)."""
    yield prefix
    left = size - len(prefix)
    while left > 0:
        yield b" " * min(chunk, left)
        left -= chunk


def _status(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} for {pid}")


class PeakMemory:
    """The growth of the server's peak RSS over a block (``clear_refs`` resets the peak, Linux)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.growth = 0

    def __enter__(self) -> PeakMemory:
        Path(f"/proc/{self.pid}/clear_refs").write_text("5")
        self.before = _status(self.pid, "VmRSS")
        return self

    def __exit__(self, *_exc: object) -> None:
        self.growth = _status(self.pid, "VmHWM") - self.before


def event_body(transaction_id: str) -> bytes:
    event = {"transaction_id": transaction_id, "external_subscription_id": "sub_x", "code": "calls"}
    return json.dumps({"events": [event]}).encode()


def post(server: Server, path: str, content: Iterator[bytes], key: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    return httpx.post(f"{server.base_url}/api/v1{path}", content=content, headers=headers, timeout=60)


@pytest.mark.parametrize("path", ["/events", "/events/batch", "/customers"])
def test_wrong_key_with_a_huge_chunked_body_is_refused_unread(server: Server, path: str) -> None:
    started = time.monotonic()
    with PeakMemory(server.pid) as memory:
        response = post(server, path, chunked(b'{"event": {"x": "', 60 * MB), "wrong_key")
    assert response.status_code == 401
    assert response.json() == {"status": 401, "error": "Unauthorized"}
    assert time.monotonic() - started < 30
    assert memory.growth < MAX_GROWTH, f"server peak RSS grew by {memory.growth / MB:.1f} MB"
    # The connection-level state is sane: the server goes on answering.
    assert httpx.get(f"{server.base_url}/health", timeout=10).status_code == 200


@pytest.mark.parametrize("path", ["/events/batch", "/customers"])
def test_valid_key_with_a_chunked_body_over_the_limit_is_413(server: Server, suffix: str, path: str) -> None:
    transaction_id = f"tx_over_{suffix}"
    with PeakMemory(server.pid) as memory:
        response = post(server, path, chunked(event_body(transaction_id), 60 * MB), server.api_key)
    assert response.status_code == 413
    assert response.json() == {"status": 413, "error": "Payload Too Large", "code": "payload_too_large"}
    assert response.headers["x-request-id"]
    assert memory.growth < LIMIT + MAX_GROWTH, f"server peak RSS grew by {memory.growth / MB:.1f} MB"
    found = httpx.get(
        f"{server.base_url}/api/v1/events/{transaction_id}",
        headers={"Authorization": f"Bearer {server.api_key}"},
        timeout=10,
    )
    assert found.status_code == 404


def test_valid_key_with_a_chunked_body_at_the_limit_is_accepted(server: Server, suffix: str) -> None:
    transaction_id = f"tx_at_{suffix}"
    response = post(server, "/events/batch", chunked(event_body(transaction_id), LIMIT), server.api_key)
    assert response.status_code == 200, response.text
    assert response.json()["events"][0]["transaction_id"] == transaction_id
    response = post(
        server, "/events/batch", chunked(event_body(f"{transaction_id}_1"), LIMIT + 1), server.api_key
    )
    assert response.status_code == 413
