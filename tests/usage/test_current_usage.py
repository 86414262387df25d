"""GET /customers/{external_customer_id}/current_usage, end to end through the API, on SQLite and
PostgreSQL. Catalog rows and events are inserted directly (tests/fixtures/factories.py); amounts are
computed by hand."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI

from billow.models.billable_metrics import BillableMetric
from billow.models.plans import Charge, Plan
from billow.subscriptions.dependencies import request_time
from tests.conftest import Api
from tests.fixtures import factories as f
from tests.fixtures.worlds import NOW
from tests.fixtures.worlds import UsageWorld as World


@pytest.fixture
def world(app: FastAPI, api: Api) -> Iterator[World]:
    yield World(app, api)
    app.dependency_overrides.pop(request_time, None)


def only_charge(body: dict[str, Any]) -> dict[str, Any]:
    [charge] = body["charges_usage"]
    return charge


class TestShape:
    def test_exact_body(self, world: World) -> None:
        metric = world.metric("count_agg", code="api_calls", name="API calls")
        charge = world.charge(
            metric, "standard", {"amount": "0.5"}, code="calls", invoice_display_name="Calls"
        )
        world.events(metric, {}, {"region": "us"}, {})
        assert world.usage().json() == {
            "customer_usage": {
                "from_datetime": "2023-08-01T00:00:00Z",
                "to_datetime": "2023-08-31T23:59:59Z",
                "issuing_date": "2023-08-31",
                "currency": "USD",
                "amount_cents": 150,
                "total_amount_cents": 150,
                "taxes_amount_cents": 0,
                "lago_invoice_id": None,
                "charges_usage": [
                    {
                        "units": "3.0",
                        "total_aggregated_units": "3.0",
                        "events_count": 3,
                        "amount_cents": 150,
                        "amount_currency": "USD",
                        "pricing_unit_details": None,
                        "charge": {
                            "lago_id": str(charge.id),
                            "code": "calls",
                            "charge_model": "standard",
                            "invoice_display_name": "Calls",
                        },
                        "billable_metric": {
                            "lago_id": str(metric.id),
                            "name": "API calls",
                            "code": "api_calls",
                            "aggregation_type": "count_agg",
                        },
                        "filters": [],
                        "grouped_usage": [],
                        "presentation_breakdowns": [],
                    }
                ],
            }
        }

    def test_no_charges(self, world: World) -> None:
        body = world.body()
        assert (body["amount_cents"], body["charges_usage"]) == (0, [])

    def test_charges_sorted_by_metric_name(self, world: World) -> None:
        for name in ("beta", "Alpha", "gamma"):
            world.charge(world.metric("count_agg", name=name))
        names = [charge["billable_metric"]["name"] for charge in world.body()["charges_usage"]]
        assert names == ["Alpha", "beta", "gamma"]

    def test_only_the_current_period(self, world: World) -> None:
        metric = world.metric("count_agg")
        world.charge(metric, "standard", {"amount": "1"})
        world.events(metric, {}, at="2023-07-31T23:59:59")
        world.events(metric, {}, at="2023-08-01T00:00:00")
        world.events(metric, {}, at="2023-08-31T23:59:59")
        world.events(metric, {}, at="2023-09-01T00:00:00")
        assert only_charge(world.body())["events_count"] == 2

    def test_customer_time_zone(self, world: World) -> None:
        with world.tx() as session:
            session.get(type(world.customer), world.customer.id).timezone = "America/New_York"
        metric = world.metric("count_agg")
        world.charge(metric)
        world.events(metric, {}, at="2023-08-01T03:59:59")  # July 31st in New York
        world.events(metric, {}, at="2023-08-01T04:00:00")
        body = world.body()
        assert (body["from_datetime"], body["to_datetime"], body["issuing_date"]) == (
            "2023-08-01T04:00:00Z",
            "2023-09-01T03:59:59Z",
            "2023-08-31",
        )
        assert only_charge(body)["events_count"] == 1

    def test_yearly_plan_with_monthly_charges(self, world: World) -> None:
        with world.tx() as session:
            plan = session.get(Plan, world.plan.id)
            plan.interval, plan.bill_charges_monthly = "yearly", True
        body = world.body()
        assert (body["from_datetime"], body["to_datetime"], body["issuing_date"]) == (
            "2023-08-01T00:00:00Z",
            "2023-08-31T23:59:59Z",
            "2023-12-31",
        )

    def test_subscription_started_in_the_period(self, world: World) -> None:
        with world.tx() as session:
            other = f.customer(session, world.org, "cus_2")
            f.subscription(
                session, world.org, other, world.plan, "sub_2", started_at=f.at("2023-08-10T08:00:00")
            )
        response = world.api.get(
            "/customers/cus_2/current_usage", params={"external_subscription_id": "sub_2"}
        )
        assert response.json()["customer_usage"]["from_datetime"] == "2023-08-10T08:00:00Z"

    def test_filter_by_charge_code(self, world: World) -> None:
        world.charge(world.metric("count_agg", name="a"), code="first")
        world.charge(world.metric("count_agg", name="b"), code="second")
        body = world.body(charge_code="second")
        assert [c["charge"]["code"] for c in body["charges_usage"]] == ["second"]
        response = world.usage(charge_code="nope")
        assert response.status_code == 404
        assert response.json()["code"] == "charge_not_found"


class TestErrors:
    def test_unknown_customer(self, world: World) -> None:
        response = world.api.get(
            "/customers/nobody/current_usage", params={"external_subscription_id": "sub_1"}
        )
        assert response.status_code == 404
        assert response.json() == {"status": 404, "error": "Not Found", "code": "customer_not_found"}

    @pytest.mark.parametrize("external_id", ["unknown", None])
    def test_no_active_subscription(self, world: World, external_id: str | None) -> None:
        params = {} if external_id is None else {"external_subscription_id": external_id}
        response = world.api.get("/customers/cus_1/current_usage", params=params)
        assert response.status_code == 405
        assert response.json() == {
            "status": 405,
            "error": "Method Not Allowed",
            "code": "no_active_subscription",
        }

    def test_terminated_subscription(self, world: World) -> None:
        with world.tx() as session:
            row = session.get(type(world.subscription), world.subscription.id)
            row.status = "terminated"
            row.terminated_at = f.at("2023-08-10T00:00:00")
        assert world.usage().status_code == 405

    def test_another_customers_subscription(self, world: World) -> None:
        with world.tx() as session:
            f.customer(session, world.org, "cus_2")
        response = world.api.get(
            "/customers/cus_2/current_usage", params={"external_subscription_id": "sub_1"}
        )
        assert response.json()["code"] == "no_active_subscription"

    def test_other_organization_sees_nothing(self, world: World, other_api: Api) -> None:
        world.charge(world.metric("count_agg"))
        response = other_api.get(
            "/customers/cus_1/current_usage", params={"external_subscription_id": "sub_1"}
        )
        assert response.status_code == 404
        assert response.json()["code"] == "customer_not_found"


GRADUATED = [
    {"from_value": 0, "to_value": 10, "per_unit_amount": "10", "flat_amount": "2"},
    {"from_value": 11, "to_value": 20, "per_unit_amount": "5", "flat_amount": "3"},
    {"from_value": 21, "to_value": None, "per_unit_amount": "5", "flat_amount": "3"},
]
GRADUATED_PERCENTAGE = [
    {"from_value": 0, "to_value": 10, "rate": "1", "flat_amount": "200"},
    {"from_value": 11, "to_value": 20, "rate": "2", "flat_amount": "300"},
    {"from_value": 21, "to_value": None, "rate": "3", "flat_amount": "400"},
]
VOLUME = [
    {"from_value": 0, "to_value": 100, "per_unit_amount": "2", "flat_amount": "10"},
    {"from_value": 101, "to_value": 200, "per_unit_amount": "1", "flat_amount": "0"},
    {"from_value": 201, "to_value": None, "per_unit_amount": "0.5", "flat_amount": "50"},
]

MODEL_CASES = [
    # (id, model, aggregation, properties, event values (None: count), units, amount_cents)
    ("standard", "standard", "sum_agg", {"amount": "5.12345"}, ["4", "6"], "10.0", 5123),
    ("graduated", "graduated", "count_agg", {"graduated_ranges": GRADUATED}, [None] * 12, "12.0", 11500),
    ("graduated-zero", "graduated", "count_agg", {"graduated_ranges": GRADUATED}, [], "0.0", 200),
    (
        "graduated_percentage",
        "graduated_percentage",
        "sum_agg",
        {"graduated_percentage_ranges": GRADUATED_PERCENTAGE},
        ["12"],
        "12.0",
        50014,
    ),
    (
        "package",
        "package",
        "count_agg",
        {"amount": "100", "package_size": 10, "free_units": 0},
        [None] * 12,
        "12.0",
        20000,
    ),
    (
        "package-free",
        "package",
        "count_agg",
        {"amount": "100", "package_size": 10, "free_units": 5},
        [None] * 12,
        "12.0",
        10000,
    ),
    (
        "percentage",
        "percentage",
        "sum_agg",
        {
            "rate": "1.3",
            "fixed_amount": "2",
            "free_units_per_events": 3,
            "free_units_per_total_aggregation": "250",
        },
        ["50", "100", "250", "400"],
        "800.0",
        1115,
    ),
    (
        "percentage-min-max",
        "percentage",
        "sum_agg",
        {"rate": "2.99", "per_transaction_min_amount": "1.75", "per_transaction_max_amount": "12"},
        ["10", "80", "10000"],
        "10090.0",
        1614,  # 1.75 + 2.392 + 12 = 16.142
    ),
    ("volume", "volume", "sum_agg", {"volume_ranges": VOLUME}, ["100.5"], "100.5", 10050),
    ("weighted", "standard", "weighted_sum_agg", {"amount": "100"}, [], "0.0", 0),
    ("negative-sum-is-zero", "standard", "sum_agg", {"amount": "1"}, ["-5", "2"], "0.0", 0),
]


@pytest.mark.parametrize(
    ("model", "aggregation", "properties", "values", "units", "amount_cents"),
    [case[1:] for case in MODEL_CASES],
    ids=[case[0] for case in MODEL_CASES],
)
def test_charge_models(
    world: World,
    model: str,
    aggregation: str,
    properties: dict[str, Any],
    values: list[str | None],
    units: str,
    amount_cents: int,
) -> None:
    metric = world.metric(aggregation)
    world.charge(metric, model, properties)
    with world.tx() as session:
        for index, value in enumerate(values):
            props = {} if value is None else {"value": value}
            f.event(session, world.org, metric.code, f"2023-08-05T10:00:{index:02d}", props)
    charge = only_charge(world.body())
    assert (charge["units"], charge["amount_cents"]) == (units, amount_cents)
    assert charge["events_count"] == len(values)


def test_dynamic(world: World) -> None:
    metric = world.metric("sum_agg")
    world.charge(metric, "dynamic", {})
    with world.tx() as session:
        for cents in ("1234.5", "100.4"):
            f.event(
                session,
                world.org,
                metric.code,
                "2023-08-02T00:00:00",
                {"value": 1},
                precise_total_amount_cents=Decimal(cents),
            )
    charge = only_charge(world.body())
    assert (charge["units"], charge["amount_cents"]) == ("2.0", 1335)  # 1334.9 cents


def test_weighted_sum(world: World) -> None:
    metric = world.metric("weighted_sum_agg")
    world.charge(metric, "standard", {"amount": "100"})
    with world.tx() as session:
        for hour, minute, value in [
            (0, 0, 2),
            (1, 0, 3),
            (1, 30, 1),
            (2, 0, -4),
            (4, 0, -2),
            (5, 0, 10),
            (5, 30, -10),
        ]:
            f.event(
                session, world.org, metric.code, f"2023-08-01T{hour:02d}:{minute:02d}:00", {"value": value}
            )
    charge = only_charge(world.body())
    assert charge["units"] == "0.02217741935483870968"
    assert charge["total_aggregated_units"] == "0.0"
    assert charge["amount_cents"] == 222  # 2.217741935... USD


def test_pay_in_advance_sum_prices_the_highest_total(world: World) -> None:
    metric = world.metric("sum_agg")
    world.charge(metric, "standard", {"amount": "1"}, pay_in_advance=True)
    world.events(metric, {"value": 5}, at="2023-08-02T00:00:00")
    world.events(metric, {"value": -3}, at="2023-08-03T00:00:00")
    charge = only_charge(world.body())
    assert (charge["units"], charge["amount_cents"]) == ("2.0", 500)


class TestFiltersAndGroups:
    def test_filters(self, world: World) -> None:
        metric = world.metric("count_agg", filters={"region": ["us", "eu"], "cloud": ["aws", "gcp"]})
        charge = world.charge(metric, "standard", {"amount": "1"})
        world.charge_filter(charge, {"region": ["us"]}, properties={"amount": "2"}, invoice_display_name="US")
        world.charge_filter(charge, {"region": ["us"], "cloud": ["aws"]}, properties={"amount": "3"})
        world.charge_filter(charge, {"cloud": ["__ALL_FILTER_VALUES__"]}, properties={"amount": "5"})
        world.events(
            metric,
            {"region": "us", "cloud": "aws"},  # us_aws: 3
            {"region": "us"},  # us: 2
            {"region": "us", "cloud": "gcp"},  # us: 2
            {"region": "eu", "cloud": "gcp"},  # clouds: 5
            {"region": "eu"},  # default: 1
            {},  # default: 1
        )
        usage = only_charge(world.body())
        assert (usage["units"], usage["events_count"], usage["amount_cents"]) == ("6.0", 6, 1400)
        assert usage["filters"] == [
            {
                "units": "2.0",
                "total_aggregated_units": "2.0",
                "events_count": 2,
                "amount_cents": 400,
                "pricing_unit_details": None,
                "invoice_display_name": "US",
                "values": {"region": ["us"]},
                "presentation_breakdowns": [],
            },
            {
                "units": "1.0",
                "total_aggregated_units": "1.0",
                "events_count": 1,
                "amount_cents": 300,
                "pricing_unit_details": None,
                "invoice_display_name": None,
                "values": {"cloud": ["aws"], "region": ["us"]},
                "presentation_breakdowns": [],
            },
            {
                "units": "1.0",
                "total_aggregated_units": "1.0",
                "events_count": 1,
                "amount_cents": 500,
                "pricing_unit_details": None,
                "invoice_display_name": None,
                "values": {"cloud": ["__ALL_FILTER_VALUES__"]},
                "presentation_breakdowns": [],
            },
            {
                "units": "2.0",
                "total_aggregated_units": "2.0",
                "events_count": 2,
                "amount_cents": 200,
                "pricing_unit_details": None,
                "invoice_display_name": None,
                "values": None,
                "presentation_breakdowns": [],
            },
        ]
        assert usage["grouped_usage"] == []

    def test_grouped_usage(self, world: World) -> None:
        metric = world.metric("sum_agg")
        world.charge(metric, "standard", {"amount": "2", "pricing_group_keys": ["user"]})
        world.events(
            metric,
            {"value": 1, "user": "a"},
            {"value": 2, "user": "a"},
            {"value": 4, "user": "b"},
            {"value": 8},
        )
        usage = only_charge(world.body())
        assert (usage["units"], usage["amount_cents"]) == ("15.0", 3000)
        assert [
            (g["grouped_by"], g["units"], g["events_count"], g["amount_cents"])
            for g in usage["grouped_usage"]
        ] == [
            ({"user": None}, "8.0", 1, 1600),
            ({"user": "a"}, "3.0", 2, 600),
            ({"user": "b"}, "4.0", 1, 800),
        ]
        assert all(g["filters"] == [] for g in usage["grouped_usage"])

    def test_grouped_without_events_shows_the_null_group(self, world: World) -> None:
        metric = world.metric("count_agg")
        world.charge(metric, "standard", {"amount": "2", "pricing_group_keys": ["user"]})
        usage = only_charge(world.body())
        assert [(g["grouped_by"], g["units"]) for g in usage["grouped_usage"]] == [({"user": None}, "0.0")]

    def test_filters_with_groups(self, world: World) -> None:
        metric = world.metric("count_agg", filters={"region": ["us", "eu"]})
        charge = world.charge(metric, "standard", {"amount": "1", "pricing_group_keys": ["user"]})
        world.charge_filter(
            charge, {"region": ["us"]}, properties={"amount": "10", "pricing_group_keys": ["user"]}
        )
        world.events(
            metric,
            {"region": "us", "user": "a"},
            {"region": "eu", "user": "a"},
            {"region": "us", "user": "b"},
        )
        usage = only_charge(world.body())
        assert usage["amount_cents"] == 2100
        groups = {g["grouped_by"]["user"]: g for g in usage["grouped_usage"]}
        assert groups["a"]["amount_cents"] == 1100
        assert [(fl["values"], fl["amount_cents"]) for fl in groups["a"]["filters"]] == [
            ({"region": ["us"]}, 1000),
            (None, 100),
        ]
        assert [(fl["values"], fl["amount_cents"]) for fl in groups["b"]["filters"]] == [
            ({"region": ["us"]}, 1000)
        ]


class TestTaxes:
    def _two_charges(self, world: World) -> tuple[Charge, Charge]:
        first = world.charge(world.metric("sum_agg", name="a"), "standard", {"amount": "0.01"})
        second = world.charge(world.metric("sum_agg", name="b"), "standard", {"amount": "0.01"})
        return first, second

    def _usage(self, world: World, first: Charge, second: Charge, a: str, b: str) -> dict[str, Any]:
        with world.tx() as session:
            metric_codes = {
                c.id: session.get(BillableMetric, c.billable_metric_id).code for c in (first, second)
            }
            f.event(session, world.org, metric_codes[first.id], "2023-08-02T00:00:00", {"value": a})
            f.event(session, world.org, metric_codes[second.id], "2023-08-02T00:00:00", {"value": b})
        return world.body()

    def test_charge_taxes_then_plan_taxes(self, world: World) -> None:
        first, second = self._two_charges(world)
        with world.tx() as session:
            f.link_charge_tax(session, first, f.tax(session, world.org, "charge_10", "10"))
            f.link_plan_tax(session, world.plan, f.tax(session, world.org, "plan_20", "20"))
            f.link_customer_tax(session, world.customer, f.tax(session, world.org, "cus_50", "50"))
        body = self._usage(world, first, second, "1001", "505")
        # 1001 * 10 % = 100.1 and 505 * 20 % = 101.0 → 201.1 → 201
        assert (body["amount_cents"], body["taxes_amount_cents"], body["total_amount_cents"]) == (
            1506,
            201,
            1707,
        )

    def test_rounded_once_per_tax(self, world: World) -> None:
        first, second = self._two_charges(world)
        with world.tx() as session:
            f.tax(session, world.org, "vat", "5.5", default=True)
        body = self._usage(world, first, second, "333", "333")
        assert body["taxes_amount_cents"] == 37  # 18.315 + 18.315 = 36.63, not 18 + 18

    def test_customer_taxes_before_organization_defaults(self, world: World) -> None:
        first, second = self._two_charges(world)
        with world.tx() as session:
            f.tax(session, world.org, "default", "50", default=True)
            f.link_customer_tax(session, world.customer, f.tax(session, world.org, "cus_10", "10"))
        body = self._usage(world, first, second, "100", "200")
        assert body["taxes_amount_cents"] == 30

    def test_apply_taxes_false(self, world: World) -> None:
        first, second = self._two_charges(world)
        with world.tx() as session:
            f.tax(session, world.org, "vat", "20", default=True)
        self._usage(world, first, second, "100", "200")
        body = world.body(apply_taxes="false")
        assert (body["amount_cents"], body["taxes_amount_cents"], body["total_amount_cents"]) == (300, 0, 300)
        assert world.body(apply_taxes="true")["taxes_amount_cents"] == 60

    def test_deleted_charge_is_not_shown(self, world: World) -> None:
        first, _second = self._two_charges(world)
        with world.tx() as session:
            session.get(Charge, first.id).deleted_at = NOW
        assert [c["billable_metric"]["name"] for c in world.body()["charges_usage"]] == ["b"]


def test_plan_currency(world: World) -> None:
    with world.tx() as session:
        session.get(Plan, world.plan.id).amount_currency = "JPY"
    metric = world.metric("sum_agg")
    world.charge(metric, "standard", {"amount": "1.5"})
    world.events(metric, {"value": "3"})
    body = world.body()
    assert (body["currency"], body["amount_cents"]) == ("JPY", 5)  # 4.5 yen rounds half up
    assert only_charge(body)["amount_currency"] == "JPY"
