"""The billing tests subscribe in the past (2023, 2024) and bill the periods since: they opt in to
billing backdated periods (``tests/billing/test_backdated.py`` checks the default, Lago's), and check that
an invoice reads only the columns its lock statement loaded. Billing tests elsewhere (credit notes, past
usage) ask for both fixtures with ``pytestmark``."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _bills_backdated_periods(bill_backdated_periods: None) -> None:
    """Every test here bills the past of its backdated subscriptions on purpose."""


@pytest.fixture(autouse=True)
def _invoices_read_only_the_locked_columns(invoices_read_only_the_locked_columns: None) -> None:
    """Every invoice written here reads only the locked columns (root ``conftest.py``)."""
