"""What a dunning campaign does for one customer now, as pure functions over integer minor units.

* :func:`overdue_balances` — what the customer's overdue invoices still owe, per currency.
* :func:`decide` — an attempt (a payment request per currency whose balance reached its threshold), the
  campaign's end (``dunning_campaign.finished``), or nothing:

  - an attempt needs fewer than ``max_attempts`` attempts made, ``days_between_attempts`` days since the
    last one (or none yet), and a currency with a threshold where the overdue balance is > 0 and >= the
    threshold;
  - once ``max_attempts`` attempts are made, ``days_between_attempts`` later with a balance still overdue
    in a currency of the campaign, the campaign is finished, once (``completed``).

Sums of whole cents: nothing is divided or rounded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta


def overdue_balances(dues: Iterable[tuple[str, int]]) -> dict[str, int]:
    """``(currency, due_cents)`` of each overdue invoice → the sum per currency (currencies owing
    nothing left out)."""
    balances: dict[str, int] = {}
    for currency, due in dues:
        if due > 0:
            balances[currency] = balances.get(currency, 0) + due
    return balances


@dataclass(frozen=True)
class Decision:
    #: Currencies to send a payment request in (sorted); empty: no attempt.
    attempt: tuple[str, ...] = field(default=())
    #: Announce ``dunning_campaign.finished``.
    finish: bool = False


NOTHING = Decision()


def waited(last_attempt_at: datetime | None, now: datetime, days_between_attempts: int) -> bool:
    """No attempt yet, or ``days_between_attempts`` full days since the last one."""
    return last_attempt_at is None or now - last_attempt_at >= timedelta(days=days_between_attempts)


def reached(balances: Mapping[str, int], thresholds: Mapping[str, int]) -> tuple[str, ...]:
    """The currencies (sorted) whose overdue balance is positive and at least their threshold."""
    return tuple(
        sorted(
            currency
            for currency, threshold in thresholds.items()
            if balances.get(currency, 0) > 0 and balances.get(currency, 0) >= threshold
        )
    )


def decide(
    *,
    balances: Mapping[str, int],
    thresholds: Mapping[str, int],
    attempts: int,
    last_attempt_at: datetime | None,
    completed: bool,
    days_between_attempts: int,
    max_attempts: int,
    now: datetime,
) -> Decision:
    if not waited(last_attempt_at, now, days_between_attempts):
        return NOTHING
    if attempts < max_attempts:
        currencies = reached(balances, thresholds)
        return Decision(attempt=currencies) if currencies else NOTHING
    still_overdue = any(balances.get(currency, 0) > 0 for currency in thresholds)
    if still_overdue and not completed:
        return Decision(finish=True)
    return NOTHING


def main_balance(balances: Mapping[str, int], preferred: str | None) -> tuple[str, int]:
    """The balance ``dunning_campaign.finished`` names first: the customer's currency if it owes in it,
    else the largest (ties: the first currency in alphabetical order). ``balances`` is not empty."""
    if preferred and balances.get(preferred, 0) > 0:
        return preferred, balances[preferred]
    currency = min(balances, key=lambda c: (-balances[c], c))
    return currency, balances[currency]
