from __future__ import annotations

from typing import Any

from lago_python_client.models.add_on import AddOnResponse
from sqlalchemy import func, select

from billow.models.add_ons import AddOn, AddOnTax
from tests.conftest import Api

ADD_ON = {
    "name": "Setup fee",
    "invoice_display_name": "One-time setup",
    "code": "setup",
    "amount_cents": 50000,
    "amount_currency": "EUR",
    "description": "Onboarding",
}


def create_add_on(api: Api, **overrides: Any) -> dict:
    response = api.post("/add_ons", json={"add_on": {**ADD_ON, **overrides}})
    assert response.status_code == 200, response.text
    return response.json()["add_on"]


def create_tax(api: Api, code: str, rate: str = "20") -> dict:
    response = api.post("/taxes", json={"tax": {"name": code.upper(), "code": code, "rate": rate}})
    assert response.status_code == 200, response.text
    return response.json()["tax"]


def counts(api: Api) -> tuple[int, int]:
    """Add-ons (deleted included) and add-on/tax links in the database."""
    sessionmaker = api.client.app.state.sessionmaker  # type: ignore[attr-defined]
    with sessionmaker() as session:
        return (
            session.scalar(select(func.count()).select_from(AddOn)) or 0,
            session.scalar(select(func.count()).select_from(AddOnTax)) or 0,
        )


def errors(response: Any) -> dict:
    assert response.status_code == 422, response.text
    body = response.json()
    assert (
        body["status"] == 422
        and body["error"] == "Unprocessable Entity"
        and body["code"] == "validation_errors"
    )
    return body["error_details"]


class TestCreate:
    def test_returns_lago_body(self, api: Api) -> None:
        add_on = create_add_on(api)
        assert add_on == {
            "lago_id": add_on["lago_id"],
            "name": "Setup fee",
            "invoice_display_name": "One-time setup",
            "code": "setup",
            "amount_cents": 50000,
            "amount_currency": "EUR",
            "created_at": add_on["created_at"],
            "description": "Onboarding",
            "taxes": [],
        }
        assert add_on["created_at"].endswith("Z") and len(add_on["created_at"]) == 20
        AddOnResponse.parse_obj(add_on)  # the official client can read it

    def test_minimal_body_and_optional_fields_null(self, api: Api) -> None:
        add_on = create_add_on(api, invoice_display_name=None, description=None)
        assert add_on["invoice_display_name"] is None
        assert add_on["description"] is None

    def test_with_taxes(self, api: Api) -> None:
        vat = create_tax(api, "vat", "20")
        create_tax(api, "eco", "1.5")
        add_on = create_add_on(api, tax_codes=["vat", "eco", "vat"])
        assert [t["code"] for t in add_on["taxes"]] == ["eco", "vat"]
        assert add_on["taxes"][1] == vat
        assert counts(api) == (1, 2)
        parsed = AddOnResponse.parse_obj(add_on)
        assert parsed.taxes is not None and parsed.taxes.__root__[1].rate == 20.0

    def test_missing_fields(self, api: Api) -> None:
        response = api.post("/add_ons", json={"add_on": {"description": "x"}})
        assert errors(response) == {
            "name": ["value_is_mandatory"],
            "code": ["value_is_mandatory"],
            "amount_cents": ["value_is_mandatory"],
            "amount_currency": ["value_is_mandatory"],
        }

    def test_explicit_nulls_are_absent(self, api: Api) -> None:
        response = api.post(
            "/add_ons",
            json={"add_on": {**ADD_ON, "name": None, "amount_cents": None, "tax_codes": None}},
        )
        assert errors(response) == {"name": ["value_is_mandatory"], "amount_cents": ["value_is_mandatory"]}

    def test_empty_strings_are_mandatory(self, api: Api) -> None:
        response = api.post("/add_ons", json={"add_on": {**ADD_ON, "name": "", "code": ""}})
        assert errors(response) == {"name": ["value_is_mandatory"], "code": ["value_is_mandatory"]}

    def test_amount_must_be_positive(self, api: Api) -> None:
        for amount in (0, -1, 2**63):
            response = api.post("/add_ons", json={"add_on": {**ADD_ON, "amount_cents": amount}})
            assert errors(response) == {"amount_cents": ["value_is_out_of_range"]}, amount

    def test_amount_largest_allowed(self, api: Api) -> None:
        # billow.kit.limits.MAX_AMOUNT_CENTS: 10^15, not BIGINT, so that sums of amounts fit BIGINT.
        assert create_add_on(api, amount_cents=10**15)["amount_cents"] == 10**15
        response = api.post(
            "/add_ons", json={"add_on": {**ADD_ON, "code": "more", "amount_cents": 10**15 + 1}}
        )
        assert errors(response) == {"amount_cents": ["value_is_out_of_range"]}

    def test_amount_as_numeric_string_is_accepted(self, api: Api) -> None:
        assert create_add_on(api, amount_cents="1200")["amount_cents"] == 1200

    def test_wrong_types(self, api: Api) -> None:
        response = api.post(
            "/add_ons", json={"add_on": {**ADD_ON, "amount_cents": "lots", "tax_codes": "vat", "name": 3}}
        )
        assert errors(response) == {
            "name": ["value_is_invalid"],
            "amount_cents": ["value_is_invalid"],
            "tax_codes": ["value_is_invalid"],
        }

    def test_fractional_amount_is_invalid(self, api: Api) -> None:
        response = api.post("/add_ons", json={"add_on": {**ADD_ON, "amount_cents": 10.5}})
        assert errors(response) == {"amount_cents": ["value_is_invalid"]}

    def test_invalid_currency(self, api: Api) -> None:
        for currency in ("EURO", "eur", "XXZ", ""):
            response = api.post("/add_ons", json={"add_on": {**ADD_ON, "amount_currency": currency}})
            assert errors(response) == {"amount_currency": ["value_is_invalid"]}, currency

    def test_too_long(self, api: Api) -> None:
        response = api.post("/add_ons", json={"add_on": {**ADD_ON, "name": "n" * 256, "code": "c" * 256}})
        assert errors(response) == {"name": ["value_is_too_long"], "code": ["value_is_too_long"]}

    def test_duplicate_code(self, api: Api) -> None:
        create_add_on(api)
        assert errors(api.post("/add_ons", json={"add_on": ADD_ON})) == {"code": ["value_already_exist"]}
        assert counts(api) == (1, 0)

    def test_unknown_tax_writes_nothing(self, api: Api) -> None:
        create_tax(api, "vat")
        response = api.post("/add_ons", json={"add_on": {**ADD_ON, "tax_codes": ["vat", "nope"]}})
        assert response.status_code == 404
        assert response.json() == {"status": 404, "error": "Not Found", "code": "tax_not_found"}
        assert counts(api) == (0, 0)

    def test_validation_error_comes_before_unknown_tax(self, api: Api) -> None:
        response = api.post("/add_ons", json={"add_on": {**ADD_ON, "name": None, "tax_codes": ["nope"]}})
        assert errors(response) == {"name": ["value_is_mandatory"]}
        assert counts(api) == (0, 0)

    def test_missing_root_key(self, api: Api) -> None:
        response = api.post("/add_ons", json=ADD_ON)
        assert response.status_code == 400
        assert response.json() == {
            "status": 400,
            "error": "BadRequest: param is missing or the value is empty or invalid: add_on",
        }


class TestRead:
    def test_find(self, api: Api) -> None:
        created = create_add_on(api)
        response = api.get("/add_ons/setup")
        assert response.status_code == 200
        assert response.json() == {"add_on": created}

    def test_unknown(self, api: Api) -> None:
        response = api.get("/add_ons/nope")
        assert response.status_code == 404
        assert response.json() == {"status": 404, "error": "Not Found", "code": "add_on_not_found"}

    def test_list_paginates_newest_first(self, api: Api) -> None:
        create_tax(api, "vat")
        for i in range(3):
            create_add_on(api, code=f"a{i}", tax_codes=["vat"] if i == 1 else [])
        body = api.get("/add_ons", params={"per_page": 2}).json()
        assert [a["code"] for a in body["add_ons"]] == ["a2", "a1"]
        assert [t["code"] for t in body["add_ons"][1]["taxes"]] == ["vat"]
        assert body["add_ons"][0]["taxes"] == []
        assert body["meta"] == {
            "current_page": 1,
            "next_page": 2,
            "prev_page": None,
            "total_pages": 2,
            "total_count": 3,
        }
        page2 = api.get("/add_ons", params={"per_page": 2, "page": 2}).json()
        assert [a["code"] for a in page2["add_ons"]] == ["a0"]
        for add_on in body["add_ons"] + page2["add_ons"]:
            AddOnResponse.parse_obj(add_on)

    def test_empty_list(self, api: Api) -> None:
        assert api.get("/add_ons").json() == {
            "add_ons": [],
            "meta": {
                "current_page": 0,
                "next_page": None,
                "prev_page": None,
                "total_pages": 0,
                "total_count": 0,
            },
        }


class TestUpdate:
    def test_partial_update(self, api: Api) -> None:
        created = create_add_on(api)
        response = api.put("/add_ons/setup", json={"add_on": {"amount_cents": 100, "code": "setup_v2"}})
        assert response.status_code == 200, response.text
        assert response.json()["add_on"] == {**created, "amount_cents": 100, "code": "setup_v2"}
        assert api.get("/add_ons/setup").status_code == 404
        assert api.get("/add_ons/setup_v2").json()["add_on"]["amount_cents"] == 100

    def test_nulls_keep_values(self, api: Api) -> None:
        created = create_add_on(api)
        response = api.put("/add_ons/setup", json={"add_on": {"name": None, "description": None}})
        assert response.status_code == 200
        assert response.json()["add_on"] == created

    def test_tax_codes_replace_and_clear(self, api: Api) -> None:
        create_tax(api, "vat")
        create_tax(api, "eco")
        create_add_on(api, tax_codes=["vat"])
        updated = api.put("/add_ons/setup", json={"add_on": {"tax_codes": ["eco"]}}).json()["add_on"]
        assert [t["code"] for t in updated["taxes"]] == ["eco"]
        kept = api.put("/add_ons/setup", json={"add_on": {"name": "Renamed"}}).json()["add_on"]
        assert [t["code"] for t in kept["taxes"]] == ["eco"]
        cleared = api.put("/add_ons/setup", json={"add_on": {"tax_codes": []}}).json()["add_on"]
        assert cleared["taxes"] == []
        assert counts(api) == (1, 0)

    def test_invalid_values(self, api: Api) -> None:
        create_add_on(api)
        response = api.put(
            "/add_ons/setup",
            json={"add_on": {"name": "", "amount_cents": 0, "amount_currency": "ZZZ"}},
        )
        assert errors(response) == {
            "name": ["value_is_mandatory"],
            "amount_cents": ["value_is_out_of_range"],
            "amount_currency": ["value_is_invalid"],
        }
        assert api.get("/add_ons/setup").json()["add_on"]["amount_cents"] == 50000

    def test_same_code_is_fine(self, api: Api) -> None:
        create_add_on(api)
        assert api.put("/add_ons/setup", json={"add_on": {"code": "setup"}}).status_code == 200

    def test_taken_code(self, api: Api) -> None:
        create_add_on(api)
        create_add_on(api, code="other")
        response = api.put("/add_ons/other", json={"add_on": {"code": "setup"}})
        assert errors(response) == {"code": ["value_already_exist"]}

    def test_unknown_tax_changes_nothing(self, api: Api) -> None:
        create_tax(api, "vat")
        create_add_on(api, tax_codes=["vat"])
        response = api.put("/add_ons/setup", json={"add_on": {"name": "New", "tax_codes": ["nope"]}})
        assert response.status_code == 404
        assert response.json()["code"] == "tax_not_found"
        add_on = api.get("/add_ons/setup").json()["add_on"]
        assert add_on["name"] == "Setup fee"
        assert [t["code"] for t in add_on["taxes"]] == ["vat"]

    def test_unknown(self, api: Api) -> None:
        response = api.put("/add_ons/nope", json={"add_on": {"name": "x"}})
        assert response.status_code == 404
        assert response.json()["code"] == "add_on_not_found"


class TestDelete:
    def test_soft_delete(self, api: Api) -> None:
        created = create_add_on(api)
        response = api.delete("/add_ons/setup")
        assert response.status_code == 200
        assert response.json() == {"add_on": created}
        assert api.get("/add_ons/setup").status_code == 404
        assert api.get("/add_ons").json()["add_ons"] == []
        assert api.delete("/add_ons/setup").json()["code"] == "add_on_not_found"
        assert api.put("/add_ons/setup", json={"add_on": {"name": "x"}}).status_code == 404
        assert counts(api) == (1, 0)

    def test_code_is_free_after_delete(self, api: Api) -> None:
        first = create_add_on(api)
        api.delete("/add_ons/setup")
        second = create_add_on(api)
        assert second["lago_id"] != first["lago_id"]
        assert api.get("/add_ons/setup").json()["add_on"]["lago_id"] == second["lago_id"]
        # A live add-on may take the code of a deleted one, through update too.
        api.delete("/add_ons/setup")
        create_add_on(api, code="other")
        assert api.put("/add_ons/other", json={"add_on": {"code": "setup"}}).status_code == 200

    def test_deleting_a_tax_detaches_it(self, api: Api) -> None:
        create_tax(api, "vat")
        create_tax(api, "eco")
        create_add_on(api, tax_codes=["vat", "eco"])
        assert api.delete("/taxes/vat").status_code == 200
        add_on = api.get("/add_ons/setup").json()["add_on"]
        assert [t["code"] for t in add_on["taxes"]] == ["eco"]


class TestTenancy:
    def test_other_organization_sees_nothing(self, api: Api, other_api: Api) -> None:
        create_add_on(api)
        assert other_api.get("/add_ons/setup").status_code == 404
        assert other_api.get("/add_ons").json()["add_ons"] == []
        assert other_api.put("/add_ons/setup", json={"add_on": {"name": "x"}}).status_code == 404
        assert other_api.delete("/add_ons/setup").status_code == 404
        # The same code is free in the other organization.
        assert other_api.post("/add_ons", json={"add_on": ADD_ON}).status_code == 200
        assert api.get("/add_ons/setup").json()["add_on"]["name"] == "Setup fee"

    def test_cannot_use_another_organizations_tax(self, api: Api, other_api: Api) -> None:
        create_tax(other_api, "vat")
        response = api.post("/add_ons", json={"add_on": {**ADD_ON, "tax_codes": ["vat"]}})
        assert response.status_code == 404
        assert response.json()["code"] == "tax_not_found"
        assert counts(api) == (0, 0)
