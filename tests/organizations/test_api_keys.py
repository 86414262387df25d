"""API keys and organizations managed from the command line, seen from the API: a revoked key answers
401 from the next request on (the ingestion path included), and deleting an organization deletes every
row it owns and nothing of another organization."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from billow import cli
from billow.billing.run import bill_due
from billow.models.organizations import ApiKey
from billow.organizations.service import _owned_tables, organization_service
from tests.conftest import Api, Clock
from tests.fixtures.factories import at

UNAUTHORIZED = {"status": 401, "error": "Unauthorized"}


@pytest.fixture
def billow(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """``billow <args>`` on the test app's database (its tables exist: no migration)."""
    url = app.state.engine.url.render_as_string(hide_password=False)
    monkeypatch.setattr(cli, "_prepare_database", lambda: url)

    def run(*args: str) -> Any:
        return CliRunner().invoke(cli.app, list(args))

    return run


def ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return response.json()


def event_body(transaction_id: str) -> dict[str, Any]:
    return {
        "transaction_id": transaction_id,
        "external_subscription_id": "sub_1",
        "code": "calls",
        "timestamp": int(at("2024-01-20T00:00:00").timestamp()),
        "properties": {"value": 3, "region": "eu"},
    }


def new_key(app: FastAPI, api: Api, name: str = "second") -> tuple[uuid.UUID, str]:
    with app.state.sessionmaker.begin() as session:
        key, raw_key = organization_service.create_key(session, api.organization, name)
        return key.id, raw_key


class TestRevokedKey:
    def test_answers_401_at_once_everywhere_and_the_other_keys_go_on(
        self, app: FastAPI, api: Api, client: TestClient, billow: Callable[..., Any]
    ) -> None:
        ok(
            api.post(
                "/billable_metrics",
                json={"billable_metric": {"name": "C", "code": "calls", "aggregation_type": "count_agg"}},
            )
        )
        key_id, raw_key = new_key(app, api)
        second = {"Authorization": f"Bearer {raw_key}"}
        assert client.get("/api/v1/customers", headers=second).status_code == 200
        assert (
            client.post("/api/v1/events", json={"event": event_body("t1")}, headers=second).status_code == 200
        )

        result = billow("api-keys", "revoke", str(key_id))
        assert result.exit_code == 0, result.output

        for response in (
            client.get("/api/v1/customers", headers=second),
            client.get("/api/v1/organizations", headers=second),
            client.post("/api/v1/events", json={"event": event_body("t2")}, headers=second),
            client.post("/api/v1/events/batch", json={"events": [event_body("t3")]}, headers=second),
        ):
            assert response.status_code == 401, response.text
            assert response.json() == UNAUTHORIZED
        # Nothing was ingested with the revoked key; the organization's first key still works.
        events = ok(api.get("/events"))["events"]
        assert [e["transaction_id"] for e in events] == ["t1"]

    def test_revoking_the_bootstrap_key_leaves_other_organizations_alone(
        self, app: FastAPI, api: Api, other_api: Api, client: TestClient, billow: Callable[..., Any]
    ) -> None:
        with app.state.sessionmaker() as session:
            [key_id] = session.scalars(select(ApiKey.id).where(ApiKey.organization_id == api.organization.id))
        assert billow("api-keys", "revoke", str(key_id)).exit_code == 0
        assert api.get("/customers").status_code == 401
        assert other_api.get("/customers").status_code == 200


def populate(api: Api, clock: Clock) -> None:
    """A bit of everything: taxes, a metric with filters, a plan with a filtered charge and a minimum
    commitment, an add-on, a coupon, a customer with metadata, a webhook endpoint, a backdated
    subscription and its events."""
    clock.set("2024-01-15T00:00:00Z")
    ok(api.post("/taxes", json={"tax": {"name": "VAT", "code": "vat", "rate": "20"}}))
    metric = {
        "name": "Calls",
        "code": "calls",
        "aggregation_type": "sum_agg",
        "field_name": "value",
        "filters": [{"key": "region", "values": ["eu", "us"]}],
    }
    metric_id = ok(api.post("/billable_metrics", json={"billable_metric": metric}))["billable_metric"][
        "lago_id"
    ]
    charge = {
        "billable_metric_id": metric_id,
        "charge_model": "standard",
        "properties": {"amount": "1"},
        "filters": [
            {"invoice_display_name": "EU", "properties": {"amount": "2"}, "values": {"region": ["eu"]}}
        ],
        "tax_codes": ["vat"],
    }
    plan = {
        "name": "Pro",
        "code": "pro",
        "interval": "monthly",
        "amount_cents": 1000,
        "amount_currency": "EUR",
        "tax_codes": ["vat"],
        "minimum_commitment": {"amount_cents": 5000},
        "charges": [charge],
        "fixed_charges": [
            {"add_on_code": "seats", "charge_model": "standard", "units": "2", "tax_codes": ["vat"]}
        ],
    }
    seats = {"name": "Seats", "code": "seats", "amount_cents": 100, "amount_currency": "EUR"}
    ok(api.post("/add_ons", json={"add_on": seats}))
    ok(api.post("/plans", json={"plan": plan}))
    add_on = {"name": "Setup", "code": "setup", "amount_cents": 500, "amount_currency": "EUR"}
    ok(api.post("/add_ons", json={"add_on": add_on}))
    coupon = {
        "name": "Ten",
        "code": "ten",
        "coupon_type": "fixed_amount",
        "amount_cents": 100,
        "amount_currency": "EUR",
        "frequency": "once",
        "expiration": "no_expiration",
    }
    ok(api.post("/coupons", json={"coupon": coupon}))
    customer = {
        "external_id": "cus_1",
        "name": "Customer",
        "currency": "EUR",
        "tax_codes": ["vat"],
        "metadata": [{"key": "k", "value": "v", "display_in_invoice": True}],
    }
    ok(api.post("/customers", json={"customer": customer}))
    ok(api.post("/webhook_endpoints", json={"webhook_endpoint": {"webhook_url": "https://example.com/hook"}}))
    subscription = {
        "external_customer_id": "cus_1",
        "external_id": "sub_1",
        "plan_code": "pro",
        "subscription_at": "2024-01-15T00:00:00Z",
    }
    ok(api.post("/subscriptions", json={"subscription": subscription}))
    ok(api.post("/events/batch", json={"events": [event_body("t1"), event_body("t2")]}))
    ok(api.get("/customers/cus_1/current_usage", params={"external_subscription_id": "sub_1"}))


def rows_per_organization(app: FastAPI) -> dict[str, Counter[uuid.UUID]]:
    counts: dict[str, Counter[uuid.UUID]] = {}
    with app.state.engine.connect() as connection:
        for table in _owned_tables():
            stmt = select(table.c.organization_id, func.count()).group_by(table.c.organization_id)
            counts[table.name] = Counter({row[0]: row[1] for row in connection.execute(stmt)})
    return counts


@pytest.mark.usefixtures("bill_backdated_periods")
class TestDeleteOrganization:
    def test_deletes_what_it_owns_and_nothing_of_the_other(
        self, app: FastAPI, api: Api, other_api: Api, clock: Clock, billow: Callable[..., Any]
    ) -> None:
        for each in (api, other_api):
            populate(each, clock)
        summary = bill_due(app.state.sessionmaker, at("2024-03-05T00:00:00"))
        assert summary.failed == [] and summary.invoices_created == 4
        before = rows_per_organization(app)
        gone, kept = api.organization.id, other_api.organization.id
        owned = {name for name, counts in before.items() if counts[gone]}
        # The data set reaches the tables that matter (the rollups only exist on PostgreSQL).
        assert {
            "api_keys",
            "taxes",
            "billable_metrics",
            "billable_metric_filters",
            "plans",
            "charges",
            "charge_filters",
            "charge_filter_values",
            "commitments",
            "fixed_charges",
            "fixed_charge_taxes",
            "add_ons",
            "coupons",
            "customers",
            "customer_metadata",
            "customer_taxes",
            "webhook_endpoints",
            "subscriptions",
            "events",
            "invoices",
            "invoice_subscriptions",
            "fees",
            "applied_taxes",
        } <= owned
        if app.state.engine.dialect.name == "postgresql":
            assert {"usage_touches", "usage_rollup_states", "usage_rollup_hours"} <= owned

        refused = billow("organizations", "delete", str(gone))
        assert refused.exit_code == 1
        assert "nothing deleted: run again with --yes" in refused.output
        assert f"  events: {before['events'][gone]}\n" in refused.output
        assert rows_per_organization(app) == before

        result = billow("organizations", "delete", str(gone), "--yes")
        assert result.exit_code == 0, result.output
        assert f"  invoices: {before['invoices'][gone]}\n" in result.output
        after = rows_per_organization(app)
        assert {name: counts[gone] for name, counts in after.items() if counts[gone]} == {}
        assert {name: counts[kept] for name, counts in after.items()} == {
            name: counts[kept] for name, counts in before.items()
        }

        assert api.get("/customers").status_code == 401
        assert [c["external_id"] for c in ok(other_api.get("/customers"))["customers"]] == ["cus_1"]
        assert len(ok(other_api.get("/invoices"))["invoices"]) == 2
        assert len(ok(other_api.get("/events"))["events"]) == 2
        usage = other_api.get("/customers/cus_1/current_usage", params={"external_subscription_id": "sub_1"})
        assert usage.status_code == 200, usage.text
