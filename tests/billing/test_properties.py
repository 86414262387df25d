"""Properties of the pure billing modules over whole subscription lives (extends the tiling and split
properties of ``test_schedule.py`` / ``test_proration.py`` to anniversary billing, daily and semiannual
plans, trials and terminations)."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from billow.billing.proration import subscription_fee
from billow.billing.schedule import SubscriptionFacts, due_invoices
from billow.models.plans import Interval
from billow.subscriptions.calendar import period_containing

ZONES = ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Pacific/Auckland"]


def local_midnight(day: date, timezone: str) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=ZoneInfo(timezone)).astimezone(UTC)


@settings(max_examples=200, deadline=None)
@given(
    amount=st.integers(min_value=0, max_value=10**12),
    interval=st.sampled_from(list(Interval)),
    billing_time=st.sampled_from(["calendar", "anniversary"]),
    instant=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2080, 1, 1), timezones=st.just(UTC)
    ),
    anchor=st.dates(min_value=date(1999, 1, 1), max_value=date(2080, 1, 1)),
    timezone=st.sampled_from(ZONES),
    data=st.data(),
)
def test_a_period_split_at_any_days_sums_to_the_fee(
    amount, interval, billing_time, instant, anchor, timezone, data
) -> None:
    """Billing the pieces of a period cut at local midnights gives the full fee, within one minor unit
    per cut (each piece is rounded on its own)."""
    period = period_containing(
        instant, interval=interval, billing_time=billing_time, anchor=anchor, timezone=timezone
    )
    cuts = sorted(set(data.draw(st.lists(st.integers(1, max(period.days - 1, 1)), max_size=6))))
    cuts = [c for c in cuts if 0 < c < period.days]
    days = [period.start_date, *(period.start_date + timedelta(days=c) for c in cuts), period.end_date]
    bounds = [local_midnight(d, timezone) for d in days]
    pieces = [
        subscription_fee(amount_cents=amount, period=period, timezone=timezone, started_at=a, terminated_at=b)
        for a, b in itertools.pairwise(bounds)
    ]
    assert sum(p.days for p in pieces) == period.days  # every day in exactly one piece
    assert abs(sum(p.amount_cents for p in pieces) - amount) <= len(cuts)
    assert sum(p.precise_amount_cents for p in pieces) == amount or cuts  # exact when uncut


@settings(max_examples=300, deadline=None)
@given(
    started=st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2023, 1, 1), timezones=st.just(UTC)
    ),
    life_days=st.one_of(st.none(), st.floats(min_value=0.01, max_value=800)),
    trial_days=st.one_of(st.none(), st.floats(min_value=0.01, max_value=400)),
    interval=st.sampled_from(list(Interval)),
    billing_time=st.sampled_from(["calendar", "anniversary"]),
    advance=st.booleans(),
    monthly_charges=st.booleans(),
    timezone=st.sampled_from(ZONES),
    as_of_days=st.integers(0, 900),
)
def test_every_paid_instant_is_billed_exactly_once(
    started, life_days, trial_days, interval, billing_time, advance, monthly_charges, timezone, as_of_days
) -> None:
    """The plan-fee spans of the due invoices tile the paid life ``[max(started, trial end), end)``: no
    instant is billed twice, none is skipped; the usage windows tile ``[started, ...)``."""
    if interval is Interval.DAILY:
        as_of_days = min(as_of_days, 120)  # keep daily lives short
    ended = None if life_days is None else started + timedelta(days=life_days)
    trial = None if trial_days is None else started + timedelta(days=trial_days)
    facts = SubscriptionFacts(
        "s",
        started,
        interval,
        billing_time,
        timezone,
        pay_in_advance=advance,
        bill_charges_monthly=monthly_charges,
        terminated_at=ended,
        trial_ended_at=trial,
    )
    as_of = started + timedelta(days=as_of_days)
    invoices = due_invoices(facts, as_of)
    keys = [i.key for i in invoices]
    assert len(set(keys)) == len(keys)
    assert [i.due_at for i in invoices] == sorted(i.due_at for i in invoices)

    spans = []
    for invoice in invoices:
        if invoice.fee_period is None:
            continue
        fee = subscription_fee(
            amount_cents=100,
            period=invoice.fee_period,
            timezone=timezone,
            started_at=started,
            terminated_at=ended,
            trial_ended_at=trial,
        )
        if fee.from_datetime < fee.to_datetime:
            spans.append((fee.from_datetime, fee.to_datetime))
    paid_from = max(started, trial or started)
    if ended is not None and paid_from >= ended:
        assert spans == []  # the trial outlived the subscription: no plan fee at all
        return
    for (_, b), (c, _) in itertools.pairwise(spans):
        assert b == c  # consecutive: no overlap, no gap
    if spans:
        assert spans[0][0] == paid_from
    billed_to = spans[-1][1] if spans else paid_from
    # Nothing is skipped: billed exactly up to where the schedule says, given as_of.
    if ended is not None and ended <= as_of:
        assert billed_to == ended  # terminated: every paid instant billed
    elif paid_from > as_of:
        assert spans == []
    else:
        current = period_containing(
            as_of,
            interval=interval,
            billing_time=billing_time,
            anchor=started.astimezone(ZoneInfo(timezone)).date(),
            timezone=timezone,
        )
        if advance:  # the period in progress is paid at its start (or at the trial end)
            assert billed_to == min(current.end, ended or current.end)
        else:  # in arrears, every period over is billed
            assert billed_to == max(paid_from, current.start)

    windows = [(i.charges_from, i.charges_to) for i in invoices if i.charges_from is not None]
    cursor = started
    for a, b in windows:
        assert a == cursor and b >= a
        cursor = b
