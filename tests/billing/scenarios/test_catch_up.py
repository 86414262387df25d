"""Backdated subscriptions caught up in one run, pay-in-advance first invoices, arrears vs advance."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from billow.models.invoices import Invoice
from tests.billing.scenarios.helpers import periodic, rows, run, starting, step, sub, usage, world


def test_weekly_anniversary_twenty_weeks_in_one_run(factory, session) -> None:
    w = world(
        session,
        started_at="2024-01-03T10:00:00",
        interval="weekly",
        billing_time="anniversary",
        amount_cents=700,
    )
    for week in range(20):
        w.event(session, (date(2024, 1, 4) + timedelta(weeks=week)).isoformat(), week + 1)
    session.commit()
    # 20 Wednesdays after Jan 3 (the 20th is May 22); the run happens later on May 23.
    assert run(factory, "2024-05-23T00:00:00") == 20
    assert run(factory, "2024-05-23T00:00:00") == 0
    expected = [
        periodic((date(2024, 1, 10) + timedelta(weeks=k)).isoformat(), sub(700), usage(100 * (k + 1)))
        for k in range(20)
    ]
    assert rows(factory) == expected
    with factory() as s:
        numbers = s.scalars(select(Invoice.sequential_id).order_by(Invoice.issuing_date)).all()
    assert numbers == list(range(1, 21))  # numbered in period order


def test_monthly_calendar_fourteen_months(factory, session) -> None:
    world(session, started_at="2023-01-15", amount_cents=3100, charge_model=None)
    session.commit()
    assert run(factory, "2024-03-05") == 14
    # Jan 15-31 2023 = 17/31 x 3100 = 1700, then 13 whole months (Feb 2023 ... Feb 2024, leap February too).
    fees = [row.fees for row in rows(factory)]
    assert fees == [[sub(1700)]] + [[sub(3100)]] * 13
    assert sum(row.total_amount_cents for row in rows(factory)) == 1700 + 13 * 3100
    assert [row.issuing_date for row in rows(factory)][::13] == ["2023-02-01", "2024-03-01"]


def test_daily_month_in_one_run(factory, session) -> None:
    w = world(session, started_at="2024-02-01", interval="daily", amount_cents=100)
    w.event(session, "2024-02-29T23:59:59", 7)
    session.commit()
    assert run(factory, "2024-03-01") == 29
    billed = rows(factory)
    assert billed[-1] == periodic("2024-03-01", sub(100), usage(700))
    assert sum(row.fees_amount_cents for row in billed) == 29 * 100 + 700


def test_in_advance_catch_up(factory, session) -> None:
    # Started Jan 15 in advance: the first invoice (at the start) bills Jan 15-31 = 17/31 x 3100 = 1700;
    # each month start bills that month's fee and the previous month's usage.
    w = world(session, started_at="2024-01-15", amount_cents=3100, pay_in_advance=True)
    w.event(session, "2024-01-20", 1)
    w.event(session, "2024-02-20", 2)
    w.event(session, "2024-03-20", 3)
    session.commit()
    assert run(factory, "2024-04-15") == 4
    assert rows(factory) == [
        starting("2024-01-15", sub(1700)),
        periodic("2024-02-01", sub(3100), usage(100)),
        periodic("2024-03-01", sub(3100), usage(200)),
        periodic("2024-04-01", sub(3100), usage(300)),
    ]


def test_in_advance_first_invoice_at_start(factory, session) -> None:
    # Quarterly anniversary in advance: the first quarter is whole (9100) and billed when it starts.
    w = world(
        session,
        started_at="2024-02-10T15:00:00",
        interval="quarterly",
        billing_time="anniversary",
        amount_cents=9100,
        pay_in_advance=True,
    )
    w.event(session, "2024-03-01", 4)
    session.commit()
    step(factory, "2024-02-10T15:00:00")
    # Anniversary boundaries are at local midnight of the anniversary date.
    step(factory, "2024-05-10")
    assert rows(factory) == [
        starting("2024-02-10", sub(9100)),
        periodic("2024-05-10", sub(9100), usage(400)),
    ]


def test_arrears_and_advance_side_by_side(factory, session) -> None:
    # Same plan fee and usage; arrears bills each period's fee at its end, advance at its start.
    arrears = world(session, started_at="2024-01-15", amount_cents=3100, external_id="arrears")
    advance = world(
        session,
        started_at="2024-01-15",
        amount_cents=3100,
        pay_in_advance=True,
        external_id="advance",
        org=arrears.org,
    )
    for w in (arrears, advance):
        w.event(session, "2024-01-20", 1)
        w.event(session, "2024-02-20", 2)
    session.commit()
    assert run(factory, "2024-03-01") == 2 + 3
    assert rows(factory, arrears.subscription) == [
        periodic("2024-02-01", sub(1700), usage(100)),
        periodic("2024-03-01", sub(3100), usage(200)),
    ]
    assert rows(factory, advance.subscription) == [
        starting("2024-01-15", sub(1700)),
        periodic("2024-02-01", sub(3100), usage(100)),
        periodic("2024-03-01", sub(3100), usage(200)),
    ]


def test_future_instant_bills_nothing_before_start(factory, session) -> None:
    world(session, started_at="2024-06-01", amount_cents=3100, pay_in_advance=True)
    session.commit()
    assert run(factory, "2024-05-31T23:59:59") == 0
    assert run(factory, "2024-06-01") == 1


def test_yearly_in_advance_with_monthly_charges(factory, session) -> None:
    # Starting invoice: Nov 15 - Dec 31 2024 = 47/366 x 36600 = 4700. Usage monthly; the 2025 fee (whole,
    # 36600 although 2025 has 365 days) in advance on Jan 1 with the December usage.
    w = world(
        session,
        started_at="2024-11-15",
        interval="yearly",
        amount_cents=36600,
        pay_in_advance=True,
        bill_charges_monthly=True,
    )
    w.event(session, "2024-11-20", 1)
    w.event(session, "2024-12-20", 2)
    w.event(session, "2025-01-20", 3)
    session.commit()
    for due in ("2024-11-15", "2024-12-01", "2025-01-01", "2025-02-01"):
        step(factory, due)
    assert rows(factory) == [
        starting("2024-11-15", sub(4700)),
        periodic("2024-12-01", usage(100)),
        periodic("2025-01-01", sub(36600), usage(200)),
        periodic("2025-02-01", usage(300)),
    ]


def test_weekly_in_advance_in_paris(factory, session) -> None:
    # Started Thursday Jan 4 2024 at 23:30 Paris (22:30Z): Thu-Sun = 4/7 x 700 = 400 at once; the next
    # Monday (Jan 8 00:00 CET = Jan 7 23:00Z) the whole next week and the first week's usage.
    w = world(
        session,
        started_at="2024-01-04T22:30:00",
        interval="weekly",
        amount_cents=700,
        pay_in_advance=True,
        timezone="Europe/Paris",
    )
    w.event(session, "2024-01-07T22:59:59", 2)  # Sunday 23:59:59 CET: first week
    session.commit()
    step(factory, "2024-01-04T22:30:00")
    step(factory, "2024-01-07T23:00:00")
    assert rows(factory) == [
        starting("2024-01-04", sub(400)),
        periodic("2024-01-08", sub(700), usage(200)),
    ]


def test_events_outside_the_subscription_life_are_not_billed(factory, session) -> None:
    w = world(session, started_at="2024-01-15T12:00:00", amount_cents=3100)
    w.event(session, "2024-01-15T11:59:59", 50)  # before the start
    w.event(session, "2024-01-15T12:00:00", 1)
    session.commit()
    step(factory, "2024-02-01")
    assert rows(factory) == [periodic("2024-02-01", sub(1700), usage(100))]
