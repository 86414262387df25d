"""A backdated subscription's past (invoices due before its creation day) is not billed, as Lago."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from billow.billing.schedule import SubscriptionFacts, billable_from, due_invoices


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def reasons(invoices):
    return [(i.reason.value, i.due_at) for i in invoices]


# Lago's docs example: subscription_at 2022-08-08, created "today" (here 2024-03-10 15:00 UTC).
LAGO_EXAMPLE = SubscriptionFacts("s", utc(2022, 8, 8), "monthly", "calendar", "UTC")
CREATED = utc(2024, 3, 10, 15)


class TestBillableFrom:
    def test_start_of_the_creation_day_in_the_subscription_time_zone(self) -> None:
        assert billable_from(CREATED, "UTC") == utc(2024, 3, 10)
        # 2024-03-10 02:00 UTC is still 2024-03-09 in New York (EST, UTC-5).
        assert billable_from(utc(2024, 3, 10, 2), "America/New_York") == utc(2024, 3, 9, 5)
        assert billable_from(utc(2024, 3, 10, 2), "Asia/Tokyo") == utc(2024, 3, 9, 15)


class TestBackdated:
    def test_lago_docs_example_bills_no_past_period(self) -> None:
        facts = replace(LAGO_EXAMPLE, billable_from=billable_from(CREATED, "UTC"))
        assert due_invoices(facts, CREATED) == []
        # Without the floor: every month since August 2022 (19 invoices by 2024-03-10).
        assert len(due_invoices(LAGO_EXAMPLE, CREATED)) == 19

    def test_periods_due_after_the_creation_are_caught_up(self) -> None:
        facts = replace(LAGO_EXAMPLE, billable_from=billable_from(CREATED, "UTC"))
        invoices = due_invoices(facts, utc(2024, 5, 20))  # the server was down in April and May
        assert reasons(invoices) == [
            ("subscription_periodic", utc(2024, 4, 1)),
            ("subscription_periodic", utc(2024, 5, 1)),
        ]
        first = invoices[0]
        # The period in progress at the creation: its whole usage and plan fee (started long before).
        assert (first.charges_from, first.charges_to) == (utc(2024, 3, 1), utc(2024, 4, 1))
        assert first.fee_period is not None and first.fee_period.start == utc(2024, 3, 1)

    def test_an_invoice_due_on_the_creation_day_is_billed(self) -> None:
        # Created 2024-04-01 10:00, after the 2024-04-01 00:00 boundary: Lago bills that day's invoice.
        facts = replace(LAGO_EXAMPLE, billable_from=billable_from(utc(2024, 4, 1, 10), "UTC"))
        assert reasons(due_invoices(facts, utc(2024, 4, 1, 10))) == [
            ("subscription_periodic", utc(2024, 4, 1))
        ]

    def test_pay_in_advance_has_no_starting_invoice_and_bills_the_next_period(self) -> None:
        facts = replace(LAGO_EXAMPLE, pay_in_advance=True, billable_from=billable_from(CREATED, "UTC"))
        assert due_invoices(facts, CREATED) == []
        [invoice] = due_invoices(facts, utc(2024, 4, 1))
        assert invoice.reason.value == "subscription_periodic"
        assert invoice.fee_period is not None and invoice.fee_period.start == utc(2024, 4, 1)
        assert (invoice.charges_from, invoice.charges_to) == (utc(2024, 3, 1), utc(2024, 4, 1))

    def test_pay_in_advance_started_earlier_the_same_day_bills_its_first_invoice(self) -> None:
        # Lago activates (and bills) a subscription whose subscription_at is on the creation day.
        facts = SubscriptionFacts(
            "s",
            utc(2024, 3, 10, 1),
            "monthly",
            "calendar",
            "UTC",
            pay_in_advance=True,
            billable_from=billable_from(CREATED, "UTC"),
        )
        assert reasons(due_invoices(facts, CREATED)) == [("subscription_starting", utc(2024, 3, 10, 1))]

    def test_termination_after_the_creation_is_billed(self) -> None:
        facts = replace(
            LAGO_EXAMPLE, terminated_at=utc(2024, 3, 20), billable_from=billable_from(CREATED, "UTC")
        )
        assert reasons(due_invoices(facts, utc(2024, 4, 1))) == [
            ("subscription_terminating", utc(2024, 3, 20))
        ]


@settings(max_examples=200, deadline=None)
@given(
    start_days=st.integers(min_value=0, max_value=900),
    created_after=st.integers(min_value=0, max_value=900),
    as_of_after=st.integers(min_value=0, max_value=400),
    interval=st.sampled_from(["weekly", "monthly", "quarterly", "yearly"]),
    billing_time=st.sampled_from(["calendar", "anniversary"]),
    pay_in_advance=st.booleans(),
)
def test_the_floor_only_removes_the_invoices_due_before_it(
    start_days: int,
    created_after: int,
    as_of_after: int,
    interval: str,
    billing_time: str,
    pay_in_advance: bool,
) -> None:
    started = utc(2022, 1, 1) + timedelta(days=start_days, hours=7)
    created = started + timedelta(days=created_after, hours=5)
    as_of = created + timedelta(days=as_of_after)
    facts = SubscriptionFacts("s", started, interval, billing_time, "UTC", pay_in_advance=pay_in_advance)
    floor = billable_from(created, "UTC")
    every = due_invoices(facts, as_of)
    kept = due_invoices(replace(facts, billable_from=floor), as_of)
    assert kept == [invoice for invoice in every if invoice.due_at >= floor]
