from __future__ import annotations

from collections.abc import Iterator

import pytest

from billow.providers.interface import ProviderContext
from tests.fixtures.standins.paypal import FakePayPal
from tests.providers.paypal.helpers import make_ctx


@pytest.fixture
def paypal() -> Iterator[FakePayPal]:
    with FakePayPal() as standin:
        yield standin


@pytest.fixture
def ctx(paypal: FakePayPal) -> ProviderContext:
    return make_ctx(paypal)
