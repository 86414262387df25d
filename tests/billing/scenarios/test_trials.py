"""Free trials: no plan fee for trial days, the period containing the trial end prorated from it, usage
billed all along. Pay-in-advance plans are billed their fee when the trial ends."""

from __future__ import annotations

from tests.billing.scenarios.helpers import periodic, rows, run, starting, step, sub, usage, world
from tests.fixtures.factories import at


def test_arrears_trial_inside_the_first_period(factory, session) -> None:
    # Started Apr 11, 10-day trial: ends Apr 21 00:00. April (30 days) bills Apr 21-30 = 10/30 x 3000 = 1000;
    # the usage of the trial is billed.
    w = world(session, started_at="2024-04-11", amount_cents=3000, trial_period=10)
    w.event(session, "2024-04-15", 2)
    session.commit()
    step(factory, "2024-05-01")
    step(factory, "2024-06-01")
    assert rows(factory) == [
        periodic("2024-05-01", sub(1000), usage(200)),
        periodic("2024-06-01", sub(3000)),
    ]


def test_arrears_trial_straddling_the_period_end(factory, session) -> None:
    # Started Apr 25, 10-day trial: ends May 5 00:00. April: all trial, usage only. May (31 days) bills
    # May 5-31 = 27/31 x 3100 = 2700, plus the May usage (some of it during the trial).
    w = world(session, started_at="2024-04-25", amount_cents=3100, trial_period=10)
    w.event(session, "2024-04-27", 3)
    w.event(session, "2024-05-02", 1)
    session.commit()
    step(factory, "2024-05-01")
    step(factory, "2024-06-01")
    assert rows(factory) == [
        periodic("2024-05-01", usage(300)),
        periodic("2024-06-01", sub(2700), usage(100)),
    ]


def test_fractional_trial(factory, session) -> None:
    # 1.5 days from Apr 10 00:00: ends Apr 11 12:00, a day that is billed: Apr 11-30 = 20/30 x 3000 = 2000.
    world(session, started_at="2024-04-10", amount_cents=3000, trial_period="1.5", charge_model=None)
    session.commit()
    step(factory, "2024-05-01")
    assert rows(factory) == [periodic("2024-05-01", sub(2000))]


def test_advance_trial_ends_in_the_first_period(factory, session) -> None:
    # Lago's free_trial_billing scenario: 5 000 000 in advance, 10-day trial from 2024-03-05T12:12Z, ends
    # Mar 15 12:12: (31 - 4 - 10)/31 x 5 000 000 = 2 741 935.48 -> 2 741 935, billed then.
    w = world(
        session,
        started_at="2024-03-05T12:12:00",
        amount_cents=5_000_000,
        pay_in_advance=True,
        trial_period=10,
        properties={"amount": "10"},
    )
    w.event(session, "2024-03-10", 1)
    session.commit()
    assert run(factory, "2024-03-05T12:12:00") == 0
    step(factory, "2024-03-15T12:12:00")
    step(factory, "2024-04-01")
    assert rows(factory) == [
        starting("2024-03-15", sub(2_741_935)),
        periodic("2024-04-01", sub(5_000_000), usage(1000)),
    ]


def test_advance_trial_longer_than_the_first_period(factory, session) -> None:
    # Lago's "free trial > billing period": 45 days from 2024-03-05T12:12Z end 2024-04-19T12:12Z. April 1
    # bills the March usage only (1 x 10.00); the trial end bills April 19-30 = 12/30 x 5 000 000 =
    # 2 000 000; May 1 the full fee (no April usage).
    w = world(
        session,
        started_at="2024-03-05T12:12:00",
        amount_cents=5_000_000,
        pay_in_advance=True,
        trial_period=45,
        properties={"amount": "10"},
    )
    w.event(session, "2024-03-10", 1)
    session.commit()
    step(factory, "2024-04-01")
    step(factory, "2024-04-19T12:12:00")
    step(factory, "2024-05-01")
    assert rows(factory) == [
        periodic("2024-04-01", usage(1000)),
        starting("2024-04-19", sub(2_000_000)),
        periodic("2024-05-01", sub(5_000_000)),
    ]


def test_advance_trial_ending_on_a_boundary(factory, session) -> None:
    # Started Apr 21, 10 days: the trial ends May 1 00:00, the start of a period: May's whole fee goes on
    # the periodic invoice of May 1 (with the April usage); no separate trial-end invoice.
    w = world(session, started_at="2024-04-21", amount_cents=3100, pay_in_advance=True, trial_period=10)
    w.event(session, "2024-04-25", 2)
    session.commit()
    step(factory, "2024-05-01")
    assert run(factory, at("2024-05-31")) == 0
    assert rows(factory) == [periodic("2024-05-01", sub(3100), usage(200))]
