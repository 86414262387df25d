"""Calendar and anniversary billing for every plan interval, in arrears, through whole cycles (UTC).

Each case starts a subscription, puts one usage event in each period (a value of N at 1.00 per unit
bills N x 100 cents), and bills at each boundary: nothing is due a second before it, exactly one
invoice at it. Plan fees are chosen so a day is a round number of cents.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.billing.scenarios.helpers import Row, periodic, rows, step, sub, usage, world
from tests.fixtures.factories import at


@dataclass
class Case:
    interval: str
    billing_time: str
    amount_cents: int
    started_at: str
    events: list[tuple[str, int]]
    expected: list[Row]
    """One row per boundary; the boundary is its issuing date at 00:00 UTC."""
    bill_charges_monthly: bool | None = None


CASES = {
    # Monday weeks. Started Wednesday 2024-01-03: Jan 3-7 = 5 of 7 days x 700 = 500.
    "weekly-calendar": Case(
        "weekly",
        "calendar",
        700,
        "2024-01-03T09:00:00",
        [("2024-01-05", 1), ("2024-01-10", 2), ("2024-01-20", 3)],
        [
            periodic("2024-01-08", sub(500), usage(100)),
            periodic("2024-01-15", sub(700), usage(200)),
            periodic("2024-01-22", sub(700), usage(300)),
        ],
    ),
    # Wednesday-to-Wednesday weeks from the start: every period is full.
    "weekly-anniversary": Case(
        "weekly",
        "anniversary",
        700,
        "2024-01-03T09:00:00",
        [("2024-01-05", 1), ("2024-01-12", 2), ("2024-01-20", 3)],
        [
            periodic("2024-01-10", sub(700), usage(100)),
            periodic("2024-01-17", sub(700), usage(200)),
            periodic("2024-01-24", sub(700), usage(300)),
        ],
    ),
    # Jan 15-31 = 17 of 31 days x 3100 = 1700; February (29 days) and March are full.
    "monthly-calendar": Case(
        "monthly",
        "calendar",
        3100,
        "2024-01-15T00:00:00",
        [("2024-01-20", 1), ("2024-02-10", 2), ("2024-03-10", 3)],
        [
            periodic("2024-02-01", sub(1700), usage(100)),
            periodic("2024-03-01", sub(3100), usage(200)),
            periodic("2024-04-01", sub(3100), usage(300)),
        ],
    ),
    "monthly-anniversary": Case(
        "monthly",
        "anniversary",
        3100,
        "2024-01-15T10:00:00",
        [("2024-01-20", 1), ("2024-02-20", 2), ("2024-03-20", 3)],
        [
            periodic("2024-02-15", sub(3100), usage(100)),
            periodic("2024-03-15", sub(3100), usage(200)),
            periodic("2024-04-15", sub(3100), usage(300)),
        ],
    ),
    # Q1 2024 = 31 + 29 + 31 = 91 days; Feb 10 - Mar 31 = 20 + 31 = 51 days: 51/91 x 9100 = 5100.
    "quarterly-calendar": Case(
        "quarterly",
        "calendar",
        9100,
        "2024-02-10T00:00:00",
        [("2024-03-01", 1), ("2024-05-01", 2), ("2024-08-01", 3)],
        [
            periodic("2024-04-01", sub(5100), usage(100)),
            periodic("2024-07-01", sub(9100), usage(200)),
            periodic("2024-10-01", sub(9100), usage(300)),
        ],
    ),
    "quarterly-anniversary": Case(
        "quarterly",
        "anniversary",
        9100,
        "2024-02-10T00:00:00",
        [("2024-03-01", 1), ("2024-06-01", 2), ("2024-09-01", 3)],
        [
            periodic("2024-05-10", sub(9100), usage(100)),
            periodic("2024-08-10", sub(9100), usage(200)),
            periodic("2024-11-10", sub(9100), usage(300)),
        ],
    ),
    # H1 2024 = 182 days; Mar 1 - Jun 30 = 31 + 30 + 31 + 30 = 122 days: 122/182 x 18200 = 12200.
    "semiannual-calendar": Case(
        "semiannual",
        "calendar",
        18200,
        "2024-03-01T00:00:00",
        [("2024-04-01", 1), ("2024-08-01", 2), ("2025-02-01", 3)],
        [
            periodic("2024-07-01", sub(12200), usage(100)),
            periodic("2025-01-01", sub(18200), usage(200)),
            periodic("2025-07-01", sub(18200), usage(300)),
        ],
    ),
    "semiannual-anniversary": Case(
        "semiannual",
        "anniversary",
        18200,
        "2024-03-01T00:00:00",
        [("2024-04-01", 1), ("2024-10-01", 2), ("2025-04-01", 3)],
        [
            periodic("2024-09-01", sub(18200), usage(100)),
            periodic("2025-03-01", sub(18200), usage(200)),
            periodic("2025-09-01", sub(18200), usage(300)),
        ],
    ),
    # 2024 has 366 days; Jul 1 - Dec 31 = 184 days: 184/366 x 36600 = 18400.
    "yearly-calendar": Case(
        "yearly",
        "calendar",
        36600,
        "2024-07-01T00:00:00",
        [("2024-08-01", 1), ("2025-06-01", 2)],
        [
            periodic("2025-01-01", sub(18400), usage(100)),
            periodic("2026-01-01", sub(36600), usage(200)),
        ],
    ),
    "yearly-anniversary": Case(
        "yearly",
        "anniversary",
        36600,
        "2024-07-01T00:00:00",
        [("2024-08-01", 1), ("2025-08-01", 2)],
        [
            periodic("2025-07-01", sub(36600), usage(100)),
            periodic("2026-07-01", sub(36600), usage(200)),
        ],
    ),
    # Billow's daily interval: a day started at noon is one (inclusive) day of one: the full 100.
    "daily-calendar": Case(
        "daily",
        "calendar",
        100,
        "2024-01-01T12:00:00",
        [("2024-01-01T13:00:00", 1), ("2024-01-02", 2), ("2024-01-03T23:59:59", 3)],
        [
            periodic("2024-01-02", sub(100), usage(100)),
            periodic("2024-01-03", sub(100), usage(200)),
            periodic("2024-01-04", sub(100), usage(300)),
        ],
    ),
    "daily-anniversary": Case(
        "daily",
        "anniversary",
        100,
        "2024-01-01T12:00:00",
        [("2024-01-01T13:00:00", 1), ("2024-01-02", 2), ("2024-01-03T23:59:59", 3)],
        [
            periodic("2024-01-02", sub(100), usage(100)),
            periodic("2024-01-03", sub(100), usage(200)),
            periodic("2024-01-04", sub(100), usage(300)),
        ],
    ),
    # Yearly fee, monthly usage. The 2024 fee (Nov 15 - Dec 31 = 16 + 31 = 47 of 366 days x 36600 =
    # 4700) comes with the December usage on January 1st; the other months bill usage only.
    "yearly-calendar-monthly-charges": Case(
        "yearly",
        "calendar",
        36600,
        "2024-11-15T00:00:00",
        [("2024-11-20", 1), ("2024-12-10", 2), ("2025-01-10", 3)],
        [
            periodic("2024-12-01", usage(100)),
            periodic("2025-01-01", sub(4700), usage(200)),
            periodic("2025-02-01", usage(300)),
        ],
        bill_charges_monthly=True,
    ),
    # Semiannual fee on Jan 10 / Jul 10, usage monthly on the 10th: six usage invoices, the sixth with
    # the (full) fee, then usage only again.
    "semiannual-anniversary-monthly-charges": Case(
        "semiannual",
        "anniversary",
        18200,
        "2024-01-10T00:00:00",
        [(f"2024-{month:02d}-15", month) for month in range(1, 8)],
        [
            periodic("2024-02-10", usage(100)),
            periodic("2024-03-10", usage(200)),
            periodic("2024-04-10", usage(300)),
            periodic("2024-05-10", usage(400)),
            periodic("2024-06-10", usage(500)),
            periodic("2024-07-10", sub(18200), usage(600)),
            periodic("2024-08-10", usage(700)),
        ],
        bill_charges_monthly=True,
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_whole_cycles(factory, session, case: Case) -> None:
    w = world(
        session,
        started_at=case.started_at,
        interval=case.interval,
        billing_time=case.billing_time,
        amount_cents=case.amount_cents,
        bill_charges_monthly=case.bill_charges_monthly,
    )
    for timestamp, value in case.events:
        w.event(session, timestamp, value)
    session.commit()
    for row in case.expected:
        step(factory, at(row.issuing_date))
    assert rows(factory) == case.expected
    # Billing again at the last boundary changes nothing.
    assert rows(factory) == case.expected


def test_bill_charges_monthly_ignored_for_monthly_plans(factory, session) -> None:
    # Lago accepts the flag only on yearly/semiannual plans; on a monthly plan usage follows the plan.
    w = world(session, started_at="2024-01-01", amount_cents=3100, bill_charges_monthly=True)
    w.event(session, "2024-01-10", 1)
    session.commit()
    step(factory, "2024-02-01")
    assert rows(factory) == [periodic("2024-02-01", sub(3100), usage(100))]
