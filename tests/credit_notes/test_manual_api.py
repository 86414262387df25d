"""Manual credit notes through the API: ``POST /credit_notes``, the estimate, update, void, metadata,
the credit note of an invoice void, and the invoice's credit-note amounts. Vectors computed by hand."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update

from billow.billing.run import bill_due
from billow.models.credit_notes import CreditNote, CreditNoteAppliedTax, CreditNoteItem
from billow.models.invoices import Invoice
from billow.models.organizations import Organization
from tests.conftest import Api
from tests.fixtures import factories as f
from tests.fixtures.factories import at

pytestmark = pytest.mark.usefixtures("bill_backdated_periods")


@pytest.fixture
def invoice(app: FastAPI, api: Api) -> dict[str, Any]:
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


def test_debug(api: Api, invoice: dict[str, Any]) -> None:
    print({k: v for k, v in invoice.items() if k not in ("customer", "subscriptions")})
    assert False
