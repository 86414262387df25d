"""Lago's test vectors (reference §10) that apply to subscription invoices, billed through the database.

Vectors 12 (termination with tax) is in ``test_termination.py``; 13 and 16 (in advance, trial) in
``tests/billing/test_run.py``; the trial scenarios of Lago's free_trial_billing spec in ``test_trials.py``.
Vector 14 needs plan upgrades (not supported yet: ``405 plan_change_not_yet_supported``)."""

from __future__ import annotations

import pytest

from tests.billing.scenarios.helpers import periodic, rows, run, starting, sub, usage, world
from tests.fixtures import factories as f


@pytest.mark.parametrize(
    ("created", "timezone", "issuing_date", "expected"),
    [
        ("2023-06-16T05:00:00", "America/Denver", "2023-06-15", 400),  # Thursday 23:00: Thu-Sun
        ("2023-06-16T05:00:00", "America/Halifax", "2023-06-16", 300),  # Friday 02:00: Fri-Sun
        ("2023-06-16T20:00:00", "Europe/Paris", "2023-06-16", 300),  # Friday 22:00
        ("2023-06-16T20:00:00", "Asia/Karachi", "2023-06-17", 200),  # Saturday 01:00: Sat-Sun
    ],
)
def test_15_weekly_in_advance_per_customer_timezone(
    factory, session, created: str, timezone: str, issuing_date: str, expected: int
) -> None:
    world(
        session,
        started_at=created,
        interval="weekly",
        amount_cents=700,
        pay_in_advance=True,
        timezone=timezone,
        charge_model=None,
    )
    session.commit()
    assert run(factory, created) == 1
    assert rows(factory) == [starting(issuing_date, sub(expected))]


GRADUATED = {
    "graduated_ranges": [
        {"from_value": 0, "to_value": 10, "per_unit_amount": "10", "flat_amount": "2"},
        {"from_value": 11, "to_value": 20, "per_unit_amount": "5", "flat_amount": "3"},
        {"from_value": 21, "to_value": None, "per_unit_amount": "5", "flat_amount": "3"},
    ]
}
VOLUME = {
    "volume_ranges": [
        {"from_value": 0, "to_value": 100, "per_unit_amount": "2", "flat_amount": "10"},
        {"from_value": 101, "to_value": 200, "per_unit_amount": "1", "flat_amount": "0"},
        {"from_value": 201, "to_value": None, "per_unit_amount": "0.5", "flat_amount": "50"},
    ]
}


@pytest.mark.parametrize(
    ("model", "properties", "units", "expected"),
    [
        ("standard", {"amount": "5.12345"}, "10", 5123),  # vector 1: 51.2345 -> 5123 cents
        ("graduated", GRADUATED, "12", 11500),  # vector 2: 10 x 10 + 2 + 2 x 5 + 3 = 115
        ("graduated", GRADUATED, "21", 16300),  # vector 2: 102 + 10 x 5 + 3 + 5 + 3 = 163
        ("volume", VOLUME, "100.5", 10050),  # vector 9: 100.5 x 1 = 100.5
        ("volume", VOLUME, "300", 20000),  # vector 9: 300 x 0.5 + 50 = 200
    ],
)
def test_charge_models_on_the_invoice(factory, session, model, properties, units, expected) -> None:
    w = world(session, started_at="2024-01-01", amount_cents=0, charge_model=model, properties=properties)
    w.event(session, "2024-01-10", units)
    session.commit()
    assert run(factory, "2024-02-01") == 1
    assert rows(factory) == [periodic("2024-02-01", sub(0), usage(expected))]


def test_17_minimum_amount_true_up_on_termination(factory, session) -> None:
    # Standard 8.00 with min_amount_cents 1000, one event, terminated Feb 25 (25 of 28 days), 20 % tax:
    # usage 800 (+160), true-up round(1000 x 25/28) - 800 = 893 - 800 = 93 (+18.6 -> 19); invoice taxes
    # round(160 + 18.6) = 179; total 893 + 179 = 1072.
    w = world(
        session,
        started_at="2023-02-01",
        amount_cents=0,
        properties={"amount": "8"},
        terminated_at="2023-02-25T12:00:00",
    )
    assert w.charge is not None
    w.charge.min_amount_cents = 1000
    f.link_plan_tax(session, w.plan, f.tax(session, w.org, "vat", "20"))
    w.event(session, "2023-02-10", 1)
    session.commit()
    assert run(factory, "2023-02-25T12:00:00") == 1
    [row] = rows(factory)
    assert (row.fees_amount_cents, row.taxes_amount_cents, row.total_amount_cents) == (893, 179, 1072)
    assert sorted(row.fees) == sorted([sub(0), usage(800), ("charge", 93)])
