"""GET /customers/{external_customer_id}/projected_usage, through the API on SQLite and PostgreSQL.

The request time is 2023-08-20 12:00 UTC (tests/fixtures/worlds.py): the August period is 31 days and
20 have begun, so units are projected by 31/20 = 1.55."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from lago_python_client.models.customer_projected_usage import CustomerProjectedUsageResponse

from billow.subscriptions.dependencies import request_time
from tests.conftest import Api
from tests.fixtures import factories as f
from tests.fixtures.worlds import World


class ProjectedWorld(World):
    def usage(self, **params: Any) -> Any:
        query = {"external_subscription_id": "sub_1", **params}
        return self.api.get("/customers/cus_1/projected_usage", params=query)

    def body(self, **params: Any) -> dict[str, Any]:
        response = self.usage(**params)
        assert response.status_code == 200, response.text
        body = response.json()["customer_projected_usage"]
        CustomerProjectedUsageResponse.parse_obj(body)  # the Lago client reads it
        return body


@pytest.fixture
def world(app: FastAPI, api: Api) -> Iterator[ProjectedWorld]:
    yield ProjectedWorld(app, api)
    app.dependency_overrides.pop(request_time, None)


def only_charge(body: dict[str, Any]) -> dict[str, Any]:
    [charge] = body["charges_usage"]
    return charge


class TestShape:
    def test_exact_body(self, world: ProjectedWorld) -> None:
        metric = world.metric("count_agg", code="api_calls", name="API calls")
        charge = world.charge(
            metric, "standard", {"amount": "0.5"}, code="calls", invoice_display_name="Calls"
        )
        world.events(metric, {}, {}, {})
        # 3 units so far (150 cents); projected 3 * 31/20 = 4.65 units at 0.5 = 2.325 -> 233 cents.
        assert world.usage().json() == {
            "customer_projected_usage": {
                "from_datetime": "2023-08-01T00:00:00Z",
                "to_datetime": "2023-08-31T23:59:59Z",
                "issuing_date": "2023-08-31",
                "currency": "USD",
                "amount_cents": 150,
                "projected_amount_cents": 233,
                "total_amount_cents": 150,
                "taxes_amount_cents": 0,
                "lago_invoice_id": None,
                "charges_usage": [
                    {
                        "units": "3.0",
                        "events_count": 3,
                        "amount_cents": 150,
                        "amount_currency": "USD",
                        "projected_units": "4.65",
                        "projected_amount_cents": 233,
                        "projected_presentation_breakdowns": [],
                        "pricing_unit_details": None,
                        "charge": {
                            "lago_id": str(charge.id),
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

    def test_no_usage_projects_nothing(self, world: ProjectedWorld) -> None:
        world.charge(world.metric("count_agg"), "standard", {"amount": "1"})
        body = world.body()
        assert body["projected_amount_cents"] == 0
        charge = only_charge(body)
        assert (charge["units"], charge["projected_units"], charge["projected_amount_cents"]) == (
            "0.0",
            "0.0",
            0,
        )

    def test_taxes_are_the_current_usages(self, world: ProjectedWorld) -> None:
        with world.tx() as session:
            f.tax(session, world.org, "vat", "20", default=True)
        metric = world.metric("count_agg")
        world.charge(metric, "standard", {"amount": "1"})
        world.events(metric, {}, {})
        # 2 units: 200 cents, 40 of taxes; projected 3.1 units = 310 cents (taxes are not projected).
        body = world.body()
        assert (body["amount_cents"], body["taxes_amount_cents"], body["total_amount_cents"]) == (
            200,
            40,
            240,
        )
        assert body["projected_amount_cents"] == 310
        assert world.body(apply_taxes="false")["taxes_amount_cents"] == 0


class TestChargeModels:
    def test_graduated(self, world: ProjectedWorld) -> None:
        metric = world.metric("sum_agg")
        ranges = [
            {"from_value": 0, "to_value": 10, "per_unit_amount": "1", "flat_amount": "2"},
            {"from_value": 11, "to_value": None, "per_unit_amount": "0.5", "flat_amount": "1"},
        ]
        world.charge(metric, "graduated", {"graduated_ranges": ranges})
        world.events(metric, {"value": 10})
        # 10 -> 15.5 projected: 10 * 1 + 2 + 5.5 * 0.5 + 1 = 15.75 -> 1575 cents.
        charge = only_charge(world.body())
        assert (charge["amount_cents"], charge["projected_units"], charge["projected_amount_cents"]) == (
            1200,
            "15.5",
            1575,
        )

    def test_percentage_scales_the_amount(self, world: ProjectedWorld) -> None:
        metric = world.metric("sum_agg")
        world.charge(metric, "percentage", {"rate": "10"})
        world.events(metric, {"value": 40})
        # 10% of 40 = 4.00 so far; 4 * 31/20 = 6.20 -> 620 cents; units 40 -> 62.
        charge = only_charge(world.body())
        assert (charge["amount_cents"], charge["projected_units"], charge["projected_amount_cents"]) == (
            400,
            "62.0",
            620,
        )

    def test_recurring_metric_is_not_projected(self, world: ProjectedWorld) -> None:
        metric = world.metric("sum_agg", recurring=True)
        world.charge(metric, "standard", {"amount": "1"})
        world.events(metric, {"value": 7})
        charge = only_charge(world.body())
        assert (charge["units"], charge["projected_units"], charge["projected_amount_cents"]) == (
            "7.0",
            "7.0",
            700,
        )


class TestFiltersAndGroups:
    def test_filters_project_their_own_fees(self, world: ProjectedWorld) -> None:
        metric = world.metric("count_agg", filters={"region": ["us", "eu"]})
        charge = world.charge(metric, "standard", {"amount": "0.5"})
        world.charge_filter(charge, {"region": ["us"]}, properties={"amount": "1"}, invoice_display_name="US")
        world.events(metric, {"region": "us"}, {"region": "us"}, {"region": "eu"})
        # us: 2 units at 1 = 200 cents, projected 3.1 units = 310 cents; the default bucket (1 unit, 50 cents)
        # is not projected (Lago projects the filters' fees only).
        usage = only_charge(world.body())
        assert (usage["units"], usage["amount_cents"]) == ("3.0", 250)
        assert (usage["projected_units"], usage["projected_amount_cents"]) == ("3.1", 310)
        assert usage["filters"] == [
            {
                "units": "2.0",
                "events_count": 2,
                "amount_cents": 200,
                "projected_units": "3.1",
                "projected_amount_cents": 310,
                "projected_presentation_breakdowns": [],
                "pricing_unit_details": None,
                "invoice_display_name": "US",
                "values": {"region": ["us"]},
                "presentation_breakdowns": [],
            },
            {
                "units": "1.0",
                "events_count": 1,
                "amount_cents": 50,
                "projected_units": "0.0",
                "projected_amount_cents": 0,
                "projected_presentation_breakdowns": [],
                "pricing_unit_details": None,
                "invoice_display_name": None,
                "values": {},  # Lago: null, which its Python client refuses
                "presentation_breakdowns": [],
            },
        ]
        assert world.body()["projected_amount_cents"] == 310

    def test_groups_are_projected_one_by_one(self, world: ProjectedWorld) -> None:
        metric = world.metric("count_agg")
        world.charge(metric, "standard", {"amount": "1", "pricing_group_keys": ["user"]})
        world.events(metric, {"user": "a"}, {"user": "a"}, {"user": "b"})
        # a: 2 -> 3.1 units, 310 cents; b: 1 -> 1.55 units, 155 cents; charge: 4.65 units, 465 cents.
        usage = only_charge(world.body())
        groups = {g["grouped_by"]["user"]: g for g in usage["grouped_usage"]}
        assert {user: (g["projected_units"], g["projected_amount_cents"]) for user, g in groups.items()} == {
            "a": ("3.1", 310),
            "b": ("1.55", 155),
        }
        assert groups["a"] == {
            "units": "2.0",
            "events_count": 2,
            "amount_cents": 200,
            "projected_units": "3.1",
            "projected_amount_cents": 310,
            "projected_presentation_breakdowns": [],
            "pricing_unit_details": None,
            "grouped_by": {"user": "a"},
            "filters": [],
            "presentation_breakdowns": [],
        }
        assert (usage["projected_units"], usage["projected_amount_cents"]) == ("4.65", 465)


class TestPeriod:
    def test_at_the_period_end_the_projection_is_the_usage(self, world: ProjectedWorld) -> None:
        metric = world.metric("count_agg")
        world.charge(metric, "standard", {"amount": "1"})
        world.events(metric, {}, {})
        world.now = world.now.replace(day=31, hour=23, minute=59, second=59)
        charge = only_charge(world.body())
        # 31 of 31 days begun: the ratio is 1.
        assert (charge["projected_units"], charge["projected_amount_cents"]) == ("2.0", 200)


class TestErrors:
    def test_customer_not_found(self, world: ProjectedWorld) -> None:
        response = world.api.get(
            "/customers/nope/projected_usage", params={"external_subscription_id": "sub_1"}
        )
        assert response.status_code == 404
        assert response.json() == {"status": 404, "error": "Not Found", "code": "customer_not_found"}

    def test_no_active_subscription(self, world: ProjectedWorld) -> None:
        for response in (
            world.usage(external_subscription_id="nope"),
            world.api.get("/customers/cus_1/projected_usage"),
        ):
            assert response.status_code == 405
            assert response.json() == {
                "status": 405,
                "error": "Method Not Allowed",
                "code": "no_active_subscription",
            }

    def test_other_organization(self, world: ProjectedWorld, other_api: Api) -> None:
        response = other_api.get(
            "/customers/cus_1/projected_usage", params={"external_subscription_id": "sub_1"}
        )
        assert response.status_code == 404
        assert response.json()["code"] == "customer_not_found"
