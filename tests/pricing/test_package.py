"""package: Lago's package_service_spec and current-usage scenario (reference §3.4, §10 rows 5 and 6)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billow.kit.money import to_minor_units
from billow.pricing import price
from tests.pricing.helpers import agg


def package(free_units: int = 0, amount: str = "100", size: int = 10) -> dict[str, object]:
    return {"amount": amount, "package_size": size, "free_units": free_units}


@pytest.mark.parametrize(
    ("free_units", "amount", "unit_amount", "lago_rounded", "details"),
    [
        (
            0,
            "1300",
            "10.743801652892562",  # 1300 / 121 paid units
            "10.74",
            {
                "free_units": "0.0",
                "paid_units": "121.0",
                "per_package_size": 10,
                "per_package_unit_amount": "100.0",
            },
        ),
        (
            10,
            "1200",
            "10.810810810810811",  # 1200 / 111 paid units
            "10.81",
            {
                "free_units": "10.0",
                "paid_units": "111.0",
                "per_package_size": 10,
                "per_package_unit_amount": "100.0",
            },
        ),
        (
            200,
            "0",
            "0",
            "0",
            {
                "free_units": "200.0",
                "paid_units": "0.0",
                "per_package_size": 10,
                "per_package_unit_amount": "100.0",
            },
        ),
    ],
)
def test_package_121_units(
    free_units: int, amount: str, unit_amount: str, lago_rounded: str, details: dict[str, object]
) -> None:
    result = price("package", package(free_units), agg(121), currency="USD")
    assert result.amount == Decimal(amount)
    assert result.units == Decimal(121)
    assert result.unit_amount == Decimal(unit_amount)
    assert result.unit_amount.quantize(Decimal("0.01")) == Decimal(lago_rounded)
    assert result.amount_details == details


@pytest.mark.parametrize(
    ("free_units", "events", "amount_cents"),
    [(0, 3, 10_000), (0, 15, 20_000), (5, 3, 0), (5, 12, 10_000)],
)
def test_package_count_scenario(free_units: int, events: int, amount_cents: int) -> None:
    # count_agg: units = number of events.
    result = price("package", package(free_units), agg(events, events_count=events), currency="USD")
    assert to_minor_units(result.amount, "USD") == amount_cents


def test_package_zero_units_details() -> None:
    result = price("package", package(5), agg(0), currency="USD")
    assert result.amount == 0
    assert result.unit_amount == 0
    assert result.amount_details == {
        "free_units": "0.0",
        "paid_units": "0.0",
        "per_package_size": 0,
        "per_package_unit_amount": "0.0",
    }


@pytest.mark.parametrize(
    ("units", "amount"),
    [("1", "100"), ("10", "100"), ("10.5", "200"), ("11", "200"), ("20", "200"), ("21", "300")],
)
def test_a_package_counts_from_its_first_unit(units: str, amount: str) -> None:
    assert price("package", package(), agg(units), currency="USD").amount == Decimal(amount)


def test_package_size_must_be_positive() -> None:
    with pytest.raises(ValueError):
        price("package", package(size=0), agg(1), currency="USD")
