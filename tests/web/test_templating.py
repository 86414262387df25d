"""The ``units`` filter (:func:`billow.web.templating.units_text`): the dashboard's and the portal's
quantities (units, wallet credits)."""

from __future__ import annotations

from decimal import Decimal

from billow.web.templating import environment, units_text


def test_units_text() -> None:
    assert units_text(Decimal("1500.0")) == "1,500"
    assert units_text("140.0") == "140"
    assert units_text("20.0") == "20"
    assert units_text("12.50") == "12.5"
    assert units_text("1234567.125") == "1,234,567.125"
    assert units_text(Decimal("1E+3")) == "1,000"
    assert units_text("0.00") == "0"
    assert units_text("-2.50") == "-2.5"


def test_units_filter() -> None:
    template = environment().from_string("{{ value|units }} credits")
    assert template.render(value="1500.0") == "1,500 credits"
