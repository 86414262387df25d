"""Pay-in-advance plans with a free trial: the plan fee is invoiced when the trial ends, even when the
trial outlasts the first period (Lago's free_trial_billing scenario "free trial > billing period")."""

from __future__ import annotations

from datetime import UTC, datetime

from billow.billing.proration import subscription_fee
from billow.billing.schedule import SubscriptionFacts, due_invoices
from billow.subscriptions.calendar import trial_end


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def advance(started: datetime, trial_days: int, **fields) -> SubscriptionFacts:
    return SubscriptionFacts(
        "s",
        started,
        "monthly",
        "calendar",
        "UTC",
        pay_in_advance=True,
        trial_ended_at=trial_end(started, trial_days),
        **fields,
    )


def summary(facts: SubscriptionFacts, as_of: datetime) -> list[tuple[str, datetime, int | None, bool]]:
    """``(reason, due_at, plan fee, has usage)`` of each due invoice, for a 5 000 000 plan."""
    out = []
    for invoice in due_invoices(facts, as_of):
        fee = None
        if invoice.fee_period is not None:
            fee = subscription_fee(
                amount_cents=5_000_000,
                period=invoice.fee_period,
                timezone="UTC",
                started_at=facts.started_at,
                terminated_at=facts.terminated_at,
                trial_ended_at=facts.trial_ended_at,
            ).amount_cents
        out.append((invoice.reason.value, invoice.due_at, fee, invoice.charges_from is not None))
    return out


def test_trial_longer_than_the_first_period() -> None:
    # 45 days from 2024-03-05T12:12 end 2024-04-19T12:12: April 1 bills March usage without a plan fee;
    # the trial end bills April 19-30 = 12/30 x 5 000 000 = 2 000 000; May 1 the whole fee.
    facts = advance(utc(2024, 3, 5, 12, 12), 45)
    assert summary(facts, utc(2024, 5, 1)) == [
        ("subscription_periodic", utc(2024, 4, 1), None, True),
        ("subscription_starting", utc(2024, 4, 19, 12, 12), 2_000_000, False),
        ("subscription_periodic", utc(2024, 5, 1), 5_000_000, True),
    ]
    assert [i.key[2] for i in due_invoices(facts, utc(2024, 5, 1))] == [
        utc(2024, 3, 1),
        utc(2024, 4, 1),  # the trial-end invoice is keyed by the plan period it pays
        utc(2024, 4, 1),
    ]


def test_trial_ending_inside_the_first_period() -> None:
    facts = advance(utc(2024, 3, 5, 12, 12), 10)
    assert summary(facts, utc(2024, 4, 1)) == [
        ("subscription_starting", utc(2024, 3, 15, 12, 12), 2_741_935, False),  # 17/31 x 5 000 000
        ("subscription_periodic", utc(2024, 4, 1), 5_000_000, True),
    ]


def test_trial_ending_on_a_boundary_leaves_the_fee_to_the_periodic_invoice() -> None:
    facts = advance(utc(2024, 4, 21), 10)  # ends May 1 00:00
    assert summary(facts, utc(2024, 5, 31)) == [("subscription_periodic", utc(2024, 5, 1), 5_000_000, True)]


def test_terminated_during_the_trial_owes_no_fee() -> None:
    facts = advance(utc(2024, 3, 5), 45, terminated_at=utc(2024, 4, 10))
    assert summary(facts, utc(2024, 6, 1)) == [
        ("subscription_periodic", utc(2024, 4, 1), None, True),
        ("subscription_terminating", utc(2024, 4, 10), None, True),
    ]
