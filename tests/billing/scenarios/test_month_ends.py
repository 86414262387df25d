"""Anniversary periods from a day some months lack: the anchor day is kept, the boundary clamps to the
month's last day (Jan 31 -> Feb 29 -> Mar 31 -> Apr 30), and proration counts that period's days."""

from __future__ import annotations

from tests.billing.scenarios.helpers import periodic, rows, spans, step, sub, terminating, world
from tests.fixtures.factories import at


def test_jan_31_anniversary_in_a_leap_year(factory, session) -> None:
    world(session, started_at="2024-01-31", billing_time="anniversary", amount_cents=3100)
    session.commit()
    for boundary in ("2024-02-29", "2024-03-31", "2024-04-30", "2024-05-31", "2024-06-30"):
        step(factory, boundary)
    # Every period is whole, whatever its length (29, 31, 30, 31, 30 days): the plain 3100.
    assert rows(factory) == [
        periodic(day, sub(3100))
        for day in ("2024-02-29", "2024-03-31", "2024-04-30", "2024-05-31", "2024-06-30")
    ]
    assert [(s.from_datetime, s.to_datetime) for s in spans(factory)][:3] == [
        (at("2024-01-31"), at("2024-02-29")),
        (at("2024-02-29"), at("2024-03-31")),
        (at("2024-03-31"), at("2024-04-30")),
    ]


def test_jan_31_anniversary_terminated_in_february_2023(factory, session) -> None:
    world(
        session,
        started_at="2023-01-31",
        billing_time="anniversary",
        amount_cents=2800,
        terminated_at="2023-02-14T12:00:00",
    )
    session.commit()
    step(factory, "2023-02-14T12:00:00")
    # Period Jan 31 - Feb 28 (28 days); Jan 31 - Feb 14 inclusive = 15 days: 15/28 x 2800 = 1500.
    assert rows(factory) == [terminating("2023-02-14", sub(1500))]


def test_terminated_in_the_clamped_period(factory, session) -> None:
    world(
        session,
        started_at="2024-01-31",
        billing_time="anniversary",
        amount_cents=3100,
        terminated_at="2024-03-10T12:00:00",
    )
    session.commit()
    step(factory, "2024-02-29")
    step(factory, "2024-03-10T12:00:00")
    # Period Feb 29 - Mar 31 (31 days); Feb 29 - Mar 10 inclusive = 11 days: 11/31 x 3100 = 1100.
    assert rows(factory) == [periodic("2024-02-29", sub(3100)), terminating("2024-03-10", sub(1100))]


def test_quarterly_anniversary_from_nov_30(factory, session) -> None:
    world(
        session,
        started_at="2023-11-30",
        interval="quarterly",
        billing_time="anniversary",
        amount_cents=9100,
        terminated_at="2024-03-31T12:00:00",
    )
    session.commit()
    step(factory, "2024-02-29")  # Nov 30 + 3 months, clamped
    step(factory, "2024-03-31T12:00:00")
    # Period Feb 29 - May 30 = 1 + 31 + 30 + 29 = 91 days; Feb 29 - Mar 31 = 32 days: 32/91 x 9100 = 3200.
    assert rows(factory) == [periodic("2024-02-29", sub(9100)), terminating("2024-03-31", sub(3200))]


def test_yearly_anniversary_from_feb_29(factory, session) -> None:
    world(
        session,
        started_at="2024-02-29",
        interval="yearly",
        billing_time="anniversary",
        amount_cents=36500,
        terminated_at="2026-01-01T12:00:00",
    )
    session.commit()
    step(factory, "2025-02-28")
    step(factory, "2026-01-01T12:00:00")
    # Period 2025-02-28 - 2026-02-28 (365 days); Feb 28 - Jan 1 = 1 + 306 + 1 = 308 days:
    # 308/365 x 36500 = 30800.
    assert rows(factory) == [periodic("2025-02-28", sub(36500)), terminating("2026-01-01", sub(30800))]


def test_calendar_start_on_the_31st(factory, session) -> None:
    world(session, started_at="2024-01-31T18:00:00", amount_cents=3100)
    session.commit()
    step(factory, "2024-02-01")
    step(factory, "2024-03-01")
    # Jan 31 alone: 1/31 x 3100 = 100; February whole.
    assert rows(factory) == [periodic("2024-02-01", sub(100)), periodic("2024-03-01", sub(3100))]
