"""POST /events/estimate_fees, end to end through the API, on SQLite and PostgreSQL. Catalog rows and stored
events are inserted directly (tests/fixtures/factories.py); amounts are computed by hand. The request time
is 2023-08-20 12:00 UTC: the calendar monthly charges period is August (31 days)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from fastapi import FastAPI
from lago_python_client.client import Client
from lago_python_client.models.event import Event as LagoEvent
from lago_python_client.models.fee import FeeResponse
from sqlalchemy import func, select

from billow.models.billable_metrics import BillableMetric
from billow.models.events import Event
from billow.models.plans import Charge
from billow.subscriptions.dependencies import request_time
from tests.conftest import Api
from tests.fixtures import factories as f
from tests.fixtures.worlds import NOW
from tests.fixtures.worlds import World as BaseWorld

GRADUATED = [
    {"from_value": 0, "to_value": 10, "per_unit_amount": "10", "flat_amount": "2"},
    {"from_value": 11, "to_value": 20, "per_unit_amount": "5", "flat_amount": "3"},
    {"from_value": 21, "to_value": None, "per_unit_amount": "5", "flat_amount": "3"},
]
TWO_TIERS = [
    {"from_value": 0, "to_value": 1, "per_unit_amount": "1", "flat_amount": "0"},
    {"from_value": 2, "to_value": None, "per_unit_amount": "10", "flat_amount": "0"},
]


class World(BaseWorld):
    """The world of :mod:`tests.fixtures.worlds`, whose charges are paid in advance unless said, estimated
    through ``POST /events/estimate_fees``."""

    def charge(
        self,
        metric: BillableMetric,
        model: str = "standard",
        properties: Mapping[str, Any] | None = None,
        **kw: Any,
    ) -> Charge:
        kw.setdefault("pay_in_advance", True)
        return super().charge(metric, model, properties, **kw)

    def estimate(self, code: str, properties: Mapping[str, Any] | None = None, **event: Any) -> Any:
        body = {"external_subscription_id": "sub_1", "code": code, **event}
        if properties is not None:
            body["properties"] = dict(properties)
        return self.api.post("/events/estimate_fees", {"event": body})

    def fees(
        self, code: str, properties: Mapping[str, Any] | None = None, **event: Any
    ) -> list[dict[str, Any]]:
        response = self.estimate(code, properties, **event)
        assert response.status_code == 200, response.text
        fees = response.json()["fees"]
        for fee in fees:
            FeeResponse.parse_obj(fee)  # the Lago client reads it
        return fees  # type: ignore[no-any-return]

    def fee(self, code: str, properties: Mapping[str, Any] | None = None, **event: Any) -> dict[str, Any]:
        [fee] = self.fees(code, properties, **event)
        return fee

    def stored_events(self) -> int:
        with self.tx() as session:
            return int(session.scalar(select(func.count()).select_from(Event)) or 0)


@pytest.fixture
def world(app: FastAPI, api: Api) -> Iterator[World]:
    yield World(app, api)
    app.dependency_overrides.pop(request_time, None)


def amounts(fee: dict[str, Any]) -> tuple[str, int]:
    return fee["units"], fee["amount_cents"]


# ------------------------------------------------------------------------------------------------ shape


class TestShape:
    def test_exact_body(self, world: World) -> None:
        metric = world.metric("sum_agg", code="storage", name="Storage")
        charge = world.charge(metric, "standard", {"amount": "10"}, invoice_display_name="Disk")
        world.events(metric, {"value": 4})
        response = world.estimate("storage", {"value": 4}, transaction_id="tr_estimate", timestamp=1692532800)
        assert response.status_code == 200
        assert response.json() == {
            "fees": [
                {
                    "lago_id": None,
                    "lago_charge_id": str(charge.id),
                    "lago_charge_filter_id": None,
                    "lago_fixed_charge_id": None,
                    "lago_invoice_id": None,
                    "lago_true_up_fee_id": None,
                    "lago_true_up_parent_fee_id": None,
                    "lago_original_fee_id": None,
                    "lago_subscription_id": str(world.subscription.id),
                    "external_subscription_id": "sub_1",
                    "lago_customer_id": str(world.customer.id),
                    "external_customer_id": "cus_1",
                    "item": {
                        "type": "charge",
                        "code": "storage",
                        "name": "Storage",
                        "description": None,
                        "invoice_display_name": "Disk",
                        "filters": None,
                        "filter_invoice_display_name": None,
                        "lago_item_id": str(metric.id),
                        "item_type": "BillableMetric",
                        "grouped_by": {},
                    },
                    "pay_in_advance": True,
                    "invoiceable": True,
                    "amount_cents": 4000,
                    "amount_currency": "USD",
                    "precise_amount": 40.0,
                    "precise_total_amount": 40.0,
                    "taxes_amount_cents": 0,
                    "taxes_precise_amount": 0.0,
                    "taxes_rate": 0.0,
                    "total_aggregated_units": "4.0",
                    "total_amount_cents": 4000,
                    "total_amount_currency": "USD",
                    "units": "4.0",
                    "description": None,
                    "precise_unit_amount": "10.0",
                    "precise_coupons_amount_cents": "0.0",
                    "sub_total_excluding_taxes_amount_cents": 4000,
                    "sub_total_excluding_taxes_precise_amount_cents": "4000.0",
                    "events_count": 1,
                    "payment_status": "pending",
                    "created_at": None,
                    "succeeded_at": None,
                    "failed_at": None,
                    "refunded_at": None,
                    "amount_details": {},
                    "self_billed": False,
                    "pricing_unit_details": None,
                    "presentation_breakdowns": [],
                    "from_date": "2023-08-01T00:00:00+00:00",
                    "to_date": "2023-08-31T23:59:59+00:00",
                    "event_transaction_id": "tr_estimate",
                    "applied_taxes": [],
                }
            ]
        }

    def test_generated_transaction_id(self, world: World) -> None:
        world.charge(world.metric("count_agg", code="calls"))
        fee = world.fee("calls")
        assert len(fee["event_transaction_id"]) == 36

    def test_lago_python_client(self, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
        world.charge(world.metric("count_agg", code="calls"), "standard", {"amount": "0.25"})
        client = world.api.client

        def send(url: str, **kwargs: Any) -> Any:
            return client.post(url, content=kwargs["content"], headers=kwargs["headers"])

        monkeypatch.setattr("lago_python_client.events.clients.send_post_request", send)
        lago = Client(api_key=world.api.key, api_url="http://testserver")
        result = lago.events.estimate_fees(
            LagoEvent(transaction_id="tr_1", external_subscription_id="sub_1", code="calls")
        )
        [fee] = result["fees"]
        assert (fee.amount_cents, fee.units, fee.event_transaction_id) == (25, "1.0", "tr_1")
        assert fee.item.item_type == "BillableMetric"

    def test_customer_time_zone(self, world: World) -> None:
        with world.tx() as session:
            session.get(type(world.customer), world.customer.id).timezone = "America/New_York"
        world.charge(world.metric("count_agg", code="calls"))
        fee = world.fee("calls")
        assert (fee["from_date"], fee["to_date"]) == (
            "2023-08-01T04:00:00+00:00",
            "2023-09-01T03:59:59+00:00",
        )

    def test_not_invoiceable(self, world: World) -> None:
        world.charge(world.metric("count_agg", code="calls"), invoiceable=False)
        fee = world.fee("calls")
        assert fee["invoiceable"] is False
        assert (fee["from_date"], fee["to_date"]) == (
            "2023-08-01T00:00:00+00:00",
            "2023-08-31T23:59:59+00:00",
        )

    def test_one_fee_per_pay_in_advance_charge(self, world: World) -> None:
        metric = world.metric("count_agg", code="calls")
        first = world.charge(metric, "standard", {"amount": "1"}, code="a")
        second = world.charge(metric, "standard", {"amount": "2"}, code="b")
        world.charge(metric, "standard", {"amount": "4"}, code="c", pay_in_advance=False)
        fees = world.fees("calls")
        assert [(fee["lago_charge_id"], fee["amount_cents"]) for fee in fees] == [
            (str(first.id), 100),
            (str(second.id), 200),
        ]

    def test_nothing_is_stored(self, world: World) -> None:
        metric = world.metric("sum_agg", code="storage")
        world.charge(metric, "graduated", {"graduated_ranges": GRADUATED})
        world.events(metric, {"value": 3})
        before = world.stored_events()
        first = world.fee("storage", {"value": 5}, transaction_id="tr_x")
        again = world.fee("storage", {"value": 5}, transaction_id="tr_x")
        assert first["amount_cents"] == again["amount_cents"] == 5000
        assert world.stored_events() == before == 1
        assert world.api.get("/events/tr_x").status_code == 404


# ------------------------------------------------------------------------------------------ charge models


class TestChargeModels:
    def test_standard_count(self, world: World) -> None:
        metric = world.metric("count_agg", code="calls")
        world.charge(metric, "standard", {"amount": "0.5"})
        world.events(metric, {}, {})
        assert amounts(world.fee("calls")) == ("1.0", 50)

    def test_package(self, world: World) -> None:
        metric = world.metric("count_agg", code="calls")
        world.charge(metric, "package", {"amount": "100", "package_size": 10, "free_units": 0})
        world.events(metric, *[{}] * 3)
        assert amounts(world.fee("calls")) == ("1.0", 0)  # the 4th unit is in the first package
        world.events(metric, *[{}] * 7)
        assert amounts(world.fee("calls")) == ("1.0", 10_000)  # the 11th opens a second package

    def test_graduated_crossing_a_tier(self, world: World) -> None:
        metric = world.metric("sum_agg", code="storage")
        world.charge(metric, "graduated", {"graduated_ranges": GRADUATED})
        world.events(metric, {"value": 8})
        fee = world.fee("storage", {"value": 5})
        # price(13) - price(8) = (10 * 10 + 2 + 3 * 5 + 3) - (8 * 10 + 2) = 120 - 82
        assert amounts(fee) == ("5.0", 3800)
        assert fee["amount_details"] == {}
        assert fee["precise_unit_amount"] == "7.6"

    def test_graduated_first_event_pays_the_flat_amount(self, world: World) -> None:
        metric = world.metric("sum_agg", code="storage")
        world.charge(metric, "graduated", {"graduated_ranges": GRADUATED})
        assert amounts(world.fee("storage", {"value": 5})) == ("5.0", 5200)  # 5 * 10 + 2

    def test_percentage_with_fixed_amount(self, world: World) -> None:
        metric = world.metric("sum_agg", code="payments")
        world.charge(metric, "percentage", {"rate": "2", "fixed_amount": "0.5"})
        world.events(metric, {"value": 100})
        fee = world.fee("payments", {"value": 50})
        assert amounts(fee) == ("50.0", 150)  # 50 * 2 % + 0.5
        assert fee["amount_details"] == {
            "rate": "2.0",
            "fixed_fee_unit_amount": "0.5",
            "units": "50.0",
            "free_units": "0.0",
            "paid_units": "50.0",
            "free_events": "0.0",
            "paid_events": "1.0",
            "fixed_fee_total_amount": "0.5",
            "min_max_adjustment_total_amount": "0.0",
            "per_unit_total_amount": "1.0",
        }

    def test_percentage_per_transaction_minimum(self, world: World) -> None:
        # Lago's scenario: rate 0.5 %, minimum 12 per transaction.
        metric = world.metric("sum_agg", code="payments")
        world.charge(metric, "percentage", {"rate": "0.5", "per_transaction_min_amount": "12"})
        assert amounts(world.fee("payments", {"value": 4})) == ("4.0", 1200)
        world.events(metric, {"value": 4})
        assert amounts(world.fee("payments", {"value": 20_000})) == ("20000.0", 10_000)

    def test_percentage_free_units_per_events(self, world: World) -> None:
        metric = world.metric("sum_agg", code="payments")
        world.charge(metric, "percentage", {"rate": "50", "free_units_per_events": 1})
        assert amounts(world.fee("payments", {"value": 4})) == ("4.0", 0)
        world.events(metric, {"value": 4})
        assert amounts(world.fee("payments", {"value": 4})) == ("4.0", 200)

    def test_dynamic(self, world: World) -> None:
        metric = world.metric("sum_agg", code="tokens")
        world.charge(metric, "dynamic", {})
        fee = world.fee("tokens", {"value": 1}, precise_total_amount_cents="1234.5")
        assert amounts(fee) == ("1.0", 1235)
        assert fee["precise_amount"] == 12.345

    def test_expression(self, world: World) -> None:
        metric = world.metric("sum_agg", code="compute")
        with world.tx() as session:
            session.get(
                BillableMetric, metric.id
            ).expression = "event.properties.cpu * event.properties.hours"
        world.charge(metric, "standard", {"amount": "1"})
        assert amounts(world.fee("compute", {"cpu": 2, "hours": "1.5"})) == ("3.0", 300)


# --------------------------------------------------------------------------------- what is already billed


class TestAlreadyBilled:
    def test_sum_below_the_highest_total_costs_nothing(self, world: World) -> None:
        metric = world.metric("sum_agg", code="seats")
        world.charge(metric, "standard", {"amount": "1"})
        world.events(metric, {"value": 10})
        world.events(metric, {"value": -4}, at="2023-08-06T00:00:00")  # running 6, highest 10
        assert amounts(world.fee("seats", {"value": 3})) == ("3.0", 0)  # 9: back under 10
        assert amounts(world.fee("seats", {"value": 6})) == ("2.0", 200)  # 12: 2 above 10
        assert amounts(world.fee("seats", {"value": -2})) == ("0.0", 0)

    def test_previous_periods_are_not_billed_again(self, world: World) -> None:
        metric = world.metric("sum_agg", code="seats", recurring=True)
        world.charge(metric, "standard", {"amount": "10"})
        world.events(metric, {"value": 4}, at="2023-07-03T00:00:00")
        assert amounts(world.fee("seats", {"value": 4})) == ("4.0", 4000)

    def test_unique_count(self, world: World) -> None:
        metric = world.metric("unique_count_agg", code="users", field_name="user")
        world.charge(metric, "standard", {"amount": "10"})
        world.events(metric, {"user": "a"})
        assert amounts(world.fee("users", {"user": "b"})) == ("1.0", 1000)
        assert amounts(world.fee("users", {"user": "a"})) == ("0.0", 0)
        assert amounts(world.fee("users", {"user": "a", "operation_type": "remove"})) == ("0.0", 0)
        assert amounts(world.fee("users", {"user": "b", "operation_type": "remove"})) == ("0.0", 0)

    def test_unique_count_under_the_highest_count(self, world: World) -> None:
        metric = world.metric("unique_count_agg", code="users", field_name="user")
        world.charge(metric, "standard", {"amount": "10"})
        world.events(metric, {"user": "a"}, {"user": "b"})
        world.events(metric, {"user": "b", "operation_type": "remove"}, at="2023-08-06T00:00:00")
        # 1 active, 2 already billed: a new user fills the billed seat.
        assert amounts(world.fee("users", {"user": "c"})) == ("1.0", 0)

    def test_unique_count_value_active_in_another_filter(self, world: World) -> None:
        metric = world.metric(
            "unique_count_agg", code="users", field_name="user", filters={"region": ["us", "eu"]}
        )
        charge = world.charge(metric, "standard", {"amount": "1"})
        world.charge_filter(charge, {"region": ["us"]}, properties={"amount": "5"})
        world.events(metric, {"user": "a", "region": "us"})
        assert amounts(world.fee("users", {"user": "a", "region": "us"})) == ("0.0", 0)
        assert amounts(world.fee("users", {"user": "a", "region": "eu"})) == ("1.0", 100)

    def test_recurring_unique_count_from_a_previous_period(self, world: World) -> None:
        metric = world.metric("unique_count_agg", code="users", field_name="user", recurring=True)
        world.charge(metric, "standard", {"amount": "10"})
        world.events(metric, {"user": "a"}, at="2023-06-01T00:00:00")
        assert amounts(world.fee("users", {"user": "a"})) == ("0.0", 0)
        assert amounts(world.fee("users", {"user": "z"})) == ("1.0", 1000)

    def test_prorated_sum(self, world: World) -> None:
        metric = world.metric("sum_agg", code="seats", recurring=True)
        world.charge(metric, "standard", {"amount": "10"}, prorated=True)
        fee = world.fee("seats", {"value": 4})
        # 4 * 12/31 (August 20 to 31) = 1.548387... → 1.54839 units → 15.4839
        assert amounts(fee) == ("4.0", 1548)
        assert fee["precise_amount"] == 15.4839
        assert fee["precise_unit_amount"] == "3.87"

    def test_prorated_unique_count(self, world: World) -> None:
        metric = world.metric("unique_count_agg", code="users", field_name="user", recurring=True)
        world.charge(metric, "standard", {"amount": "10"}, prorated=True)
        world.events(metric, {"user": "a"})
        assert amounts(world.fee("users", {"user": "b"})) == ("1.0", 387)  # 12/31 → 0.3871
        assert amounts(world.fee("users", {"user": "a"})) == ("0.0", 0)


# ------------------------------------------------------------------------------------- filters and groups


class TestFiltersAndGroups:
    def test_most_specific_filter(self, world: World) -> None:
        metric = world.metric(
            "count_agg", code="calls", filters={"region": ["us", "eu"], "cloud": ["aws", "gcp"]}
        )
        charge = world.charge(metric, "standard", {"amount": "1"})
        broad = world.charge_filter(
            charge, {"region": ["us"]}, properties={"amount": "2"}, invoice_display_name="US"
        )
        narrow = world.charge_filter(charge, {"region": ["us"], "cloud": ["aws"]}, properties={"amount": "3"})

        fee = world.fee("calls", {"region": "us", "cloud": "aws"})
        assert (fee["lago_charge_filter_id"], fee["amount_cents"]) == (str(narrow.id), 300)
        assert fee["item"]["filters"] == {"cloud": ["aws"], "region": ["us"]}
        assert fee["item"]["filter_invoice_display_name"] == "aws, us"

        fee = world.fee("calls", {"region": "us", "cloud": "gcp"})
        assert (fee["lago_charge_filter_id"], fee["amount_cents"]) == (str(broad.id), 200)
        assert fee["item"]["filter_invoice_display_name"] == "US"

        fee = world.fee("calls", {"region": "eu"})
        assert (fee["lago_charge_filter_id"], fee["amount_cents"]) == (None, 100)
        assert (fee["item"]["filters"], fee["item"]["filter_invoice_display_name"]) == (None, None)

    def test_each_bucket_has_its_own_usage(self, world: World) -> None:
        metric = world.metric("count_agg", code="calls", filters={"region": ["us", "eu"]})
        charge = world.charge(metric, "graduated", {"graduated_ranges": TWO_TIERS})
        world.charge_filter(charge, {"region": ["us"]}, properties={"graduated_ranges": TWO_TIERS})
        world.events(metric, {"region": "us"})
        assert amounts(world.fee("calls", {"region": "us"})) == ("1.0", 1000)  # the 2nd us unit: tier 2
        assert amounts(world.fee("calls", {"region": "eu"})) == ("1.0", 100)  # the 1st default unit

    def test_all_filter_values(self, world: World) -> None:
        metric = world.metric("count_agg", code="calls", filters={"region": ["us", "eu"]})
        charge = world.charge(metric, "standard", {"amount": "1"})
        everywhere = world.charge_filter(
            charge, {"region": ["__ALL_FILTER_VALUES__"]}, properties={"amount": "7"}
        )
        fee = world.fee("calls", {"region": "eu"})
        assert (fee["lago_charge_filter_id"], fee["amount_cents"]) == (str(everywhere.id), 700)
        assert fee["item"]["filter_invoice_display_name"] == "region"

    def test_groups(self, world: World) -> None:
        metric = world.metric("count_agg", code="calls")
        world.charge(metric, "graduated", {"graduated_ranges": TWO_TIERS, "pricing_group_keys": ["region"]})
        world.events(metric, {"region": "us"})
        fee = world.fee("calls", {"region": "us"})
        assert (fee["item"]["grouped_by"], fee["amount_cents"]) == ({"region": "us"}, 1000)
        fee = world.fee("calls", {"region": "eu"})
        assert (fee["item"]["grouped_by"], fee["amount_cents"]) == ({"region": "eu"}, 100)


# ------------------------------------------------------------------------------------------------- taxes


class TestTaxes:
    def test_charge_taxes_first(self, world: World) -> None:
        metric = world.metric("count_agg", code="calls")
        charge = world.charge(metric, "standard", {"amount": "3.333"})
        with world.tx() as session:
            vat = f.tax(session, world.org, "vat", "20")
            f.link_charge_tax(session, charge, vat)
            f.link_plan_tax(session, world.plan, f.tax(session, world.org, "plan_10", "10"))
        fee = world.fee("calls")
        # 333 cents (precise 333.3) at 20 %: 66.6 → 67; precise 66.66
        assert (fee["amount_cents"], fee["taxes_amount_cents"], fee["total_amount_cents"]) == (333, 67, 400)
        assert (fee["precise_amount"], fee["taxes_precise_amount"], fee["precise_total_amount"]) == (
            3.333,
            0.6666,
            3.9996,
        )
        assert fee["taxes_rate"] == 20.0
        assert fee["applied_taxes"] == [
            {
                "lago_id": None,
                "lago_fee_id": None,
                "lago_tax_id": str(vat.id),
                "tax_name": "vat",
                "tax_code": "vat",
                "tax_rate": 20.0,
                "tax_description": None,
                "amount_cents": 67,
                "amount_currency": "USD",
                "created_at": None,
            }
        ]

    def test_plan_then_customer_then_organization(self, world: World) -> None:
        metric = world.metric("count_agg", code="calls")
        world.charge(metric, "standard", {"amount": "10"})
        with world.tx() as session:
            f.tax(session, world.org, "default", "50", default=True)
        assert world.fee("calls")["taxes_amount_cents"] == 500
        with world.tx() as session:
            f.link_customer_tax(session, world.customer, f.tax(session, world.org, "cus_10", "10"))
        assert world.fee("calls")["taxes_amount_cents"] == 100
        with world.tx() as session:
            f.link_plan_tax(session, world.plan, f.tax(session, world.org, "plan_5", "5"))
            f.link_plan_tax(session, world.plan, f.tax(session, world.org, "plan_7", "7"))
        fee = world.fee("calls")
        assert (fee["taxes_amount_cents"], fee["taxes_rate"]) == (120, 12.0)
        assert [tax["tax_code"] for tax in fee["applied_taxes"]] == ["plan_5", "plan_7"]


# ------------------------------------------------------------------------------------------------ errors


def error(response: Any) -> tuple[int, Any]:
    body = response.json()
    return response.status_code, body.get("error_details", body.get("code"))


class TestErrors:
    def test_missing_root(self, world: World) -> None:
        assert world.api.post("/events/estimate_fees", {"events": {}}).status_code == 400

    @pytest.mark.parametrize("external_id", [None, "", "sub_unknown"])
    def test_unknown_subscription(self, world: World, external_id: str | None) -> None:
        world.charge(world.metric("count_agg", code="calls"))
        response = world.estimate("calls", external_subscription_id=external_id)
        assert error(response) == (404, "subscription_not_found")

    def test_terminated_subscription(self, world: World) -> None:
        world.charge(world.metric("count_agg", code="calls"))
        with world.tx() as session:
            subscription = session.get(type(world.subscription), world.subscription.id)
            subscription.status = "terminated"
            subscription.terminated_at = f.at("2023-08-10T00:00:00")
        assert error(world.estimate("calls")) == (404, "subscription_not_found")

    def test_invalid_timestamp(self, world: World) -> None:
        world.charge(world.metric("count_agg", code="calls"))
        assert error(world.estimate("calls", timestamp="yesterday")) == (
            422,
            {"timestamp": ["invalid_format"]},
        )

    @pytest.mark.parametrize("code", [None, "unknown"])
    def test_unknown_metric(self, world: World, code: str | None) -> None:
        world.charge(world.metric("count_agg", code="calls"))
        response = world.api.post(
            "/events/estimate_fees", {"event": {"external_subscription_id": "sub_1", "code": code}}
        )
        assert error(response) == (404, "billable_metric_not_found")

    def test_deleted_metric(self, world: World) -> None:
        metric = world.metric("count_agg", code="calls")
        with world.tx() as session:
            session.get(BillableMetric, metric.id).deleted_at = NOW
        assert error(world.estimate("calls")) == (404, "billable_metric_not_found")

    def test_no_pay_in_advance_charge(self, world: World) -> None:
        metric = world.metric("count_agg", code="calls")
        world.metric("count_agg", code="not_in_plan")
        world.charge(metric, pay_in_advance=False)
        expected = (422, {"code": ["does_not_match_an_instant_charge"]})
        assert error(world.estimate("calls")) == expected
        assert error(world.estimate("not_in_plan")) == expected

    def test_deleted_charge(self, world: World) -> None:
        charge = world.charge(world.metric("count_agg", code="calls"))
        with world.tx() as session:
            session.get(Charge, charge.id).deleted_at = NOW
        assert error(world.estimate("calls")) == (422, {"code": ["does_not_match_an_instant_charge"]})

    def test_invalid_properties(self, world: World) -> None:
        world.charge(world.metric("sum_agg", code="storage"))
        assert error(world.estimate("storage", {"value": "abc"})) == (
            422,
            {"properties": ["value_is_not_valid_number"]},
        )
        response = world.api.post(
            "/events/estimate_fees",
            {"event": {"external_subscription_id": "sub_1", "code": "storage", "properties": [1]}},
        )
        assert error(response) == (422, {"properties": ["value_is_invalid"]})
        assert error(world.estimate("storage", precise_total_amount_cents="x")) == (
            422,
            {"precise_total_amount_cents": ["invalid_format"]},
        )

    def test_expression_failure(self, world: World) -> None:
        metric = world.metric("sum_agg", code="compute")
        with world.tx() as session:
            session.get(BillableMetric, metric.id).expression = "event.properties.cpu * 2"
        world.charge(metric)
        assert error(world.estimate("compute", {})) == (422, {"properties": ["expression_evaluation_failed"]})


# ---------------------------------------------------------------------------------------------- tenancy


class TestTenancy:
    def test_other_organization(self, world: World, app: FastAPI, other_api: Api) -> None:
        metric = world.metric("count_agg", code="calls")
        world.charge(metric, "graduated", {"graduated_ranges": TWO_TIERS})
        response = other_api.post(
            "/events/estimate_fees", {"event": {"external_subscription_id": "sub_1", "code": "calls"}}
        )
        assert error(response) == (404, "subscription_not_found")

        # Globex has a sub_1 of its own, but not the metric; its events do not count for Acme.
        with app.state.sessionmaker.begin() as session:
            customer = f.customer(session, other_api.organization, "cus_1")
            plan = f.plan(session, other_api.organization, code="starter")
            f.subscription(session, other_api.organization, customer, plan, "sub_1")
            f.event(session, other_api.organization, "calls", "2023-08-05T00:00:00")
        response = other_api.post(
            "/events/estimate_fees", {"event": {"external_subscription_id": "sub_1", "code": "calls"}}
        )
        assert error(response) == (404, "billable_metric_not_found")
        assert amounts(world.fee("calls")) == ("1.0", 100)
