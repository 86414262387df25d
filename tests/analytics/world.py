"""Rows the analytics routes read, written straight to the app's database (invoices and their fees)."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from billow.models.customers import Customer
from billow.models.invoices import Fee, Invoice
from tests.conftest import Api
from tests.fixtures import factories


class World:
    """One organization's customers, plans and invoices, built in one transaction per call."""

    def __init__(self, api: Api):
        self.api = api
        self.organization = api.organization
        self.sessionmaker = api.client.app.state.sessionmaker  # type: ignore[attr-defined]
        self.customers: dict[str, uuid.UUID] = {}

    def session(self) -> Session:
        return self.sessionmaker()  # type: ignore[no-any-return]

    def customer(self, external_id: str) -> uuid.UUID:
        if external_id not in self.customers:
            with self.sessionmaker.begin() as session:
                found = session.scalar(
                    select(Customer.id).where(
                        Customer.organization_id == self.organization.id, Customer.external_id == external_id
                    )
                )
                row_id = found or factories.customer(session, self.organization, external_id).id
                self.customers[external_id] = row_id
        return self.customers[external_id]

    def invoice(
        self, issued: str, total: int, customer: str = "cus_1", currency: str = "EUR", **fields: Any
    ) -> str:
        customer_id = self.customer(customer)
        with self.sessionmaker.begin() as session:
            row = Invoice(
                organization_id=self.organization.id,
                customer_id=customer_id,
                number=f"INV-{uuid.uuid4().hex[:8]}",
                currency=currency,
                issuing_date=date.fromisoformat(issued),
                payment_due_date=date.fromisoformat(fields.pop("due", issued)),
                status=fields.pop("status", "finalized"),
                fees_amount_cents=total,
                total_amount_cents=total,
                **fields,
            )
            session.add(row)
            session.flush()
            return str(row.id)

    def fee(
        self, invoice_id: str, fee_type: str, amount: int, customer: str = "cus_1", **fields: Any
    ) -> None:
        customer_id = self.customer(customer)
        with self.sessionmaker.begin() as session:
            currency = session.get(Invoice, uuid.UUID(invoice_id)).currency  # type: ignore[union-attr]
            session.add(
                Fee(
                    organization_id=self.organization.id,
                    invoice_id=uuid.UUID(invoice_id),
                    customer_id=customer_id,
                    fee_type=fee_type,
                    amount_cents=amount,
                    precise_amount_cents=Decimal(amount),
                    amount_currency=currency,
                    **fields,
                )
            )

    def metric_charge(self, code: str) -> uuid.UUID:
        """A charge (on a throwaway plan) of a new billable metric ``code``."""
        with self.sessionmaker.begin() as session:
            metric = factories.metric(session, self.organization, "sum_agg", code=code)
            plan = factories.plan(session, self.organization)
            return factories.charge(session, self.organization, plan, metric).id

    def subscription(self, interval: str, external_id: str, customer: str = "cus_1") -> uuid.UUID:
        customer_id = self.customer(customer)
        with self.sessionmaker.begin() as session:
            plan = factories.plan(session, self.organization, interval=interval)
            customer_row = session.get(Customer, customer_id)
            assert customer_row is not None
            return factories.subscription(session, self.organization, customer_row, plan, external_id).id
