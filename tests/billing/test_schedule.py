from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from billow.billing.schedule import InvoicingReason, SubscriptionFacts, due_invoices


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def reasons(invoices):
    return [(i.reason.value, i.due_at) for i in invoices]


class TestArrears:
    def test_backdated_monthly_catches_up(self) -> None:
        facts = SubscriptionFacts("s", utc(2024, 1, 15), "monthly", "calendar", "UTC")
        invoices = due_invoices(facts, utc(2024, 4, 10))
        assert reasons(invoices) == [
            ("subscription_periodic", utc(2024, 2, 1)),
            ("subscription_periodic", utc(2024, 3, 1)),
            ("subscription_periodic", utc(2024, 4, 1)),
        ]
        first = invoices[0]
        assert (first.charges_from, first.charges_to) == (utc(2024, 1, 15), utc(2024, 2, 1))
        assert first.fee_period is not None and first.fee_period.start == utc(2024, 1, 1)
        assert first.key == ("s", "subscription_periodic", utc(2024, 1, 1))

    def test_due_exactly_at_period_end(self) -> None:
        facts = SubscriptionFacts("s", utc(2024, 1, 15), "monthly", "calendar", "UTC")
        assert due_invoices(facts, utc(2024, 2, 1) - timedelta(microseconds=1)) == []
        assert len(due_invoices(facts, utc(2024, 2, 1))) == 1

    def test_termination(self) -> None:
        facts = SubscriptionFacts(
            "s", utc(2024, 1, 15), "monthly", "calendar", "UTC", terminated_at=utc(2024, 2, 10)
        )
        invoices = due_invoices(facts, utc(2024, 3, 1))
        assert reasons(invoices) == [
            ("subscription_periodic", utc(2024, 2, 1)),
            ("subscription_terminating", utc(2024, 2, 10)),
        ]
        last = invoices[-1]
        assert (last.charges_from, last.charges_to) == (utc(2024, 2, 1), utc(2024, 2, 10))
        assert last.fee_period is not None and last.fee_period.start == utc(2024, 2, 1)

    def test_termination_at_period_end_replaces_periodic(self) -> None:
        facts = SubscriptionFacts(
            "s", utc(2024, 1, 15), "monthly", "calendar", "UTC", terminated_at=utc(2024, 2, 1)
        )
        assert reasons(due_invoices(facts, utc(2024, 3, 1))) == [
            ("subscription_terminating", utc(2024, 2, 1))
        ]

    def test_yearly_with_monthly_charges(self) -> None:
        facts = SubscriptionFacts(
            "s", utc(2024, 11, 10), "yearly", "calendar", "UTC", bill_charges_monthly=True
        )
        invoices = due_invoices(facts, utc(2025, 1, 1))
        assert [i.fee_period is not None for i in invoices] == [False, True]
        assert invoices[1].fee_period.start == utc(2024, 1, 1)


class TestAdvance:
    def test_start_and_periods(self) -> None:
        facts = SubscriptionFacts("s", utc(2024, 1, 15), "monthly", "calendar", "UTC", pay_in_advance=True)
        invoices = due_invoices(facts, utc(2024, 3, 1))
        assert reasons(invoices) == [
            ("subscription_starting", utc(2024, 1, 15)),
            ("subscription_periodic", utc(2024, 2, 1)),
            ("subscription_periodic", utc(2024, 3, 1)),
        ]
        assert invoices[0].charges_from is None
        assert invoices[1].fee_period.start == utc(2024, 2, 1)
        assert (invoices[1].charges_from, invoices[1].charges_to) == (utc(2024, 1, 15), utc(2024, 2, 1))

    def test_termination_has_no_fee(self) -> None:
        facts = SubscriptionFacts(
            "s",
            utc(2024, 1, 15),
            "monthly",
            "calendar",
            "UTC",
            pay_in_advance=True,
            terminated_at=utc(2024, 1, 20),
        )
        invoices = due_invoices(facts, utc(2024, 3, 1))
        assert reasons(invoices) == [
            ("subscription_starting", utc(2024, 1, 15)),
            ("subscription_terminating", utc(2024, 1, 20)),
        ]
        assert invoices[1].fee_period is None


instants = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2023, 1, 1), timezones=st.just(UTC)
)


@settings(max_examples=150, deadline=None)
@given(
    started=instants,
    life_days=st.one_of(st.none(), st.floats(min_value=0.01, max_value=500)),
    interval=st.sampled_from(["weekly", "monthly", "quarterly", "yearly"]),
    billing_time=st.sampled_from(["calendar", "anniversary"]),
    advance=st.booleans(),
    monthly_charges=st.booleans(),
    timezone=st.sampled_from(["UTC", "Europe/Paris", "America/Denver", "Asia/Karachi"]),
    as_of_days=st.integers(0, 900),
    split=st.integers(0, 900),
)
def test_due_invoices_tile_the_life(
    started, life_days, interval, billing_time, advance, monthly_charges, timezone, as_of_days, split
) -> None:
    ended = None if life_days is None else started + timedelta(days=life_days)
    facts = SubscriptionFacts(
        "s",
        started,
        interval,
        billing_time,
        timezone,
        pay_in_advance=advance,
        bill_charges_monthly=monthly_charges,
        terminated_at=ended,
    )
    as_of = started + timedelta(days=as_of_days)
    invoices = due_invoices(facts, as_of)
    keys = [i.key for i in invoices]
    assert len(set(keys)) == len(keys)
    assert all(i.due_at <= as_of for i in invoices)
    assert [i.due_at for i in invoices] == sorted(i.due_at for i in invoices)
    # Usage windows tile [started, last due) with no gap or overlap.
    windows = [(i.charges_from, i.charges_to) for i in invoices if i.charges_from is not None]
    cursor = started
    for a, b in windows:
        assert a == cursor and b >= a
        cursor = b
    if ended is not None and ended <= as_of:
        assert cursor == ended
    else:
        assert as_of - cursor < timedelta(days=367)
    # Plan periods are billed at most once and consecutively.
    fee_periods = [i.fee_period for i in invoices if i.fee_period is not None]
    for p, q in itertools.pairwise(fee_periods):
        assert p.end == q.start
    # Deciding later never changes or drops an invoice already due: catching up is stable.
    mid = started + timedelta(days=min(split, as_of_days))
    earlier = due_invoices(facts, mid)
    assert keys[: len(earlier)] == [i.key for i in earlier]
    assert InvoicingReason.SUBSCRIPTION_TERMINATING.value not in [k[1] for k in keys[:-1]]
