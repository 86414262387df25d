"""A fixed-charge fee as the invoice and fee APIs show it (Lago's fee serializer: ``lago_fixed_charge_id``,
the item is the fixed charge's add-on)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi import FastAPI
from lago_python_client.models.invoice import InvoiceResponse

from billow.billing.run import bill_due
from tests.conftest import Api
from tests.plans.test_fixed_charges_api import create_add_on

# The subscription starts in the past and the periods since are billed (off by default, as Lago).
pytestmark = pytest.mark.usefixtures("bill_backdated_periods")


def test_fixed_charge_fee_json(api: Api, app: FastAPI) -> None:
    seats = create_add_on(api, description="Per seat", invoice_display_name="Seat licence")
    plan = {
        "name": "Pro",
        "code": "pro",
        "interval": "monthly",
        "amount_cents": 1000,
        "amount_currency": "EUR",
        "fixed_charges": [
            {
                "add_on_code": "seats",
                "charge_model": "standard",
                "units": "3",
                "prorated": True,
                "properties": {"amount": "10.00"},
            }
        ],
    }
    response = api.post("/plans", json={"plan": plan})
    assert response.status_code == 200, response.text
    fixed_charge = response.json()["plan"]["fixed_charges"][0]
    body = {
        "external_customer_id": "cus_1",
        "plan_code": "pro",
        "external_id": "sub_1",
        "subscription_at": "2024-01-17T00:00:00Z",
    }
    assert api.post("/subscriptions", json={"subscription": body}).status_code == 200
    bill_due(app.state.sessionmaker, datetime(2024, 2, 1, tzinfo=UTC))

    [invoice] = api.get("/invoices").json()["invoices"]
    # Plan 1000 x 15 / 31 = 484; seats 3 x 15 / 31 = 1.451613 units x 10.00 = 14.51613 -> 1452.
    assert invoice["fees_amount_cents"] == 484 + 1452
    fees = api.get(f"/invoices/{invoice['lago_id']}").json()["invoice"]["fees"]
    [fee] = [fee for fee in fees if fee["item"]["type"] == "fixed_charge"]
    subscription = api.get("/subscriptions/sub_1").json()["subscription"]
    assert fee == {
        "lago_id": fee["lago_id"],
        "lago_charge_id": None,
        "lago_charge_filter_id": None,
        "lago_fixed_charge_id": fixed_charge["lago_id"],
        "lago_invoice_id": invoice["lago_id"],
        "lago_true_up_fee_id": None,
        "lago_true_up_parent_fee_id": None,
        "lago_original_fee_id": None,
        "lago_subscription_id": subscription["lago_id"],
        "external_subscription_id": "sub_1",
        "lago_customer_id": subscription["lago_customer_id"],
        "external_customer_id": "cus_1",
        "item": {
            "type": "fixed_charge",
            "code": "seats",
            "name": "Seats",
            "description": "Per seat",
            "invoice_display_name": "Seat licence",  # no display name on the fixed charge: the add-on's
            "filters": None,
            "filter_invoice_display_name": None,
            "lago_item_id": seats["lago_id"],
            "item_type": "AddOn",
            "grouped_by": {},
        },
        "pay_in_advance": False,
        "invoiceable": True,
        "amount_cents": 1452,
        "amount_currency": "EUR",
        "precise_amount": 14.51613,
        "precise_total_amount": 14.51613,
        "taxes_amount_cents": 0,
        "taxes_precise_amount": 0.0,
        "taxes_rate": 0.0,
        "total_aggregated_units": "1.451613",
        "total_amount_cents": 1452,
        "total_amount_currency": "EUR",
        "units": "3.0",
        "description": None,
        # 14.51613 / 3 full units = 4.83871
        "precise_unit_amount": "4.83871",
        "precise_coupons_amount_cents": "0.0",
        "sub_total_excluding_taxes_amount_cents": 1452,
        "sub_total_excluding_taxes_precise_amount_cents": "1451.613",
        "events_count": 0,
        "payment_status": "pending",
        "created_at": fee["created_at"],
        "succeeded_at": None,
        "failed_at": None,
        "refunded_at": None,
        "amount_details": {},
        "self_billed": False,
        "pricing_unit_details": None,
        "presentation_breakdowns": [],
        "from_date": "2024-01-17T00:00:00Z",
        "to_date": "2024-01-31T23:59:59Z",
        "event_transaction_id": None,
        "applied_taxes": [],
    }
    InvoiceResponse.parse_obj(api.get(f"/invoices/{invoice['lago_id']}").json()["invoice"])
    # The fees API filters them by type.
    listed = api.get("/fees?fee_type=fixed_charge").json()["fees"]
    assert [item["lago_id"] for item in listed] == [fee["lago_id"]]
