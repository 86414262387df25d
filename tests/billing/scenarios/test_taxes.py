"""Taxes on subscription invoices (reference §5.4): the first non-empty source per fee (charge -> plan ->
customer -> organization default), a fee's tax rounded half-up on its own, each applied tax rounded on
its unrounded sum, and the invoice's tax rounded once over the unrounded per-tax sums.

Unless said otherwise: plan fee 1000 (January whole), usage 3.33 units x 1.00 = 333."""

from __future__ import annotations

from tests.billing.scenarios.helpers import (
    World,
    applied_taxes,
    fee_taxes,
    periodic,
    rows,
    step,
    sub,
    usage,
    world,
)
from tests.fixtures import factories as f


def january(session, **fields) -> World:
    w = world(session, started_at="2024-01-01", amount_cents=1000, **fields)
    w.event(session, "2024-01-10", "3.33")
    return w


def test_organization_default_tax(factory, session) -> None:
    w = january(session)
    f.tax(session, w.org, "vat_org", "10", default=True)
    f.tax(session, w.org, "vat_unused", "50")  # not a default: ignored
    session.commit()
    step(factory, "2024-02-01")
    # 10 % of 1000 = 100; of 333 = 33.3 -> 33; invoice 133.3 -> 133.
    assert rows(factory) == [periodic("2024-02-01", sub(1000), usage(333), taxes=133)]
    assert fee_taxes(factory) == [[("subscription", 1000, 100), ("charge", 333, 33)]]
    assert applied_taxes(factory) == [[("vat_org", 133, 1333)]]


def test_customer_tax_over_the_default(factory, session) -> None:
    w = january(session)
    f.tax(session, w.org, "vat_org", "10", default=True)
    f.link_customer_tax(session, w.customer, f.tax(session, w.org, "vat_customer", "5.5"))
    session.commit()
    step(factory, "2024-02-01")
    # 5.5 % of 1000 = 55; of 333 = 18.315 -> 18; invoice 73.315 -> 73.
    assert rows(factory) == [periodic("2024-02-01", sub(1000), usage(333), taxes=73)]
    assert fee_taxes(factory) == [[("subscription", 1000, 55), ("charge", 333, 18)]]
    assert applied_taxes(factory) == [[("vat_customer", 73, 1333)]]


def test_plan_tax_over_the_customer_tax(factory, session) -> None:
    w = january(session)
    f.tax(session, w.org, "vat_org", "10", default=True)
    f.link_customer_tax(session, w.customer, f.tax(session, w.org, "vat_customer", "5.5"))
    f.link_plan_tax(session, w.plan, f.tax(session, w.org, "vat_plan", "20"))
    session.commit()
    step(factory, "2024-02-01")
    # 20 % of 1000 = 200; of 333 = 66.6 -> 67; invoice 266.6 -> 267.
    assert rows(factory) == [periodic("2024-02-01", sub(1000), usage(333), taxes=267)]
    assert fee_taxes(factory) == [[("subscription", 1000, 200), ("charge", 333, 67)]]
    assert applied_taxes(factory) == [[("vat_plan", 267, 1333)]]


def test_charge_tax_over_the_plan_tax(factory, session) -> None:
    w = january(session)
    f.link_plan_tax(session, w.plan, f.tax(session, w.org, "vat_plan", "20"))
    assert w.charge is not None
    f.link_charge_tax(session, w.charge, f.tax(session, w.org, "vat_charge", "8.25"))
    session.commit()
    step(factory, "2024-02-01")
    # The plan fee keeps the plan tax: 200. The charge fee only its own: 8.25 % of 333 = 27.4725 -> 27.
    # Invoice: 200 + 27.4725 = 227.4725 -> 227.
    assert rows(factory) == [periodic("2024-02-01", sub(1000), usage(333), taxes=227)]
    assert fee_taxes(factory) == [[("subscription", 1000, 200), ("charge", 333, 27)]]
    assert applied_taxes(factory) == [[("vat_charge", 27, 333), ("vat_plan", 200, 1000)]]


def test_prorated_fee_is_taxed_after_proration(factory, session) -> None:
    # Jan 15-31 = 17/31 x 1000 = 548.39 -> 548; 20 % = 109.6 -> 110; no usage.
    w = world(session, started_at="2024-01-15", amount_cents=1000, charge_model=None)
    f.link_plan_tax(session, w.plan, f.tax(session, w.org, "vat_plan", "20"))
    session.commit()
    step(factory, "2024-02-01")
    assert rows(factory) == [periodic("2024-02-01", sub(548), taxes=110)]


def test_per_fee_rounding_differs_from_the_invoice_rounding(factory, session) -> None:
    # Two charges of 0.05 on one unit: 5 cents each; 10 % = 0.5 each, rounded half-up per fee to 1, but
    # the invoice rounds 0.5 + 0.5 = 1.0 once: 1 (not 2). The free plan's fee is 0.
    w = world(session, started_at="2024-01-01", amount_cents=0, properties={"amount": "0.05"})
    f.charge(session, w.org, w.plan, w.metric, "standard", {"amount": "0.05"})
    f.tax(session, w.org, "vat_org", "10", default=True)
    w.event(session, "2024-01-10", 1)
    session.commit()
    step(factory, "2024-02-01")
    assert rows(factory) == [periodic("2024-02-01", sub(0), usage(5), usage(5), taxes=1)]
    assert fee_taxes(factory) == [[("subscription", 0, 0), ("charge", 5, 1), ("charge", 5, 1)]]
    assert applied_taxes(factory) == [[("vat_org", 1, 10)]]


def test_per_tax_rounding_differs_from_the_invoice_rounding(factory, session) -> None:
    # One 4-cent fee with two 10 % charge taxes: 0.4 each, so each applied tax rounds to 0, while the fee
    # (0.8) and the invoice (0.4 + 0.4 = 0.8) round to 1.
    w = world(session, started_at="2024-01-01", amount_cents=0, properties={"amount": "0.04"})
    assert w.charge is not None
    f.link_charge_tax(session, w.charge, f.tax(session, w.org, "tax_a", "10"))
    f.link_charge_tax(session, w.charge, f.tax(session, w.org, "tax_b", "10"))
    w.event(session, "2024-01-10", 1)
    session.commit()
    step(factory, "2024-02-01")
    assert rows(factory) == [periodic("2024-02-01", sub(0), usage(4), taxes=1)]
    assert fee_taxes(factory) == [[("subscription", 0, 0), ("charge", 4, 1)]]
    assert applied_taxes(factory) == [[("tax_a", 0, 4), ("tax_b", 0, 4)]]


def test_half_cent_tax_rounds_up(factory, session) -> None:
    # Plan 1005 at 10 %: 100.5 -> 101 (half-up, not banker's 100).
    w = world(session, started_at="2024-01-01", amount_cents=1005, charge_model=None)
    f.tax(session, w.org, "vat_org", "10", default=True)
    session.commit()
    step(factory, "2024-02-01")
    assert rows(factory) == [periodic("2024-02-01", sub(1005), taxes=101)]
