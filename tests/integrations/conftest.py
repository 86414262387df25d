"""The test providers installed through a real ``billow.providers`` entry point (a ``*.dist-info`` in a
temporary folder on ``sys.path``), a stand-in of their API, and small backoffs."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from billow.config import get_settings
from billow.providers import registry
from tests.conftest import Api
from tests.fixtures.receiver import Receiver
from tests.integrations.providers import FakeProvider
from tests.webhooks.test_delivery import add_endpoint


def install_entry_points(folder: Path, distribution: str, entries: dict[str, str]) -> None:
    info = folder / f"{distribution}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 1.0\n")
    lines = "".join(f"{name} = {target}\n" for name, target in entries.items())
    (info / "entry_points.txt").write_text(f"[billow.providers]\n{lines}")


@pytest.fixture(scope="session")
def test_providers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    folder = tmp_path_factory.mktemp("plugins")
    install_entry_points(
        folder,
        "billow_test_providers",
        {
            "testpay": "tests.integrations.providers:TestPay",
            "testbooks": "tests.integrations.providers:TestBooks",
            "testcrm": "tests.integrations.providers:TestCrm",
        },
    )
    sys.path.append(str(folder))
    registry.reload()
    yield
    sys.path.remove(str(folder))
    registry.reload()


@pytest.fixture(autouse=True)
def small_backoffs(monkeypatch: pytest.MonkeyPatch, test_providers: None) -> Iterator[None]:
    monkeypatch.setenv("BILLOW_INTEGRATION_BACKOFF", "1")
    monkeypatch.setenv("BILLOW_INTEGRATION_MAX_ATTEMPTS", "3")
    monkeypatch.setenv("BILLOW_INTEGRATION_TIMEOUT", "0.5")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.fixture
def receiver(api: Api) -> Iterator[Receiver]:
    """A local receiver of the organization's webhooks."""
    found = Receiver().start()
    add_endpoint(api, found.url)
    yield found
    found.stop()


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as standin:
        yield standin


def add_integration(
    api: Api, type_: str, code: str, fake: FakeProvider | None, **extra: Any
) -> dict[str, Any]:
    secrets = {"api_key": "sk_test_1"}
    settings: dict[str, Any] = {"tenant": "t1"} if type_ == "testbooks" else {}
    if type_ == "testpay":
        secrets["webhook_secret"] = "whsec_1"
    body = {
        "type": type_,
        "code": code,
        "name": code.title(),
        "settings": settings,
        "secrets": secrets,
        "api_base_url": fake.url if fake is not None else None,
        **extra,
    }
    response = api.post("/integrations", {"integration": body})
    assert response.status_code == 200, response.text
    return dict(response.json()["integration"])
