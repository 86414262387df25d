"""The SQL of :mod:`billow.mail`: deliveries (written, claimed, finished, found by the scan) and the
documents they send. Every query filters on ``organization_id``."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from billow.models.credit_notes import CreditNote
from billow.models.customers import Customer
from billow.models.invoices import VISIBLE_STATUSES, Invoice
from billow.models.mail import DeliveryStatus, EmailDelivery
from billow.models.organizations import Organization
from billow.models.payments import Payment, PaymentReceipt, PaymentRequest, PaymentRequestInvoice

#: Statuses a sender may take (a failed delivery is retried until its attempts run out).
SENDABLE = (DeliveryStatus.PENDING, DeliveryStatus.FAILED)


class MailRepository:
    def get(
        self, session: Session, organization_id: uuid.UUID, delivery_id: uuid.UUID
    ) -> EmailDelivery | None:
        return session.scalar(
            select(EmailDelivery).where(
                EmailDelivery.organization_id == organization_id, EmailDelivery.id == delivery_id
            )
        )

    def claim(
        self,
        session: Session,
        organization_id: uuid.UUID,
        delivery_id: uuid.UUID,
        *,
        now: datetime,
        lease_until: datetime,
        max_attempts: int,
    ) -> bool:
        """Take the delivery for one attempt: one conditional UPDATE (counted attempt, ``next_attempt_at``
        moved to ``lease_until``). Of two senders, the second matches no row: on PostgreSQL it waits for
        the first's row lock, then re-reads the row and finds it leased; SQLite serializes writers."""
        result = session.execute(
            update(EmailDelivery)
            .where(
                EmailDelivery.organization_id == organization_id,
                EmailDelivery.id == delivery_id,
                EmailDelivery.status.in_(SENDABLE),
                EmailDelivery.attempts < max_attempts,
                or_(EmailDelivery.next_attempt_at.is_(None), EmailDelivery.next_attempt_at <= now),
            )
            .values(attempts=EmailDelivery.attempts + 1, next_attempt_at=lease_until, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        return getattr(result, "rowcount", 0) == 1

    def finish(
        self, session: Session, organization_id: uuid.UUID, delivery_id: uuid.UUID, **values: Any
    ) -> None:
        session.execute(
            update(EmailDelivery)
            .where(EmailDelivery.organization_id == organization_id, EmailDelivery.id == delivery_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )

    def due(
        self, session: Session, now: datetime, *, max_attempts: int, limit: int
    ) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """``(organization_id, delivery_id)`` of the deliveries a sender may take now, oldest first."""
        rows = session.execute(
            select(EmailDelivery.organization_id, EmailDelivery.id)
            .where(
                EmailDelivery.status.in_(SENDABLE),
                EmailDelivery.attempts < max_attempts,
                or_(EmailDelivery.next_attempt_at.is_(None), EmailDelivery.next_attempt_at <= now),
            )
            .order_by(EmailDelivery.created_at, EmailDelivery.id)
            .limit(limit)
        )
        return [(row[0], row[1]) for row in rows]

    def of_document(
        self, session: Session, organization_id: uuid.UUID, kind: str, document_id: uuid.UUID
    ) -> list[EmailDelivery]:
        return list(
            session.scalars(
                select(EmailDelivery)
                .where(
                    EmailDelivery.organization_id == organization_id,
                    EmailDelivery.document_kind == kind,
                    EmailDelivery.document_id == document_id,
                )
                .order_by(EmailDelivery.created_at)
            )
        )

    # ------------------------------------------------------------------------------------ documents

    def invoice(self, session: Session, organization_id: uuid.UUID, invoice_id: uuid.UUID) -> Invoice | None:
        """A visible invoice (drafts included: the caller checks the status)."""
        return session.scalar(
            select(Invoice).where(
                Invoice.organization_id == organization_id,
                Invoice.id == invoice_id,
                Invoice.status.in_(VISIBLE_STATUSES),
            )
        )

    def credit_note(
        self, session: Session, organization_id: uuid.UUID, note_id: uuid.UUID
    ) -> CreditNote | None:
        return session.scalar(
            select(CreditNote).where(CreditNote.organization_id == organization_id, CreditNote.id == note_id)
        )

    def invoice_number(
        self, session: Session, organization_id: uuid.UUID, invoice_id: uuid.UUID
    ) -> str | None:
        return session.scalar(
            select(Invoice.number).where(Invoice.organization_id == organization_id, Invoice.id == invoice_id)
        )

    def payment_request(
        self, session: Session, organization_id: uuid.UUID, request_id: uuid.UUID
    ) -> tuple[PaymentRequest, list[str]] | None:
        """A payment request and its invoices' numbers (the oldest first)."""
        request = session.scalar(
            select(PaymentRequest).where(
                PaymentRequest.organization_id == organization_id, PaymentRequest.id == request_id
            )
        )
        if request is None:
            return None
        numbers = session.scalars(
            select(Invoice.number)
            .join(PaymentRequestInvoice, PaymentRequestInvoice.invoice_id == Invoice.id)
            .where(
                PaymentRequestInvoice.organization_id == organization_id,
                PaymentRequestInvoice.payment_request_id == request.id,
            )
            .order_by(Invoice.issuing_date, Invoice.created_at, Invoice.id)
        )
        return request, list(numbers)

    def payment_receipt(
        self, session: Session, organization_id: uuid.UUID, receipt_id: uuid.UUID
    ) -> tuple[PaymentReceipt, Payment] | None:
        row = session.execute(
            select(PaymentReceipt, Payment)
            .join(Payment, Payment.id == PaymentReceipt.payment_id)
            .where(PaymentReceipt.organization_id == organization_id, PaymentReceipt.id == receipt_id)
        ).first()
        return None if row is None else (row[0], row[1])

    def paid_invoice_numbers(self, session: Session, payment: Payment) -> list[str]:
        """The numbers of the invoices a payment pays (its invoice, or its payment request's)."""
        if payment.payable_type == "invoice":
            number = self.invoice_number(session, payment.organization_id, payment.payable_id)
            return [number] if number else []
        found = self.payment_request(session, payment.organization_id, payment.payable_id)
        return found[1] if found else []

    def customer(
        self, session: Session, organization_id: uuid.UUID, customer_id: uuid.UUID
    ) -> Customer | None:
        return session.scalar(
            select(Customer).where(Customer.organization_id == organization_id, Customer.id == customer_id)
        )

    def organization(self, session: Session, organization_id: uuid.UUID) -> Organization | None:
        return session.get(Organization, organization_id)


mail_repository = MailRepository()
