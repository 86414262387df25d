"""The billing tests subscribe in the past (2023, 2024) and bill the periods since: they opt in to
billing backdated periods (``tests/billing/test_backdated.py`` checks the default, Lago's)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _bills_backdated_periods(bill_backdated_periods: None) -> None:
    """Every test here bills the past of its backdated subscriptions on purpose."""


@pytest.fixture(autouse=True)
def _invoices_read_only_the_locked_columns(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """PostgreSQL: the lock statement of an invoice loads some columns of the subscription and the
    customer (``billow.billing.locks``); reading another one while writing the invoice raises here
    (``BILLOW_STRICT_INVOICE_COLUMNS``; in production it would cost one more query per invoice)."""
    from billow.config import get_settings

    monkeypatch.setenv("BILLOW_STRICT_INVOICE_COLUMNS", "true")
    get_settings.cache_clear()
    yield
    monkeypatch.delenv("BILLOW_STRICT_INVOICE_COLUMNS")
    get_settings.cache_clear()
