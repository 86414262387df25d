"""Fixed charges through ``lago-python-client``: on a plan, one at a time, and overridden per subscription.

``plan_fixed_charges.find_all`` and ``subscription_fixed_charges.find_all`` send no API key (a client
quirk, reference §1.2): they are not used here."""

from __future__ import annotations

import pytest
from lago_python_client.client import Client
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import AddOn, Customer, Plan, Subscription
from lago_python_client.models.fixed_charge import (
    FixedCharge,
    FixedChargeOverrides,
    FixedChargeProperties,
    FixedCharges,
    FixedChargesOverrides,
)
from lago_python_client.models.plan import PlanOverrides

pytestmark = pytest.mark.e2e


def test_fixed_charges(lago: Client, other_lago: Client, suffix: str) -> None:
    seats = lago.add_ons.create(
        AddOn(name="Seats", code=f"seats_{suffix}", amount_cents=100, amount_currency="EUR")
    )
    plan_code = f"fc_{suffix}"
    plan = lago.plans.create(
        Plan(
            name="Fixed",
            code=plan_code,
            interval="monthly",
            amount_cents=1000,
            amount_currency="EUR",
            fixed_charges=FixedCharges(
                __root__=[
                    FixedCharge(
                        add_on_id=seats.lago_id,
                        charge_model="standard",
                        code="seats",
                        invoice_display_name="Seats",
                        units=3,
                        properties=FixedChargeProperties(amount="10"),
                    )
                ]
            ),
        )
    )
    assert plan.fixed_charges is not None
    [on_plan] = plan.fixed_charges.__root__
    assert (on_plan.code, on_plan.units, on_plan.lago_add_on_id) == ("seats", 3.0, seats.lago_id)

    client = lago.plan_fixed_charges
    support = client.create(
        plan_code,
        FixedCharge(add_on_code=seats.code, charge_model="volume", code="support", units=1.5),
    )
    assert (support.code, support.units, support.charge_model) == ("support", 1.5, "volume")
    updated = client.update(plan_code, "support", FixedCharge(units=4, invoice_display_name="Support"))
    assert (updated.units, updated.invoice_display_name) == (4.0, "Support")
    assert client.find(plan_code, "support").lago_id == support.lago_id
    assert client.destroy(plan_code, "support").lago_id == support.lago_id
    with pytest.raises(LagoApiError) as caught:
        client.find(plan_code, "support")
    assert caught.value.status_code == 404
    with pytest.raises(LagoApiError):
        other_lago.plan_fixed_charges.find(plan_code, "seats")

    customer = lago.customers.create(Customer(external_id=f"cus_fc_{suffix}", currency="EUR"))
    sub_id = f"sub_fc_{suffix}"
    lago.subscriptions.create(
        Subscription(
            external_customer_id=customer.external_id,
            plan_code=plan_code,
            external_id=sub_id,
            plan_overrides=PlanOverrides(
                fixed_charges=FixedChargesOverrides(
                    __root__=[FixedChargeOverrides(id=on_plan.lago_id, units=5)]
                )
            ),
        )
    )
    mine = lago.subscription_fixed_charges.find(sub_id, "seats")
    assert (mine.units, mine.lago_parent_id) == (5.0, on_plan.lago_id)
    overridden = lago.subscription_fixed_charges.update(sub_id, "seats", FixedChargeOverrides(units=7))
    assert (overridden.units, overridden.lago_id) == (7.0, mine.lago_id)
    # The plan keeps its units.
    assert client.find(plan_code, "seats").units == 3.0
