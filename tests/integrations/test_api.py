"""/api/v1/integrations: CRUD, write-only secrets (sealed in the database), mappings, two organizations."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from billow.config import current_settings
from billow.kit.secrets import open_sealed
from billow.models.integrations import Integration
from tests.conftest import Api
from tests.integrations.conftest import add_integration
from tests.integrations.providers import FakeProvider


def _row(api: Api, code: str) -> Integration:
    with api.client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
        return session.scalars(
            select(Integration).where(
                Integration.organization_id == api.organization.id, Integration.code == code
            )
        ).one()


class TestCreate:
    def test_create_answers_without_secrets(self, api: Api, fake: FakeProvider) -> None:
        created = add_integration(
            api, "testpay", "stripe_prod", fake, settings={"statement_descriptor": "ACME"}
        )
        assert created == {
            "lago_id": created["lago_id"],
            "type": "testpay",
            "kind": "payment",
            "code": "stripe_prod",
            "name": "Stripe_Prod",
            "settings": {"statement_descriptor": "ACME"},
            "secret_keys": ["api_key", "webhook_secret"],
            "api_base_url": fake.url,
            "created_at": created["created_at"],
        }
        assert "sk_test_1" not in json.dumps(created)

    def test_secrets_are_sealed_in_the_row(self, api: Api, fake: FakeProvider) -> None:
        add_integration(api, "testpay", "pay", fake)
        row = _row(api, "pay")
        assert row.secrets_sealed is not None and "sk_test_1" not in row.secrets_sealed
        opened = json.loads(open_sealed(row.secrets_sealed, current_settings()))
        assert opened == {"api_key": "sk_test_1", "webhook_secret": "whsec_1"}

    def test_secrets_never_in_any_answer(self, api: Api, fake: FakeProvider) -> None:
        add_integration(api, "testpay", "pay", fake)
        answers = [
            api.get("/integrations"),
            api.get("/integrations/pay"),
            api.put("/integrations/pay", {"integration": {"name": "Renamed"}}),
            api.delete("/integrations/pay"),
        ]
        for answer in answers:
            assert answer.status_code == 200
            assert "sk_test_1" not in answer.text and "whsec_1" not in answer.text

    def test_unknown_type(self, api: Api) -> None:
        response = api.post("/integrations", {"integration": {"type": "nope", "code": "x", "name": "X"}})
        assert response.status_code == 422
        assert response.json()["error_details"] == {"type": ["value_is_invalid"]}

    def test_required_fields_and_provider_validation(self, api: Api) -> None:
        response = api.post("/integrations", {"integration": {"type": "testbooks", "code": "b", "name": "B"}})
        assert response.status_code == 422
        assert response.json()["error_details"] == {
            "tenant": ["value_is_mandatory"],
            "api_key": ["value_is_mandatory"],
        }
        response = api.post(
            "/integrations",
            {"integration": {"type": "testpay", "code": "p", "name": "P", "secrets": {"api_key": "pk_bad"}}},
        )
        assert response.status_code == 422
        assert response.json()["error_details"] == {"api_key": ["value_is_invalid"]}
        assert api.get("/integrations").json()["integrations"] == []

    def test_code_is_unique_among_live_integrations(self, api: Api, fake: FakeProvider) -> None:
        add_integration(api, "testpay", "pay", fake)
        body = {"type": "testpay", "code": "pay", "name": "P", "secrets": {"api_key": "sk_2"}}
        response = api.post("/integrations", {"integration": body})
        assert response.status_code == 422
        assert response.json()["error_details"] == {"code": ["value_already_exist"]}
        assert api.delete("/integrations/pay").status_code == 200
        assert api.post("/integrations", {"integration": body}).status_code == 200


class TestUpdate:
    def test_secrets_replaced_one_by_one(self, api: Api, fake: FakeProvider) -> None:
        add_integration(api, "testpay", "pay", fake)
        response = api.put("/integrations/pay", {"integration": {"secrets": {"api_key": "sk_new"}}})
        assert response.status_code == 200
        assert response.json()["integration"]["secret_keys"] == ["api_key", "webhook_secret"]
        row = _row(api, "pay")
        assert row.secrets_sealed is not None
        opened = json.loads(open_sealed(row.secrets_sealed, current_settings()))
        assert opened == {"api_key": "sk_new", "webhook_secret": "whsec_1"}

    def test_invalid_update_changes_nothing(self, api: Api, fake: FakeProvider) -> None:
        add_integration(api, "testpay", "pay", fake)
        response = api.put("/integrations/pay", {"integration": {"name": "", "secrets": {"api_key": "bad"}}})
        assert response.status_code == 422
        assert api.get("/integrations/pay").json()["integration"]["name"] == "Pay"

    def test_settings_merge(self, api: Api, fake: FakeProvider) -> None:
        add_integration(api, "testbooks", "books", fake)
        response = api.put("/integrations/books", {"integration": {"settings": {"tenant": "t2"}}})
        assert response.json()["integration"]["settings"] == {"tenant": "t2"}


class TestTenancy:
    def test_other_organization_sees_nothing(self, api: Api, other_api: Api, fake: FakeProvider) -> None:
        add_integration(api, "testpay", "pay", fake)
        assert other_api.get("/integrations/pay").json()["code"] == "integration_not_found"
        assert other_api.get("/integrations").json()["integrations"] == []
        assert other_api.put("/integrations/pay", {"integration": {"name": "x"}}).status_code == 404
        assert other_api.delete("/integrations/pay").status_code == 404
        assert other_api.get("/integrations/pay/mappings").status_code == 404
        # The same code is free in another organization.
        add_integration(other_api, "testpay", "pay", fake)


class TestProviders:
    def test_installed_providers(self, api: Api) -> None:
        found = {p["type"]: p for p in api.get("/integrations/providers").json()["providers"]}
        assert found["testpay"] == {
            "type": "testpay",
            "kind": "payment",
            "settings_fields": {"statement_descriptor": False},
            "secret_fields": {"api_key": True, "webhook_secret": False},
        }
        assert found["testbooks"]["kind"] == "accounting"
        assert found["testcrm"]["kind"] == "crm"


class TestMappings:
    def test_create_list_delete(self, api: Api, fake: FakeProvider) -> None:
        add_integration(api, "testbooks", "books", fake)
        add_on = api.post(
            "/add_ons",
            {"add_on": {"name": "Setup", "code": "setup", "amount_cents": 100, "amount_currency": "EUR"}},
        )
        add_on_id = add_on.json()["add_on"]["lago_id"]
        body: dict[str, Any] = {"mappable_type": "add_on", "mappable_id": add_on_id, "external_id": "ITEM-1"}
        created = api.post("/integrations/books/mappings", {"integration_mapping": body})
        assert created.status_code == 200, created.text
        fallback = api.post(
            "/integrations/books/mappings",
            {
                "integration_mapping": {
                    "mapping_type": "fallback_item",
                    "external_id": "ITEM-0",
                    "external_account_code": "700",
                }
            },
        )
        assert fallback.status_code == 200
        again = api.post("/integrations/books/mappings", {"integration_mapping": body})
        assert again.status_code == 422
        assert again.json()["error_details"] == {"mappable_id": ["value_already_exist"]}
        bad = api.post(
            "/integrations/books/mappings", {"integration_mapping": {"mapping_type": "x", "external_id": "1"}}
        )
        assert bad.json()["error_details"] == {"mapping_type": ["value_is_invalid"]}
        listed = api.get("/integrations/books/mappings").json()["integration_mappings"]
        assert [(m["mappable_type"], m["mapping_type"], m["external_id"]) for m in listed] == [
            ("add_on", None, "ITEM-1"),
            (None, "fallback_item", "ITEM-0"),
        ]
        mapping_id = created.json()["integration_mapping"]["lago_id"]
        assert api.delete(f"/integrations/books/mappings/{mapping_id}").status_code == 200
        assert (
            api.delete(f"/integrations/books/mappings/{mapping_id}").json()["code"]
            == "integration_mapping_not_found"
        )
        assert len(api.get("/integrations/books/mappings").json()["integration_mappings"]) == 1


def test_rotating_the_sealing_key_reseals_integration_secrets(
    api: Api, fake: FakeProvider, billow: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``billow migrate --rotate-secrets`` re-seals ``integrations.secrets_sealed`` with the new key."""
    add_integration(api, "testpay", "pay", fake)
    before = _row(api, "pay").secrets_sealed
    old = os.environ["BILLOW_SECRET_KEY"]
    new = Fernet.generate_key().decode()
    monkeypatch.setenv("BILLOW_SECRET_KEY", f"{new},{old}")
    result = billow("migrate", "--rotate-secrets")
    assert result.exit_code == 0, result.output
    monkeypatch.setenv("BILLOW_SECRET_KEY", new)  # the old key is gone
    row = _row(api, "pay")
    assert row.secrets_sealed is not None and row.secrets_sealed != before
    assert json.loads(open_sealed(row.secrets_sealed, current_settings()))["api_key"] == "sk_test_1"
