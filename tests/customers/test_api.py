from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi import FastAPI

from billow.customers.repository import customer_repository
from billow.customers.service import customer_service
from billow.models.organizations import Organization
from tests.conftest import Api

FULL = {
    "external_id": "cus_full",
    "name": "Acme Corp",
    "firstname": "Jane",
    "lastname": "Doe",
    "customer_type": "company",
    "account_type": "partner",
    "email": "billing@acme.test, jane@acme.test",
    "phone": "+33 1 23 45 67 89",
    "url": "https://acme.test",
    "logo_url": "https://acme.test/logo.png",
    "legal_name": "Acme Corporation SAS",
    "legal_number": "123 456 789",
    "tax_identification_number": "FR12345678901",
    "currency": "EUR",
    "timezone": "America/New_York",
    "net_payment_term": 30,
    "address_line1": "1 rue de la Paix",
    "address_line2": "Bât. B",
    "city": "Paris",
    "state": "IDF",
    "zipcode": "75002",
    "country": "fr",
    "shipping_address": {
        "address_line1": "2 Main St",
        "address_line2": None,
        "city": "Boston",
        "zipcode": "02110",
        "state": "MA",
        "country": "us",
    },
    "billing_configuration": {
        "invoice_grace_period": 3,
        "payment_provider": "stripe",
        "payment_provider_code": "stripe_prod",
        "provider_customer_id": "cus_Stripe123",
        "sync": True,
        "sync_with_provider": True,
        "document_locale": "fr",
        "provider_payment_methods": ["card", "sepa_debit"],
        "subscription_invoice_issuing_date_anchor": "current_period_end",
        "subscription_invoice_issuing_date_adjustment": "keep_anchor",
    },
    "metadata": [{"key": "crm_id", "value": "42", "display_in_invoice": True}],
    "finalize_zero_amount_invoice": "skip",
    "integration_customers": [
        {"integration_type": "netsuite", "integration_code": "ns", "sync_with_provider": True}
    ],
    "invoice_custom_section_codes": ["eu_footer"],
    "billing_entity_code": "main",
}


def upsert(api: Api, **fields: Any) -> dict:
    response = api.post("/customers", json={"customer": {"external_id": "cus_1", **fields}})
    assert response.status_code == 200, response.text
    return response.json()["customer"]


def errors_of(api: Api, **fields: Any) -> dict:
    response = api.post("/customers", json={"customer": {"external_id": "cus_1", **fields}})
    assert response.status_code == 422, response.text
    body = response.json()
    assert (body["status"], body["error"], body["code"]) == (422, "Unprocessable Entity", "validation_errors")
    return body["error_details"]


def create_tax(api: Api, code: str, rate: str = "20") -> dict:
    response = api.post("/taxes", json={"tax": {"name": code.upper(), "code": code, "rate": rate}})
    assert response.status_code == 200, response.text
    return response.json()["tax"]


def without_volatile(customer: dict) -> dict:
    """The customer without generated ids and instants (checked separately)."""
    volatile = {"lago_id", "created_at", "updated_at"}
    body = {k: v for k, v in customer.items() if k not in volatile}
    body["metadata"] = [{k: v for k, v in m.items() if k not in volatile} for m in customer["metadata"]]
    body["taxes"] = [{k: v for k, v in t.items() if k not in volatile} for t in customer["taxes"]]
    return body


def prefix(api: Api) -> str:
    return api.organization.document_number_prefix


class TestCreate:
    def test_minimal_body(self, api: Api) -> None:
        customer = upsert(api)
        assert without_volatile(customer) == {
            "billing_entity_code": None,
            "external_id": "cus_1",
            "account_type": "customer",
            "name": None,
            "firstname": None,
            "lastname": None,
            "customer_type": None,
            "sequential_id": 1,
            "slug": f"{prefix(api)}-001",
            "country": None,
            "address_line1": None,
            "address_line2": None,
            "state": None,
            "zipcode": None,
            "email": None,
            "city": None,
            "url": None,
            "phone": None,
            "logo_url": None,
            "legal_name": None,
            "legal_number": None,
            "currency": None,
            "tax_identification_number": None,
            "timezone": None,
            "applicable_timezone": "UTC",
            "net_payment_term": None,
            "external_salesforce_id": None,
            "finalize_zero_amount_invoice": "inherit",
            "billing_configuration": {
                "invoice_grace_period": None,
                "payment_provider": None,
                "payment_provider_code": None,
                "provider_customer_id": None,
                "sync": None,
                "sync_with_provider": None,
                "document_locale": None,
                "provider_payment_methods": None,
                "subscription_invoice_issuing_date_anchor": None,
                "subscription_invoice_issuing_date_adjustment": None,
            },
            "shipping_address": {
                "address_line1": None,
                "address_line2": None,
                "city": None,
                "zipcode": None,
                "state": None,
                "country": None,
            },
            "skip_invoice_custom_sections": False,
            "metadata": [],
            "taxes": [],
            "integration_customers": [],
            "applied_dunning_campaign": None,
            "exclude_from_dunning_campaign": False,
            "last_dunning_campaign_attempt": 0,
            "last_dunning_campaign_attempt_at": None,
            "applicable_invoice_custom_sections": [],
            "error_details": [],
        }
        assert len(customer["lago_id"]) == 36
        assert customer["created_at"].endswith("Z") and customer["updated_at"].endswith("Z")

    def test_full_body(self, api: Api) -> None:
        create_tax(api, "vat_20")
        response = api.post("/customers", json={"customer": {**FULL, "tax_codes": ["vat_20"]}})
        assert response.status_code == 200, response.text
        customer = response.json()["customer"]
        assert without_volatile(customer) == {
            "billing_entity_code": None,
            "external_id": "cus_full",
            "account_type": "partner",
            "name": "Acme Corp",
            "firstname": "Jane",
            "lastname": "Doe",
            "customer_type": "company",
            "sequential_id": 1,
            "slug": f"{prefix(api)}-001",
            "country": "FR",
            "address_line1": "1 rue de la Paix",
            "address_line2": "Bât. B",
            "state": "IDF",
            "zipcode": "75002",
            "email": "billing@acme.test, jane@acme.test",
            "city": "Paris",
            "url": "https://acme.test",
            "phone": "+33 1 23 45 67 89",
            "logo_url": "https://acme.test/logo.png",
            "legal_name": "Acme Corporation SAS",
            "legal_number": "123 456 789",
            "currency": "EUR",
            "tax_identification_number": "FR12345678901",
            "timezone": "America/New_York",
            "applicable_timezone": "America/New_York",
            "net_payment_term": 30,
            "external_salesforce_id": None,
            "finalize_zero_amount_invoice": "skip",
            "billing_configuration": FULL["billing_configuration"],
            "shipping_address": {
                "address_line1": "2 Main St",
                "address_line2": None,
                "city": "Boston",
                "zipcode": "02110",
                "state": "MA",
                "country": "US",
            },
            "skip_invoice_custom_sections": False,
            "metadata": [{"key": "crm_id", "value": "42", "display_in_invoice": True}],
            "taxes": [
                {
                    "name": "VAT_20",
                    "code": "vat_20",
                    "rate": 20,
                    "description": None,
                    "applied_to_organization": False,
                    "applied_to_billing_entities_codes": [],
                }
            ],
            "integration_customers": [],
            "applied_dunning_campaign": None,
            "exclude_from_dunning_campaign": False,
            "last_dunning_campaign_attempt": 0,
            "last_dunning_campaign_attempt_at": None,
            "applicable_invoice_custom_sections": [],
            "error_details": [],
        }
        assert customer["metadata"][0]["created_at"].endswith("Z")

    def test_lago_client_parses_the_response(self, api: Api) -> None:
        from lago_python_client.models.customer import CustomerResponse

        create_tax(api, "vat_20")
        body = api.post("/customers", json={"customer": {**FULL, "tax_codes": ["vat_20"]}}).json()["customer"]
        parsed = CustomerResponse.parse_obj(body)
        assert parsed.external_id == "cus_full"
        assert parsed.applicable_timezone == "America/New_York"
        assert parsed.taxes.__root__[0].code == "vat_20"
        listed = api.get("/customers").json()["customers"][0]
        assert CustomerResponse.parse_obj(listed).lago_id == body["lago_id"]

    def test_external_id_is_mandatory(self, api: Api) -> None:
        for customer in ({"name": "x"}, {"external_id": ""}, {"external_id": "   "}, {"external_id": None}):
            response = api.post("/customers", json={"customer": customer})
            assert response.status_code == 422
            assert response.json()["error_details"] == {"external_id": ["value_is_mandatory"]}
        assert api.get("/customers").json()["customers"] == []

    def test_missing_root_key(self, api: Api) -> None:
        response = api.post("/customers", json={"external_id": "cus_1"})
        assert response.status_code == 400
        assert response.json() == {
            "status": 400,
            "error": "BadRequest: param is missing or the value is empty or invalid: customer",
        }

    def test_explicit_nulls_are_absent_on_create(self, api: Api) -> None:
        customer = upsert(
            api,
            name=None,
            account_type=None,
            finalize_zero_amount_invoice=None,
            metadata=None,
            tax_codes=None,
            billing_configuration=None,
            shipping_address=None,
            net_payment_term=None,
        )
        assert customer["account_type"] == "customer"
        assert customer["finalize_zero_amount_invoice"] == "inherit"
        assert customer["name"] is None
        assert customer["metadata"] == [] and customer["taxes"] == []

    def test_nul_characters_are_refused(self, api: Api) -> None:
        # Lago strips them from these fields; Billow refuses them in every string of every body
        # (docs/compatibility.md).
        response = api.post(
            "/customers",
            json={
                "customer": {
                    "external_id": "c1",
                    "name": "Foo\u0000Bar",
                    "metadata": [{"key": "k\u0000", "value": "v"}],
                }
            },
        )
        assert response.status_code == 422
        assert response.json()["error_details"] == {
            "name": ["value_is_invalid"],
            "metadata": ["value_is_invalid"],
        }
        assert api.get("/customers/c1").status_code == 404

    def test_accepted_but_ignored_fields(self, api: Api) -> None:
        customer = upsert(
            api,
            integration_customers=[{"integration_type": "anrok", "integration_code": "anrok"}],
            billing_entity_code="unknown_entity",
            invoice_custom_section_codes=["footer"],
        )
        assert customer["integration_customers"] == []
        assert customer["billing_entity_code"] is None
        assert customer["applicable_invoice_custom_sections"] == []


class TestUpsert:
    def test_updates_instead_of_duplicating(self, api: Api) -> None:
        created = upsert(api, name="Old", currency="USD", city="Lyon")
        updated = upsert(api, name="New", firstname="Ann")
        assert updated["lago_id"] == created["lago_id"]
        assert updated["sequential_id"] == created["sequential_id"] == 1
        assert updated["slug"] == created["slug"]
        assert updated["created_at"] == created["created_at"]
        assert (updated["name"], updated["firstname"]) == ("New", "Ann")
        # Fields not sent are kept.
        assert (updated["currency"], updated["city"]) == ("USD", "Lyon")
        listed = api.get("/customers").json()
        assert listed["meta"]["total_count"] == 1
        assert api.get("/customers/cus_1").json()["customer"]["name"] == "New"

    def test_explicit_nulls_keep_stored_values(self, api: Api) -> None:
        create_tax(api, "vat_20")
        created = upsert(
            api,
            **{k: v for k, v in FULL.items() if k != "external_id"},
            tax_codes=["vat_20"],
        )
        nulls = {key: None for key in FULL if key != "external_id"}
        again = upsert(api, **nulls, tax_codes=None)
        assert without_volatile(again) == without_volatile(created)
        nested_nulls = upsert(
            api,
            shipping_address={key: None for key in FULL["shipping_address"]},
            billing_configuration={key: None for key in FULL["billing_configuration"]},
        )
        assert without_volatile(nested_nulls) == without_volatile(created)

    def test_nested_objects_are_updated_partially(self, api: Api) -> None:
        upsert(
            api,
            shipping_address={"city": "Boston", "country": "US"},
            billing_configuration={"invoice_grace_period": 2, "document_locale": "de"},
        )
        updated = upsert(
            api, shipping_address={"city": "Austin"}, billing_configuration={"invoice_grace_period": 0}
        )
        assert updated["shipping_address"]["city"] == "Austin"
        assert updated["shipping_address"]["country"] == "US"
        assert updated["billing_configuration"]["invoice_grace_period"] == 0
        assert updated["billing_configuration"]["document_locale"] == "de"

    def test_empty_strings_clear(self, api: Api) -> None:
        upsert(
            api,
            timezone="Europe/Paris",
            currency="EUR",
            country="FR",
            city="Paris",
            customer_type="company",
            shipping_address={"country": "FR"},
            billing_configuration={"document_locale": "fr"},
            name="Acme",
        )
        cleared = upsert(
            api,
            timezone="",
            currency="",
            country="",
            city="",
            customer_type="",
            name="",
            shipping_address={"country": ""},
            billing_configuration={"document_locale": ""},
        )
        assert cleared["timezone"] is None and cleared["applicable_timezone"] == "UTC"
        assert cleared["currency"] is None
        assert cleared["country"] is None and cleared["city"] is None
        assert cleared["customer_type"] is None
        assert cleared["shipping_address"]["country"] is None
        assert cleared["billing_configuration"]["document_locale"] is None
        assert cleared["name"] == ""

    def test_failed_update_changes_nothing(self, api: Api) -> None:
        created = upsert(api, name="Kept", metadata=[{"key": "a", "value": "1"}])
        errors = errors_of(api, name="Lost", timezone="Nowhere/Land", metadata=[])
        assert errors == {"timezone": ["invalid_timezone"]}
        assert without_volatile(api.get("/customers/cus_1").json()["customer"]) == without_volatile(created)

    def test_invoice_custom_sections_flag(self, api: Api) -> None:
        assert upsert(api, skip_invoice_custom_sections=True)["skip_invoice_custom_sections"] is True
        # Choosing sections turns the skip off.
        assert upsert(api, invoice_custom_section_codes=[])["skip_invoice_custom_sections"] is False
        assert errors_of(api, skip_invoice_custom_sections=True, invoice_custom_section_codes=["a"]) == {
            "invoice_custom_sections": ["skip_sections_and_selected_ids_sent_together"]
        }


class TestValidation:
    @pytest.mark.parametrize(
        ("fields", "details"),
        [
            ({"timezone": "Mars/Olympus_Mons"}, {"timezone": ["invalid_timezone"]}),
            ({"currency": "EURO"}, {"currency": ["value_is_invalid"]}),
            ({"currency": "eur"}, {"currency": ["value_is_invalid"]}),
            ({"country": "XX"}, {"country": ["not_a_valid_country_code"]}),
            ({"country": "FRA"}, {"country": ["not_a_valid_country_code"]}),
            ({"country": "EU"}, {"country": ["not_a_valid_country_code"]}),
            ({"shipping_address": {"country": "ZZ"}}, {"shipping_country": ["not_a_valid_country_code"]}),
            ({"customer_type": "alien"}, {"customer_type": ["value_is_invalid"]}),
            ({"account_type": "vendor"}, {"account_type": ["value_is_invalid"]}),
            ({"account_type": ""}, {"account_type": ["value_is_invalid"]}),
            ({"finalize_zero_amount_invoice": "always"}, {"finalize_zero_amount_invoice": ["invalid_value"]}),
            ({"finalize_zero_amount_invoice": ""}, {"finalize_zero_amount_invoice": ["invalid_value"]}),
            ({"net_payment_term": -1}, {"net_payment_term": ["value_is_out_of_range"]}),
            ({"net_payment_term": "soon"}, {"net_payment_term": ["value_is_invalid"]}),
            ({"email": "not-an-email"}, {"email": ["invalid_email_format"]}),
            ({"email": "a@acme.test,"}, {"email": ["invalid_email_format"]}),
            ({"email": "a@acme.test, b@"}, {"email": ["invalid_email_format"]}),
            ({"name": "x" * 256}, {"name": ["value_is_too_long"]}),
            ({"shipping_address": {"zipcode": "9" * 65}}, {"shipping_zipcode": ["value_is_too_long"]}),
            (
                {"billing_configuration": {"invoice_grace_period": -1}},
                {"invoice_grace_period": ["value_is_out_of_range"]},
            ),
            (
                {"billing_configuration": {"payment_provider": "not_a_provider"}},
                {"payment_provider": ["value_is_invalid"]},
            ),
            (
                {"billing_configuration": {"document_locale": "xx"}},
                {"document_locale": ["not_a_valid_language_code"]},
            ),
            (
                {"billing_configuration": {"subscription_invoice_issuing_date_anchor": "whenever"}},
                {"subscription_invoice_issuing_date_anchor": ["value_is_invalid"]},
            ),
            (
                {"billing_configuration": {"subscription_invoice_issuing_date_adjustment": "whenever"}},
                {"subscription_invoice_issuing_date_adjustment": ["value_is_invalid"]},
            ),
            ({"tax_codes": "vat"}, {"tax_codes": ["value_is_invalid"]}),
        ],
    )
    def test_invalid_values(self, api: Api, fields: dict, details: dict) -> None:
        assert errors_of(api, **fields) == details
        # Nothing was written.
        assert api.get("/customers/cus_1").status_code == 404

    def test_external_id_too_long(self, api: Api) -> None:
        response = api.post("/customers", json={"customer": {"external_id": "x" * 256}})
        assert response.status_code == 422
        assert response.json()["error_details"] == {"external_id": ["value_is_too_long"]}

    def test_every_problem_is_reported(self, api: Api) -> None:
        assert errors_of(api, timezone="Nope", currency="XYZ", country="QQ", customer_type="x") == {
            "customer_type": ["value_is_invalid"],
            "currency": ["value_is_invalid"],
            "timezone": ["invalid_timezone"],
            "country": ["not_a_valid_country_code"],
        }

    @pytest.mark.parametrize(
        "fields",
        [
            {"timezone": "Europe/Paris", "currency": "JPY", "country": "jp"},
            {"email": "a@acme.test,b.c+tag@sub.acme.co.uk"},
            {"email": ""},
            {"customer_type": "individual", "account_type": "customer"},
            {"finalize_zero_amount_invoice": "finalize"},
            {"net_payment_term": 0, "billing_configuration": {"invoice_grace_period": 0}},
            {"billing_configuration": {"payment_provider": "moneyhash", "document_locale": "pt-BR"}},
            {"timezone": "UTC"},
        ],
    )
    def test_valid_values(self, api: Api, fields: dict) -> None:
        upsert(api, **fields)


class TestMetadata:
    def test_created_with_the_customer(self, api: Api) -> None:
        customer = upsert(
            api,
            metadata=[
                {"key": "crm", "value": "1", "display_in_invoice": True},
                {"key": "team", "value": "ops"},
            ],
        )
        assert [(m["key"], m["value"], m["display_in_invoice"]) for m in customer["metadata"]] == [
            ("crm", "1", True),
            ("team", "ops", False),
        ]
        assert set(customer["metadata"][0]) == {"lago_id", "key", "value", "display_in_invoice", "created_at"}

    def test_sent_list_replaces_the_set(self, api: Api) -> None:
        first = upsert(api, metadata=[{"key": "a", "value": "1"}, {"key": "b", "value": "2"}])["metadata"]
        a_id = first[0]["lago_id"]
        second = upsert(
            api,
            metadata=[
                {"id": a_id, "key": "a2", "value": "1b", "display_in_invoice": True},
                {"key": "c", "value": "3"},
            ],
        )["metadata"]
        by_key = {m["key"]: m for m in second}
        assert set(by_key) == {"a2", "c"}
        assert by_key["a2"]["lago_id"] == a_id
        assert (by_key["a2"]["value"], by_key["a2"]["display_in_invoice"]) == ("1b", True)

    def test_keys_can_swap_between_entries(self, api: Api) -> None:
        first = upsert(api, metadata=[{"key": "a", "value": "1"}, {"key": "b", "value": "2"}])["metadata"]
        ids = {m["key"]: m["lago_id"] for m in first}
        swapped = upsert(
            api,
            metadata=[
                {"id": ids["a"], "key": "b", "value": "1"},
                {"id": ids["b"], "key": "a", "value": "2"},
            ],
        )["metadata"]
        assert {m["lago_id"]: m["key"] for m in swapped} == {ids["a"]: "b", ids["b"]: "a"}

    def test_key_of_a_removed_entry_can_be_reused(self, api: Api) -> None:
        upsert(api, metadata=[{"key": "a", "value": "1"}])
        again = upsert(api, metadata=[{"key": "a", "value": "2"}])["metadata"]
        assert [(m["key"], m["value"]) for m in again] == [("a", "2")]

    def test_unknown_id_creates_an_entry(self, api: Api) -> None:
        metadata = upsert(api, metadata=[{"id": "not-a-uuid", "key": "a", "value": "1"}])["metadata"]
        assert [m["key"] for m in metadata] == ["a"]
        metadata = upsert(
            api, metadata=[{"id": "00000000-0000-0000-0000-000000000000", "key": "b", "value": "1"}]
        )["metadata"]
        assert [m["key"] for m in metadata] == ["b"]

    def test_empty_list_clears_and_null_keeps(self, api: Api) -> None:
        upsert(api, metadata=[{"key": "a", "value": "1"}])
        assert len(upsert(api, metadata=None)["metadata"]) == 1
        assert upsert(api, name="x")["metadata"] != []
        assert upsert(api, metadata=[])["metadata"] == []

    def test_other_customers_entry_is_not_touched(self, api: Api) -> None:
        other = api.post(
            "/customers",
            json={"customer": {"external_id": "cus_2", "metadata": [{"key": "a", "value": "1"}]}},
        ).json()["customer"]["metadata"][0]
        mine = upsert(api, metadata=[{"id": other["lago_id"], "key": "a", "value": "mine"}])["metadata"]
        assert mine[0]["lago_id"] != other["lago_id"]
        assert api.get("/customers/cus_2").json()["customer"]["metadata"][0]["value"] == "1"

    @pytest.mark.parametrize(
        ("metadata", "details"),
        [
            ([{"key": f"k{i}", "value": "v"} for i in range(6)], {"metadata": ["invalid_count"]}),
            ([{"value": "v"}], {"key": ["value_is_mandatory"]}),
            ([{"key": " ", "value": "v"}], {"key": ["value_is_mandatory"]}),
            ([{"key": "k"}], {"value": ["value_is_mandatory"]}),
            ([{"key": "k", "value": ""}], {"value": ["value_is_mandatory"]}),
            ([{"key": "k" * 21, "value": "v"}], {"key": ["value_is_too_long"]}),
            ([{"key": "k", "value": "v" * 101}], {"value": ["value_is_too_long"]}),
            ([{"key": "k", "value": "1"}, {"key": "k", "value": "2"}], {"key": ["value_already_exist"]}),
            ([{"key": "k", "value": 5}], {"metadata": ["value_is_invalid"]}),
        ],
    )
    def test_invalid_metadata(self, api: Api, metadata: list, details: dict) -> None:
        assert errors_of(api, metadata=metadata) == details

    def test_limits_are_inclusive(self, api: Api) -> None:
        metadata = [{"key": f"{i}" + "k" * 19, "value": "v" * 100} for i in range(5)]
        assert len(upsert(api, metadata=metadata)["metadata"]) == 5


class TestTaxes:
    def test_applied_and_replaced(self, api: Api) -> None:
        vat = create_tax(api, "vat_20")
        create_tax(api, "city_2", rate="2.5")
        customer = upsert(api, tax_codes=["vat_20", "city_2", "vat_20"])
        assert sorted(t["code"] for t in customer["taxes"]) == ["city_2", "vat_20"]
        assert next(t for t in customer["taxes"] if t["code"] == "vat_20") == vat
        assert [t["code"] for t in upsert(api, tax_codes=["city_2"])["taxes"]] == ["city_2"]
        # Not sent: kept. Empty list: cleared.
        assert [t["code"] for t in upsert(api, name="x")["taxes"]] == ["city_2"]
        assert upsert(api, tax_codes=[])["taxes"] == []

    def test_unknown_tax_code_writes_nothing(self, api: Api) -> None:
        create_tax(api, "vat_20")
        response = api.post(
            "/customers",
            json={
                "customer": {
                    "external_id": "cus_1",
                    "name": "x",
                    "tax_codes": ["vat_20", "nope"],
                    "metadata": [{"key": "a", "value": "b"}],
                }
            },
        )
        assert response.status_code == 404
        assert response.json() == {"status": 404, "error": "Not Found", "code": "tax_not_found"}
        assert api.get("/customers/cus_1").status_code == 404
        # The number was not used either.
        assert upsert(api)["sequential_id"] == 1

    def test_unknown_tax_code_on_update_changes_nothing(self, api: Api) -> None:
        create_tax(api, "vat_20")
        created = upsert(api, name="Kept", tax_codes=["vat_20"])
        response = api.post(
            "/customers", json={"customer": {"external_id": "cus_1", "name": "Lost", "tax_codes": ["nope"]}}
        )
        assert response.status_code == 404
        assert without_volatile(api.get("/customers/cus_1").json()["customer"]) == without_volatile(created)

    def test_deleting_the_tax_detaches_it(self, api: Api) -> None:
        create_tax(api, "vat_20")
        create_tax(api, "city_2")
        upsert(api, tax_codes=["vat_20", "city_2"])
        assert api.delete("/taxes/vat_20").status_code == 200
        assert [t["code"] for t in api.get("/customers/cus_1").json()["customer"]["taxes"]] == ["city_2"]

    def test_another_organizations_tax_is_unknown(self, api: Api, other_api: Api) -> None:
        create_tax(other_api, "vat_20")
        response = api.post("/customers", json={"customer": {"external_id": "c", "tax_codes": ["vat_20"]}})
        assert response.status_code == 404
        assert response.json()["code"] == "tax_not_found"


class TestSequentialIds:
    def test_increment_per_organization(self, api: Api, other_api: Api) -> None:
        assert [upsert(api, external_id=f"a{i}")["sequential_id"] for i in range(3)] == [1, 2, 3]
        assert upsert(api, external_id="a1", name="update")["sequential_id"] == 2
        assert [upsert(other_api, external_id=f"b{i}")["sequential_id"] for i in range(2)] == [1, 2]
        assert upsert(api, external_id="a3")["slug"] == f"{prefix(api)}-004"
        assert upsert(other_api, external_id="b2")["slug"] == f"{prefix(other_api)}-003"

    def test_deleted_customers_keep_their_number(self, api: Api) -> None:
        upsert(api, external_id="a")
        upsert(api, external_id="b")
        api.delete("/customers/b")
        assert upsert(api, external_id="c")["sequential_id"] == 3
        assert upsert(api, external_id="b")["sequential_id"] == 4

    def test_concurrent_creations_get_distinct_numbers(self, app: FastAPI, api: Api) -> None:
        factory = app.state.sessionmaker
        barrier = threading.Barrier(6)

        def create(index: int) -> int:
            with factory() as session:
                organization = session.get(Organization, api.organization.id)
                barrier.wait()
                customer = customer_service.get_or_create(session, organization, f"cus_{index}")
                time.sleep(0.02)  # hold the transaction open while the others try
                session.commit()
                return customer.sequential_id

        with ThreadPoolExecutor(max_workers=6) as pool:
            numbers = list(pool.map(create, range(6)))
        assert sorted(numbers) == [1, 2, 3, 4, 5, 6]


class TestShowAndDelete:
    def test_show(self, api: Api) -> None:
        created = upsert(api, name="Acme")
        assert api.get("/customers/cus_1").json() == {"customer": created}

    def test_unknown_customer(self, api: Api) -> None:
        not_found = {"status": 404, "error": "Not Found", "code": "customer_not_found"}
        assert api.get("/customers/nope").json() == not_found
        assert api.get("/customers/nope").status_code == 404
        assert api.delete("/customers/nope").json() == not_found

    def test_delete_then_recreate(self, api: Api) -> None:
        created = upsert(api, name="Old", metadata=[{"key": "a", "value": "1"}])
        deleted = api.delete("/customers/cus_1")
        assert deleted.status_code == 200
        body = deleted.json()["customer"]
        assert (body["lago_id"], body["name"], len(body["metadata"])) == (created["lago_id"], "Old", 1)
        assert api.get("/customers/cus_1").status_code == 404
        assert api.delete("/customers/cus_1").status_code == 404
        assert api.get("/customers").json()["customers"] == []

        recreated = upsert(api, name="New")
        assert recreated["lago_id"] != created["lago_id"]
        assert recreated["sequential_id"] == 2
        assert recreated["metadata"] == []
        assert api.get("/customers/cus_1").json()["customer"]["lago_id"] == recreated["lago_id"]


class TestList:
    def test_paginates_newest_first(self, api: Api) -> None:
        for i in range(3):
            upsert(api, external_id=f"cus_{i}")
        body = api.get("/customers", params={"per_page": 2}).json()
        assert [c["external_id"] for c in body["customers"]] == ["cus_2", "cus_1"]
        assert body["meta"] == {
            "current_page": 1,
            "next_page": 2,
            "prev_page": None,
            "total_pages": 2,
            "total_count": 3,
        }
        page2 = api.get("/customers", params={"per_page": 2, "page": 2}).json()
        assert [c["external_id"] for c in page2["customers"]] == ["cus_0"]
        assert page2["meta"]["prev_page"] == 1
        assert "applicable_invoice_custom_sections" not in page2["customers"][0]

    def test_empty(self, api: Api) -> None:
        assert api.get("/customers").json() == {
            "customers": [],
            "meta": {
                "current_page": 0,
                "next_page": None,
                "prev_page": None,
                "total_pages": 0,
                "total_count": 0,
            },
        }

    def test_list_shows_metadata_and_taxes(self, api: Api) -> None:
        create_tax(api, "vat_20")
        upsert(api, external_id="a", tax_codes=["vat_20"], metadata=[{"key": "k", "value": "v"}])
        upsert(api, external_id="b")
        customers = {c["external_id"]: c for c in api.get("/customers").json()["customers"]}
        assert [t["code"] for t in customers["a"]["taxes"]] == ["vat_20"]
        assert [m["key"] for m in customers["a"]["metadata"]] == ["k"]
        assert customers["b"]["taxes"] == [] and customers["b"]["metadata"] == []

    def test_search_term(self, api: Api) -> None:
        upsert(api, external_id="c_name", name="Wayne Enterprises")
        upsert(api, external_id="c_first", firstname="Bruce")
        upsert(api, external_id="c_last", lastname="WAYNE")
        upsert(api, external_id="c_legal", legal_name="Wayne Holdings")
        upsert(api, external_id="wayne_ext")
        upsert(api, external_id="c_mail", email="bruce@wayne.test")
        upsert(api, external_id="c_other", name="Stark", city="Wayne")

        def search(term: str) -> set[str]:
            customers = api.get("/customers", params={"search_term": term}).json()["customers"]
            return {c["external_id"] for c in customers}

        assert search("wayne") == {"c_name", "c_last", "c_legal", "wayne_ext", "c_mail"}
        assert search("BRUCE") == {"c_first", "c_mail"}
        assert (
            search("  ")
            == search("")
            == {
                "c_name",
                "c_first",
                "c_last",
                "c_legal",
                "wayne_ext",
                "c_mail",
                "c_other",
            }
        )
        # LIKE wildcards are searched literally.
        assert search("%") == set()
        assert search("c_n") == {"c_name"}

    def test_currency_and_country_filters(self, api: Api) -> None:
        upsert(api, external_id="usd_us", currency="USD", country="US")
        upsert(api, external_id="eur_fr", currency="EUR", country="FR")
        upsert(api, external_id="eur_de", currency="EUR", country="DE")
        upsert(api, external_id="none")

        def ids(query: list[tuple[str, str]]) -> set[str]:
            response = api.get("/customers", params=query)
            assert response.status_code == 200, response.text
            return {c["external_id"] for c in response.json()["customers"]}

        assert ids([("currencies[]", "EUR")]) == {"eur_fr", "eur_de"}
        assert ids([("currencies[]", "EUR"), ("currencies[]", "USD")]) == {"eur_fr", "eur_de", "usd_us"}
        assert ids([("currencies", "USD")]) == {"usd_us"}
        assert ids([("countries[]", "FR"), ("countries[]", "us")]) == {"eur_fr", "usd_us"}
        assert ids([("currencies[]", "EUR"), ("countries[]", "DE")]) == {"eur_de"}

    def test_other_filters(self, api: Api) -> None:
        upsert(
            api,
            external_id="partner",
            account_type="partner",
            customer_type="company",
            state="CA",
            zipcode="94016",
            tax_identification_number="US1",
            metadata=[{"key": "tier", "value": "gold"}],
        )
        upsert(api, external_id="plain", metadata=[{"key": "tier", "value": "silver"}])
        upsert(api, external_id="person", customer_type="individual")

        def ids(query: list[tuple[str, str]]) -> set[str]:
            response = api.get("/customers", params=query)
            assert response.status_code == 200, response.text
            return {c["external_id"] for c in response.json()["customers"]}

        assert ids([("account_type[]", "partner")]) == {"partner"}
        assert ids([("customer_type", "individual")]) == {"person"}
        assert ids([("has_customer_type", "false")]) == {"plain"}
        assert ids([("has_customer_type", "true")]) == {"partner", "person"}
        assert ids([("has_tax_identification_number", "true")]) == {"partner"}
        assert ids([("states[]", "CA")]) == ids([("zipcodes[]", "94016")]) == {"partner"}
        assert ids([("external_id", "plain"), ("search_term", "nothing-matches")]) == {"plain"}
        assert ids([("metadata[tier]", "gold")]) == {"partner"}
        assert ids([("metadata[tier]", "")]) == {"person"}

    @pytest.mark.parametrize(
        ("query", "details"),
        [
            ([("currencies[]", "EURO")], {"currencies": ["value_is_invalid"]}),
            ([("countries[]", "XX")], {"countries": ["value_is_invalid"]}),
            ([("account_type[]", "vendor")], {"account_type": ["value_is_invalid"]}),
            ([("customer_type", "alien")], {"customer_type": ["value_is_invalid"]}),
            ([("has_customer_type", "maybe")], {"has_customer_type": ["value_is_invalid"]}),
        ],
    )
    def test_invalid_filters(self, api: Api, query: list, details: dict) -> None:
        response = api.get("/customers", params=query)
        assert response.status_code == 422
        assert response.json()["error_details"] == details

    def test_deleted_customers_are_not_listed(self, api: Api) -> None:
        upsert(api, external_id="a")
        upsert(api, external_id="b")
        api.delete("/customers/a")
        assert [c["external_id"] for c in api.get("/customers").json()["customers"]] == ["b"]


class TestApplicableTimezone:
    def test_inherits_from_the_organization(self, api: Api) -> None:
        assert upsert(api)["applicable_timezone"] == "UTC"
        response = api.put("/organizations", json={"organization": {"timezone": "Europe/Paris"}})
        assert response.status_code == 200, response.text
        customer = api.get("/customers/cus_1").json()["customer"]
        assert (customer["timezone"], customer["applicable_timezone"]) == (None, "Europe/Paris")
        own = upsert(api, timezone="Asia/Tokyo")
        assert (own["timezone"], own["applicable_timezone"]) == ("Asia/Tokyo", "Asia/Tokyo")
        assert upsert(api, timezone="")["applicable_timezone"] == "Europe/Paris"


class TestTenancy:
    def test_other_organization_sees_nothing(self, api: Api, other_api: Api) -> None:
        mine = upsert(api, name="Mine")
        assert other_api.get("/customers/cus_1").status_code == 404
        assert other_api.get("/customers/cus_1").json()["code"] == "customer_not_found"
        assert other_api.delete("/customers/cus_1").status_code == 404
        assert other_api.get("/customers").json()["customers"] == []
        assert other_api.get("/customers", params={"search_term": "Mine"}).json()["customers"] == []

        theirs = upsert(other_api, name="Theirs")
        assert theirs["lago_id"] != mine["lago_id"]
        assert theirs["sequential_id"] == 1
        assert api.get("/customers/cus_1").json()["customer"]["name"] == "Mine"
        assert [c["name"] for c in api.get("/customers").json()["customers"]] == ["Mine"]
        assert [c["name"] for c in other_api.get("/customers").json()["customers"]] == ["Theirs"]


class TestServiceHelpers:
    def test_get_and_get_or_create(self, app: FastAPI, api: Api) -> None:
        existing = upsert(api, name="Known")
        with app.state.sessionmaker.begin() as session:
            organization = session.get(Organization, api.organization.id)
            known = customer_service.get_or_create(session, organization, "cus_1")
            assert str(known.id) == existing["lago_id"]
            created = customer_service.get_or_create(session, organization, "cus_new")
            assert (created.sequential_id, created.account_type) == (2, "customer")
            assert customer_repository.by_external_id(session, organization.id, "cus_new") is created
        shown = api.get("/customers/cus_new").json()["customer"]
        assert (shown["sequential_id"], shown["finalize_zero_amount_invoice"]) == (2, "inherit")
