"""Helpers of the payments tests: finalized one-off invoices built through the API."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import update

from billow.models.invoices import Invoice
from tests.billing.test_one_off import create_add_on, create_customer, created
from tests.conftest import Api


def invoice(
    api: Api, amount_cents: int = 10000, customer: str = "cus_1", code: str = "setup", **fields: Any
) -> dict:
    """A finalized one-off invoice of ``amount_cents`` (no taxes) for ``customer`` (created if needed)."""
    if api.get(f"/customers/{customer}").status_code == 404:
        create_customer(api, customer)
    if api.get(f"/add_ons/{code}").status_code == 404:
        create_add_on(api, code, amount_cents)
    found = created(
        api, [{"add_on_code": code, "unit_amount_cents": amount_cents}], customer=customer, **fields
    )
    assert (found["status"], found["total_amount_cents"]) == ("finalized", amount_cents), found
    return found


def pay(api: Api, invoice_id: str, amount_cents: int, reference: str = "ref1", **fields: Any) -> Any:
    body = {"invoice_id": invoice_id, "amount_cents": amount_cents, "reference": reference, **fields}
    return api.post("/payments", json={"payment": body})


def paid(api: Api, invoice_id: str, amount_cents: int, reference: str = "ref1", **fields: Any) -> dict:
    response = pay(api, invoice_id, amount_cents, reference, **fields)
    assert response.status_code == 200, response.text
    return response.json()["payment"]


def get_invoice(api: Api, invoice_id: str) -> dict:
    response = api.get(f"/invoices/{invoice_id}")
    assert response.status_code == 200, response.text
    return response.json()["invoice"]


def make_overdue(api: Api, *invoice_ids: str) -> None:
    sessionmaker = api.client.app.state.sessionmaker  # type: ignore[attr-defined]
    with sessionmaker() as session, session.begin():
        session.execute(
            update(Invoice)
            .where(Invoice.id.in_([uuid.UUID(i) for i in invoice_ids]))
            .values(payment_overdue=True)
        )


def set_currency(api: Api, invoice_id: str, currency: str) -> None:
    """A customer keeps one currency through the API: an invoice in another one is made by hand."""
    sessionmaker = api.client.app.state.sessionmaker  # type: ignore[attr-defined]
    with sessionmaker() as session, session.begin():
        session.execute(update(Invoice).where(Invoice.id == uuid.UUID(invoice_id)).values(currency=currency))
