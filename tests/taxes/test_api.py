from __future__ import annotations

from tests.conftest import Api

TAX = {"name": "VAT", "code": "vat_20", "rate": 20.0, "description": "French VAT"}


def create_tax(api: Api, **overrides: object) -> dict:
    response = api.post("/taxes", json={"tax": {**TAX, **overrides}})
    assert response.status_code == 200, response.text
    return response.json()["tax"]


class TestCreate:
    def test_returns_lago_shape(self, api: Api) -> None:
        tax = create_tax(api)
        assert tax["code"] == "vat_20"
        assert tax["rate"] == 20
        assert tax["applied_to_organization"] is False
        assert tax["created_at"].endswith("Z")
        assert set(tax) >= {"lago_id", "name", "code", "rate", "description", "created_at"}

    def test_decimal_rate_kept_exactly(self, api: Api) -> None:
        assert create_tax(api, code="odd", rate="8.875")["rate"] == 8.875

    def test_missing_fields(self, api: Api) -> None:
        response = api.post("/taxes", json={"tax": {"description": "x"}})
        assert response.status_code == 422
        body = response.json()
        assert body["code"] == "validation_errors"
        assert body["error_details"] == {
            "name": ["value_is_mandatory"],
            "code": ["value_is_mandatory"],
            "rate": ["value_is_mandatory"],
        }

    def test_explicit_null_is_absent(self, api: Api) -> None:
        response = api.post("/taxes", json={"tax": {**TAX, "rate": None}})
        assert response.status_code == 422
        assert response.json()["error_details"] == {"rate": ["value_is_mandatory"]}

    def test_duplicate_code(self, api: Api) -> None:
        create_tax(api)
        response = api.post("/taxes", json={"tax": TAX})
        assert response.status_code == 422
        assert response.json()["error_details"] == {"code": ["value_already_exist"]}

    def test_wrong_type(self, api: Api) -> None:
        response = api.post("/taxes", json={"tax": {**TAX, "rate": "lots"}})
        assert response.status_code == 422
        assert response.json()["error_details"] == {"rate": ["value_is_invalid"]}

    def test_missing_root_key(self, api: Api) -> None:
        response = api.post("/taxes", json={"name": "VAT"})
        assert response.status_code == 400
        assert response.json() == {
            "status": 400,
            "error": "BadRequest: param is missing or the value is empty or invalid: tax",
        }

    def test_malformed_json(self, api: Api) -> None:
        response = api.client.post(
            "/api/v1/taxes", content=b'{"tax": {', headers={**api.headers, "Content-Type": "application/json"}
        )
        assert response.status_code == 400
        assert response.json()["status"] == 400


class TestReadUpdateDelete:
    def test_find_update_delete(self, api: Api) -> None:
        create_tax(api)
        assert api.get("/taxes/vat_20").json()["tax"]["name"] == "VAT"
        updated = api.put("/taxes/vat_20", json={"tax": {"rate": "5.5", "code": "vat_5"}})
        assert updated.status_code == 200, updated.text
        assert updated.json()["tax"]["rate"] == 5.5
        assert api.get("/taxes/vat_20").status_code == 404
        deleted = api.delete("/taxes/vat_5")
        assert deleted.status_code == 200
        assert api.get("/taxes/vat_5").json() == {
            "status": 404,
            "error": "Not Found",
            "code": "tax_not_found",
        }

    def test_update_to_taken_code(self, api: Api) -> None:
        create_tax(api)
        create_tax(api, code="other")
        response = api.put("/taxes/other", json={"tax": {"code": "vat_20"}})
        assert response.status_code == 422
        assert response.json()["error_details"] == {"code": ["value_already_exist"]}

    def test_list_paginates(self, api: Api) -> None:
        for i in range(3):
            create_tax(api, code=f"t{i}")
        body = api.get("/taxes", params={"per_page": 2}).json()
        assert [t["code"] for t in body["taxes"]] == ["t2", "t1"]
        assert body["meta"] == {
            "current_page": 1,
            "next_page": 2,
            "prev_page": None,
            "total_pages": 2,
            "total_count": 3,
        }
        page2 = api.get("/taxes", params={"per_page": 2, "page": 2}).json()
        assert [t["code"] for t in page2["taxes"]] == ["t0"]
        assert page2["meta"]["prev_page"] == 1

    def test_empty_list_meta(self, api: Api) -> None:
        assert api.get("/taxes").json()["meta"] == {
            "current_page": 0,
            "next_page": None,
            "prev_page": None,
            "total_pages": 0,
            "total_count": 0,
        }


class TestTenancy:
    def test_other_organization_sees_nothing(self, api: Api, other_api: Api) -> None:
        create_tax(api)
        assert other_api.get("/taxes/vat_20").status_code == 404
        assert other_api.get("/taxes").json()["taxes"] == []
        assert other_api.put("/taxes/vat_20", json={"tax": {"rate": 1}}).status_code == 404
        assert other_api.delete("/taxes/vat_20").status_code == 404
        # The same code is free in the other organization.
        assert other_api.post("/taxes", json={"tax": TAX}).status_code == 200
        assert api.get("/taxes/vat_20").json()["tax"]["rate"] == 20
