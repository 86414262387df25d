from __future__ import annotations

from collections.abc import Iterator

import pytest

from billow.providers.interface import ProviderContext
from tests.fixtures.standins.gocardless import FakeGoCardless
from tests.providers.gocardless.helpers import make_ctx


@pytest.fixture
def gocardless() -> Iterator[FakeGoCardless]:
    with FakeGoCardless() as standin:
        yield standin


@pytest.fixture
def ctx(gocardless: FakeGoCardless) -> ProviderContext:
    return make_ctx(gocardless)
