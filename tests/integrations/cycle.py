"""A whole sync cycle through the API, shared by ``test_cycle_<tool>.py``: an accounting/CRM integration
pointed at its stand-in, its mappings, a customer synced, a plan with a subscription fee and a usage
charge, events, a coupon and a tax billed on termination, a credit note, a manual payment. Jobs run as
the framework's tests run them (after each commit; retries through the scan, ``run_due_later``)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from fastapi import FastAPI
from sqlalchemy import select

from billow.config import current_settings
from billow.integrations import jobs
from billow.kit.secrets import open_sealed
from billow.models.integrations import Integration
from tests.conftest import Api
from tests.fixtures.standin import StandIn
from tests.integrations.test_jobs import job, job_list, run_due_later, webhooks_of

__all__ = ["job", "job_list", "run_due_later", "webhooks_of"]

CUSTOMER = "cus_cycle"
#: The plan: 100.00 EUR a month in arrears, 0.50 EUR per API call; a 5.00 EUR coupon; VAT 20 %.
PLAN_CENTS = 10_000
CALL_PRICE = "0.5"
CALLS = 7
COUPON_CENTS = 500
VAT_RATE = "20"


def ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return dict(response.json())


def add_integration(
    api: Api, type_: str, code: str, url: str, settings: dict[str, Any], secrets: dict[str, str]
) -> dict[str, Any]:
    body = {
        "type": type_,
        "code": code,
        "name": code.title(),
        "settings": settings,
        "secrets": secrets,
        "api_base_url": url,
    }
    integration = ok(api.post("/integrations", {"integration": body}))["integration"]
    assert sorted(integration["secret_keys"]) == sorted(secrets)
    assert not any(value in json.dumps(integration) for value in secrets.values())
    return dict(integration)


def add_mapping(api: Api, code: str, **fields: Any) -> dict[str, Any]:
    return dict(
        ok(api.post(f"/integrations/{code}/mappings", {"integration_mapping": fields}))["integration_mapping"]
    )


class Catalog:
    """The billable objects of the cycle, created through the API (ids kept for the mappings)."""

    def __init__(self, api: Api) -> None:
        self.api = api
        ok(api.post("/taxes", {"tax": {"name": "VAT", "code": "vat", "rate": VAT_RATE}}))
        self.metric = ok(
            api.post(
                "/billable_metrics",
                {
                    "billable_metric": {
                        "name": "API calls",
                        "code": "api_calls",
                        "aggregation_type": "sum_agg",
                        "field_name": "calls",
                    }
                },
            )
        )["billable_metric"]
        self.plan = ok(
            api.post(
                "/plans",
                {
                    "plan": {
                        "name": "Pro",
                        "code": "pro",
                        "interval": "monthly",
                        "amount_cents": PLAN_CENTS,
                        "amount_currency": "EUR",
                        "pay_in_advance": False,
                        "charges": [
                            {
                                "billable_metric_id": self.metric["lago_id"],
                                "charge_model": "standard",
                                "properties": {"amount": CALL_PRICE},
                            }
                        ],
                    }
                },
            )
        )["plan"]
        self.add_on = ok(
            api.post(
                "/add_ons",
                {
                    "add_on": {
                        "name": "Setup",
                        "code": "setup",
                        "amount_cents": 2000,
                        "amount_currency": "EUR",
                    }
                },
            )
        )["add_on"]
        coupon = {
            "name": "Welcome",
            "code": "welcome",
            "coupon_type": "fixed_amount",
            "amount_cents": COUPON_CENTS,
            "amount_currency": "EUR",
            "frequency": "once",
            "expiration": "no_expiration",
        }
        ok(api.post("/coupons", {"coupon": coupon}))


def linked_customer(api: Api, type_: str, code: str) -> dict[str, Any]:
    body = {
        "external_id": CUSTOMER,
        "name": "Acme Corp",
        "email": "billing@acme.test",
        "currency": "EUR",
        "country": "FR",
        "tax_codes": ["vat"],
        "integration_customers": [
            {"integration_type": type_, "integration_code": code, "sync_with_provider": True}
        ],
    }
    return dict(ok(api.post("/customers", {"customer": body}))["customer"])


def external_customer_id(api: Api, code: str) -> str | None:
    shown = ok(api.get(f"/customers/{CUSTOMER}"))["customer"]
    for link in shown["integration_customers"]:
        if link["integration_code"] == code:
            return link["external_customer_id"]  # type: ignore[no-any-return]
    return None


def bill_on_termination(api: Api) -> dict[str, Any]:
    """Subscription ``sub_cycle`` on ``pro``, the coupon applied, ``CALLS`` API calls, then terminated:
    its termination invoice (the prorated subscription fee and the usage, less the coupon, plus VAT)."""
    ok(
        api.post(
            "/applied_coupons",
            {"applied_coupon": {"external_customer_id": CUSTOMER, "coupon_code": "welcome"}},
        )
    )
    body = {"external_customer_id": CUSTOMER, "plan_code": "pro", "external_id": "sub_cycle"}
    ok(api.post("/subscriptions", {"subscription": body}))
    event = {
        "transaction_id": f"tx_{uuid.uuid4()}",
        "external_subscription_id": "sub_cycle",
        "code": "api_calls",
        "properties": {"calls": CALLS},
    }
    ok(api.post("/events", {"event": event}))
    ok(api.delete("/subscriptions/sub_cycle"))
    invoices = ok(api.get("/invoices", params={"external_customer_id": CUSTOMER}))["invoices"]
    [invoice] = [i for i in invoices if i["invoice_type"] == "subscription"]
    assert invoice["status"] == "finalized"
    return dict(ok(api.get(f"/invoices/{invoice['lago_id']}"))["invoice"])


def one_off_invoice(api: Api) -> dict[str, Any]:
    """A one-off invoice of the ``setup`` add-on (20.00 EUR, VAT)."""
    body = {"external_customer_id": CUSTOMER, "currency": "EUR", "fees": [{"add_on_code": "setup"}]}
    return dict(ok(api.post("/invoices", {"invoice": body}))["invoice"])


def credit_note(api: Api, invoice: dict[str, Any], split: str = "credit") -> dict[str, Any]:
    """A credit note of half the invoice's largest fee, as the customer's credit (``split="credit"``)
    or deducted from what the invoice still owes (``"offset"``); nothing refunded."""
    fee = max(invoice["fees"], key=lambda f: f["amount_cents"])
    items = [{"fee_id": fee["lago_id"], "amount_cents": fee["amount_cents"] // 2}]
    estimate = ok(
        api.post(
            "/credit_notes/estimate", {"credit_note": {"invoice_id": invoice["lago_id"], "items": items}}
        )
    )["estimated_credit_note"]
    body = {
        "invoice_id": invoice["lago_id"],
        "reason": "other",
        "credit_amount_cents": 0,
        "refund_amount_cents": 0,
        f"{split}_amount_cents": estimate["max_creditable_amount_cents"],
        "items": items,
    }
    return dict(ok(api.post("/credit_notes", {"credit_note": body}))["credit_note"])


def pay(api: Api, invoice_id: str, amount_cents: int) -> dict[str, Any]:
    body = {"invoice_id": invoice_id, "amount_cents": amount_cents, "reference": "wire 42"}
    return dict(ok(api.post("/payments", {"payment": body}))["payment"])


def integration_row(app: FastAPI, api: Api, code: str) -> Integration:
    with app.state.sessionmaker() as session:
        row: Integration = session.scalars(
            select(Integration).where(
                Integration.organization_id == api.organization.id, Integration.code == code
            )
        ).one()
        session.expunge(row)
        return row


def stored_secrets(app: FastAPI, api: Api, code: str) -> tuple[str, dict[str, str]]:
    """The integration's sealed column and what it opens to."""
    row = integration_row(app, api, code)
    assert row.secrets_sealed is not None
    return row.secrets_sealed, dict(json.loads(open_sealed(row.secrets_sealed, current_settings())))


def resync(app: FastAPI, api: Api, code: str, operation: str, object_type: str, object_id: str) -> None:
    """A re-trigger: a new ``operation`` job on the object (as a hook queues it), run after its commit."""
    row = integration_row(app, api, code)
    with app.state.sessionmaker.begin() as session:
        integration = session.get(Integration, row.id)
        assert integration is not None
        jobs.enqueue(session, integration, operation, object_type, uuid.UUID(object_id))
    run_due_later(app, 0)


def subscription_sync_survives_outages(app: FastAPI, api: Api, standin: StandIn, code: str) -> None:
    """A subscription's CRM sync meets a 500 then a timeout: the job waits, is retried with backoff and
    succeeds on its third attempt, each attempt recorded."""
    body = {"external_customer_id": CUSTOMER, "plan_code": "pro", "external_id": "sub_1"}
    standin.fail_next(1, status=500)
    ok(api.post("/subscriptions", {"subscription": body}))
    [waiting] = job_list(api, code, operation="sync_subscription")
    assert (waiting["status"], waiting["last_error"]["http_status"]) == ("pending", 500)
    standin.fail_next(1, status=None, delay=1.0)  # the client gives up after 0.5 s
    run_due_later(app)
    detail = job(api, waiting["lago_id"])
    assert (detail["status"], detail["last_error"]["code"]) == ("pending", "timeout")
    run_due_later(app, 7200)
    detail = job(api, waiting["lago_id"])
    assert detail["status"] == "succeeded", detail
    assert [a["outcome"] for a in detail["attempts"]] == ["retrying", "retrying", "succeeded"]
    assert [a["http_status"] for a in detail["attempts"]] == [500, None, None]
