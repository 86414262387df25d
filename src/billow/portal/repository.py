"""What the portal reads of one customer, always scoped by organization and customer."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from billow.models.customers import Customer
from billow.models.invoices import Invoice, InvoiceStatus
from billow.models.subscriptions import Subscription, SubscriptionStatus

#: The invoices a customer sees: finalized ones, and voided ones shown as voided (drafts, failed and
#: closed invoices are the company's business).
SHOWN_INVOICE_STATUSES = (InvoiceStatus.FINALIZED, InvoiceStatus.VOIDED)
#: The most recent invoices listed on the page.
INVOICES_SHOWN = 100


class PortalRepository:
    def customer(
        self, session: Session, organization_id: uuid.UUID, customer_id: uuid.UUID
    ) -> Customer | None:
        """The customer, deleted or not (the caller tells the two apart), only in ``organization_id``."""
        return session.scalars(
            select(Customer).where(Customer.organization_id == organization_id, Customer.id == customer_id)
        ).first()

    def active_subscriptions(
        self, session: Session, organization_id: uuid.UUID, customer_id: uuid.UUID
    ) -> list[Subscription]:
        return list(
            session.scalars(
                select(Subscription)
                .where(
                    Subscription.organization_id == organization_id,
                    Subscription.customer_id == customer_id,
                    Subscription.status == SubscriptionStatus.ACTIVE,
                )
                .order_by(Subscription.started_at, Subscription.created_at, Subscription.id)
            )
        )

    def invoices(self, session: Session, organization_id: uuid.UUID, customer_id: uuid.UUID) -> list[Invoice]:
        return list(
            session.scalars(
                select(Invoice)
                .where(
                    Invoice.organization_id == organization_id,
                    Invoice.customer_id == customer_id,
                    Invoice.status.in_(SHOWN_INVOICE_STATUSES),
                )
                .order_by(Invoice.issuing_date.desc(), Invoice.created_at.desc(), Invoice.id)
                .limit(INVOICES_SHOWN)
            )
        )

    def invoice(
        self, session: Session, organization_id: uuid.UUID, customer_id: uuid.UUID, invoice_id: uuid.UUID
    ) -> Invoice | None:
        return session.scalars(
            select(Invoice).where(
                Invoice.organization_id == organization_id,
                Invoice.customer_id == customer_id,
                Invoice.id == invoice_id,
                Invoice.status.in_(SHOWN_INVOICE_STATUSES),
            )
        ).first()


portal_repository = PortalRepository()
