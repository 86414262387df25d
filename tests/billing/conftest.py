"""The billing tests subscribe in the past (2023, 2024) and bill the periods since: they opt in to
billing backdated periods (``tests/billing/test_backdated.py`` checks the default, Lago's)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _bills_backdated_periods(bill_backdated_periods: None) -> None:
    """Every test here bills the past of its backdated subscriptions on purpose."""
