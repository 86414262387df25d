"""The invoice that the manual credit-note API tests credit (fixture ``invoice``) and their helpers."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import FastAPI
from sqlalchemy import func, select, update

from billow.billing.run import bill_due
from billow.models.credit_notes import CreditNote, CreditNoteAppliedTax, CreditNoteItem
from billow.models.invoices import Fee, Invoice
from billow.models.organizations import Organization
from tests.conftest import Api
from tests.fixtures import factories as f
from tests.fixtures.factories import at


def billed_invoice(app: FastAPI, api: Api) -> dict[str, Any]:
    """January: plan 100.00 (in arrears) + 40 units x 5.00 = 200.00; taxes vat 20 % and local 5.5 %
    (customer taxes, on both fees): 10000 + 20000 = 30000; taxes 30000 x 25.5 % = 7650; total 37650."""
    with app.state.sessionmaker.begin() as session:
        session.execute(
            update(Organization)
            .where(Organization.id == api.organization.id)
            .values(document_number_prefix="ACM")
        )
        org = session.get(Organization, api.organization.id)
        metric = f.metric(session, org, "sum_agg", code="api_calls", name="API calls")
        plan = f.plan(session, org, code="pro", name="Pro", amount_cents=10000)
        f.charge(session, org, plan, metric, "standard", {"amount": "5"})
        customer = f.customer(session, org, external_id="cus_1")
        f.link_customer_tax(session, customer, f.tax(session, org, "vat", "20"))
        f.link_customer_tax(session, customer, f.tax(session, org, "local", "5.5"))
        f.subscription(session, org, customer, plan, external_id="sub_1", started_at=at("2024-01-01"))
        f.event(session, org, "api_calls", "2024-01-20T00:00:00", {"value": 40})
    bill_due(app.state.sessionmaker, at("2024-02-01T12:00:00"))
    [body] = api.get("/invoices").json()["invoices"]
    return body


def fee_of(invoice: dict[str, Any], item_type: str) -> dict[str, Any]:
    return next(fee for fee in invoice["fees"] if fee["item"]["type"] == item_type)


def counts(app: FastAPI) -> tuple[int, int, int]:
    with app.state.sessionmaker() as session:
        return tuple(  # type: ignore[return-value]
            session.scalar(select(func.count()).select_from(model))
            for model in (CreditNote, CreditNoteItem, CreditNoteAppliedTax)
        )


def set_invoice(app: FastAPI, lago_id: str, **values: Any) -> None:
    with app.state.sessionmaker.begin() as session:
        session.execute(update(Invoice).where(Invoice.id == UUID(lago_id)).values(**values))


def set_fee(app: FastAPI, lago_id: str, **values: Any) -> None:
    with app.state.sessionmaker.begin() as session:
        session.execute(update(Fee).where(Fee.id == UUID(lago_id)).values(**values))


def body(invoice: dict[str, Any], **credit_note: Any) -> dict[str, Any]:
    return {"credit_note": {"invoice_id": invoice["lago_id"], **credit_note}}


def items(invoice: dict[str, Any], subscription: int, charge: int) -> list[dict[str, Any]]:
    return [
        {"fee_id": fee_of(invoice, "subscription")["lago_id"], "amount_cents": subscription},
        {"fee_id": fee_of(invoice, "charge")["lago_id"], "amount_cents": charge},
    ]
