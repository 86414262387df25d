"""Every catalog object created through ``lago-python-client`` and read back with the client's models.

The client's response models declare required fields; parsing a response is the check that Billow
answers every field the client needs.
"""

from __future__ import annotations

import pytest
from lago_python_client.client import Client
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import (
    AddOn,
    BillableMetric,
    BillableMetricFilter,
    Charge,
    Coupon,
    Customer,
    CustomerBillingConfiguration,
    MinimumCommitment,
    Plan,
    Tax,
    UsageThreshold,
    WebhookEndpoint,
)
from lago_python_client.models.billable_metric import BillableMetricFilters
from lago_python_client.models.charge import ChargeFilter, ChargeFilters, Charges
from lago_python_client.models.coupon import LimitationConfiguration
from lago_python_client.models.customer import Metadata, MetadataList
from lago_python_client.models.usage_threshold import UsageThresholds

pytestmark = pytest.mark.e2e


def _error(call: object) -> LagoApiError:
    with pytest.raises(LagoApiError) as caught:
        call()  # type: ignore[operator]
    return caught.value


def test_whole_catalog(lago: Client, other_lago: Client, suffix: str) -> None:
    tax = lago.taxes.create(Tax(name="VAT", code=f"vat_{suffix}", rate=20.0, applied_to_organization=False))
    assert tax.rate == 20.0

    calls = lago.billable_metrics.create(
        BillableMetric(
            name="API calls",
            code=f"calls_{suffix}",
            aggregation_type="count_agg",
            filters=BillableMetricFilters(__root__=[BillableMetricFilter(key="region", values=["us", "eu"])]),
        )
    )
    storage = lago.billable_metrics.create(
        BillableMetric(
            name="Storage",
            code=f"gb_{suffix}",
            aggregation_type="sum_agg",
            field_name="gb",
            recurring=True,
            rounding_function="ceil",
            rounding_precision=2,
        )
    )
    users = lago.billable_metrics.create(
        BillableMetric(
            name="Users", code=f"users_{suffix}", aggregation_type="unique_count_agg", field_name="user_id"
        )
    )
    seats = lago.billable_metrics.create(
        BillableMetric(
            name="Seats",
            code=f"seats_{suffix}",
            aggregation_type="weighted_sum_agg",
            field_name="seats",
            weighted_interval="seconds",
        )
    )
    payments = lago.billable_metrics.create(
        BillableMetric(name="Payments", code=f"pay_{suffix}", aggregation_type="sum_agg", field_name="amount")
    )
    for kind in ("max_agg", "latest_agg"):
        created = lago.billable_metrics.create(
            BillableMetric(name=kind, code=f"{kind}_{suffix}", aggregation_type=kind, field_name="v")
        )
        assert created.aggregation_type == kind
    assert calls.filters.__root__[0].values == ["us", "eu"]
    assert storage.recurring is True and storage.rounding_function == "ceil"

    charges = [
        Charge(
            billable_metric_id=calls.lago_id,
            charge_model="standard",
            properties={"amount": "0.01"},
            filters=ChargeFilters(
                __root__=[
                    ChargeFilter(
                        invoice_display_name="EU calls",
                        properties={"amount": "0.02"},
                        values={"region": ["eu"]},
                    )
                ]
            ),
        ),
        Charge(
            billable_metric_id=storage.lago_id,
            charge_model="graduated",
            properties={
                "graduated_ranges": [
                    {"from_value": 0, "to_value": 10, "per_unit_amount": "0", "flat_amount": "0"},
                    {"from_value": 11, "to_value": None, "per_unit_amount": "0.5", "flat_amount": "1"},
                ]
            },
            tax_codes=[tax.code],
        ),
        Charge(
            billable_metric_id=users.lago_id,
            charge_model="package",
            properties={"amount": "10", "package_size": 5, "free_units": 2},
        ),
        Charge(
            billable_metric_id=seats.lago_id,
            charge_model="volume",
            properties={
                "volume_ranges": [
                    {"from_value": 0, "to_value": 100, "per_unit_amount": "2", "flat_amount": "10"},
                    {"from_value": 101, "to_value": None, "per_unit_amount": "1", "flat_amount": "0"},
                ]
            },
        ),
        Charge(
            billable_metric_id=payments.lago_id,
            charge_model="percentage",
            properties={"rate": "1.5", "fixed_amount": "0.1", "free_units_per_events": 3},
        ),
        Charge(
            billable_metric_id=payments.lago_id,
            charge_model="graduated_percentage",
            properties={
                "graduated_percentage_ranges": [
                    {"from_value": 0, "to_value": None, "rate": "1", "flat_amount": "0"}
                ]
            },
        ),
        Charge(billable_metric_id=payments.lago_id, charge_model="dynamic"),
    ]
    plan = lago.plans.create(
        Plan(
            name="Pro",
            code=f"pro_{suffix}",
            interval="monthly",
            amount_cents=4900,
            amount_currency="EUR",
            trial_period=7.0,
            pay_in_advance=True,
            tax_codes=[tax.code],
            charges=Charges(__root__=charges),
            minimum_commitment=MinimumCommitment(amount_cents=10000, invoice_display_name="Minimum"),
            usage_thresholds=UsageThresholds(
                __root__=[UsageThreshold(amount_cents=20000, threshold_display_name="20 EUR")]
            ),
        )
    )
    assert plan.amount_cents == 4900 and plan.trial_period == 7.0
    assert [c.charge_model for c in plan.charges.__root__] == [
        "standard",
        "graduated",
        "package",
        "volume",
        "percentage",
        "graduated_percentage",
        "dynamic",
    ]
    assert plan.charges.__root__[0].filters.__root__[0].values == {"region": ["eu"]}
    assert plan.minimum_commitment.amount_cents == 10000 and plan.minimum_commitment.interval == "monthly"
    assert plan.usage_thresholds.__root__[0].amount_cents == 20000
    assert plan.taxes.__root__[0].code == tax.code
    # Pay-in-advance rules are enforced as Lago does.
    bad = _error(
        lambda: lago.plans.create(
            Plan(
                name="Bad",
                code=f"bad_{suffix}",
                interval="monthly",
                amount_cents=0,
                amount_currency="EUR",
                charges=Charges(
                    __root__=[
                        Charge(billable_metric_id=seats.lago_id, charge_model="volume", pay_in_advance=True)
                    ]
                ),
            )
        )
    )
    assert bad.status_code == 422

    daily = lago.plans.create(
        Plan(name="Daily", code=f"daily_{suffix}", interval="daily", amount_cents=100, amount_currency="USD")
    )
    assert daily.interval == "daily"
    updated = lago.plans.update(Plan(name="Pro 2", amount_cents=5900), plan.code)
    assert updated.name == "Pro 2" and len(updated.charges.__root__) == 7
    assert lago.plans.find(plan.code).amount_cents == 5900
    assert plan.code in [p.code for p in lago.plans.find_all({"per_page": 100})["plans"]]

    customer = lago.customers.create(
        Customer(
            external_id=f"cus_{suffix}",
            name="Acme",
            currency="EUR",
            timezone="Europe/Paris",
            country="FR",
            email="billing@acme.test",
            net_payment_term=15,
            tax_codes=[tax.code],
            billing_configuration=CustomerBillingConfiguration(invoice_grace_period=3, document_locale="fr"),
            metadata=MetadataList(__root__=[Metadata(key="crm", value="42", display_in_invoice=True)]),
        )
    )
    assert customer.applicable_timezone == "Europe/Paris"
    assert customer.billing_configuration.invoice_grace_period == 3
    again = lago.customers.create(Customer(external_id=f"cus_{suffix}", name="Acme Inc"))
    assert again.lago_id == customer.lago_id and again.name == "Acme Inc" and again.currency == "EUR"
    assert lago.customers.find(customer.external_id).metadata.__root__[0].key == "crm"

    add_on = lago.add_ons.create(
        AddOn(
            name="Setup",
            code=f"setup_{suffix}",
            amount_cents=50000,
            amount_currency="EUR",
            tax_codes=[tax.code],
        )
    )
    assert add_on.taxes.__root__[0].code == tax.code
    coupon = lago.coupons.create(
        Coupon(
            name="Launch",
            code=f"launch_{suffix}",
            coupon_type="percentage",
            percentage_rate=12.5,
            frequency="recurring",
            frequency_duration=3,
            expiration="no_expiration",
            applies_to=LimitationConfiguration(plan_codes=[plan.code]),
        )
    )
    assert coupon.percentage_rate == 12.5 and coupon.plan_codes == [plan.code] and coupon.limited_plans
    endpoint = lago.webhook_endpoints.create(
        WebhookEndpoint(webhook_url=f"https://hooks.example.com/{suffix}", signature_algo="hmac")
    )
    assert endpoint.signature_algo == "hmac"
    assert lago.webhook_endpoints.find(endpoint.lago_id).webhook_url == endpoint.webhook_url

    # Another organization sees none of it.
    for finder, key in [
        (lambda: other_lago.taxes.find(tax.code), "tax_not_found"),
        (lambda: other_lago.billable_metrics.find(calls.code), "billable_metric_not_found"),
        (lambda: other_lago.plans.find(plan.code), "plan_not_found"),
        (lambda: other_lago.customers.find(customer.external_id), "customer_not_found"),
        (lambda: other_lago.add_ons.find(add_on.code), "add_on_not_found"),
        (lambda: other_lago.coupons.find(coupon.code), "coupon_not_found"),
        (lambda: other_lago.webhook_endpoints.find(endpoint.lago_id), "webhook_endpoint_not_found"),
    ]:
        error = _error(finder)
        assert (error.status_code, error.response["code"]) == (404, key)
    assert other_lago.customers.find_all()["customers"] == []

    # Deleting: a metric still charged by a plan is refused; after the plan goes, it can be deleted.
    in_use = _error(lambda: lago.billable_metrics.destroy(calls.code))
    assert (in_use.status_code, in_use.response["code"]) == (405, "billable_metric_in_use")
    assert lago.coupons.destroy(coupon.code).code == coupon.code
    assert lago.plans.destroy(plan.code).code == plan.code
    assert lago.billable_metrics.destroy(calls.code).code == calls.code
    assert lago.add_ons.destroy(add_on.code).code == add_on.code
    assert lago.customers.destroy(customer.external_id).external_id == customer.external_id
    assert lago.webhook_endpoints.destroy(endpoint.lago_id).lago_id == endpoint.lago_id
    assert lago.taxes.destroy(tax.code).code == tax.code
    assert _error(lambda: lago.plans.find(plan.code)).status_code == 404


def test_validation_errors_reach_the_client(lago: Client, suffix: str) -> None:
    error = _error(
        lambda: lago.billable_metrics.create(
            BillableMetric(name="x", code=f"m_{suffix}", aggregation_type="count_agg", recurring=True)
        )
    )
    assert error.status_code == 422
    assert error.response["error_details"] == {"recurring": ["not_compatible_with_aggregation_type"]}
    error = _error(
        lambda: lago.customers.create(Customer(external_id=f"c_{suffix}", timezone="Nowhere/Land"))
    )
    assert error.response["error_details"] == {"timezone": ["invalid_timezone"]}
    assert _error(lambda: lago.customers.find(f"c_{suffix}")).status_code == 404


def test_plan_metadata(lago: Client, other_lago: Client, suffix: str) -> None:
    code = f"meta_{suffix}"
    lago.plans.create(
        Plan(
            name="M",
            code=code,
            interval="monthly",
            amount_cents=0,
            amount_currency="USD",
            metadata={"team": "growth"},
        )
    )
    assert lago.plans.replace_metadata(code, {"a": "1", "b": None}) == {"a": "1", "b": None}
    assert lago.plans.merge_metadata(code, {"c": "3"}) == {"a": "1", "b": None, "c": "3"}
    assert lago.plans.delete_metadata_key(code, "a") == {"b": None, "c": "3"}
    assert lago.plans.find(code).metadata == {"b": None, "c": "3"}
    assert lago.plans.delete_all_metadata(code) == {}
    assert _error(lambda: other_lago.plans.merge_metadata(code, {"x": "1"})).status_code == 404
