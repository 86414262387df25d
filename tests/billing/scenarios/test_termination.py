"""Termination mid-period: a final invoice at ``terminated_at`` with the usage up to it and, in arrears,
the fee of the used days (local days, both ends inclusive)."""

from __future__ import annotations

from tests.billing.scenarios.helpers import (
    periodic,
    rows,
    run,
    spans,
    starting,
    step,
    sub,
    terminating,
    usage,
    world,
)
from tests.fixtures import factories as f
from tests.fixtures.factories import at


def test_lago_vector_12_arrears_with_tax(factory, session) -> None:
    # Plan 1000 monthly in arrears, 20 % tax, started 2022-12-15, terminated 12-20: Dec 15-20 = 6/31 x
    # 1000 = 193.5 -> 194; tax 38.8 -> 39; total 233.
    w = world(
        session,
        started_at="2022-12-15",
        amount_cents=1000,
        terminated_at="2022-12-20T10:00:00",
        charge_model=None,
    )
    f.link_plan_tax(session, w.plan, f.tax(session, w.org, "vat", "20"))
    session.commit()
    step(factory, "2022-12-20T10:00:00")
    assert rows(factory) == [terminating("2022-12-20", sub(194), taxes=39)]
    assert run(factory, "2023-03-01") == 0


def test_arrears_quarterly(factory, session) -> None:
    w = world(
        session,
        started_at="2024-01-01",
        interval="quarterly",
        amount_cents=9100,
        terminated_at="2024-05-15T10:00:00",
    )
    w.event(session, "2024-02-01", 1)
    w.event(session, "2024-05-15T09:59:59", 2)
    w.event(session, "2024-05-15T10:00:00", 4)  # at termination: not billed
    session.commit()
    step(factory, "2024-04-01")
    step(factory, "2024-05-15T10:00:00")
    # Q2 = 30 + 31 + 30 = 91 days; Apr 1 - May 15 = 30 + 15 = 45 days: 45/91 x 9100 = 4500.
    assert rows(factory) == [
        periodic("2024-04-01", sub(9100), usage(100)),
        terminating("2024-05-15", sub(4500), usage(200)),
    ]
    assert spans(factory)[-1] == (
        at("2024-04-01"),
        at("2024-05-15T10:00:00"),
        at("2024-04-01"),
        at("2024-05-15T10:00:00"),
    )
    assert run(factory, "2024-12-01") == 0


def test_in_advance(factory, session) -> None:
    # The fee was paid ahead: the final invoice bills the usage since the last boundary only (Lago credits
    # the unused days with a credit note, not an invoice).
    w = world(session, started_at="2024-01-01", amount_cents=3100, pay_in_advance=True)
    w.event(session, "2024-01-05", 1)
    w.event(session, "2024-02-05", 2)
    session.commit()
    step(factory, "2024-01-01")
    step(factory, "2024-02-01")
    with factory() as s, s.begin():
        subscription = s.get(type(w.subscription), w.subscription.id)
        subscription.status = "terminated"
        subscription.terminated_at = at("2024-02-10T12:00:00")
    step(factory, "2024-02-10T12:00:00")
    assert rows(factory) == [
        starting("2024-01-01", sub(3100)),
        periodic("2024-02-01", sub(3100), usage(100)),
        terminating("2024-02-10", usage(200)),
    ]
    assert run(factory, "2024-04-01") == 0


def test_in_advance_period_billed_after_the_termination_is_known(factory, session) -> None:
    # Billing caught up only after the termination: the February in-advance fee is issued knowing the
    # subscription ends Feb 10, so it bills the used days, Feb 1-10 = 10/29 x 3100 = 1068.97 -> 1069
    # (instead of 3100 followed by a credit note for the unused days).
    w = world(
        session,
        started_at="2024-01-01",
        amount_cents=3100,
        pay_in_advance=True,
        terminated_at="2024-02-10T12:00:00",
    )
    w.event(session, "2024-01-05", 1)
    w.event(session, "2024-02-05", 2)
    session.commit()
    assert run(factory, "2024-03-01") == 3
    assert rows(factory) == [
        starting("2024-01-01", sub(3100)),
        periodic("2024-02-01", sub(1069), usage(100)),
        terminating("2024-02-10", usage(200)),
    ]


def test_at_a_period_end_the_final_invoice_replaces_the_periodic_one(factory, session) -> None:
    w = world(session, started_at="2024-01-01", amount_cents=3100, terminated_at="2024-03-01")
    w.event(session, "2024-02-20", 1)
    session.commit()
    step(factory, "2024-02-01")
    step(factory, "2024-03-01")
    assert rows(factory) == [
        periodic("2024-02-01", sub(3100)),
        terminating("2024-03-01", sub(3100), usage(100)),  # February whole
    ]
    assert run(factory, "2024-05-01") == 0


def test_terminated_on_its_first_day(factory, session) -> None:
    # Started and terminated on Jan 15: one day of 31 = 100.
    world(
        session,
        started_at="2024-01-15T08:00:00",
        amount_cents=3100,
        terminated_at="2024-01-15T20:00:00",
        charge_model=None,
    )
    session.commit()
    step(factory, "2024-01-15T20:00:00")
    assert rows(factory) == [terminating("2024-01-15", sub(100))]
