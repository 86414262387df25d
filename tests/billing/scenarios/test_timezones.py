"""Periods on the customer's local calendar: boundaries at local midnight stored in UTC, across daylight
saving changes (America/New_York: 2024-03-10 and 2024-11-03; Europe/Paris: 2024-03-31 and 2024-10-27)."""

from __future__ import annotations

from tests.billing.scenarios.helpers import (
    periodic,
    rows,
    spans,
    step,
    sub,
    terminating,
    usage,
    world,
)
from tests.fixtures.factories import at

NY = "America/New_York"
PARIS = "Europe/Paris"


def test_new_york_spring_forward(factory, session) -> None:
    # Started Feb 15 00:00 EST (05:00Z). February 2024 has 29 days: Feb 15-29 = 15/29 x 2900 = 1500.
    w = world(session, started_at="2024-02-15T05:00:00", amount_cents=2900, timezone=NY)
    w.event(session, "2024-03-01T04:59:59", 1)  # Feb 29 23:59:59 EST: February
    w.event(session, "2024-03-01T05:00:00", 2)  # Mar 1 00:00 EST: March
    w.event(session, "2024-04-01T03:59:59", 4)  # Mar 31 23:59:59 EDT: March
    w.event(session, "2024-04-01T04:00:00", 8)  # Apr 1 00:00 EDT: April
    session.commit()
    step(factory, "2024-03-01T05:00:00")  # local midnight, EST (UTC-5)
    step(factory, "2024-04-01T04:00:00")  # local midnight, EDT (UTC-4)
    assert rows(factory) == [
        periodic("2024-03-01", sub(1500), usage(100)),
        periodic("2024-04-01", sub(2900), usage(600)),
    ]
    assert [(s.from_datetime, s.to_datetime) for s in spans(factory)] == [
        (at("2024-02-15T05:00:00"), at("2024-03-01T05:00:00")),
        (at("2024-03-01T05:00:00"), at("2024-04-01T04:00:00")),
    ]


def test_new_york_fall_back(factory, session) -> None:
    # Started Oct 20 00:00 EDT (04:00Z): Oct 20-31 = 12/31 x 3100 = 1200.
    world(session, started_at="2024-10-20T04:00:00", amount_cents=3100, timezone=NY)
    session.commit()
    step(factory, "2024-11-01T04:00:00")  # EDT
    step(factory, "2024-12-01T05:00:00")  # EST
    assert rows(factory) == [periodic("2024-11-01", sub(1200)), periodic("2024-12-01", sub(3100))]


def test_termination_counts_local_days(factory, session) -> None:
    # Terminated 2024-03-10T03:00Z = Mar 9 22:00 EST: Mar 1-9 = 9/31 x 3100 = 900 (in UTC it would be
    # 10 days and 1000), issued on the local date, Mar 9.
    w = world(
        session,
        started_at="2024-03-01T05:00:00",
        amount_cents=3100,
        timezone=NY,
        terminated_at="2024-03-10T03:00:00",
    )
    w.event(session, "2024-03-10T02:00:00", 3)
    session.commit()
    step(factory, "2024-03-10T03:00:00")
    assert rows(factory) == [terminating("2024-03-09", sub(900), usage(300))]


def test_daily_plan_over_the_23_hour_day(factory, session) -> None:
    w = world(session, started_at="2024-03-09T05:00:00", interval="daily", amount_cents=100, timezone=NY)
    w.event(session, "2024-03-11T03:30:00", 5)  # Mar 10 23:30 EDT: the short day
    session.commit()
    step(factory, "2024-03-10T05:00:00")  # Mar 10 00:00 EST
    step(factory, "2024-03-11T04:00:00")  # Mar 11 00:00 EDT, 23 hours later
    step(factory, "2024-03-12T04:00:00")
    assert rows(factory) == [
        periodic("2024-03-10", sub(100)),
        periodic("2024-03-11", sub(100), usage(500)),
        periodic("2024-03-12", sub(100)),
    ]


def test_paris_weekly_over_spring_forward(factory, session) -> None:
    # Started Wednesday Mar 27 00:00 CET (Mar 26 23:00Z): Wed-Sun = 5/7 x 700 = 500. The week ends on
    # Monday Apr 1 00:00 CEST (Mar 31 22:00Z).
    world(session, started_at="2024-03-26T23:00:00", interval="weekly", amount_cents=700, timezone=PARIS)
    session.commit()
    step(factory, "2024-03-31T22:00:00")
    step(factory, "2024-04-07T22:00:00")
    assert rows(factory) == [periodic("2024-04-01", sub(500)), periodic("2024-04-08", sub(700))]


def test_paris_anniversary_over_fall_back(factory, session) -> None:
    # Started Sep 28 00:00 CEST (Sep 27 22:00Z); next anniversaries Oct 28 00:00 CET (Oct 27 23:00Z) and
    # Nov 28 00:00 CET: whole periods.
    world(
        session,
        started_at="2024-09-27T22:00:00",
        billing_time="anniversary",
        amount_cents=3100,
        timezone=PARIS,
    )
    session.commit()
    step(factory, "2024-10-27T23:00:00")
    step(factory, "2024-11-27T23:00:00")
    assert rows(factory) == [periodic("2024-10-28", sub(3100)), periodic("2024-11-28", sub(3100))]


def test_organization_timezone_when_the_customer_has_none(factory, session) -> None:
    # Paris midnight Jan 15 = Jan 14 23:00Z; Jan 15-31 = 17/31 x 3100 = 1700; due Feb 1 00:00 CET.
    world(session, started_at="2024-01-14T23:00:00", amount_cents=3100, org_timezone=PARIS)
    session.commit()
    step(factory, "2024-01-31T23:00:00")
    assert rows(factory) == [periodic("2024-02-01", sub(1700))]
