"""Reading invoices and fees (they are written by the billing run, :mod:`billow.billing.run`)."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from billow.customers.models import Customer
from billow.errors import NotFound
from billow.invoices.models import Fee, Invoice
from billow.invoices.repository import invoice_repository
from billow.organizations.models import Organization


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


class InvoiceService:
    def get(self, session: Session, organization: Organization, lago_id: str) -> Invoice:
        invoice_id = _uuid(lago_id)
        invoice = invoice_repository.get(session, organization.id, invoice_id) if invoice_id else None
        if invoice is None:
            raise NotFound("invoice")
        return invoice

    def get_fee(self, session: Session, organization: Organization, lago_id: str) -> Fee:
        fee_id = _uuid(lago_id)
        fee = invoice_repository.get_fee(session, organization.id, fee_id) if fee_id else None
        if fee is None:
            raise NotFound("fee")
        return fee

    def customer(self, session: Session, organization: Organization, external_id: str) -> Customer:
        customer = invoice_repository.customer_by_external_id(session, organization.id, external_id)
        if customer is None:
            raise NotFound("customer")
        return customer


invoice_service = InvoiceService()
