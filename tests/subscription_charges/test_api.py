"""``/subscriptions/{external_id}/charges[/{code}[/filters[/{id}]]]``: a subscription's charges, overridden on
its child plan (created on the first write), Lago's bodies and errors."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from lago_python_client.models.charge import ChargeFilterResponse, ChargeResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billow.billing.run import bill_due
from billow.models.invoices import Fee, Invoice
from billow.models.plans import Charge, ChargeFilter, Plan
from billow.models.subscriptions import Subscription
from tests.conftest import Api

# The billing test subscribes in the past and bills the period since (off by default, as Lago).
pytestmark = pytest.mark.usefixtures("bill_backdated_periods")

CHARGES = "/subscriptions/sub_1/charges"
STORAGE = f"{CHARGES}/storage"
FILTERS = f"{STORAGE}/filters"


def ok(response: Any) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def not_found(response: Any, code: str) -> None:
    assert response.status_code == 404, response.text
    assert response.json() == {"status": 404, "error": "Not Found", "code": code}


def errors_of(response: Any) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    body = response.json()
    assert (body["status"], body["error"], body["code"]) == (422, "Unprocessable Entity", "validation_errors")
    return body["error_details"]


def catalog(api: Api) -> dict[str, Any]:
    """Metric ``storage`` (sum of ``gb``, filterable by region us/eu), tax ``vat`` and plan ``pro``: 1000
    cents monthly, charge ``storage`` standard at 2 per unit, with a ``region: us`` filter at 1."""
    metric = ok(
        api.post(
            "/billable_metrics",
            {
                "billable_metric": {
                    "name": "Storage",
                    "code": "storage",
                    "aggregation_type": "sum_agg",
                    "field_name": "gb",
                    "filters": [{"key": "region", "values": ["us", "eu"]}],
                }
            },
        )
    )["billable_metric"]
    ok(api.post("/taxes", {"tax": {"name": "VAT", "code": "vat", "rate": "20"}}))
    plan = {
        "name": "Pro",
        "code": "pro",
        "interval": "monthly",
        "amount_cents": 1000,
        "amount_currency": "EUR",
        "charges": [
            {
                "billable_metric_id": metric["lago_id"],
                "charge_model": "standard",
                "properties": {"amount": "2"},
                "filters": [{"values": {"region": ["us"]}, "properties": {"amount": "1"}}],
            }
        ],
    }
    return ok(api.post("/plans", {"plan": plan}))["plan"]


def subscribe(api: Api, **fields: Any) -> dict[str, Any]:
    body = {"external_customer_id": "cus_1", "plan_code": "pro", "external_id": "sub_1", **fields}
    return ok(api.post("/subscriptions", {"subscription": body}))["subscription"]


@pytest.fixture
def plan(api: Api) -> dict[str, Any]:
    plan = catalog(api)
    subscribe(api)
    return plan


@pytest.fixture
def db(app: FastAPI) -> Iterator[Session]:
    with app.state.sessionmaker() as session:
        yield session


def counts(db: Session) -> tuple[int, int, int]:
    """Plans, live charges, live charge filters."""
    db.expire_all()
    return (
        db.scalar(select(func.count()).select_from(Plan)) or 0,
        db.scalar(select(func.count()).select_from(Charge).where(Charge.deleted_at.is_(None))) or 0,
        db.scalar(select(func.count()).select_from(ChargeFilter).where(ChargeFilter.deleted_at.is_(None)))
        or 0,
    )


def subscription_plan(api: Api) -> dict[str, Any]:
    return ok(api.get("/subscriptions/sub_1"))["subscription"]["plan"]


class TestRead:
    def test_list_and_show_the_plans_charges(self, api: Api, plan: dict[str, Any]) -> None:
        [charge] = plan["charges"]
        listed = ok(api.get(CHARGES))
        assert listed == {
            "charges": [charge],
            "meta": {
                "current_page": 1,
                "next_page": None,
                "prev_page": None,
                "total_pages": 1,
                "total_count": 1,
            },
        }
        assert charge["lago_parent_id"] is None
        assert ok(api.get(STORAGE)) == {"charge": charge}
        ChargeResponse.parse_obj(charge)

    def test_filters_list_and_show(self, api: Api, plan: dict[str, Any]) -> None:
        [existing] = plan["charges"][0]["filters"]
        assert existing == {
            "lago_id": existing["lago_id"],
            "charge_code": "storage",
            "invoice_display_name": None,
            "properties": {"amount": "1"},
            "values": {"region": ["us"]},
            "created_at": existing["created_at"],
        }
        assert ok(api.get(FILTERS))["filters"] == [existing]
        assert ok(api.get(f"{FILTERS}/{existing['lago_id']}")) == {"filter": existing}

    def test_status_picks_the_subscription(self, api: Api, plan: dict[str, Any]) -> None:
        ok(api.delete("/subscriptions/sub_1"))
        not_found(api.get(CHARGES), "subscription_not_found")
        assert (
            ok(api.get(CHARGES, params={"subscription_status": "terminated"}))["charges"] == plan["charges"]
        )
        assert ok(api.get(STORAGE, params={"status": "terminated"}))["charge"] == plan["charges"][0]
        not_found(api.get(CHARGES, params={"subscription_status": "bogus"}), "subscription_not_found")

    def test_not_found(self, api: Api, plan: dict[str, Any]) -> None:
        not_found(api.get("/subscriptions/nope/charges"), "subscription_not_found")
        not_found(api.get(f"{CHARGES}/nope"), "charge_not_found")
        not_found(api.get(f"{CHARGES}/nope/filters"), "charge_not_found")
        not_found(api.get(f"{FILTERS}/nope"), "charge_filter_not_found")
        not_found(api.get(f"{FILTERS}/00000000-0000-0000-0000-000000000000"), "charge_filter_not_found")


class TestOverride:
    def test_first_override_creates_the_child_plan(self, api: Api, plan: dict[str, Any], db: Session) -> None:
        parent = plan["charges"][0]
        body = {
            "charge": {
                "invoice_display_name": "Disk",
                "min_amount_cents": 300,
                "properties": {"amount": "5"},
                "tax_codes": ["vat"],
                # Not overridable: ignored.
                "charge_model": "package",
                "pay_in_advance": True,
                "applied_pricing_unit": {"code": "credits", "conversion_rate": "0.5"},
            }
        }
        charge = ok(api.put(STORAGE, body))["charge"]
        [vat] = ok(api.get("/taxes"))["taxes"]
        [copied_filter] = charge["filters"]
        assert charge == {
            **parent,
            "lago_id": charge["lago_id"],
            "created_at": charge["created_at"],
            "invoice_display_name": "Disk",
            "min_amount_cents": 300,
            "properties": {"amount": "5"},
            "taxes": [vat],
            "filters": [
                {
                    **parent["filters"][0],
                    "lago_id": copied_filter["lago_id"],
                    "created_at": copied_filter["created_at"],
                }
            ],
            "lago_parent_id": parent["lago_id"],
        }
        assert charge["lago_id"] != parent["lago_id"]
        assert copied_filter["lago_id"] != parent["filters"][0]["lago_id"]
        ChargeResponse.parse_obj(charge)
        # The subscription is on a child plan of ``pro``; ``pro`` is unchanged.
        child = subscription_plan(api)
        assert (child["code"], child["parent_id"]) == ("pro", plan["lago_id"])
        assert [c["lago_id"] for c in child["charges"]] == [charge["lago_id"]]
        assert ok(api.get("/plans/pro"))["plan"]["charges"] == plan["charges"]
        assert counts(db) == (2, 2, 2)
        # Reads now show the subscription's charge.
        assert ok(api.get(STORAGE)) == {"charge": charge}
        assert ok(api.get(CHARGES))["charges"] == [charge]

    def test_next_override_changes_the_same_child_charge(
        self, api: Api, plan: dict[str, Any], db: Session
    ) -> None:
        first = ok(api.put(STORAGE, {"charge": {"properties": {"amount": "5"}}}))["charge"]
        second = ok(api.put(STORAGE, {"charge": {"min_amount_cents": 100}}))["charge"]
        assert second == {**first, "min_amount_cents": 100}
        assert counts(db) == (2, 2, 2)

    def test_filters_replace_the_childs_filters(self, api: Api, plan: dict[str, Any], db: Session) -> None:
        body = {"charge": {"filters": [{"values": {"region": ["eu"]}, "properties": {"amount": "3"}}]}}
        charge = ok(api.put(STORAGE, body))["charge"]
        [only] = charge["filters"]
        assert (only["values"], only["properties"]) == ({"region": ["eu"]}, {"amount": "3"})
        assert charge["properties"] == {"amount": "2"}
        assert ok(api.get("/plans/pro"))["plan"]["charges"][0]["filters"] == plan["charges"][0]["filters"]
        assert counts(db) == (2, 2, 2)

    def test_subscription_created_with_plan_overrides(self, api: Api, db: Session) -> None:
        plan = catalog(api)
        overrides = {"charges": [{"id": plan["charges"][0]["lago_id"], "properties": {"amount": "7"}}]}
        created = subscribe(api, plan_overrides=overrides)
        [child_charge] = created["plan"]["charges"]
        assert ok(api.get(STORAGE))["charge"]["lago_parent_id"] == plan["charges"][0]["lago_id"]
        charge = ok(api.put(STORAGE, {"charge": {"invoice_display_name": "Disk"}}))["charge"]
        assert (charge["lago_id"], charge["properties"], charge["invoice_display_name"]) == (
            child_charge["lago_id"],
            {"amount": "7"},
            "Disk",
        )
        assert counts(db) == (2, 2, 2)

    def test_invalid_override_is_422_and_nothing_written(
        self, api: Api, plan: dict[str, Any], db: Session
    ) -> None:
        response = api.put(STORAGE, {"charge": {"properties": {"amount": "x"}}})
        assert errors_of(response) == {"properties": ["invalid_amount"]}
        not_found(api.put(STORAGE, {"charge": {"tax_codes": ["nope"]}}), "tax_not_found")
        response = api.put(
            STORAGE, {"charge": {"filters": [{"values": {"region": ["ap"]}, "properties": {}}]}}
        )
        assert "values" in errors_of(response)
        assert counts(db) == (1, 1, 1)
        assert subscription_plan(api)["lago_id"] == plan["lago_id"]

    def test_not_found(self, api: Api, plan: dict[str, Any], db: Session) -> None:
        not_found(api.put("/subscriptions/nope/charges/storage", {"charge": {}}), "subscription_not_found")
        not_found(api.put(f"{CHARGES}/nope", {"charge": {}}), "charge_not_found")
        assert counts(db) == (1, 1, 1)

    def test_an_empty_charge_is_a_bad_request(self, api: Api, plan: dict[str, Any], db: Session) -> None:
        message = "BadRequest: param is missing or the value is empty or invalid: charge"
        for body in ({}, {"charge": {}}):
            response = api.put(STORAGE, body)
            assert response.status_code == 400, response.text
            assert response.json() == {"status": 400, "error": message}
        assert counts(db) == (1, 1, 1)


class TestFilters:
    def test_create_on_the_child_plan(self, api: Api, plan: dict[str, Any], db: Session) -> None:
        body = {
            "filter": {
                "values": {"region": ["eu"]},
                "properties": {"amount": "4"},
                "invoice_display_name": "EU",
            }
        }
        created = ok(api.post(FILTERS, body))["filter"]
        assert created == {
            "lago_id": created["lago_id"],
            "charge_code": "storage",
            "invoice_display_name": "EU",
            "properties": {"amount": "4"},
            "values": {"region": ["eu"]},
            "created_at": created["created_at"],
        }
        ChargeFilterResponse.parse_obj(created)
        assert counts(db) == (2, 2, 3)
        listed = ok(api.get(FILTERS))
        assert [f["values"] for f in listed["filters"]] == [{"region": ["us"]}, {"region": ["eu"]}]
        assert listed["meta"]["total_count"] == 2
        assert ok(api.get(f"{FILTERS}/{created['lago_id']}")) == {"filter": created}
        assert ok(api.get("/plans/pro"))["plan"]["charges"][0]["filters"] == plan["charges"][0]["filters"]

    def test_empty_filters_are_bad_requests(self, api: Api, plan: dict[str, Any], db: Session) -> None:
        message = "BadRequest: param is missing or the value is empty or invalid: filter"
        url = f"{FILTERS}/{plan['charges'][0]['filters'][0]['lago_id']}"
        for response in (api.post(FILTERS, {"filter": {}}), api.put(url, {"filter": {}}), api.put(url, {})):
            assert response.status_code == 400, response.text
            assert response.json() == {"status": 400, "error": message}
        assert counts(db) == (1, 1, 1)

    def test_create_errors_write_nothing(self, api: Api, plan: dict[str, Any], db: Session) -> None:
        response = api.post(FILTERS, {"filter": {"properties": {"amount": "1"}}})
        assert errors_of(response) == {"values": ["value_is_mandatory"]}
        response = api.post(
            FILTERS, {"filter": {"values": {"region": ["us"]}, "properties": {"amount": "1"}}}
        )
        assert errors_of(response) == {"values": ["value_already_exists"]}
        response = api.post(
            FILTERS, {"filter": {"values": {"region": ["ap"]}, "properties": {"amount": "1"}}}
        )
        assert errors_of(response) == {"values": ["value_is_invalid"]}
        response = api.post(
            FILTERS, {"filter": {"values": {"region": ["eu"]}, "properties": {"amount": "-1"}}}
        )
        assert errors_of(response) == {"properties": ["invalid_amount"]}
        not_found(
            api.post(f"{CHARGES}/nope/filters", {"filter": {"values": {"region": ["eu"]}}}),
            "charge_not_found",
        )
        assert counts(db) == (1, 1, 1)

    def test_update_overrides_the_filter_on_the_child(
        self, api: Api, plan: dict[str, Any], db: Session
    ) -> None:
        parent_filter = plan["charges"][0]["filters"][0]
        url = f"{FILTERS}/{parent_filter['lago_id']}"
        updated = ok(api.put(url, {"filter": {"properties": {"amount": "9"}, "values": {"region": ["eu"]}}}))[
            "filter"
        ]
        assert updated == {
            **parent_filter,
            "lago_id": updated["lago_id"],
            "created_at": updated["created_at"],
            "properties": {"amount": "9"},
        }
        assert updated["lago_id"] != parent_filter["lago_id"]
        assert counts(db) == (2, 2, 2)
        # The plan's filter is no longer the subscription's; the copy is, and changes in place.
        not_found(api.get(url), "charge_filter_not_found")
        again = ok(api.put(f"{FILTERS}/{updated['lago_id']}", {"filter": {"invoice_display_name": "US"}}))[
            "filter"
        ]
        assert again == {**updated, "invoice_display_name": "US"}
        assert ok(api.get("/plans/pro"))["plan"]["charges"][0]["filters"] == [parent_filter]

    def test_update_errors_write_nothing(self, api: Api, plan: dict[str, Any], db: Session) -> None:
        url = f"{FILTERS}/{plan['charges'][0]['filters'][0]['lago_id']}"
        assert errors_of(api.put(url, {"filter": {"properties": {"amount": "-2"}}})) == {
            "properties": ["invalid_amount"]
        }
        not_found(
            api.put(f"{FILTERS}/00000000-0000-0000-0000-000000000000", {"filter": {}}),
            "charge_filter_not_found",
        )
        assert counts(db) == (1, 1, 1)

    def test_delete_removes_the_childs_copy(self, api: Api, plan: dict[str, Any], db: Session) -> None:
        parent_filter = plan["charges"][0]["filters"][0]
        deleted = ok(api.delete(f"{FILTERS}/{parent_filter['lago_id']}"))["filter"]
        assert deleted == {
            **parent_filter,
            "lago_id": deleted["lago_id"],
            "created_at": deleted["created_at"],
        }
        assert counts(db) == (2, 2, 1)
        assert ok(api.get(STORAGE))["charge"]["filters"] == []
        assert ok(api.get("/plans/pro"))["plan"]["charges"][0]["filters"] == [parent_filter]
        not_found(api.delete(f"{FILTERS}/{deleted['lago_id']}"), "charge_filter_not_found")


class TestTenancy:
    def test_other_organization_gets_404(
        self, api: Api, other_api: Api, plan: dict[str, Any], db: Session
    ) -> None:
        filter_id = plan["charges"][0]["filters"][0]["lago_id"]
        filter_url = f"{FILTERS}/{filter_id}"
        for response in (
            other_api.get(CHARGES),
            other_api.get(STORAGE),
            other_api.put(STORAGE, {"charge": {"properties": {"amount": "5"}}}),
            other_api.get(FILTERS),
            other_api.post(
                FILTERS, {"filter": {"values": {"region": ["eu"]}, "properties": {"amount": "1"}}}
            ),
            other_api.get(filter_url),
            other_api.put(filter_url, {"filter": {"properties": {"amount": "5"}}}),
            other_api.delete(filter_url),
        ):
            not_found(response, "subscription_not_found")
        assert counts(db) == (1, 1, 1)

    def test_same_external_id_in_another_organization(
        self, api: Api, other_api: Api, plan: dict[str, Any]
    ) -> None:
        catalog(other_api)
        subscribe(other_api)
        ok(other_api.put(STORAGE, {"charge": {"properties": {"amount": "9"}}}))
        assert ok(api.get(STORAGE))["charge"] == plan["charges"][0]


class TestBilling:
    def test_the_overridden_price_is_billed(self, app: FastAPI, api: Api, db: Session) -> None:
        catalog(api)
        subscribe(api, subscription_at="2024-01-01T00:00:00Z")
        ok(api.put(STORAGE, {"charge": {"properties": {"amount": "5"}}}))
        ok(
            api.put(
                f"{FILTERS}/{ok(api.get(FILTERS))['filters'][0]['lago_id']}",
                {"filter": {"properties": {"amount": "3"}}},
            )
        )
        timestamp = int(datetime(2024, 1, 20, tzinfo=UTC).timestamp())
        for transaction_id, region, gb in (("t1", "eu", 4), ("t2", "us", 10)):
            event = {
                "transaction_id": transaction_id,
                "external_subscription_id": "sub_1",
                "code": "storage",
                "timestamp": timestamp,
                "properties": {"gb": gb, "region": region},
            }
            ok(api.post("/events", {"event": event}))
        bill_due(app.state.sessionmaker, datetime(2024, 2, 1, 1, tzinfo=UTC))
        [invoice] = db.scalars(select(Invoice).where(Invoice.organization_id == api.organization.id)).all()
        fees = db.scalars(select(Fee).where(Fee.invoice_id == invoice.id, Fee.fee_type == "charge")).all()
        # Default bucket: 4 GB (eu) at 5 = 20.00 -> 2000; filter region us: 10 GB at 3 = 30.00 -> 3000.
        assert sorted(fee.amount_cents for fee in fees) == [2000, 3000]
        subscription = db.scalars(select(Subscription).where(Subscription.external_id == "sub_1")).one()
        assert db.get(Plan, subscription.plan_id).parent_id is not None  # type: ignore[union-attr]
