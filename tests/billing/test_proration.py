from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billow.billing.proration import prorate, subscription_fee
from billow.billing.schedule import InvoicingReason, SubscriptionFacts, due_invoices
from billow.subscriptions.calendar import period_containing, trial_end
from billow.taxes.rules import taxes_of_fees


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


class Tax:
    def __init__(self, rate: str) -> None:
        self.id = rate
        self.rate = Decimal(rate)


def first_fee(facts: SubscriptionFacts, amount_cents: int, as_of: datetime) -> tuple[int, datetime]:
    invoice = due_invoices(facts, as_of)[0]
    assert invoice.fee_period is not None
    fee = subscription_fee(
        amount_cents=amount_cents,
        period=invoice.fee_period,
        timezone=facts.timezone,
        started_at=facts.started_at,
        terminated_at=facts.terminated_at,
        trial_ended_at=facts.trial_ended_at,
    )
    return fee.amount_cents, invoice.due_at


class TestLagoVectors:
    def test_12_terminated_after_six_days_in_arrears(self) -> None:
        facts = SubscriptionFacts(
            "s", utc(2022, 12, 15), "monthly", "calendar", "UTC", terminated_at=utc(2022, 12, 20, 12)
        )
        [invoice] = due_invoices(facts, utc(2023, 1, 1))
        assert invoice.reason is InvoicingReason.SUBSCRIPTION_TERMINATING
        assert (invoice.charges_from, invoice.charges_to) == (utc(2022, 12, 15), utc(2022, 12, 20, 12))
        amount, _ = first_fee(facts, 1000, utc(2023, 1, 1))
        assert amount == 194  # 6/31 x 1000
        taxes = taxes_of_fees([(amount, [Tax("20")])]).taxes_amount_cents
        assert (taxes, amount + taxes) == (39, 233)

    def test_13_trial_in_advance_billed_at_trial_end(self) -> None:
        started = utc(2024, 3, 4, 21)
        facts = SubscriptionFacts(
            "s",
            started,
            "monthly",
            "calendar",
            "UTC",
            pay_in_advance=True,
            trial_ended_at=trial_end(started, 7),
        )
        assert due_invoices(facts, utc(2024, 3, 11)) == []
        amount, due_at = first_fee(facts, 3500, utc(2024, 3, 11, 22))
        assert (amount, due_at) == (2371, utc(2024, 3, 11, 21))

    @pytest.mark.parametrize(
        ("created", "timezone", "expected"),
        [
            (utc(2023, 6, 16, 5), "America/Denver", 400),  # Thursday 23:00 local: Thu-Sun
            (utc(2023, 6, 16, 5), "America/Halifax", 300),  # Friday 02:00 local
            (utc(2023, 6, 16, 20), "Europe/Paris", 300),  # Friday 22:00 local
            (utc(2023, 6, 16, 20), "Asia/Karachi", 200),  # Saturday 01:00 local
        ],
    )
    def test_15_weekly_in_advance_per_time_zone(
        self, created: datetime, timezone: str, expected: int
    ) -> None:
        facts = SubscriptionFacts("s", created, "weekly", "calendar", timezone, pay_in_advance=True)
        assert first_fee(facts, 700, created)[0] == expected

    def test_16_first_invoice_in_advance(self) -> None:
        facts = SubscriptionFacts("s", utc(2023, 1, 8), "monthly", "calendar", "UTC", pay_in_advance=True)
        amount, due_at = first_fee(facts, 5000, utc(2023, 1, 8))
        assert (amount, due_at) == (3871, utc(2023, 1, 8))
        taxes = taxes_of_fees([(amount, [Tax("20")])]).taxes_amount_cents
        assert amount + taxes == 4645


class TestSubscriptionFee:
    def test_full_period(self) -> None:
        period = period_containing(
            utc(2024, 2, 10),
            interval="monthly",
            billing_time="calendar",
            anchor=date(2024, 1, 1),
            timezone="UTC",
        )
        fee = subscription_fee(amount_cents=1000, period=period, timezone="UTC", started_at=utc(2023, 5, 5))
        assert (fee.amount_cents, fee.full) == (1000, True)

    def test_termination_at_period_end_is_full(self) -> None:
        period = period_containing(
            utc(2024, 2, 10),
            interval="monthly",
            billing_time="calendar",
            anchor=date(2024, 1, 1),
            timezone="UTC",
        )
        fee = subscription_fee(
            amount_cents=1000,
            period=period,
            timezone="UTC",
            started_at=utc(2023, 5, 5),
            terminated_at=utc(2024, 3, 1),
        )
        assert fee.amount_cents == 1000

    def test_trial_covering_period_is_free(self) -> None:
        period = period_containing(
            utc(2024, 2, 10),
            interval="monthly",
            billing_time="calendar",
            anchor=date(2024, 1, 1),
            timezone="UTC",
        )
        fee = subscription_fee(
            amount_cents=1000,
            period=period,
            timezone="UTC",
            started_at=utc(2024, 2, 1),
            trial_ended_at=utc(2024, 4, 1),
        )
        assert fee.amount_cents == 0

    def test_half_up(self) -> None:
        assert prorate(1, 1, 2) == (1, Decimal("0.5"))
        assert prorate(1000, 6, 31)[0] == 194


amounts = st.integers(min_value=0, max_value=10**12)


@given(
    amount=amounts,
    interval=st.sampled_from(["weekly", "monthly", "quarterly", "semiannual", "yearly"]),
    instant=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
    ),
    timezone=st.sampled_from(["UTC", "Europe/Paris", "America/Denver", "Asia/Karachi", "Pacific/Auckland"]),
    data=st.data(),
)
def test_splits_sum_to_the_full_fee(amount, interval, instant, timezone, data) -> None:
    period = period_containing(
        instant, interval=interval, billing_time="calendar", anchor=date(2000, 1, 1), timezone=timezone
    )
    cuts = sorted(set(data.draw(st.lists(st.integers(1, period.days - 1), max_size=5))))
    days = [period.start_date, *(period.start_date + timedelta(days=c) for c in cuts), period.end_date]
    zone = ZoneInfo(timezone)
    instants = [datetime.combine(d, datetime.min.time(), tzinfo=zone).astimezone(UTC) for d in days]
    total = sum(
        subscription_fee(
            amount_cents=amount, period=period, timezone=timezone, started_at=a, terminated_at=b
        ).amount_cents
        for a, b in itertools.pairwise(instants)
    )
    assert abs(total - amount) <= len(cuts)
