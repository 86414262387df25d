"""The arithmetic of integrations, by hand."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from billow.config import Settings
from billow.integrations.jobs import backoff_seconds
from billow.integrations.snapshots import due_cents, unit_amount_cents


def test_backoff_doubles_up_to_the_cap() -> None:
    settings = Settings(integration_backoff=10, integration_backoff_cap=60)
    # 10 * 2**0 = 10, 10 * 2**1 = 20, 10 * 2**2 = 40, 10 * 2**3 = 80 -> capped at 60.
    assert [backoff_seconds(n, settings) for n in (1, 2, 3, 4)] == [10.0, 20.0, 40.0, 60.0]


def _invoice(total: Any, paid: Any) -> Any:
    return SimpleNamespace(total_amount_cents=total, total_paid_amount_cents=paid)


def test_due_cents() -> None:
    assert due_cents(_invoice(1000, 250)) == 750  # 1000 - 250
    assert due_cents(_invoice(1000, 1200)) == 0  # overpaid: nothing due, never negative
    assert due_cents(_invoice(1000, None)) == 1000  # a billing run's invoice: nothing paid yet
    assert due_cents(_invoice(1000, 250), 300) == 450  # 1000 - 250 paid - 300 offset by credit notes
    assert due_cents(_invoice(1000, 800), 300) == 0  # 1000 - 800 - 300 < 0: nothing due


def test_unit_amount_cents_keeps_sub_cent_precision() -> None:
    assert unit_amount_cents(Decimal(1000), Decimal(4)) == Decimal(250)  # 1000 / 4
    assert unit_amount_cents(Decimal(1000), Decimal(3)) == Decimal(1000) / Decimal(3)  # 333.33...
    assert unit_amount_cents(Decimal(500), Decimal(0)) == Decimal(500)  # no units: the amount
