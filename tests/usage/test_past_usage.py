"""GET /customers/{id}/past_usage reads the usage billed on issued invoices."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from lago_python_client.models.customer_usage import CustomerUsageResponse
from sqlalchemy.orm import Session, sessionmaker

from billow.billing.run import bill_due
from billow.organizations.service import organization_service
from tests.fixtures.catalogs import setup_catalog
from tests.fixtures.factories import at

#: As under ``tests/billing/``: backdated periods are billed, invoices read only the locked columns.
pytestmark = pytest.mark.usefixtures("bill_backdated_periods", "invoices_read_only_the_locked_columns")


def test_past_usage_per_invoiced_period(
    factory: sessionmaker[Session], session: Session, client: TestClient
) -> None:
    org, customer, _ = setup_catalog(session)
    organization_service.add_key(session, org, "past_usage_key")
    session.commit()
    bill_due(factory, at("2024-04-10T00:00:00"))
    headers = {"Authorization": "Bearer past_usage_key"}
    url = f"/api/v1/customers/{customer.external_id}/past_usage"

    body = client.get(url, params={"external_subscription_id": "sub_1"}, headers=headers).json()
    periods = body["usage_periods"]
    assert [(p["from_datetime"], p["to_datetime"], p["amount_cents"]) for p in periods] == [
        ("2024-03-01T00:00:00Z", "2024-03-31T23:59:59Z", 0),
        ("2024-02-01T00:00:00Z", "2024-02-29T23:59:59Z", 1000),
        ("2024-01-15T00:00:00Z", "2024-01-31T23:59:59Z", 600),
    ]
    february = periods[1]
    assert (february["taxes_amount_cents"], february["total_amount_cents"]) == (200, 1200)
    usage = february["charges_usage"][0]
    assert (usage["units"], usage["events_count"], usage["amount_cents"]) == ("5.0", 1, 1000)
    CustomerUsageResponse.parse_obj(february)
    assert body["meta"]["total_count"] == 3

    latest = client.get(
        url, params={"external_subscription_id": "sub_1", "periods_count": 2}, headers=headers
    )
    assert [p["amount_cents"] for p in latest.json()["usage_periods"]] == [0, 1000]
    other_metric = client.get(
        url, params={"external_subscription_id": "sub_1", "billable_metric_code": "nope"}, headers=headers
    )
    assert all(p["charges_usage"] == [] for p in other_metric.json()["usage_periods"])
    missing = client.get(
        "/api/v1/customers/nobody/past_usage", params={"external_subscription_id": "x"}, headers=headers
    )
    assert missing.json()["code"] == "customer_not_found"
