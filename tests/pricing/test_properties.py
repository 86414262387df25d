"""Properties of the charge models, checked on generated inputs (hypothesis)."""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from billow.pricing import Aggregation, price, price_in_advance

PRICES = st.decimals(min_value=0, max_value=1000, places=4)
UNITS = st.decimals(min_value=0, max_value=500, places=3)
POSITIVE_EVENT = st.decimals(min_value=Decimal("0.001"), max_value=100, places=3)


def units_of(value: Decimal | int) -> Aggregation:
    return Aggregation(units=Decimal(value))


def cost(model: str, properties: dict[str, Any], units: Decimal | int) -> Decimal:
    return price(model, properties, units_of(units), currency="USD").amount


@st.composite
def graduated_properties(draw: st.DrawFn) -> dict[str, Any]:
    """Valid graduated ranges in either layout: inclusive integers (next from = previous to + 1) or
    adjacent decimals (next from = previous to)."""
    adjacent = draw(st.booleans())
    count = draw(st.integers(min_value=1, max_value=5))
    ranges = []
    start = Decimal(0)
    for index in range(count):
        last = index == count - 1
        if adjacent:
            width = draw(st.decimals(min_value=Decimal("0.01"), max_value=50, places=2))
        else:
            width = Decimal(draw(st.integers(min_value=1, max_value=50)))
        end = None if last else start + width
        ranges.append(
            {
                "from_value": str(start),
                "to_value": None if end is None else str(end),
                "per_unit_amount": str(draw(PRICES)),
                "flat_amount": str(draw(PRICES)),
            }
        )
        if end is not None:
            start = end if adjacent else end + 1
    return {"graduated_ranges": ranges}


@given(graduated_properties(), UNITS, UNITS)
def test_graduated_is_monotone(properties: dict[str, Any], a: Decimal, b: Decimal) -> None:
    low, high = sorted((a, b))
    assert cost("graduated", properties, low) <= cost("graduated", properties, high)


@st.composite
def volume_properties(draw: st.DrawFn) -> dict[str, Any]:
    count = draw(st.integers(min_value=1, max_value=5))
    ranges = []
    start = 0
    for index in range(count):
        end = None if index == count - 1 else start + draw(st.integers(min_value=1, max_value=100))
        ranges.append(
            {
                "from_value": start,
                "to_value": end,
                "per_unit_amount": str(draw(PRICES)),
                "flat_amount": str(draw(PRICES)),
            }
        )
        if end is not None:
            start = end + 1
    return {"volume_ranges": ranges}


@given(volume_properties(), UNITS)
def test_volume_prices_all_units_at_the_single_matching_tier(
    properties: dict[str, Any], units: Decimal
) -> None:
    ceiled = units.to_integral_value(rounding=ROUND_CEILING)
    matching = [
        r
        for r in properties["volume_ranges"]
        if r["from_value"] <= ceiled and (r["to_value"] is None or units <= r["to_value"])
    ]
    assert len(matching) == 1
    tier = matching[0]
    expected = units * Decimal(tier["per_unit_amount"]) + Decimal(tier["flat_amount"])
    assert cost("volume", properties, units) == expected


@given(
    amount=PRICES,
    size=st.integers(min_value=1, max_value=25),
    free=st.integers(min_value=0, max_value=30),
    units=st.integers(min_value=1, max_value=400),
)
def test_package_is_a_step_function(amount: Decimal, size: int, free: int, units: int) -> None:
    properties = {"amount": str(amount), "package_size": size, "free_units": free}
    step = cost("package", properties, units) - cost("package", properties, units - 1)
    opens_a_package = units > free and (units - free - 1) % size == 0
    assert step == (amount if opens_a_package else 0)
    # Constant inside a package, fractional units included.
    if not opens_a_package:
        inside = Decimal(units) - Decimal("0.5")
        assert cost("package", properties, inside) == cost("package", properties, units)


@given(PRICES, UNITS, UNITS, st.integers(min_value=0, max_value=20))
def test_standard_is_linear(amount: Decimal, a: Decimal, b: Decimal, k: int) -> None:
    properties = {"amount": str(amount)}
    assert cost("standard", properties, a + b) == cost("standard", properties, a) + cost(
        "standard", properties, b
    )
    assert cost("standard", properties, a * k) == k * cost("standard", properties, a)
    assert cost("standard", properties, 0) == 0


def in_advance_total(
    model: str, properties: dict[str, Any], events: list[Decimal]
) -> tuple[Decimal, Decimal]:
    total = Decimal(0)
    fees = Decimal(0)
    for value in events:
        fees += price_in_advance(
            model, properties, units_of(total), units_of(total + value), currency="USD"
        ).amount
        total += value
    return fees, total


@given(PRICES, st.lists(POSITIVE_EVENT, min_size=1, max_size=15))
def test_standard_in_advance_fees_add_up_to_the_period_price(amount: Decimal, events: list[Decimal]) -> None:
    properties = {"amount": str(amount)}
    fees, total = in_advance_total("standard", properties, events)
    assert fees == cost("standard", properties, total)


@given(
    PRICES,
    st.integers(min_value=1, max_value=25),
    st.integers(min_value=0, max_value=30),
    st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=15),
)
def test_package_in_advance_fees_add_up_to_the_period_price(
    amount: Decimal, size: int, free: int, events: list[int]
) -> None:
    properties = {"amount": str(amount), "package_size": size, "free_units": free}
    fees, total = in_advance_total("package", properties, [Decimal(v) for v in events])
    assert fees == cost("package", properties, total)


@given(graduated_properties(), st.lists(POSITIVE_EVENT, min_size=1, max_size=15))
def test_graduated_in_advance_fees_add_up_to_the_period_price(
    properties: dict[str, Any], events: list[Decimal]
) -> None:
    fees, total = in_advance_total("graduated", properties, events)
    # The first range's flat amount is charged once, by the first event.
    assert fees == cost("graduated", properties, total)
