"""Metering tests: a database error in the usage-rollup path fails the test instead of silently falling
back to the plain aggregation (:data:`billow.metering.rollups.RAISE_ERRORS`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from billow.metering import rollups


@pytest.fixture(autouse=True)
def _rollup_errors_raise() -> Iterator[None]:
    rollups.RAISE_ERRORS = True
    yield
    rollups.RAISE_ERRORS = False
