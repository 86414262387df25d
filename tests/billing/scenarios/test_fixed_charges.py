"""Fixed charges on subscription invoices: an add-on billed every plan period, in arrears (for the period
that ended) or in advance (for the period that starts), prorated by days or not, with its own taxes.

Unless said otherwise: monthly plan of 1000 in arrears, no usage charge, calendar billing in UTC; the
fixed charge ``seats`` is 3 units at 10.00 (standard): a whole period bills 3000."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from billow.models.add_ons import AddOn
from billow.models.invoices import Fee
from billow.models.plans import Commitment, FixedCharge, Plan, fixed_charge_taxes
from tests.billing.scenarios.helpers import (
    applied_taxes,
    fee_taxes,
    periodic,
    rows,
    starting,
    step,
    sub,
    terminating,
    world,
)
from tests.fixtures import factories as f

GRADUATED = {
    "graduated_ranges": [
        {"from_value": 0, "to_value": 10, "per_unit_amount": "5", "flat_amount": "1"},
        {"from_value": 11, "to_value": None, "per_unit_amount": "2", "flat_amount": "0"},
    ]
}


def fixed(amount: int) -> tuple[str, int]:
    return ("fixed_charge", amount)


def add_fixed_charge(
    session: Session, plan: Plan, code: str = "seats", add_on: AddOn | None = None, **fields: Any
) -> FixedCharge:
    if add_on is None:
        add_on = AddOn(
            organization_id=plan.organization_id,
            name=code.title(),
            code=code,
            amount_cents=0,
            amount_currency=plan.amount_currency,
        )
        session.add(add_on)
        session.flush()
    row = FixedCharge(
        organization_id=plan.organization_id,
        plan_id=plan.id,
        add_on_id=add_on.id,
        code=code,
        charge_model=fields.pop("charge_model", "standard"),
        units=Decimal(fields.pop("units", "3")),
        properties=fields.pop("properties", {"amount": "10.00"}),
        **fields,
    )
    session.add(row)
    session.flush()
    return row


def test_in_arrears_whole_month(factory, session) -> None:
    w = world(session, started_at="2024-01-01", charge_model=None)
    add_fixed_charge(session, w.plan)
    session.commit()
    step(factory, "2024-02-01")
    # Plan 1000 + 3 x 10.00 = 3000.
    assert rows(factory) == [periodic("2024-02-01", sub(1000), fixed(3000))]
    with factory() as check:
        fee = check.scalars(select(Fee).where(Fee.fee_type == "fixed_charge")).one()
        assert (fee.units, fee.unit_amount, fee.pay_in_advance) == (Decimal(3), Decimal(10), False)
        assert (fee.from_datetime, fee.to_datetime) == (f.at("2024-01-01"), f.at("2024-02-01"))


def test_partial_first_month_prorated_or_not(factory, session) -> None:
    w = world(session, started_at="2024-01-17", charge_model=None)
    add_fixed_charge(session, w.plan, "seats", prorated=True)
    add_fixed_charge(session, w.plan, "licences")
    session.commit()
    step(factory, "2024-02-01")
    # Jan 17-31: 15 of 31 days. Plan 1000 x 15 / 31 = 483.87 -> 484.
    # Prorated: 3 x 15 / 31 = 1.451613 units x 10.00 = 14.51613 -> 1452. Not prorated: the full 3000.
    # 484 + 1452 + 3000 = 4936.
    assert rows(factory) == [periodic("2024-02-01", sub(484), fixed(1452), fixed(3000))]
    step(factory, "2024-03-01")
    # February whole: 1000 + 3000 + 3000.
    assert rows(factory)[1] == periodic("2024-03-01", sub(1000), fixed(3000), fixed(3000))


def test_in_advance_on_a_pay_in_advance_plan(factory, session) -> None:
    w = world(session, started_at="2024-01-17", charge_model=None, pay_in_advance=True)
    add_fixed_charge(session, w.plan, "seats", pay_in_advance=True, prorated=True)
    add_fixed_charge(session, w.plan, "licences", charge_model="graduated", units="12", properties=GRADUATED)
    session.commit()
    step(factory, "2024-01-17")
    # The start bills the plan fee and the in-advance fixed charge of Jan 17-31 (15 of 31 days):
    # plan 1000 x 15 / 31 = 484; seats 1.451613 x 10.00 = 1452. The in-arrears one waits.
    assert rows(factory) == [starting("2024-01-17", sub(484), fixed(1452))]
    step(factory, "2024-02-01")
    # February's plan fee 1000 and seats 3000 in advance; January's licences in arrears, not prorated:
    # 12 units graduated = 10 x 5 + 1 + 2 x 2 = 55.00 -> 5500. 1000 + 3000 + 5500 = 9500.
    assert rows(factory)[1] == periodic("2024-02-01", sub(1000), fixed(3000), fixed(5500))


def test_in_advance_on_an_arrears_plan(factory, session) -> None:
    w = world(session, started_at="2024-01-17", charge_model=None)
    add_fixed_charge(session, w.plan, pay_in_advance=True)
    session.commit()
    step(factory, "2024-01-17")
    # The start bills the fixed charge's first period (not prorated: 3000) and no plan fee (in arrears).
    assert rows(factory) == [starting("2024-01-17", fixed(3000))]
    step(factory, "2024-02-01")
    # January's plan fee in arrears, Jan 17-31: 1000 x 15 / 31 = 484; February's fixed charge: 3000.
    assert rows(factory)[1] == periodic("2024-02-01", sub(484), fixed(3000))
    with factory() as check:
        spans = [
            (fee.from_datetime, fee.to_datetime, fee.pay_in_advance)
            for fee in check.scalars(
                select(Fee).where(Fee.fee_type == "fixed_charge").order_by(Fee.from_datetime)
            )
        ]
    assert spans == [
        (f.at("2024-01-17"), f.at("2024-02-01"), True),
        (f.at("2024-02-01"), f.at("2024-03-01"), True),
    ]


def test_termination(factory, session) -> None:
    w = world(session, started_at="2024-02-01", charge_model=None, terminated_at="2024-03-10T12:00:00")
    add_fixed_charge(session, w.plan, "seats", prorated=True)
    add_fixed_charge(session, w.plan, "licences")
    add_fixed_charge(session, w.plan, "support", pay_in_advance=True)
    session.commit()
    step(factory, "2024-02-01")
    # The start: February's support in advance, 3000.
    assert rows(factory) == [starting("2024-02-01", fixed(3000))]
    step(factory, "2024-03-01")
    # February whole: plan 1000, seats 3000, licences 3000, and March's support in advance 3000.
    assert rows(factory)[1] == periodic("2024-03-01", sub(1000), fixed(3000), fixed(3000), fixed(3000))
    step(factory, "2024-03-10T12:00:00")
    # March 1-10: 10 of 31 days. Plan 1000 x 10 / 31 = 322.58 -> 323; seats 3 x 10 / 31 = 0.967742 units
    # x 10.00 = 9.67742 -> 968; licences not prorated 3000; support was paid in advance: nothing.
    assert rows(factory)[2] == terminating("2024-03-10", sub(323), fixed(968), fixed(3000))


def test_fixed_charge_taxes(factory, session) -> None:
    w = world(session, started_at="2024-01-01", charge_model=None)
    row = add_fixed_charge(session, w.plan)
    f.link_plan_tax(session, w.plan, f.tax(session, w.org, "vat_plan", "10"))
    tax = f.tax(session, w.org, "vat_seats", "20")
    session.execute(
        fixed_charge_taxes.insert().values(fixed_charge_id=row.id, tax_id=tax.id, organization_id=w.org.id)
    )
    session.commit()
    step(factory, "2024-02-01")
    # The plan fee takes the plan's 10 %: 100; the fixed charge its own 20 % of 3000: 600. 700 in all.
    assert rows(factory) == [periodic("2024-02-01", sub(1000), fixed(3000), taxes=700)]
    assert fee_taxes(factory) == [[("subscription", 1000, 100), ("fixed_charge", 3000, 600)]]
    assert applied_taxes(factory) == [[("vat_plan", 100, 1000), ("vat_seats", 600, 3000)]]


def test_zero_units_bill_nothing(factory, session) -> None:
    w = world(session, started_at="2024-01-01", charge_model=None)
    add_fixed_charge(session, w.plan, units="0")
    session.commit()
    step(factory, "2024-02-01")
    assert rows(factory) == [periodic("2024-02-01", sub(1000))]


def test_deleted_fixed_charge_is_not_billed(factory, session) -> None:
    w = world(session, started_at="2024-01-01", charge_model=None)
    row = add_fixed_charge(session, w.plan)
    row.deleted_at = f.at("2024-01-20")
    session.commit()
    step(factory, "2024-02-01")
    assert rows(factory) == [periodic("2024-02-01", sub(1000))]


def test_minimum_commitment_counts_fixed_charges(factory, session) -> None:
    w = world(session, started_at="2024-01-01", charge_model=None)
    add_fixed_charge(session, w.plan)
    _commitment(session, w.plan, 5000)
    session.commit()
    step(factory, "2024-02-01")
    # Commitment 5000 - (plan 1000 + fixed charge 3000) = 1000 true-up.
    assert rows(factory) == [periodic("2024-02-01", sub(1000), fixed(3000), ("commitment", 1000))]


def _commitment(session: Session, plan: Plan, amount_cents: int) -> None:
    session.add(Commitment(organization_id=plan.organization_id, plan_id=plan.id, amount_cents=amount_cents))
    session.flush()


def test_upgrade_deducts_what_the_previous_subscription_paid(factory, session) -> None:
    w = world(session, started_at="2024-01-01", charge_model=None, terminated_at="2024-01-22")
    old = add_fixed_charge(session, w.plan, pay_in_advance=True, prorated=True)
    bigger = f.plan(session, w.org, amount_cents=1000, amount_currency=w.plan.amount_currency)
    add_on = session.get(AddOn, old.add_on_id)
    add_fixed_charge(
        session, bigger, add_on=add_on, pay_in_advance=True, prorated=True, properties={"amount": "20"}
    )
    new = f.subscription(
        session,
        w.org,
        w.customer,
        bigger,
        external_id="sub_1",
        started_at=f.at("2024-01-22"),
        previous_subscription_id=w.subscription.id,
    )
    session.commit()
    step(factory, "2024-01-01")
    # The start: January's seats in advance, the whole month: 3 x 10.00 = 3000.
    assert rows(factory) == [starting("2024-01-01", fixed(3000))]
    step(factory, "2024-01-22")  # the upgrade: one invoice for both subscriptions
    with factory() as check:
        fees = check.scalars(select(Fee).where(Fee.subscription_id == new.id)).all()
    # Jan 22-31: 10 of 31 days. 3 x 10 / 31 = 0.967742 units x 20.00 = 19.35484 -> 1935 (precise
    # 1935.484); already paid by the old subscription for those days: 3000 x 10 / 31 = 967.74 -> 968.
    # 1935 - 968 = 967.
    assert [(fee.fee_type, fee.amount_cents, fee.precise_amount_cents) for fee in fees] == [
        ("fixed_charge", 967, Decimal("967.484"))
    ]


def test_two_customers_on_one_plan_in_one_run(factory, session) -> None:
    w = world(session, started_at="2024-01-01", charge_model=None)
    add_fixed_charge(session, w.plan)
    other = f.customer(session, w.org, external_id="cus_2")
    second = f.subscription(session, w.org, other, w.plan, external_id="sub_2", started_at=f.at("2024-01-01"))
    session.commit()
    step(factory, "2024-02-01", count=2)  # the run reads the plan's fixed charges once (its cache)
    # Each: plan 1000 + 3 x 10.00 = 3000.
    assert rows(factory, w.subscription) == [periodic("2024-02-01", sub(1000), fixed(3000))]
    assert rows(factory, second) == [periodic("2024-02-01", sub(1000), fixed(3000))]


def test_yearly_plan_billing_fixed_charges_monthly(factory, session) -> None:
    w = world(
        session, started_at="2024-01-01", interval="yearly", amount_cents=12000, bill_charges_monthly=True
    )
    w.plan.bill_fixed_charges_monthly = True
    add_fixed_charge(session, w.plan)
    add_fixed_charge(session, w.plan, "support", pay_in_advance=True, prorated=True)
    session.commit()
    step(factory, "2024-01-01")
    # The start: January's support in advance, a whole month: 3000. The yearly fee is in arrears.
    assert rows(factory) == [starting("2024-01-01", fixed(3000))]
    step(factory, "2024-02-01")
    # A monthly invoice: January's seats in arrears (3000), February's support in advance (3000); no usage
    # (no fee), no plan fee (the year is not over).
    assert rows(factory)[1] == periodic("2024-02-01", fixed(3000), fixed(3000))
