"""A real ``billow serve`` subprocess per backend, driven through ``lago-python-client``.

SQLite runs the embedded default (no database URL, a data directory); PostgreSQL gets a throwaway
database. Tests share one server per backend, so they create objects with unique codes.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from lago_python_client.client import Client

from tests.conftest import _backends, create_throwaway_database


@dataclass
class Server:
    backend: str
    base_url: str
    api_key: str
    env: dict[str, str]
    pid: int = 0  # the server process (for /proc measurements)

    def client(self, api_key: str | None = None) -> Client:
        return Client(api_key=api_key or self.api_key, api_url=self.base_url)

    def billow(self, *args: str) -> str:
        """Run the ``billow`` CLI against this server's database."""
        result = subprocess.run(
            [*_billow_command(), *args], env=self.env, capture_output=True, text=True, timeout=60, check=True
        )
        return result.stdout


def _billow_command() -> list[str]:
    script = Path(sys.executable).parent / "billow"
    return [str(script)] if script.exists() else [sys.executable, "-m", "billow.cli"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session", params=_backends())
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from start_server(request.param, tmp_path_factory)


def start_server(
    backend: str, tmp_path_factory: pytest.TempPathFactory, extra_env: dict[str, str] | None = None
) -> Iterator[Server]:
    """Start ``billow serve`` on ``backend`` (a throwaway PostgreSQL database, or the embedded SQLite in
    a data directory), yield it once healthy, stop it."""
    tmp = tmp_path_factory.mktemp(f"serve-{backend}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BILLOW_")}
    env["BILLOW_DATA_DIR"] = str(tmp / "data")
    env.update(extra_env or {})
    drop = None
    if backend == "postgresql":
        database, drop = create_throwaway_database("postgresql", tmp)
        env["BILLOW_DATABASE_URL"] = database.url
        # PostgreSQL is production: its processes share a sealing key (docs/decisions/0007).
        env["BILLOW_SECRET_KEY"] = Fernet.generate_key().decode()
    api_key = "e2e_" + secrets.token_hex(16)
    env["BILLOW_API_KEY"] = api_key
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    env["BILLOW_PUBLIC_URL"] = base_url  # the links it hands out (documents) and its webhooks' issuer
    log_path = tmp / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*_billow_command(), "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        _wait_healthy(base_url, process, log_path)
        yield Server(backend, base_url, api_key, env, process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        if drop is not None:
            drop()


def _wait_healthy(base_url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"billow serve exited early:\n{log_path.read_text()}")
        try:
            if httpx.get(f"{base_url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"billow serve did not become healthy:\n{log_path.read_text()}")


@pytest.fixture(scope="session")
def lago(server: Server) -> Client:
    return server.client()


@pytest.fixture(scope="session")
def other_lago(server: Server) -> Client:
    """A second organization, created with ``billow organizations create``."""
    output = server.billow("organizations", "create", "--name", "Other Org")
    match = re.search(r"api key \(shown once, store it now\): (\S+)", output)
    assert match, output
    return server.client(match.group(1))


@pytest.fixture
def suffix() -> str:
    return uuid.uuid4().hex[:8]
