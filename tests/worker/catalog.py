"""A backdated monthly subscription and the invoices it should get (hand-computed)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from billow.models.invoices import Invoice, InvoiceSubscription
from tests.fixtures import factories as f
from tests.fixtures.factories import at

#: Billing as of 2024-04-10 a subscription started 2024-01-15 on a 10.00/month calendar plan:
#: Jan 15-31 prorated 17/31 x 1000 = 548, then two full months.
AS_OF = at("2024-04-10T00:00:00")
EXPECTED = [("2024-02-01", 548), ("2024-03-01", 1000), ("2024-04-01", 1000)]


def backdated_subscription(session: Session, external_id: str = "sub_1"):
    org = f.organization(session, document_number_prefix="ACM")
    plan = f.plan(session, org, amount_cents=1000, interval="monthly")
    customer = f.customer(session, org, external_id=f"cus_{external_id}")
    subscription = f.subscription(
        session, org, customer, plan, external_id=external_id, started_at=at("2024-01-15")
    )
    session.commit()
    return subscription


def invoice_totals(factory: sessionmaker[Session]) -> list[tuple[str, int]]:
    with factory() as session:
        rows = session.scalars(select(Invoice).order_by(Invoice.issuing_date)).all()
        return [(invoice.issuing_date.isoformat(), invoice.fees_amount_cents) for invoice in rows]


def billed_periods(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        return session.scalar(select(func.count()).select_from(InvoiceSubscription)) or 0
