"""A subscription's fixed charges: ``plan_overrides.fixed_charges`` and
``/subscriptions/{external_id}/fixed_charges[/{fixed_charge_code}]`` (overrides on a child plan)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from lago_python_client.models.fixed_charge import FixedChargeResponse

from billow.billing.run import bill_due
from tests.conftest import Api
from tests.plans.test_fixed_charges_api import create_add_on, expected, fixed


def not_found(response: Any, code: str) -> None:
    assert response.status_code == 404, response.text
    assert response.json() == {"status": 404, "error": "Not Found", "code": code}


def catalog(api: Api) -> dict[str, Any]:
    """Plan ``pro`` with two fixed charges: ``seats`` (3 units at 10) and ``setup`` (1 unit at 50)."""
    seats = create_add_on(api)
    setup = create_add_on(api, "setup")
    plan = {
        "name": "Pro",
        "code": "pro",
        "interval": "monthly",
        "amount_cents": 1000,
        "amount_currency": "EUR",
        "fixed_charges": [fixed(seats), fixed(setup, units="1", properties={"amount": "50"})],
    }
    response = api.post("/plans", json={"plan": plan})
    assert response.status_code == 200, response.text
    return response.json()["plan"]


def subscribe(api: Api, **fields: Any) -> Any:
    body = {"external_customer_id": "cus_1", "plan_code": "pro", "external_id": "sub_1", **fields}
    return api.post("/subscriptions", json={"subscription": body})


def override(api: Api, code: str = "seats", external_id: str = "sub_1", **body: Any) -> Any:
    return api.put(f"/subscriptions/{external_id}/fixed_charges/{code}", json={"fixed_charge": body})


class TestPlanOverrides:
    def test_child_plan_copies_them_with_overrides(self, api: Api) -> None:
        plan = catalog(api)
        seats, setup = plan["fixed_charges"]
        response = subscribe(
            api,
            plan_overrides={
                "fixed_charges": [{"id": seats["lago_id"], "units": "5", "invoice_display_name": "S"}]
            },
        )
        assert response.status_code == 200, response.text
        child = response.json()["subscription"]["plan"]
        assert child["parent_id"] == plan["lago_id"]
        child_seats, child_setup = child["fixed_charges"]
        assert child_seats == {
            **seats,
            "lago_id": child_seats["lago_id"],
            "created_at": child_seats["created_at"],
            "units": "5.0",
            "invoice_display_name": "S",
            "lago_parent_id": seats["lago_id"],
        }
        assert child_setup == {
            **setup,
            "lago_id": child_setup["lago_id"],
            "created_at": child_setup["created_at"],
            "lago_parent_id": setup["lago_id"],
        }
        # The plan is unchanged.
        assert api.get("/plans/pro").json()["plan"]["fixed_charges"] == plan["fixed_charges"]

    def test_other_overrides_copy_them_unchanged(self, api: Api) -> None:
        plan = catalog(api)
        child = subscribe(api, plan_overrides={"amount_cents": 5}).json()["subscription"]["plan"]
        assert [(f["code"], f["units"], f["lago_parent_id"]) for f in child["fixed_charges"]] == [
            (f["code"], f["units"], f["lago_id"]) for f in plan["fixed_charges"]
        ]

    def test_update_overrides_the_child(self, api: Api) -> None:
        plan = catalog(api)
        seats = plan["fixed_charges"][0]
        child = subscribe(api, plan_overrides={"amount_cents": 5}).json()["subscription"]["plan"]
        response = api.put(
            "/subscriptions/sub_1",
            json={
                "subscription": {"plan_overrides": {"fixed_charges": [{"id": seats["lago_id"], "units": 8}]}}
            },
        )
        assert response.status_code == 200, response.text
        updated = response.json()["subscription"]["plan"]
        assert updated["lago_id"] == child["lago_id"]
        assert [f["units"] for f in updated["fixed_charges"]] == ["8.0", "1.0"]
        assert [f["lago_id"] for f in updated["fixed_charges"]] == [
            f["lago_id"] for f in child["fixed_charges"]
        ]

    def test_invalid_override_writes_nothing(self, api: Api) -> None:
        plan = catalog(api)
        seats = plan["fixed_charges"][0]
        response = subscribe(api, plan_overrides={"fixed_charges": [{"id": seats["lago_id"], "units": "-1"}]})
        assert response.status_code == 422, response.text
        assert response.json()["error_details"] == {"units": ["value_is_out_of_range"]}
        not_found(api.get("/subscriptions/sub_1"), "subscription_not_found")


class TestSubscriptionFixedCharges:
    @pytest.fixture
    def plan(self, api: Api) -> dict[str, Any]:
        plan = catalog(api)
        assert subscribe(api).status_code == 200
        return plan

    def test_list_and_show_the_plans(self, api: Api, plan: dict[str, Any]) -> None:
        seats, setup = plan["fixed_charges"]
        assert api.get("/subscriptions/sub_1/fixed_charges").json() == {
            "fixed_charges": [setup, seats],  # newest first (created together: the later position first)
            "meta": {
                "current_page": 1,
                "next_page": None,
                "prev_page": None,
                "total_pages": 1,
                "total_count": 2,
            },
        }
        assert api.get("/subscriptions/sub_1/fixed_charges/seats").json() == {"fixed_charge": seats}
        shown = api.get("/subscriptions/sub_1/fixed_charges/seats?subscription_status=active").json()
        assert shown == {"fixed_charge": seats}

    def test_override_makes_a_child_plan(self, api: Api, plan: dict[str, Any]) -> None:
        seats = plan["fixed_charges"][0]
        response = override(api, units="4", properties={"amount": "12"}, apply_units_immediately=True)
        assert response.status_code == 200, response.text
        got = response.json()["fixed_charge"]
        assert got == {
            **seats,
            "lago_id": got["lago_id"],
            "created_at": got["created_at"],
            "units": "4.0",
            "properties": {"amount": "12"},
            "lago_parent_id": seats["lago_id"],
        }
        FixedChargeResponse.parse_obj(got)
        subscription = api.get("/subscriptions/sub_1").json()["subscription"]
        assert subscription["plan"]["parent_id"] == plan["lago_id"]
        assert api.get("/subscriptions/sub_1/fixed_charges/seats").json() == {"fixed_charge": got}
        # A second override changes the same child fixed charge.
        again = override(api, invoice_display_name="Seats").json()["fixed_charge"]
        assert again == {**got, "invoice_display_name": "Seats"}
        assert (
            api.get("/subscriptions/sub_1").json()["subscription"]["plan"]["lago_id"]
            == (subscription["plan"]["lago_id"])
        )
        # The plan is unchanged.
        assert api.get("/plans/pro/fixed_charges/seats").json() == {"fixed_charge": seats}

    def test_override_errors_write_nothing(self, api: Api, plan: dict[str, Any]) -> None:
        response = override(api, units="many")
        assert response.status_code == 422
        assert response.json()["error_details"] == {"units": ["value_is_invalid"]}
        not_found(override(api, tax_codes=["nope"]), "tax_not_found")
        assert api.get("/subscriptions/sub_1").json()["subscription"]["plan"]["parent_id"] is None

    def test_not_found(self, api: Api, plan: dict[str, Any]) -> None:
        not_found(api.get("/subscriptions/nope/fixed_charges"), "subscription_not_found")
        not_found(
            api.get("/subscriptions/sub_1/fixed_charges?subscription_status=pending"),
            "subscription_not_found",
        )
        not_found(api.get("/subscriptions/sub_1/fixed_charges/nope"), "fixed_charge_not_found")
        not_found(override(api, "nope", units="1"), "fixed_charge_not_found")
        not_found(override(api, external_id="nope", units="1"), "subscription_not_found")

    def test_tenancy(self, api: Api, other_api: Api, plan: dict[str, Any]) -> None:
        not_found(other_api.get("/subscriptions/sub_1/fixed_charges"), "subscription_not_found")
        not_found(other_api.get("/subscriptions/sub_1/fixed_charges/seats"), "subscription_not_found")
        not_found(override(other_api, units="9"), "subscription_not_found")
        assert api.get("/subscriptions/sub_1/fixed_charges/seats").json()["fixed_charge"]["units"] == "3.0"

    def test_plan_with_subscriptions_keeps_model_and_code(self, api: Api, plan: dict[str, Any]) -> None:
        # As Lago: once a plan has subscriptions, its fixed charges keep their charge model and code.
        body = {"charge_model": "volume", "code": "renamed", "units": "6"}
        response = api.put("/plans/pro/fixed_charges/seats", json={"fixed_charge": body})
        assert response.status_code == 200, response.text
        got = response.json()["fixed_charge"]
        assert (got["code"], got["charge_model"], got["units"]) == ("seats", "standard", "6.0")
        seats = {**got, "units": "1.0"}
        response = api.put(
            "/plans/pro", json={"plan": {"fixed_charges": [{"id": got["lago_id"], "code": "x", "units": 1}]}}
        )
        assert response.json()["plan"]["fixed_charges"] == [seats]  # the other one was dropped

    def test_fixed_charges_expected_helper(self, api: Api, plan: dict[str, Any]) -> None:
        seats = plan["fixed_charges"][0]
        add_on = api.get("/add_ons/seats").json()["add_on"]
        assert seats == expected(add_on, seats)


class TestBilledAtStart:
    def test_in_advance_fixed_charge_on_an_arrears_plan_is_billed_on_creation(
        self, api: Api, app: Any
    ) -> None:
        seats = create_add_on(api)
        plan = {
            "name": "Pro",
            "code": "pro",
            "interval": "monthly",
            "amount_cents": 1000,
            "amount_currency": "EUR",
            "fixed_charges": [fixed(seats, pay_in_advance=True)],
        }
        assert api.post("/plans", json={"plan": plan}).status_code == 200
        assert subscribe(api, billing_time="anniversary").status_code == 200
        [invoice] = api.get("/invoices").json()["invoices"]
        # The first month of 3 seats at 10.00 (anniversary: a whole period); no plan fee, it is in arrears.
        assert (invoice["invoice_type"], invoice["fees_amount_cents"]) == ("subscription", 3000)
        assert bill_due(app.state.sessionmaker, datetime.now(UTC)).invoices_created == 0

    def test_in_arrears_only_bills_nothing_on_creation(self, api: Api) -> None:
        catalog(api)
        assert subscribe(api).status_code == 200
        assert api.get("/invoices").json()["invoices"] == []
