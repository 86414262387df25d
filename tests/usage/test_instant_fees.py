"""POST /events/estimate_instant_fees and /events/batch_estimate_instant_fees (:mod:`billow.usage.instant`):
amounts computed by hand; nothing stored."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from billow.models.billable_metrics import BillableMetric
from billow.models.events import Event
from billow.models.invoices import Fee
from billow.models.plans import Charge
from billow.subscriptions.dependencies import request_time
from billow.usage.instant import instant_amount, unit_amount_cents
from tests.conftest import Api
from tests.fixtures import factories as f
from tests.fixtures.worlds import World as BaseWorld


class World(BaseWorld):
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
        return self.api.post("/events/estimate_instant_fees", {"event": body})

    def fees(
        self, code: str, properties: Mapping[str, Any] | None = None, **event: Any
    ) -> list[dict[str, Any]]:
        response = self.estimate(code, properties, **event)
        assert response.status_code == 200, response.text
        return response.json()["fees"]  # type: ignore[no-any-return]

    def batch(self, *events: Mapping[str, Any]) -> Any:
        return self.api.post("/events/batch_estimate_instant_fees", {"events": list(events)})

    def stored(self) -> tuple[int, int]:
        with self.tx() as session:
            return (
                int(session.scalar(select(func.count()).select_from(Event)) or 0),
                int(session.scalar(select(func.count()).select_from(Fee)) or 0),
            )


@pytest.fixture
def world(app: FastAPI, api: Api) -> Iterator[World]:
    yield World(app, api)
    app.dependency_overrides.pop(request_time, None)


def error(response: Any) -> tuple[int, Any]:
    body = response.json()
    return response.status_code, body.get("error_details", body.get("code"))


def short(fee: dict[str, Any]) -> tuple[str, int, Any, Any]:
    return fee["units"], fee["amount_cents"], fee["precise_amount"], fee["precise_unit_amount"]


# ------------------------------------------------------------------------------------------ pure rules


class TestPure:
    def test_standard(self) -> None:
        assert instant_amount("standard", {"amount": "2.5"}, Decimal(4)) == Decimal(10)  # 4 * 2.5
        assert instant_amount("standard", {}, Decimal(4)) == 0
        assert instant_amount("standard", {"amount": "2.5"}, Decimal(-4)) == 0  # negative units cost 0

    def test_percentage(self) -> None:
        # 200 * 1.5 / 100 = 3, + 0.25 fixed = 3.25
        assert instant_amount("percentage", {"rate": "1.5", "fixed_amount": "0.25"}, Decimal(200)) == Decimal(
            "3.25"
        )
        # 3.25 above the maximum 3 -> 3
        properties = {"rate": "1.5", "fixed_amount": "0.25", "per_transaction_max_amount": "3"}
        assert instant_amount("percentage", properties, Decimal(200)) == 3
        # 10 * 1.5 / 100 = 0.15 below the minimum 1 -> 1; a blank bound is no bound
        properties = {"rate": "1.5", "per_transaction_min_amount": "1", "per_transaction_max_amount": ""}
        assert instant_amount("percentage", properties, Decimal(10)) == 1

    def test_unit_amount_in_minor_units(self) -> None:
        assert unit_amount_cents(Decimal("10.00"), Decimal(4), "EUR") == 250  # 10 / 4 = 2.5 EUR = 250 cents
        assert unit_amount_cents(Decimal(0), Decimal(4), "EUR") == 0
        assert unit_amount_cents(Decimal(3), Decimal(0), "EUR") == 0
        assert unit_amount_cents(Decimal(1000), Decimal(4), "JPY") == 250  # no minor unit


# ------------------------------------------------------------------------------------------ API


class TestEstimate:
    def test_exact_body(self, world: World) -> None:
        metric = world.metric("sum_agg", code="storage", name="Storage")
        charge = world.charge(metric, "standard", {"amount": "2.5"}, invoice_display_name="Disk")
        response = world.estimate("storage", {"value": "4.5"}, transaction_id="tr_1")
        assert response.status_code == 200, response.text
        # 4.5 * 2.5 = 11.25 USD = 1125 cents; 11.25 / 4.5 = 2.5 USD a unit = 250 cents
        assert response.json() == {
            "fees": [
                {
                    "lago_id": None,
                    "lago_charge_id": str(charge.id),
                    "lago_charge_filter_id": None,
                    "lago_invoice_id": None,
                    "lago_true_up_fee_id": None,
                    "lago_true_up_parent_fee_id": None,
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
                    "amount_cents": 1125,
                    "amount_currency": "USD",
                    "precise_amount": 11.25,
                    "precise_total_amount": 11.25,
                    "taxes_amount_cents": 0,
                    "taxes_precise_amount": 0,
                    "taxes_rate": 0,
                    "total_amount_cents": 1125,
                    "total_amount_currency": "USD",
                    "units": "4.5",
                    "description": None,
                    "precise_unit_amount": 250,
                    "precise_coupons_amount_cents": "0.0",
                    "events_count": 1,
                    "payment_status": "pending",
                    "created_at": None,
                    "succeeded_at": None,
                    "failed_at": None,
                    "refunded_at": None,
                    "amount_details": None,
                    "event_transaction_id": "tr_1",
                }
            ]
        }
        assert world.stored() == (0, 0)

    def test_history_does_not_count_and_rounding(self, world: World) -> None:
        metric = world.metric("sum_agg", code="storage")
        world.charge(metric, "standard", {"amount": "0.333"})
        world.events(metric, {"value": 100})  # ignored: an instant estimate prices the event alone
        # 3 * 0.333 = 0.999 USD -> 1.00 USD = 100 cents; 1.00 / 3 = 0.333.. USD a unit
        [fee] = world.fees("storage", {"value": 3})
        assert (fee["units"], fee["amount_cents"], fee["precise_amount"]) == ("3.0", 100, 0.999)
        assert fee["precise_unit_amount"] == pytest.approx(33.333333333)
        assert fee["event_transaction_id"]  # generated when absent

    def test_percentage_with_fixed_amount_and_bounds(self, world: World) -> None:
        metric = world.metric("sum_agg", code="payments")
        world.charge(
            metric,
            "percentage",
            {"rate": "1.5", "fixed_amount": "0.25", "per_transaction_max_amount": "3"},
        )
        # 100 * 1.5% = 1.5 + 0.25 = 1.75 USD = 175 cents; 1.75 / 100 = 0.0175 USD = 1.75 cents a unit
        assert short(world.fees("payments", {"value": 100})[0]) == ("100.0", 175, 1.75, 1.75)
        # 1000 * 1.5% = 15 + 0.25 = 15.25 -> at most 3 USD
        assert world.fees("payments", {"value": 1000})[0]["amount_cents"] == 300

    def test_only_standard_and_percentage_pay_in_advance_charges(self, world: World) -> None:
        metric = world.metric("sum_agg", code="storage")
        first = world.charge(metric, "standard", {"amount": "1"})
        world.charge(metric, "graduated", {"graduated_ranges": []})
        world.charge(metric, "standard", {"amount": "5"}, pay_in_advance=False)
        second = world.charge(metric, "percentage", {"rate": "10"})
        fees = world.fees("storage", {"value": 2})
        # standard 2 * 1 = 2 USD; percentage 2 * 10% = 0.2 USD
        assert [(fee["lago_charge_id"], fee["amount_cents"]) for fee in fees] == [
            (str(first.id), 200),
            (str(second.id), 20),
        ]

    def test_units_from_the_field_only(self, world: World) -> None:
        calls = world.metric("count_agg", code="calls", field_name=None)
        world.charge(calls, "standard", {"amount": "1"})
        # A metric without field: 0 units, as Lago.
        assert short(world.fees("calls", {"value": 3})[0]) == ("0.0", 0, 0, 0)
        storage = world.metric("sum_agg", code="storage", rounding_function="ceil", rounding_precision=0)
        world.charge(storage, "standard", {"amount": "1"})
        assert world.fees("storage", {})[0]["units"] == "0.0"  # absent: 0
        assert world.fees("storage", {"value": 1.2})[0]["units"] == "2.0"  # the metric's rounding (ceil)

    def test_filters(self, world: World) -> None:
        metric = world.metric("sum_agg", code="calls", filters={"region": ["us", "eu"]})
        charge = world.charge(metric, "standard", {"amount": "1"})
        us = world.charge_filter(charge, {"region": ["us"]}, properties={"amount": "3"})
        [fee] = world.fees("calls", {"region": "us", "value": 2})
        assert (fee["lago_charge_filter_id"], fee["amount_cents"]) == (str(us.id), 600)  # 2 * 3 USD
        assert (fee["item"]["filters"], fee["item"]["filter_invoice_display_name"]) == (
            {"region": ["us"]},
            "us",
        )
        [fee] = world.fees("calls", {"region": "eu", "value": 2})
        assert (fee["lago_charge_filter_id"], fee["amount_cents"]) == (None, 200)


class TestBatch:
    def test_events_grouped_by_subscription(self, world: World) -> None:
        storage = world.metric("sum_agg", code="storage")
        calls = world.metric("sum_agg", code="calls")
        world.charge(storage, "standard", {"amount": "1"})
        world.charge(calls, "standard", {"amount": "2"})
        with world.tx() as session:
            customer = f.customer(session, world.org, "cus_2")
            f.subscription(session, world.org, customer, world.plan, "sub_2")
        response = world.batch(
            {
                "external_subscription_id": "sub_1",
                "code": "storage",
                "properties": {"value": 1},
                "transaction_id": "a",
            },
            {
                "external_subscription_id": "sub_2",
                "code": "calls",
                "properties": {"value": 1},
                "transaction_id": "b",
            },
            {
                "external_subscription_id": "sub_1",
                "code": "calls",
                "properties": {"value": 3},
                "transaction_id": "c",
            },
            {
                "external_subscription_id": "sub_1",
                "code": "other",
                "properties": {"value": 3},
                "transaction_id": "d",
            },
        )
        assert response.status_code == 200, response.text
        fees = response.json()["fees"]
        # sub_1 first (a: 1 * 1 USD, c: 3 * 2 USD; d matches no charge), then sub_2 (b: 1 * 2 USD)
        assert [
            (fee["event_transaction_id"], fee["external_subscription_id"], fee["amount_cents"])
            for fee in fees
        ] == [
            ("a", "sub_1", 100),
            ("c", "sub_1", 600),
            ("b", "sub_2", 200),
        ]
        assert world.stored() == (0, 0)

    def test_empty_batch(self, world: World) -> None:
        response = world.batch()
        assert (response.status_code, response.json()) == (200, {"fees": []})

    def test_errors(self, world: World) -> None:
        world.charge(world.metric("sum_agg", code="storage"), "graduated", {"graduated_ranges": []})
        assert error(world.batch({"external_subscription_id": "nope", "code": "storage"})) == (
            404,
            "subscription_not_found",
        )
        # The plan has no instant charge at all.
        assert error(world.batch({"external_subscription_id": "sub_1", "code": "storage"})) == (
            422,
            {"code": ["does_not_match_an_instant_charge"]},
        )
        assert world.api.post("/events/batch_estimate_instant_fees", {"event": {}}).status_code == 400
        assert world.api.post("/events/batch_estimate_instant_fees", {"events": [1]}).status_code == 400


class TestErrors:
    def test_missing_root(self, world: World) -> None:
        assert world.api.post("/events/estimate_instant_fees", {"events": {}}).status_code == 400

    @pytest.mark.parametrize("external_id", [None, "", "sub_unknown"])
    def test_unknown_subscription(self, world: World, external_id: str | None) -> None:
        world.charge(world.metric("sum_agg", code="storage"))
        assert error(world.estimate("storage", external_subscription_id=external_id)) == (
            404,
            "subscription_not_found",
        )

    @pytest.mark.parametrize("code", ["storage", "unknown"])
    def test_no_instant_charge(self, world: World, code: str) -> None:
        world.charge(world.metric("sum_agg", code="storage"), "graduated", {"graduated_ranges": []})
        assert error(world.estimate(code)) == (422, {"code": ["does_not_match_an_instant_charge"]})

    @pytest.mark.parametrize(
        ("properties", "details"),
        [
            ({"value": "abc"}, {"properties": ["value_is_not_valid_number"]}),
            ({"value": True}, {"properties": ["value_is_not_valid_number"]}),
            ({"value": "1" + "0" * 30}, {"properties": ["value_is_out_of_range"]}),
        ],
    )
    def test_bad_values(self, world: World, properties: dict, details: dict) -> None:
        world.charge(world.metric("sum_agg", code="storage"), "standard", {"amount": "1"})
        assert error(world.estimate("storage", properties)) == (422, details)
        assert world.stored() == (0, 0)


class TestTenancy:
    def test_other_organization(self, world: World, other_api: Api) -> None:
        world.charge(world.metric("sum_agg", code="storage"), "standard", {"amount": "1"})
        body = {"external_subscription_id": "sub_1", "code": "storage", "properties": {"value": 1}}
        assert error(other_api.post("/events/estimate_instant_fees", {"event": body})) == (
            404,
            "subscription_not_found",
        )
        assert error(other_api.post("/events/batch_estimate_instant_fees", {"events": [body]})) == (
            404,
            "subscription_not_found",
        )
        assert world.fees("storage", {"value": 1})[0]["amount_cents"] == 100
