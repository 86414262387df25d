"""dynamic: the events carry their price (Lago's dynamic_service_spec; reference §3.7)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billow.pricing import price
from tests.pricing.helpers import agg


@pytest.mark.parametrize(
    ("units", "cents", "currency", "amount", "unit_amount"),
    [
        ("20", "40.2", "USD", "0.402", "0.0201"),
        ("0", "40.2", "USD", "0", "0"),
        ("20", "40.2", "JPY", "40.2", "2.01"),
        ("4", "402", "KWD", "0.402", "0.1005"),
    ],
)
def test_dynamic(units: str, cents: str, currency: str, amount: str, unit_amount: str) -> None:
    result = price("dynamic", {}, agg(units, precise_total_amount_cents=cents), currency=currency)
    assert result.amount == Decimal(amount)
    assert result.unit_amount == Decimal(unit_amount)
    assert result.amount_details == {}
