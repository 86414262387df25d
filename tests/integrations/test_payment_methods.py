"""Stored payment methods: ``GET /customers/{id}/payment_methods`` stores what the payment provider lists,
``PUT .../{lago_id}/set_as_default`` (one default per customer), ``DELETE .../{lago_id}`` (soft delete),
and the default first in a ``create_payment`` payable's ``payment_method_ids``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from sqlalchemy import select

from billow.models.payment_methods import PaymentMethod
from tests.conftest import Api
from tests.integrations.conftest import add_integration
from tests.integrations.providers import FakeProvider
from tests.integrations.test_inbound import method_event, post_event
from tests.integrations.test_jobs import job_list, paying_customer
from tests.mail.conftest import create_customer, one_off_invoice

CARD = {"id": "pm_a", "type": "card", "default": True, "last4": "4242"}
SEPA = {"id": "pm_b", "type": "sepa_debit", "last4": "3000"}


def listed(api: Api, external_id: str = "cus_1") -> list[dict[str, Any]]:
    response = api.get(f"/customers/{external_id}/payment_methods")
    assert response.status_code == 200, response.text
    return list(response.json()["payment_methods"])


def by_provider_id(methods: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {method["provider_method_id"]: method for method in methods}


class TestList:
    def test_stores_what_the_provider_lists(self, app: FastAPI, api: Api, fake: FakeProvider) -> None:
        add_integration(api, "testpay", "pay", fake)
        paying_customer(api)
        fake.listed = [SEPA, CARD]
        response = api.get("/customers/cus_1/payment_methods")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["meta"] == {
            "current_page": 1,
            "next_page": None,
            "prev_page": None,
            "total_pages": 1,
            "total_count": 2,
        }
        first, second = body["payment_methods"]  # the default first
        with app.state.sessionmaker() as session:
            card = session.scalars(
                select(PaymentMethod).where(PaymentMethod.provider_method_id == "pm_a")
            ).one()
        assert first == {
            "lago_id": str(card.id),
            "is_default": True,
            "payment_provider_code": "pay",
            "payment_provider_name": "Pay",
            "payment_provider_type": "testpay",
            "provider_method_id": "pm_a",
            "method_type": "card",
            "details": {"last4": "4242"},
            "created_at": card.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        assert (second["provider_method_id"], second["is_default"], second["method_type"]) == (
            "pm_b",
            False,
            "sepa_debit",
        )
        # Listed again: the same rows (same lago_ids), nothing added.
        assert listed(api) == body["payment_methods"]
        # The provider no longer lists the card: it is deleted, the other method becomes the default.
        fake.listed = [SEPA]
        [only] = listed(api)
        assert (only["lago_id"], only["is_default"]) == (second["lago_id"], True)
        with app.state.sessionmaker() as session:
            rows = session.scalars(select(PaymentMethod).order_by(PaymentMethod.created_at)).all()
            assert sorted((r.provider_method_id, r.deleted_at is None) for r in rows) == [
                ("pm_a", False),
                ("pm_b", True),
            ]

    def test_without_a_payment_provider_the_stored_list(self, api: Api) -> None:
        create_customer(api)
        response = api.get("/customers/cus_1/payment_methods")
        assert response.status_code == 200, response.text
        assert response.json() == {
            "payment_methods": [],
            "meta": {
                "current_page": 0,
                "next_page": None,
                "prev_page": None,
                "total_pages": 0,
                "total_count": 0,
            },
        }

    def test_a_customer_not_at_the_provider_yet(self, api: Api, fake: FakeProvider) -> None:
        add_integration(api, "testpay", "pay", fake)
        paying_customer(api, sync=False)
        fake.fail_next(1, status=400)  # would answer the listing: not asked
        assert listed(api) == []
        assert fake.of_kind("customers") == []

    def test_a_provider_error_is_a_third_party_error(self, api: Api, fake: FakeProvider) -> None:
        add_integration(api, "testpay", "pay", fake)
        paying_customer(api)
        fake.fail_next(1, status=400)
        response = api.get("/customers/cus_1/payment_methods")
        assert (response.status_code, response.json()["code"]) == (422, "third_party_error")

    def test_an_inbound_method_is_listed(self, api: Api, fake: FakeProvider) -> None:
        add_integration(api, "testpay", "pay", fake)
        paying_customer(api)
        shown = api.get("/customers/cus_1").json()["customer"]
        provider_id = shown["billing_configuration"]["provider_customer_id"]
        assert provider_id
        assert post_event(api, method_event(provider_id)).json() == {"applied": 1}
        fake.listed = [CARD, {"id": "pm_9", "type": "sepa_debit"}]
        methods = by_provider_id(listed(api))
        # pm_9 came first (the inbound event): it stays the default.
        assert {k: (m["is_default"], m["method_type"]) for k, m in methods.items()} == {
            "pm_9": (True, "sepa_debit"),
            "pm_a": (False, "card"),
        }


class TestSetAsDefaultAndDelete:
    def test_one_default_per_customer(self, app: FastAPI, api: Api, fake: FakeProvider) -> None:
        add_integration(api, "testpay", "pay", fake)
        paying_customer(api)
        fake.listed = [CARD, SEPA]
        methods = by_provider_id(listed(api))
        card, sepa = methods["pm_a"], methods["pm_b"]
        response = api.put(f"/customers/cus_1/payment_methods/{sepa['lago_id']}/set_as_default")
        assert response.status_code == 200, response.text
        assert response.json() == {"payment_method": {**sepa, "is_default": True}}
        # The customer's choice stays though the provider still calls the card its default.
        shown = by_provider_id(listed(api))
        assert (shown["pm_a"]["is_default"], shown["pm_b"]["is_default"]) == (False, True)
        again = api.put(f"/customers/cus_1/payment_methods/{sepa['lago_id']}/set_as_default")
        assert again.json() == response.json()
        with app.state.sessionmaker() as session:
            defaults = session.scalars(select(PaymentMethod).where(PaymentMethod.is_default.is_(True))).all()
            assert [d.provider_method_id for d in defaults] == ["pm_b"]
        # Back to the card.
        back = api.put(f"/customers/cus_1/payment_methods/{card['lago_id']}/set_as_default")
        assert back.json()["payment_method"]["is_default"] is True
        assert [m["provider_method_id"] for m in listed(api) if m["is_default"]] == ["pm_a"]

    def test_delete(self, api: Api, fake: FakeProvider) -> None:
        add_integration(api, "testpay", "pay", fake)
        paying_customer(api)
        fake.listed = [CARD, SEPA]
        sepa = by_provider_id(listed(api))["pm_b"]
        response = api.delete(f"/customers/cus_1/payment_methods/{sepa['lago_id']}")
        assert response.status_code == 200, response.text
        assert response.json() == {"payment_method": sepa}
        # Gone from the list, though the provider still lists it; deleted again: 404.
        assert [m["provider_method_id"] for m in listed(api)] == ["pm_a"]
        again = api.delete(f"/customers/cus_1/payment_methods/{sepa['lago_id']}")
        assert (again.status_code, again.json()["code"]) == (404, "payment_method_not_found")
        default = api.put(f"/customers/cus_1/payment_methods/{sepa['lago_id']}/set_as_default")
        assert default.status_code == 404

    def test_unknown_ids(self, api: Api, fake: FakeProvider) -> None:
        add_integration(api, "testpay", "pay", fake)
        paying_customer(api)
        for lago_id in ("not-a-uuid", "00000000-0000-0000-0000-000000000000"):
            response = api.delete(f"/customers/cus_1/payment_methods/{lago_id}")
            assert (response.status_code, response.json()["code"]) == (404, "payment_method_not_found")
        response = api.put(
            "/customers/nobody/payment_methods/00000000-0000-0000-0000-000000000000/set_as_default"
        )
        assert (response.status_code, response.json()["code"]) == (404, "customer_not_found")


class TestTenancy:
    def test_another_organization_sees_none(self, api: Api, other_api: Api, fake: FakeProvider) -> None:
        add_integration(api, "testpay", "pay", fake)
        paying_customer(api)
        fake.listed = [CARD]
        [card] = listed(api)
        assert other_api.get("/customers/cus_1/payment_methods").status_code == 404
        path = f"/customers/cus_1/payment_methods/{card['lago_id']}"
        assert other_api.delete(path).json()["code"] == "customer_not_found"
        assert other_api.put(f"{path}/set_as_default").json()["code"] == "customer_not_found"
        # The other organization's own cus_1 does not reach this method.
        create_customer(other_api)
        assert listed(other_api) == []
        assert other_api.delete(path).json()["code"] == "payment_method_not_found"
        assert other_api.put(f"{path}/set_as_default").json()["code"] == "payment_method_not_found"
        assert listed(api) == [card]


class TestPayable:
    def test_the_default_goes_first(self, api: Api, fake: FakeProvider) -> None:
        add_integration(api, "testpay", "pay", fake)
        paying_customer(api)
        fake.listed = [CARD, SEPA, {"id": "pm_c", "type": "card"}]
        methods = by_provider_id(listed(api))
        api.put(f"/customers/cus_1/payment_methods/{methods['pm_b']['lago_id']}/set_as_default")
        api.delete(f"/customers/cus_1/payment_methods/{methods['pm_c']['lago_id']}")
        one_off_invoice(api, 3000)
        [job] = job_list(api, operation="create_payment")
        assert job["status"] == "succeeded", job
        [payment] = fake.of_kind("payments")
        assert payment["methods"] == ["pm_b", "pm_a"]

    def test_no_stored_method_the_providers_default(self, api: Api, fake: FakeProvider) -> None:
        add_integration(api, "testpay", "pay", fake)
        paying_customer(api)
        one_off_invoice(api, 3000)
        [payment] = fake.of_kind("payments")
        assert payment["methods"] == []
