"""Fixed charges of a plan: ``fixed_charges`` of ``POST/PUT /plans`` and
``/plans/{code}/fixed_charges[/{fixed_charge_code}]`` (Lago's ``FixedChargeObject`` bodies)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from lago_python_client.models.fixed_charge import FixedChargeResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from billow.models.plans import FixedCharge
from tests.conftest import Api
from tests.plans.test_api import create_plan, create_tax, db, errors_of, not_found, post_plan, update_plan

__all__ = ["db"]  # the fixture, imported for these tests


def create_add_on(api: Api, code: str = "seats", **overrides: Any) -> dict:
    body = {"name": code.title(), "code": code, "amount_cents": 1000, "amount_currency": "EUR", **overrides}
    response = api.post("/add_ons", json={"add_on": body})
    assert response.status_code == 200, response.text
    return response.json()["add_on"]


def fixed(add_on: dict, **overrides: Any) -> dict:
    return {
        "add_on_id": add_on["lago_id"],
        "charge_model": "standard",
        "units": "3",
        "properties": {"amount": "10"},
        **overrides,
    }


def expected(add_on: dict, got: dict, **overrides: Any) -> dict:
    """The body Lago renders for a fixed charge created by :func:`fixed` (ids and times from ``got``)."""
    return {
        "lago_id": got["lago_id"],
        "lago_add_on_id": add_on["lago_id"],
        "code": add_on["code"],
        "invoice_display_name": "",  # null in Lago: the official client needs a string
        "add_on_code": add_on["code"],
        "created_at": got["created_at"],
        "charge_model": "standard",
        "pay_in_advance": False,
        "prorated": False,
        "properties": {"amount": "10"},
        "units": "3.0",
        "lago_parent_id": None,
        "taxes": [],
        **overrides,
    }


def post_fixed(api: Api, plan_code: str = "starter", **body: Any) -> Any:
    return api.post(f"/plans/{plan_code}/fixed_charges", json={"fixed_charge": body})


class TestPlanWithFixedCharges:
    def test_create_renders_them(self, api: Api) -> None:
        seats = create_add_on(api)
        vat = create_tax(api)
        plan = create_plan(
            api,
            fixed_charges=[
                fixed(seats, invoice_display_name="Seats", tax_codes=["vat"], pay_in_advance=True),
                fixed(seats, charge_model="volume", properties=None, units=1.5),
            ],
        )
        first, second = plan["fixed_charges"]
        assert first == expected(
            seats,
            first,
            invoice_display_name="Seats",
            pay_in_advance=True,
            taxes=[{key: vat[key] for key in first["taxes"][0]}],
        )
        # No code: the add-on's, suffixed when taken; no properties: the model's defaults.
        assert second == expected(
            seats,
            second,
            code="seats_2",
            charge_model="volume",
            units="1.5",
            properties={
                "volume_ranges": [
                    {"from_value": 0, "to_value": None, "per_unit_amount": "0", "flat_amount": "0"}
                ]
            },
        )
        assert api.get("/plans/starter").json()["plan"]["fixed_charges"] == plan["fixed_charges"]
        assert api.get("/plans").json()["plans"][0]["fixed_charges"] == plan["fixed_charges"]

    def test_add_on_by_code_and_default_units(self, api: Api) -> None:
        seats = create_add_on(api)
        plan = create_plan(
            api, fixed_charges=[{"add_on_code": "seats", "charge_model": "standard", "code": "licences"}]
        )
        [got] = plan["fixed_charges"]
        assert got == expected(seats, got, code="licences", units="0.0", properties={"amount": "0"})

    def test_update_replaces_them(self, api: Api, db: Session) -> None:
        seats = create_add_on(api)
        setup = create_add_on(api, "setup")
        plan = create_plan(api, fixed_charges=[fixed(seats), fixed(setup)])
        kept, dropped = plan["fixed_charges"]
        response = update_plan(
            api,
            fixed_charges=[{"id": kept["lago_id"], "units": "7"}, fixed(setup, code="setup_again")],
        )
        assert response.status_code == 200, response.text
        first, second = response.json()["plan"]["fixed_charges"]
        assert first == {**kept, "units": "7.0"}
        assert second["code"] == "setup_again" and second["lago_id"] != dropped["lago_id"]
        row = db.get(FixedCharge, uuid.UUID(dropped["lago_id"]))
        assert row is not None and row.deleted_at is not None

    def test_update_without_fixed_charges_keeps_them(self, api: Api) -> None:
        seats = create_add_on(api)
        plan = create_plan(api, fixed_charges=[fixed(seats)])
        response = update_plan(api, name="Renamed")
        assert response.json()["plan"]["fixed_charges"] == plan["fixed_charges"]

    def test_unknown_fixed_charge_id(self, api: Api) -> None:
        create_plan(api)
        not_found(update_plan(api, fixed_charges=[{"id": "0" * 32}]), "fixed_charge_not_found")

    def test_unknown_add_on_writes_nothing(self, api: Api) -> None:
        not_found(
            post_plan(api, fixed_charges=[{"add_on_code": "nope", "charge_model": "standard"}]),
            "add_on_not_found",
        )
        not_found(api.get("/plans/starter"), "plan_not_found")

    def test_errors(self, api: Api) -> None:
        seats = create_add_on(api)
        response = post_plan(
            api,
            fixed_charges=[
                fixed(seats, charge_model="package"),
                fixed(seats, charge_model="volume", pay_in_advance=True, units="-1"),
                fixed(seats, charge_model="graduated", pay_in_advance=True, prorated=True, properties={}),
                fixed(seats, code="same", units="lots"),
                fixed(seats, code="same", properties={"amount": 3}),
            ],
        )
        assert errors_of(response) == {
            "charge_model": ["value_is_invalid"],
            "units": ["value_is_out_of_range", "value_is_invalid"],
            "pay_in_advance": ["invalid_charge_model"],
            "prorated": ["invalid_charge_model"],
            "properties": ["missing_volume_ranges", "invalid_amount"],
            "code": ["value_already_exist"],
        }

    def test_deleting_the_add_on_deletes_them(self, api: Api) -> None:
        seats = create_add_on(api)
        setup = create_add_on(api, "setup")
        plan = create_plan(api, fixed_charges=[fixed(seats), fixed(setup)])
        assert api.delete("/add_ons/seats").status_code == 200
        assert api.get("/plans/starter").json()["plan"]["fixed_charges"] == plan["fixed_charges"][1:]

    def test_deleted_plan_shows_them(self, api: Api) -> None:
        seats = create_add_on(api)
        plan = create_plan(api, fixed_charges=[fixed(seats)])
        response = api.delete("/plans/starter")
        assert response.json()["plan"]["fixed_charges"] == plan["fixed_charges"]


class TestFixedChargeRoutes:
    @pytest.fixture
    def seats(self, api: Api) -> dict:
        create_plan(api)
        return create_add_on(api)

    def test_create_show_list(self, api: Api, seats: dict) -> None:
        response = post_fixed(api, **fixed(seats, prorated=True, invoice_display_name="Seats"))
        assert response.status_code == 200, response.text
        got = response.json()["fixed_charge"]
        assert got == expected(seats, got, prorated=True, invoice_display_name="Seats")
        FixedChargeResponse.parse_obj(got)  # the official client reads it
        assert api.get("/plans/starter/fixed_charges/seats").json() == {"fixed_charge": got}
        second = post_fixed(api, **fixed(seats)).json()["fixed_charge"]
        assert second["code"] == "seats_2"
        listed = api.get("/plans/starter/fixed_charges").json()
        assert listed == {
            "fixed_charges": [second, got],  # newest first
            "meta": {
                "current_page": 1,
                "next_page": None,
                "prev_page": None,
                "total_pages": 1,
                "total_count": 2,
            },
        }
        assert api.get("/plans/starter").json()["plan"]["fixed_charges"] == [got, second]

    def test_update(self, api: Api, seats: dict) -> None:
        create_tax(api)
        post_fixed(api, **fixed(seats, pay_in_advance=True))
        response = api.put(
            "/plans/starter/fixed_charges/seats",
            json={
                "fixed_charge": {
                    "units": 12,
                    "charge_model": "graduated",
                    "pay_in_advance": False,  # cannot change (Lago)
                    "tax_codes": ["vat"],
                    "code": "licences",
                    "apply_units_immediately": True,
                    "properties": {
                        "graduated_ranges": [
                            {"from_value": 0, "to_value": 10, "per_unit_amount": "5", "flat_amount": "1"},
                            {"from_value": 11, "to_value": None, "per_unit_amount": "2", "flat_amount": "0"},
                        ]
                    },
                }
            },
        )
        assert response.status_code == 200, response.text
        got = response.json()["fixed_charge"]
        assert got["code"] == "licences"
        assert got["units"] == "12.0"
        assert got["charge_model"] == "graduated"
        assert got["pay_in_advance"] is True
        assert [tax["code"] for tax in got["taxes"]] == ["vat"]
        assert got["properties"]["graduated_ranges"][1]["per_unit_amount"] == "2"
        not_found(api.get("/plans/starter/fixed_charges/seats"), "fixed_charge_not_found")

    def test_update_errors_write_nothing(self, api: Api, seats: dict) -> None:
        before = post_fixed(api, **fixed(seats)).json()["fixed_charge"]
        response = api.put(
            "/plans/starter/fixed_charges/seats", json={"fixed_charge": {"units": "-2", "charge_model": "x"}}
        )
        assert errors_of(response) == {
            "charge_model": ["value_is_invalid"],
            "units": ["value_is_out_of_range"],
        }
        assert api.get("/plans/starter/fixed_charges/seats").json()["fixed_charge"] == before

    def test_code_taken(self, api: Api, seats: dict) -> None:
        post_fixed(api, **fixed(seats))
        assert errors_of(post_fixed(api, **fixed(seats, code="seats"))) == {"code": ["value_already_exist"]}

    def test_delete(self, api: Api, seats: dict, db: Session) -> None:
        got = post_fixed(api, **fixed(seats)).json()["fixed_charge"]
        response = api.delete("/plans/starter/fixed_charges/seats")
        assert response.status_code == 200
        assert response.json() == {"fixed_charge": got}
        not_found(api.delete("/plans/starter/fixed_charges/seats"), "fixed_charge_not_found")
        assert api.get("/plans/starter").json()["plan"]["fixed_charges"] == []
        # The code is free again.
        assert post_fixed(api, **fixed(seats)).status_code == 200
        assert len(db.scalars(select(FixedCharge)).all()) == 2

    def test_not_found(self, api: Api, seats: dict) -> None:
        not_found(api.get("/plans/nope/fixed_charges"), "plan_not_found")
        not_found(post_fixed(api, "nope", **fixed(seats)), "plan_not_found")
        not_found(api.get("/plans/starter/fixed_charges/nope"), "fixed_charge_not_found")
        not_found(post_fixed(api, add_on_id="nope", charge_model="standard"), "add_on_not_found")
        not_found(post_fixed(api, charge_model="standard"), "add_on_not_found")
        not_found(post_fixed(api, **fixed(seats, tax_codes=["nope"])), "tax_not_found")

    def test_tenancy(self, api: Api, other_api: Api, seats: dict) -> None:
        post_fixed(api, **fixed(seats))
        not_found(other_api.get("/plans/starter/fixed_charges"), "plan_not_found")
        not_found(other_api.get("/plans/starter/fixed_charges/seats"), "plan_not_found")
        not_found(other_api.delete("/plans/starter/fixed_charges/seats"), "plan_not_found")
        create_plan(other_api)
        # Another organization's add-on is unknown.
        not_found(post_fixed(other_api, **fixed(seats)), "add_on_not_found")
        assert other_api.get("/plans/starter/fixed_charges").json()["fixed_charges"] == []
