"""Activity logs of changes made through the API, the dashboard and Billow itself."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from billow.kit.actor import Actor, set_actor
from billow.models.audit import ActivityLog
from billow.models.taxes import Tax
from tests.audit.helpers import activities, activity_rows, api_key_id
from tests.conftest import Api
from tests.integrations.conftest import test_providers  # noqa: F401 (fixture: the test providers)

METRIC = {"name": "Storage", "code": "storage", "aggregation_type": "sum_agg", "field_name": "gb"}
PLAN = {
    "name": "Starter",
    "code": "starter",
    "interval": "monthly",
    "amount_cents": 1000,
    "amount_currency": "EUR",
}
COUPON = {
    "name": "Welcome",
    "code": "welcome",
    "coupon_type": "fixed_amount",
    "amount_cents": 1000,
    "amount_currency": "EUR",
    "frequency": "once",
    "expiration": "no_expiration",
}


def ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return dict(response.json())


class TestApiChanges:
    def test_customer_created_updated_deleted(self, api: Api) -> None:
        customer = ok(api.post("/customers", json={"customer": {"external_id": "c1", "name": "Ann"}}))[
            "customer"
        ]
        ok(api.post("/customers", json={"customer": {"external_id": "c1", "name": "Bea", "city": "Lyon"}}))
        ok(api.delete("/customers/c1"))
        logs = activities(api)
        assert [log["activity_type"] for log in logs] == [
            "customer.created",
            "customer.updated",
            "customer.deleted",
        ]
        created, updated, deleted = logs
        key = api_key_id(api)
        for log in logs:
            assert log["activity_source"] == "api"
            assert log["user_email"] is None
            assert log["resource_type"] == "Customer"
            assert log["resource_id"] == customer["lago_id"]
            assert log["external_customer_id"] == "c1"
            assert log["external_subscription_id"] is None
            assert log["organization_id"] == str(api.organization.id)
            assert log["logged_at"].endswith("Z")
        assert {str(row.api_key_id) for row in activity_rows(api) if row.resource_type == "Customer"} == {key}
        assert created["activity_object_changes"] is None
        assert created["activity_object"]["name"] == "Ann"
        assert created["activity_object"]["city"] is None
        assert created["activity_object"]["external_id"] == "c1"
        assert updated["activity_object_changes"] == {"name": ["Ann", "Bea"], "city": [None, "Lyon"]}
        assert updated["activity_object"]["name"] == "Bea"
        assert set(deleted["activity_object_changes"]) == {"deleted_at"}
        assert deleted["activity_object_changes"]["deleted_at"][0] is None
        assert deleted["activity_object"]["deleted_at"] == deleted["activity_object_changes"]["deleted_at"][1]

    def test_metric_plan_coupon(self, api: Api) -> None:
        metric = ok(api.post("/billable_metrics", json={"billable_metric": METRIC}))["billable_metric"]
        ok(api.put("/billable_metrics/storage", json={"billable_metric": {"name": "Disk"}}))
        plan = ok(api.post("/plans", json={"plan": PLAN}))["plan"]
        ok(api.put("/plans/starter", json={"plan": {"amount_cents": 1500}}))
        coupon = ok(api.post("/coupons", json={"coupon": COUPON}))["coupon"]
        ok(api.delete("/coupons/welcome"))
        ok(api.delete("/plans/starter"))
        ok(api.delete("/billable_metrics/storage"))
        logs = activities(api)
        assert [(log["activity_type"], log["resource_type"], log["resource_id"]) for log in logs] == [
            ("billable_metric.created", "BillableMetric", metric["lago_id"]),
            ("billable_metric.updated", "BillableMetric", metric["lago_id"]),
            ("plan.created", "Plan", plan["lago_id"]),
            ("plan.updated", "Plan", plan["lago_id"]),
            ("coupon.created", "Coupon", coupon["lago_id"]),
            ("coupon.deleted", "Coupon", coupon["lago_id"]),
            ("plan.deleted", "Plan", plan["lago_id"]),
            ("billable_metric.deleted", "BillableMetric", metric["lago_id"]),
        ]
        assert logs[1]["activity_object_changes"] == {"name": ["Storage", "Disk"]}
        assert logs[3]["activity_object_changes"] == {"amount_cents": [1000, 1500]}
        assert logs[4]["activity_object"]["amount_cents"] == 1000
        assert logs[4]["activity_object"]["code"] == "welcome"
        assert {log["activity_source"] for log in logs} == {"api"}

    def test_decimals_and_instants_are_strings(self, api: Api) -> None:
        ok(api.post("/taxes", json={"tax": {"name": "VAT", "code": "vat", "rate": "8.875"}}))
        ok(api.put("/taxes/vat", json={"tax": {"rate": "20"}}))
        created, updated = activities(api)
        assert created["activity_type"] == "tax.created"
        assert created["activity_object"]["rate"] == "8.875"
        assert isinstance(created["activity_object"]["created_at"], str)
        assert updated["activity_object_changes"] == {"rate": ["8.875", "20.0"]}

    def test_no_change_logs_nothing(self, api: Api) -> None:
        ok(api.post("/taxes", json={"tax": {"name": "VAT", "code": "vat", "rate": "20"}}))
        ok(api.put("/taxes/vat", json={"tax": {"name": "VAT"}}))
        assert [log["activity_type"] for log in activities(api)] == ["tax.created"]

    def test_failed_request_logs_nothing(self, api: Api) -> None:
        ok(api.post("/taxes", json={"tax": {"name": "VAT", "code": "vat", "rate": "20"}}))
        response = api.post("/taxes", json={"tax": {"name": "VAT", "code": "vat", "rate": "20"}})
        assert response.status_code == 422
        response = api.post("/customers", json={"customer": {"name": "no external id"}})
        assert response.status_code == 422
        assert [log["activity_type"] for log in activities(api)] == ["tax.created"]

    def test_subscription_started_and_terminated(self, api: Api) -> None:
        ok(api.post("/plans", json={"plan": PLAN}))
        ok(api.post("/customers", json={"customer": {"external_id": "c1"}}))
        subscription = ok(
            api.post(
                "/subscriptions",
                json={
                    "subscription": {
                        "external_customer_id": "c1",
                        "plan_code": "starter",
                        "external_id": "s1",
                    }
                },
            )
        )["subscription"]
        ok(api.delete("/subscriptions/s1"))
        logs = [log for log in activities(api) if log["resource_type"] == "Subscription"]
        assert [log["activity_type"] for log in logs] == ["subscription.started", "subscription.terminated"]
        for log in logs:
            assert log["resource_id"] == subscription["lago_id"]
            assert log["external_subscription_id"] == "s1"
            assert log["external_customer_id"] == "c1"
        assert logs[1]["activity_object_changes"]["status"] == ["active", "terminated"]
        # The termination bills the subscription: its invoice is logged too, with the customer.
        invoices = [log for log in activities(api) if log["resource_type"] == "Invoice"]
        assert invoices and invoices[0]["external_customer_id"] == "c1"


class TestSources:
    def test_dashboard_change_is_front_with_the_email(self, api: Api, factory: sessionmaker[Session]) -> None:
        member = uuid.uuid4()
        with factory.begin() as session:
            set_actor(session, Actor(source="front", member_id=member, email="ann@example.com"))
            session.add(Tax(organization_id=api.organization.id, name="VAT", code="vat", rate=Decimal(20)))
        (log,) = activities(api)
        assert log["activity_type"] == "tax.created"
        assert log["activity_source"] == "front"
        assert log["user_email"] == "ann@example.com"
        (row,) = [r for r in activity_rows(api) if r.resource_type == "Tax"]
        assert row.member_id == member
        assert row.api_key_id is None

    def test_task_change_is_system(self, api: Api, factory: sessionmaker[Session]) -> None:
        with factory.begin() as session:
            session.add(Tax(organization_id=api.organization.id, name="VAT", code="vat", rate=Decimal(20)))
        with factory.begin() as session:
            tax = session.scalars(select(Tax).where(Tax.code == "vat")).one()
            tax.name = "TVA"
        created, updated = activities(api)
        assert (created["activity_source"], updated["activity_source"]) == ("system", "system")
        assert updated["activity_object_changes"] == {"name": ["VAT", "TVA"]}
        assert updated["user_email"] is None

    def test_fixture_organization_and_key_are_logged_as_system(self, api: Api) -> None:
        rows = activity_rows(api)
        assert sorted((r.activity_type, r.activity_source) for r in rows) == [
            ("api_key.created", "system"),
            ("organization.created", "system"),
        ]
        (key,) = [r for r in rows if r.resource_type == "ApiKey"]
        assert "value_digest" not in (key.activity_object or {})


class TestTransactions:
    def test_rolled_back_transaction_logs_nothing(self, api: Api, factory: sessionmaker[Session]) -> None:
        with factory() as session:
            session.add(Tax(organization_id=api.organization.id, name="VAT", code="vat", rate=Decimal(20)))
            session.flush()
            session.rollback()
        assert activities(api) == []

    def test_rolled_back_savepoint_drops_its_entries(self, api: Api, factory: sessionmaker[Session]) -> None:
        with factory.begin() as session:
            session.add(Tax(organization_id=api.organization.id, name="Kept", code="kept", rate=Decimal(20)))
            session.flush()
            savepoint = session.begin_nested()
            session.add(Tax(organization_id=api.organization.id, name="Gone", code="gone", rate=Decimal(20)))
            session.flush()
            savepoint.rollback()
        assert [log["activity_object"]["code"] for log in activities(api)] == ["kept"]

    def test_created_then_updated_in_one_transaction_is_one_creation(
        self, api: Api, factory: sessionmaker[Session]
    ) -> None:
        with factory.begin() as session:
            tax = Tax(organization_id=api.organization.id, name="VAT", code="vat", rate=Decimal(20))
            session.add(tax)
            session.flush()
            tax.name = "TVA"
            session.flush()
            tax.description = "French"
        (log,) = activities(api)
        assert log["activity_type"] == "tax.created"
        assert (log["activity_object"]["name"], log["activity_object"]["description"]) == ("TVA", "French")

    def test_two_updates_in_one_transaction_are_merged(
        self, api: Api, factory: sessionmaker[Session]
    ) -> None:
        with factory.begin() as session:
            session.add(Tax(organization_id=api.organization.id, name="A", code="vat", rate=Decimal(20)))
        with factory.begin() as session:
            tax = session.scalars(select(Tax).where(Tax.code == "vat")).one()
            tax.name = "B"
            session.flush()
            tax.name = "C"
            tax.rate = Decimal(10)
        _, updated = activities(api)
        assert updated["activity_object_changes"] == {"name": ["A", "C"], "rate": ["20.0", "10.0"]}


@pytest.mark.usefixtures("test_providers")
class TestSecrets:
    def test_webhook_endpoint_and_integration_secrets_are_never_logged(self, api: Api) -> None:
        ok(
            api.post(
                "/webhook_endpoints",
                json={
                    "webhook_endpoint": {
                        "webhook_url": "https://hooks.example.com/x",
                        "signature_algo": "hmac",
                    }
                },
            )
        )
        body = {"type": "testpay", "code": "pay", "name": "Pay", "secrets": {"api_key": "sk_live_SECRET1"}}
        ok(
            api.post(
                "/integrations",
                json={
                    "integration": {**body, "secrets": {**body["secrets"], "webhook_secret": "whsec_SECRET2"}}
                },
            )
        )
        ok(api.put("/integrations/pay", json={"integration": {"secrets": {"api_key": "sk_live_SECRET3"}}}))
        with api.client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
            rows = session.scalars(select(ActivityLog)).all()
            everything = json.dumps([[r.activity_object, r.activity_object_changes] for r in rows])
        types = [log["activity_type"] for log in activities(api)]
        assert "webhook_endpoint.created" in types
        assert "integration.created" in types
        for secret in ("SECRET1", "SECRET2", "SECRET3", "_sealed", "value_digest", "private_key", "hmac_key"):
            assert secret not in everything
        # The API logs redact them too.
        logs = api.get("/api_logs", params={"per_page": 1000}).json()["api_logs"]
        dumped = json.dumps(logs)
        for secret in ("SECRET1", "SECRET2", "SECRET3"):
            assert secret not in dumped
        assert '"[FILTERED]"' in dumped
