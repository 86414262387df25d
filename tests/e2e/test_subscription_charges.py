"""A subscription's charges and projected usage through ``lago-python-client``: read and override a
charge, CRUD its filters (the client parses every answer), and the projected usage."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from lago_python_client.client import Client
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import (
    BillableMetric,
    BillableMetricFilter,
    Charge,
    Customer,
    Plan,
    Subscription,
)
from lago_python_client.models.billable_metric import BillableMetricFilters
from lago_python_client.models.charge import ChargeFilter, ChargeFilters, ChargeOverrides, Charges
from lago_python_client.models.event import Event

from billow.kit.money import to_minor_units
from billow.pricing.projection import period_ratio, project

pytestmark = pytest.mark.e2e


def catalog(lago: Client, suffix: str) -> str:
    """Metric ``storage_<suffix>`` (sum of gb, region us/eu), plan ``pro_<suffix>`` (standard at 2, filter
    us at 1), customer and subscription; returns the subscription's external id."""
    metric = lago.billable_metrics.create(
        BillableMetric(
            name="Storage",
            code=f"storage_{suffix}",
            aggregation_type="sum_agg",
            field_name="gb",
            filters=BillableMetricFilters(__root__=[BillableMetricFilter(key="region", values=["us", "eu"])]),
        )
    )
    charge = Charge(
        code="storage",
        billable_metric_id=metric.lago_id,
        charge_model="standard",
        properties={"amount": "2"},
        filters=ChargeFilters(__root__=[ChargeFilter(properties={"amount": "1"}, values={"region": ["us"]})]),
    )
    lago.plans.create(
        Plan(
            name="Pro",
            code=f"pro_{suffix}",
            interval="monthly",
            amount_cents=1000,
            amount_currency="EUR",
            charges=Charges(__root__=[charge]),
        )
    )
    lago.customers.create(Customer(external_id=f"cus_{suffix}", name="Ada"))
    lago.subscriptions.create(
        Subscription(
            external_customer_id=f"cus_{suffix}", plan_code=f"pro_{suffix}", external_id=f"sub_{suffix}"
        )
    )
    return f"sub_{suffix}"


def test_charges_and_filters(lago: Client, other_lago: Client, suffix: str) -> None:
    sub = catalog(lago, suffix)
    charge = lago.subscription_charges.find(sub, "storage")
    assert (charge.code, charge.properties) == ("storage", {"amount": "2"})

    overridden = lago.subscription_charges.update(
        sub, "storage", ChargeOverrides(properties={"amount": "5"}, invoice_display_name="Disk")
    )
    assert (overridden.properties, overridden.invoice_display_name) == ({"amount": "5"}, "Disk")
    assert overridden.lago_id != charge.lago_id  # the child plan's charge (the client has no lago_parent_id)
    assert lago.plans.find(f"pro_{suffix}").charges.__root__[0].properties == {"amount": "2"}

    [us] = lago.subscriptions.find_all_charge_filters(sub, "storage")["filters"]
    assert us.values == {"region": ["us"]}
    eu = lago.subscriptions.create_charge_filter(
        sub, "storage", ChargeFilter(values={"region": ["eu"]}, properties={"amount": "3"})
    )
    assert (eu.values, eu.properties) == ({"region": ["eu"]}, {"amount": "3"})
    assert lago.subscriptions.find_charge_filter(sub, "storage", eu.lago_id).lago_id == eu.lago_id
    updated = lago.subscriptions.update_charge_filter(
        sub, "storage", eu.lago_id, ChargeFilter(properties={"amount": "4"}, invoice_display_name="EU")
    )
    assert (updated.lago_id, updated.properties, updated.invoice_display_name) == (
        eu.lago_id,
        {"amount": "4"},
        "EU",
    )
    deleted = lago.subscriptions.destroy_charge_filter(sub, "storage", us.lago_id)
    assert deleted.values == {"region": ["us"]}
    remaining = lago.subscriptions.find_all_charge_filters(sub, "storage")["filters"]
    assert [f.lago_id for f in remaining] == [eu.lago_id]

    with pytest.raises(LagoApiError) as duplicate:
        lago.subscriptions.create_charge_filter(
            sub, "storage", ChargeFilter(values={"region": ["eu"]}, properties={"amount": "3"})
        )
    assert duplicate.value.status_code == 422
    assert duplicate.value.response["error_details"] == {"values": ["value_already_exists"]}
    with pytest.raises(LagoApiError) as missing:
        lago.subscription_charges.find(sub, "nope")
    assert (missing.value.status_code, missing.value.response["code"]) == (404, "charge_not_found")
    with pytest.raises(LagoApiError) as other:
        other_lago.subscription_charges.find(sub, "storage")
    assert (other.value.status_code, other.value.response["code"]) == (404, "subscription_not_found")


def test_projected_usage(lago: Client, other_lago: Client, suffix: str) -> None:
    sub = catalog(lago, suffix)
    lago.events.create(
        Event(
            transaction_id=f"tr_{suffix}",
            external_subscription_id=sub,
            code=f"storage_{suffix}",
            properties={"gb": 10, "region": "us"},
        )
    )
    before = datetime.now(UTC)
    usage = lago.customers.projected_usage(f"cus_{suffix}", sub)
    after = datetime.now(UTC)
    # 10 GB in the us filter at 1: 1000 cents so far; projected by the month's days begun (the default
    # bucket has no usage).
    assert (usage.amount_cents, usage.currency) == (1000, "EUR")
    [charge] = usage.charges_usage
    [us, default] = charge.filters
    assert (us.values, us.units, us.amount_cents) == ({"region": ["us"]}, "10.0", 1000)
    assert (default.values, default.projected_amount_cents) == ({}, 0)
    start, end = datetime.fromisoformat(usage.from_datetime), datetime.fromisoformat(usage.to_datetime)
    expected = set()
    for now in (before, after):
        projection = project(
            "standard",
            {"amount": "1"},
            units=Decimal(10),
            amount=Decimal(10),
            ratio=period_ratio(start, end, now, "UTC"),
        )
        expected.add((to_minor_units(projection.amount, "EUR"), projection.units))
    assert (us.projected_amount_cents, Decimal(us.projected_units)) in expected
    assert usage.projected_amount_cents == charge.projected_amount_cents == us.projected_amount_cents
    assert usage.projected_amount_cents >= 1000

    with pytest.raises(LagoApiError) as other:
        other_lago.customers.projected_usage(f"cus_{suffix}", sub)
    assert (other.value.status_code, other.value.response["code"]) == (404, "customer_not_found")
