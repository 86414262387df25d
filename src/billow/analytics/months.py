"""Pure month arithmetic and MRR normalization of the analytics routes (no database)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from billow.kit.money import round_minor_units

#: Months a plan interval's subscription fee covers (Lago spreads it evenly over them).
INTERVAL_MONTHS = {"monthly": 1, "quarterly": 3, "semiannual": 6, "yearly": 12}
#: Weeks in a month (52 / 12), the multiplier of an average weekly subscription fee.
WEEKS_PER_MONTH = Decimal(52) / Decimal(12)

Month = tuple[int, int]


def add_months(month: Month, count: int) -> Month:
    """``month`` moved by ``count`` months (negative goes back)."""
    index = month[0] * 12 + (month[1] - 1) + count
    return index // 12, index % 12 + 1


def window_start(today: date, months: int | None) -> date | None:
    """First day of the oldest month shown when ``months`` (the current one included) are asked for."""
    if months is None:
        return None
    year, month = add_months((today.year, today.month), -(months - 1))
    return date(year, month, 1)


def month_label(month: Month) -> str:
    """Lago's ``month``: the month's first instant, ``2023-11-01T00:00:00.000Z``."""
    return f"{month[0]:04d}-{month[1]:02d}-01T00:00:00.000Z"


def spread(amount: Decimal, first: Month, interval: str) -> list[tuple[Month, Decimal]]:
    """A subscription fee of ``interval`` spread evenly over the months it covers, from ``first``."""
    count = INTERVAL_MONTHS[interval]
    share = amount / count
    return [(add_months(first, i), share) for i in range(count)]


def weekly_mrr(fees: Iterable[Decimal]) -> Decimal:
    """A month's MRR of a weekly subscription: its average weekly fee in the month times 52 / 12."""
    amounts = list(fees)
    if not amounts:
        return Decimal(0)
    return sum(amounts, Decimal(0)) / len(amounts) * WEEKS_PER_MONTH


def to_cents(amount: Decimal) -> int:
    """A month's figure at the edge: integer minor units, half-up."""
    return round_minor_units(amount)


def period(day: date, granularity: str) -> tuple[date, date]:
    """First and last days of the ``daily``, ``weekly`` (Monday-Sunday) or ``monthly`` period of ``day``."""
    if granularity == "daily":
        return day, day
    if granularity == "weekly":
        monday = date.fromordinal(day.toordinal() - day.weekday())
        return monday, date.fromordinal(monday.toordinal() + 6)
    first = date(day.year, day.month, 1)
    year, month = add_months((day.year, day.month), 1)
    return first, date.fromordinal(date(year, month, 1).toordinal() - 1)


def units_text(units: Decimal) -> str:
    """Units as Lago writes them: a decimal string with at least one decimal (``3`` -> ``3.0``)."""
    text = format(units.normalize(), "f")
    return text if "." in text else f"{text}.0"
