"""``/api/v1/dunning_campaigns`` (Lago's campaign fields, root key ``dunning_campaign``) and the
customers' dunning fields."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api
from tests.dunning.helpers import campaign_body, create_campaign, errors_of


def volatile_free(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in ("lago_id", "created_at", "updated_at")}


class TestCreate:
    def test_full_body(self, api: Api) -> None:
        created = create_campaign(
            api,
            description="Three reminders",
            bcc_emails=["ar@acme.test", "cfo@acme.test"],
            applied_to_organization=True,
            thresholds=[{"currency": "USD", "amount_cents": 0}, {"currency": "EUR", "amount_cents": 1000}],
        )
        assert volatile_free(created) == {
            "code": "standard",
            "name": "Standard",
            "description": "Three reminders",
            "bcc_emails": ["ar@acme.test", "cfo@acme.test"],
            "days_between_attempts": 3,
            "max_attempts": 2,
            "applied_to_organization": True,
            "thresholds": [
                {"currency": "EUR", "amount_cents": 1000},
                {"currency": "USD", "amount_cents": 0},
            ],
        }
        assert len(created["lago_id"]) == 36 and created["created_at"].endswith("Z")
        assert api.get("/dunning_campaigns/standard").json() == {"dunning_campaign": created}

    def test_minimal_defaults(self, api: Api) -> None:
        created = create_campaign(api)
        assert (created["description"], created["bcc_emails"], created["applied_to_organization"]) == (
            None,
            [],
            False,
        )

    @pytest.mark.parametrize(
        ("fields", "details"),
        [
            (
                {
                    "name": None,
                    "code": None,
                    "days_between_attempts": None,
                    "max_attempts": None,
                    "thresholds": None,
                },
                {
                    "name": ["value_is_mandatory"],
                    "code": ["value_is_mandatory"],
                    "days_between_attempts": ["value_is_mandatory"],
                    "max_attempts": ["value_is_mandatory"],
                    "thresholds": ["value_is_mandatory"],
                },
            ),
            (
                {"days_between_attempts": 0, "max_attempts": -1, "thresholds": []},
                {
                    "days_between_attempts": ["value_is_out_of_range"],
                    "max_attempts": ["value_is_out_of_range"],
                    "thresholds": ["value_is_mandatory"],
                },
            ),
            (
                {"thresholds": [{"currency": "XYZ", "amount_cents": -1}]},
                {"currency": ["value_is_invalid"], "amount_cents": ["value_is_out_of_range"]},
            ),
            (
                {
                    "thresholds": [
                        {"currency": "EUR", "amount_cents": 1},
                        {"currency": "EUR", "amount_cents": 2},
                    ]
                },
                {"currency": ["value_already_exist"]},
            ),
            (
                {"thresholds": [{}]},
                {"currency": ["value_is_mandatory"], "amount_cents": ["value_is_mandatory"]},
            ),
            ({"bcc_emails": ["ok@acme.test", "nope"]}, {"bcc_emails": ["invalid_email_format"]}),
        ],
    )
    def test_validation(self, api: Api, fields: dict[str, Any], details: dict[str, Any]) -> None:
        response = api.post("/dunning_campaigns", json={"dunning_campaign": campaign_body(**fields)})
        assert errors_of(response) == details
        assert api.get("/dunning_campaigns").json()["dunning_campaigns"] == []

    def test_code_unique_among_live_campaigns(self, api: Api) -> None:
        create_campaign(api)
        response = api.post("/dunning_campaigns", json={"dunning_campaign": campaign_body()})
        assert errors_of(response) == {"code": ["value_already_exist"]}
        assert api.delete("/dunning_campaigns/standard").status_code == 200
        create_campaign(api)  # a deleted campaign's code is free again

    def test_one_default_campaign(self, api: Api) -> None:
        create_campaign(api, "first", applied_to_organization=True)
        create_campaign(api, "second", applied_to_organization=True)
        shown = {
            c["code"]: c["applied_to_organization"]
            for c in api.get("/dunning_campaigns").json()["dunning_campaigns"]
        }
        assert shown == {"first": False, "second": True}


class TestUpdate:
    def test_changes_what_is_sent_and_replaces_thresholds(self, api: Api) -> None:
        create_campaign(api, bcc_emails=["ar@acme.test"])
        body = {"name": "Renamed", "max_attempts": 5, "thresholds": [{"currency": "USD", "amount_cents": 50}]}
        response = api.put("/dunning_campaigns/standard", json={"dunning_campaign": body})
        assert response.status_code == 200, response.text
        updated = response.json()["dunning_campaign"]
        assert (updated["name"], updated["max_attempts"], updated["days_between_attempts"]) == (
            "Renamed",
            5,
            3,
        )
        assert updated["bcc_emails"] == ["ar@acme.test"]
        assert updated["thresholds"] == [{"currency": "USD", "amount_cents": 50}]

    def test_new_code_and_errors_change_nothing(self, api: Api) -> None:
        create_campaign(api)
        create_campaign(api, "other")
        response = api.put(
            "/dunning_campaigns/standard", json={"dunning_campaign": {"code": "other", "max_attempts": 0}}
        )
        assert errors_of(response) == {
            "max_attempts": ["value_is_out_of_range"],
            "code": ["value_already_exist"],
        }
        response = api.put("/dunning_campaigns/standard", json={"dunning_campaign": {"thresholds": []}})
        assert errors_of(response) == {"thresholds": ["value_is_mandatory"]}
        assert api.get("/dunning_campaigns/standard").json()["dunning_campaign"]["max_attempts"] == 2
        response = api.put("/dunning_campaigns/standard", json={"dunning_campaign": {"code": "renamed"}})
        assert response.status_code == 200
        assert api.get("/dunning_campaigns/renamed").status_code == 200
        assert api.get("/dunning_campaigns/standard").status_code == 404

    def test_default_moves(self, api: Api) -> None:
        create_campaign(api, "first", applied_to_organization=True)
        create_campaign(api, "second")
        response = api.put(
            "/dunning_campaigns/second", json={"dunning_campaign": {"applied_to_organization": True}}
        )
        assert response.json()["dunning_campaign"]["applied_to_organization"] is True
        assert (
            api.get("/dunning_campaigns/first").json()["dunning_campaign"]["applied_to_organization"] is False
        )
        response = api.put(
            "/dunning_campaigns/second", json={"dunning_campaign": {"applied_to_organization": False}}
        )
        assert response.json()["dunning_campaign"]["applied_to_organization"] is False


class TestDeleteAndCustomers:
    def test_customer_fields_and_delete_detaches(self, api: Api) -> None:
        create_campaign(api, "vip")
        response = api.post(
            "/customers",
            json={"customer": {"external_id": "cus_1", "applied_dunning_campaign_code": "vip"}},
        )
        assert response.status_code == 200, response.text
        customer = response.json()["customer"]
        vip = api.get("/dunning_campaigns/vip").json()["dunning_campaign"]
        assert customer["applied_dunning_campaign"] == {
            "lago_id": vip["lago_id"],
            "code": "vip",
            "name": "Standard",
        }
        assert (customer["exclude_from_dunning_campaign"], customer["last_dunning_campaign_attempt"]) == (
            False,
            0,
        )
        listed = api.get("/customers").json()["customers"][0]
        assert listed["applied_dunning_campaign"]["code"] == "vip"

        deleted = api.delete("/dunning_campaigns/vip")
        assert deleted.status_code == 200 and deleted.json()["dunning_campaign"]["code"] == "vip"
        assert api.get("/dunning_campaigns/vip").status_code == 404
        assert api.get("/customers/cus_1").json()["customer"]["applied_dunning_campaign"] is None

    def test_customer_campaign_code_unknown_or_cleared(self, api: Api) -> None:
        create_campaign(api, "vip")
        response = api.post(
            "/customers", json={"customer": {"external_id": "cus_1", "applied_dunning_campaign_code": "nope"}}
        )
        assert (response.status_code, response.json()["code"]) == (404, "dunning_campaign_not_found")
        assert api.get("/customers/cus_1").status_code == 404  # nothing written
        body = {
            "external_id": "cus_1",
            "applied_dunning_campaign_code": "vip",
            "exclude_from_dunning_campaign": True,
        }
        assert api.post("/customers", json={"customer": body}).status_code == 200
        cleared = api.post(
            "/customers", json={"customer": {"external_id": "cus_1", "applied_dunning_campaign_code": ""}}
        )
        assert cleared.json()["customer"]["applied_dunning_campaign"] is None
        assert cleared.json()["customer"]["exclude_from_dunning_campaign"] is True


class TestTenancy:
    def test_other_organization_sees_nothing(self, api: Api, other_api: Api) -> None:
        create_campaign(api, "vip")
        assert other_api.get("/dunning_campaigns").json() == {
            "dunning_campaigns": [],
            "meta": {
                "current_page": 0,
                "next_page": None,
                "prev_page": None,
                "total_pages": 0,
                "total_count": 0,
            },
        }
        for call in (
            other_api.get("/dunning_campaigns/vip"),
            other_api.put("/dunning_campaigns/vip", json={"dunning_campaign": {"name": "x"}}),
            other_api.delete("/dunning_campaigns/vip"),
        ):
            assert (call.status_code, call.json()["code"]) == (404, "dunning_campaign_not_found")
        response = other_api.post(
            "/customers", json={"customer": {"external_id": "cus_1", "applied_dunning_campaign_code": "vip"}}
        )
        assert response.status_code == 404
        create_campaign(other_api, "vip", applied_to_organization=True)  # same code, other organization
        assert (
            api.get("/dunning_campaigns/vip").json()["dunning_campaign"]["applied_to_organization"] is False
        )

    def test_list_is_paginated(self, api: Api) -> None:
        for code in ("a", "b", "c"):
            create_campaign(api, code)
        page = api.get("/dunning_campaigns?per_page=2&page=1").json()
        assert len(page["dunning_campaigns"]) == 2 and page["meta"]["total_count"] == 3


class TestOrganizationDeleted:
    def test_campaigns_go_with_their_organization(self, api: Api, other_api: Api, billow: Any) -> None:
        for each in (api, other_api):
            create_campaign(each, "vip", applied_to_organization=True)
            body = {"external_id": "cus_1", "applied_dunning_campaign_code": "vip"}
            assert each.post("/customers", json={"customer": body}).status_code == 200
        result = billow("organizations", "delete", str(api.organization.id), "--yes")
        assert result.exit_code == 0, result.output
        for line in ("dunning_campaigns: 1", "dunning_campaign_thresholds: 1", "customers: 1"):
            assert f"  {line}\n" in result.stdout
        assert (
            other_api.get("/customers/cus_1").json()["customer"]["applied_dunning_campaign"]["code"] == "vip"
        )
