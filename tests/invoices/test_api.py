"""The invoices and fees API on invoices made by the billing run."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from lago_python_client.models.fee import FeeResponse
from lago_python_client.models.invoice import InvoiceResponse
from lago_python_client.services.response import prepare_index_response, prepare_object_response
from sqlalchemy import update

from billow.billing.run import bill_due
from billow.models.organizations import Organization
from tests.conftest import Api
from tests.fixtures import factories as f
from tests.fixtures.factories import at

# These tests subscribe in the past and bill the periods since (off by default, as Lago).
pytestmark = pytest.mark.usefixtures("bill_backdated_periods")


@pytest.fixture
def billed(app: FastAPI, api: Api) -> dict[str, Any]:
    with app.state.sessionmaker.begin() as session:
        session.execute(
            update(Organization)
            .where(Organization.id == api.organization.id)
            .values(document_number_prefix="ACM")
        )
        org = session.get(Organization, api.organization.id)
        metric = f.metric(session, org, "sum_agg", code="api_calls", name="API calls")
        plan = f.plan(
            session, org, code="pro", name="Pro", amount_cents=1000, invoice_display_name="Pro plan"
        )
        f.charge(session, org, plan, metric, "standard", {"amount": "2"})
        tax = f.tax(session, org, "vat", "20")
        f.link_plan_tax(session, plan, tax)
        customer = f.customer(session, org, external_id="cus_1")
        f.subscription(session, org, customer, plan, external_id="sub_1", started_at=at("2024-01-15"))
        f.event(session, org, "api_calls", "2024-01-20T00:00:00", {"value": 3})
        sequential_id = customer.sequential_id
    summary = bill_due(app.state.sessionmaker, at("2024-03-05T00:00:00"))
    assert summary.invoices_created == 2
    return {"customer_sequential_id": sequential_id}


class TestShow:
    def test_invoice_body(self, api: Api, billed: dict[str, Any]) -> None:
        listed = api.get("/invoices", params={"issuing_date_to": "2024-02-15"}).json()
        [summary] = listed["invoices"]
        response = api.get(f"/invoices/{summary['lago_id']}")
        assert response.status_code == 200
        invoice = response.json()["invoice"]
        seq = billed["customer_sequential_id"]
        assert {
            k: invoice[k]
            for k in (
                "number",
                "sequential_id",
                "issuing_date",
                "payment_due_date",
                "net_payment_term",
                "invoice_type",
                "status",
                "payment_status",
                "currency",
                "fees_amount_cents",
                "taxes_amount_cents",
                "coupons_amount_cents",
                "credit_notes_amount_cents",
                "prepaid_credit_amount_cents",
                "progressive_billing_credit_amount_cents",
                "sub_total_excluding_taxes_amount_cents",
                "sub_total_including_taxes_amount_cents",
                "total_amount_cents",
                "total_due_amount_cents",
                "version_number",
                "payment_overdue",
            )
        } == {
            "number": f"ACM-{seq:03d}-001",
            "sequential_id": 1,
            "issuing_date": "2024-02-01",
            "payment_due_date": "2024-02-01",
            "net_payment_term": 0,
            "invoice_type": "subscription",
            "status": "finalized",
            "payment_status": "pending",
            "currency": "USD",
            "fees_amount_cents": 1148,
            "taxes_amount_cents": 230,
            "coupons_amount_cents": 0,
            "credit_notes_amount_cents": 0,
            "prepaid_credit_amount_cents": 0,
            "progressive_billing_credit_amount_cents": 0,
            "sub_total_excluding_taxes_amount_cents": 1148,
            "sub_total_including_taxes_amount_cents": 1378,
            "total_amount_cents": 1378,
            "total_due_amount_cents": 1378,
            "version_number": 4,
            "payment_overdue": False,
        }
        assert invoice["customer"]["external_id"] == "cus_1"
        assert [s["external_id"] for s in invoice["subscriptions"]] == ["sub_1"]
        [period] = invoice["billing_periods"]
        assert {k: v for k, v in period.items() if k.endswith(("datetime", "reason"))} == {
            "subscription_from_datetime": "2024-01-15T00:00:00Z",
            "subscription_to_datetime": "2024-01-31T23:59:59Z",
            "charges_from_datetime": "2024-01-15T00:00:00Z",
            "charges_to_datetime": "2024-01-31T23:59:59Z",
            "invoicing_reason": "subscription_periodic",
        }
        fees = {fee["item"]["type"]: fee for fee in invoice["fees"]}
        assert fees["subscription"]["amount_cents"] == 548
        assert fees["subscription"]["item"]["invoice_display_name"] == "Pro plan"
        assert fees["subscription"]["item"]["code"] == "pro"
        charge = fees["charge"]
        assert {
            k: charge[k]
            for k in (
                "amount_cents",
                "units",
                "events_count",
                "taxes_amount_cents",
                "taxes_rate",
                "total_amount_cents",
                "precise_unit_amount",
                "from_date",
                "to_date",
                "external_subscription_id",
                "external_customer_id",
            )
        } == {
            "amount_cents": 600,
            "units": "3.0",
            "events_count": 1,
            "taxes_amount_cents": 120,
            "taxes_rate": 20,
            "total_amount_cents": 720,
            "precise_unit_amount": "2.0",
            "from_date": "2024-01-15T00:00:00Z",
            "to_date": "2024-01-31T23:59:59Z",
            "external_subscription_id": "sub_1",
            "external_customer_id": "cus_1",
        }
        assert charge["item"]["code"] == "api_calls" and charge["item"]["item_type"] == "BillableMetric"
        [applied] = invoice["applied_taxes"]
        assert (
            applied["tax_code"],
            applied["tax_rate"],
            applied["amount_cents"],
            applied["fees_amount_cents"],
        ) == ("vat", 20, 230, 1148)
        # The official client parses it.
        parsed = prepare_object_response(InvoiceResponse, invoice)
        assert parsed.number == invoice["number"] and len(parsed.fees.__root__) == 2

    def test_not_found(self, api: Api) -> None:
        response = api.get("/invoices/6d5bcd09-4a4e-4d9c-a4f3-1e0a8c0b9f11")
        assert response.status_code == 404
        assert response.json()["code"] == "invoice_not_found"
        assert api.get("/invoices/not-a-uuid").json()["code"] == "invoice_not_found"


class TestList:
    def test_filters_and_pagination(self, api: Api, billed: dict[str, Any]) -> None:
        body = api.get("/invoices", params={"per_page": 1}).json()
        assert body["meta"]["total_count"] == 2 and len(body["invoices"]) == 1
        parsed = prepare_index_response("invoices", InvoiceResponse, body)
        assert len(parsed["invoices"]) == 1
        assert (
            api.get("/invoices", params={"external_customer_id": "cus_1"}).json()["meta"]["total_count"] == 2
        )
        assert api.get("/invoices", params={"external_customer_id": "nobody"}).json()["invoices"] == []
        assert api.get("/invoices", params={"status": "draft"}).json()["invoices"] == []
        assert api.get("/invoices", params={"payment_status": "pending"}).json()["meta"]["total_count"] == 2
        dates = api.get("/invoices", params={"issuing_date_from": "2024-02-15"}).json()["invoices"]
        assert [i["issuing_date"] for i in dates] == ["2024-03-01"]

    def test_customer_invoices(self, api: Api, billed: dict[str, Any]) -> None:
        assert api.get("/customers/cus_1/invoices").json()["meta"]["total_count"] == 2
        assert api.get("/customers/unknown/invoices").status_code == 404


class TestFees:
    def test_list_and_show(self, api: Api, billed: dict[str, Any]) -> None:
        body = api.get("/fees", params={"fee_type": "charge"}).json()
        [charge] = body["fees"]
        assert charge["amount_cents"] == 600
        assert prepare_index_response("fees", FeeResponse, body)["fees"][0].lago_id == charge["lago_id"]
        assert (
            api.get("/fees", params={"external_subscription_id": "sub_1"}).json()["meta"]["total_count"] == 3
        )
        assert api.get("/fees", params={"external_customer_id": "other"}).json()["fees"] == []
        shown = api.get(f"/fees/{charge['lago_id']}").json()["fee"]
        assert shown == charge
        assert api.get("/fees/6d5bcd09-4a4e-4d9c-a4f3-1e0a8c0b9f11").json()["code"] == "fee_not_found"


class TestTenancy:
    def test_other_organization_sees_nothing(self, api: Api, other_api: Api, billed: dict[str, Any]) -> None:
        invoice = api.get("/invoices").json()["invoices"][0]
        assert other_api.get("/invoices").json()["invoices"] == []
        assert other_api.get(f"/invoices/{invoice['lago_id']}").status_code == 404
        assert other_api.get("/customers/cus_1/invoices").status_code == 404
        assert other_api.get("/fees").json()["fees"] == []
        assert other_api.get(f"/fees/{invoice['fees'][0]['lago_id']}").status_code == 404
