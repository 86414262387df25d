"""The campaign's decisions, computed by hand (:mod:`billow.dunning.decisions`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from billow.dunning.decisions import NOTHING, Decision, decide, main_balance, overdue_balances, reached

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)


def test_overdue_balances_sum_per_currency() -> None:
    # EUR: 3000 + 2500 = 5500; USD: 700; a paid invoice (0 due) adds nothing and names no currency.
    dues = [("EUR", 3000), ("USD", 700), ("EUR", 2500), ("GBP", 0)]
    assert overdue_balances(dues) == {"EUR": 5500, "USD": 700}
    assert overdue_balances([]) == {}


def test_reached_needs_a_positive_balance_at_least_the_threshold() -> None:
    thresholds = {"EUR": 5000, "USD": 0, "GBP": 100}
    # EUR 5000 >= 5000; USD owes nothing (a 0 threshold needs a balance); GBP 99 < 100.
    assert reached({"EUR": 5000, "GBP": 99}, thresholds) == ("EUR",)
    # EUR 4999 < 5000; USD 1 >= 0; a currency without threshold (CHF) never counts.
    assert reached({"EUR": 4999, "USD": 1, "CHF": 10**6}, thresholds) == ("USD",)
    assert reached({"EUR": 6000, "USD": 5}, thresholds) == ("EUR", "USD")


def run(**changes: Any) -> Decision:
    facts: dict[str, Any] = {
        "balances": {"EUR": 5000},
        "thresholds": {"EUR": 1000},
        "attempts": 0,
        "last_attempt_at": None,
        "completed": False,
        "days_between_attempts": 3,
        "max_attempts": 2,
        "now": NOW,
    }
    return decide(**{**facts, **changes})


class TestDecide:
    def test_first_attempt_once_the_threshold_is_reached(self) -> None:
        assert run() == Decision(attempt=("EUR",))
        assert run(balances={"EUR": 999}) == NOTHING  # 999 < 1000

    def test_next_attempt_after_the_days_between_attempts(self) -> None:
        # Last attempt 2 days 23 hours ago: < 3 days; exactly 3 days: due.
        assert run(attempts=1, last_attempt_at=NOW - timedelta(days=3) + timedelta(hours=1)) == NOTHING
        assert run(attempts=1, last_attempt_at=NOW - timedelta(days=3)) == Decision(attempt=("EUR",))

    def test_finished_after_the_last_attempt_and_the_delay_once(self) -> None:
        last = NOW - timedelta(days=3)
        assert run(attempts=2, last_attempt_at=NOW - timedelta(days=1)) == NOTHING  # delay not over
        assert run(attempts=2, last_attempt_at=last) == Decision(finish=True)
        assert run(attempts=2, last_attempt_at=last, completed=True) == NOTHING
        # Below the threshold but still owing: the campaign still ends (the balance is overdue).
        assert run(attempts=2, last_attempt_at=last, balances={"EUR": 1}) == Decision(finish=True)
        # Owing only in a currency the campaign does not follow: nothing.
        assert run(attempts=2, last_attempt_at=last, balances={"USD": 1}) == NOTHING

    def test_max_attempts_lowered_below_the_attempts_made_ends_it(self) -> None:
        assert run(attempts=3, max_attempts=1, last_attempt_at=NOW - timedelta(days=4)) == Decision(
            finish=True
        )


def test_main_balance_prefers_the_customer_currency_then_the_largest() -> None:
    assert main_balance({"EUR": 100, "USD": 900}, "EUR") == ("EUR", 100)
    assert main_balance({"EUR": 100, "USD": 900}, "GBP") == ("USD", 900)
    assert main_balance({"EUR": 500, "USD": 500}, None) == ("EUR", 500)  # a tie: alphabetical
