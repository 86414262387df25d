"""All SQL of payments, payment requests and payment receipts (every query filters on the organization)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Select, bindparam, or_, select, text
from sqlalchemy.orm import Session

from billow.models.customers import Customer
from billow.models.invoices import Invoice, InvoiceSequence
from billow.models.payments import Payment, PaymentReceipt, PaymentRequest, PaymentRequestInvoice

_SEQUENCES = InvoiceSequence.__table__
#: The organization's receipt counter: a row of ``invoice_sequences`` (scope ``payment_receipts``),
#: incremented in the payment's transaction (a rollback gives the number back).
_NEXT_RECEIPT = text(
    "INSERT INTO invoice_sequences (organization_id, scope, last_value)"
    " VALUES (:organization_id, 'payment_receipts', 1)"
    " ON CONFLICT (organization_id, scope) DO UPDATE SET last_value = invoice_sequences.last_value + 1"
    " RETURNING last_value"
).bindparams(bindparam("organization_id", type_=_SEQUENCES.c.organization_id.type))


@dataclass(frozen=True)
class PaymentFilters:
    invoice_id: uuid.UUID | None = None
    external_customer_id: str | None = None
    customer_id: uuid.UUID | None = None


@dataclass(frozen=True)
class RequestFilters:
    external_customer_id: str | None = None
    customer_id: uuid.UUID | None = None
    payment_status: str | None = None
    currency: str | None = None


class PaymentRepository:
    # ----------------------------------------------------------------------------------- payments

    def get(self, session: Session, organization_id: uuid.UUID, payment_id: uuid.UUID) -> Payment | None:
        return session.scalar(
            select(Payment).where(Payment.organization_id == organization_id, Payment.id == payment_id)
        )

    def manual_by_reference(
        self, session: Session, organization_id: uuid.UUID, payable_id: uuid.UUID, reference: str
    ) -> Payment | None:
        return session.scalar(
            select(Payment).where(
                Payment.organization_id == organization_id,
                Payment.payable_id == payable_id,
                Payment.payment_type == "manual",
                Payment.reference == reference,
            )
        )

    def by_provider_id(
        self, session: Session, organization_id: uuid.UUID, provider: str, provider_payment_id: str
    ) -> Payment | None:
        return session.scalar(
            select(Payment).where(
                Payment.organization_id == organization_id,
                Payment.provider == provider,
                Payment.provider_payment_id == provider_payment_id,
            )
        )

    def list_stmt(self, organization_id: uuid.UUID, filters: PaymentFilters) -> Select[Payment]:
        stmt = select(Payment).where(Payment.organization_id == organization_id)
        if filters.customer_id is not None:
            stmt = stmt.where(Payment.customer_id == filters.customer_id)
        if filters.external_customer_id is not None:
            stmt = stmt.where(
                Payment.customer_id.in_(
                    select(Customer.id).where(
                        Customer.organization_id == organization_id,
                        Customer.external_id == filters.external_customer_id,
                    )
                )
            )
        if filters.invoice_id is not None:
            requests = select(PaymentRequestInvoice.payment_request_id).where(
                PaymentRequestInvoice.organization_id == organization_id,
                PaymentRequestInvoice.invoice_id == filters.invoice_id,
            )
            stmt = stmt.where(
                or_(
                    (Payment.payable_type == "invoice") & (Payment.payable_id == filters.invoice_id),
                    (Payment.payable_type == "payment_request") & Payment.payable_id.in_(requests),
                )
            )
        return stmt.order_by(Payment.created_at.desc(), Payment.id)

    # ----------------------------------------------------------------------------------- requests

    def get_request(
        self, session: Session, organization_id: uuid.UUID, request_id: uuid.UUID
    ) -> PaymentRequest | None:
        return session.scalar(
            select(PaymentRequest).where(
                PaymentRequest.organization_id == organization_id, PaymentRequest.id == request_id
            )
        )

    def request_list_stmt(
        self, organization_id: uuid.UUID, filters: RequestFilters
    ) -> Select[PaymentRequest]:
        stmt = select(PaymentRequest).where(PaymentRequest.organization_id == organization_id)
        if filters.customer_id is not None:
            stmt = stmt.where(PaymentRequest.customer_id == filters.customer_id)
        if filters.external_customer_id is not None:
            stmt = stmt.where(
                PaymentRequest.customer_id.in_(
                    select(Customer.id).where(
                        Customer.organization_id == organization_id,
                        Customer.external_id == filters.external_customer_id,
                    )
                )
            )
        if filters.payment_status is not None:
            stmt = stmt.where(PaymentRequest.payment_status == filters.payment_status)
        if filters.currency is not None:
            stmt = stmt.where(PaymentRequest.amount_currency == filters.currency)
        return stmt.order_by(PaymentRequest.created_at.desc(), PaymentRequest.id)

    def request_invoices(
        self, session: Session, organization_id: uuid.UUID, request_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, list[Invoice]]:
        """Each request's invoices, the oldest first (issuing date, then creation)."""
        found: dict[uuid.UUID, list[Invoice]] = defaultdict(list)
        if not request_ids:
            return found
        rows = session.execute(
            select(PaymentRequestInvoice.payment_request_id, Invoice)
            .join(Invoice, Invoice.id == PaymentRequestInvoice.invoice_id)
            .where(
                PaymentRequestInvoice.organization_id == organization_id,
                PaymentRequestInvoice.payment_request_id.in_(set(request_ids)),
            )
            .order_by(Invoice.issuing_date, Invoice.created_at, Invoice.id)
        )
        for request_id, invoice in rows:
            found[request_id].append(invoice)
        return found

    def requests_of_invoice(
        self, session: Session, organization_id: uuid.UUID, invoice_id: uuid.UUID
    ) -> list[PaymentRequest]:
        """The unpaid payment requests that include the invoice."""
        return list(
            session.scalars(
                select(PaymentRequest)
                .join(PaymentRequestInvoice, PaymentRequestInvoice.payment_request_id == PaymentRequest.id)
                .where(
                    PaymentRequest.organization_id == organization_id,
                    PaymentRequestInvoice.invoice_id == invoice_id,
                    PaymentRequest.payment_status != "succeeded",
                )
                .order_by(PaymentRequest.created_at, PaymentRequest.id)
            )
        )

    def customer_invoices(
        self, session: Session, organization_id: uuid.UUID, customer_id: uuid.UUID, ids: Sequence[uuid.UUID]
    ) -> list[Invoice]:
        """The customer's finalized invoices among ``ids``, the oldest first."""
        if not ids:
            return []
        return list(
            session.scalars(
                select(Invoice)
                .where(
                    Invoice.organization_id == organization_id,
                    Invoice.customer_id == customer_id,
                    Invoice.status == "finalized",
                    Invoice.id.in_(set(ids)),
                )
                .order_by(Invoice.issuing_date, Invoice.created_at, Invoice.id)
            )
        )

    # ----------------------------------------------------------------------------------- receipts

    def next_receipt_value(self, session: Session, organization_id: uuid.UUID) -> int:
        return int(session.execute(_NEXT_RECEIPT, {"organization_id": organization_id}).scalar_one())

    def receipt_of(
        self, session: Session, organization_id: uuid.UUID, payment_id: uuid.UUID
    ) -> PaymentReceipt | None:
        return session.scalar(
            select(PaymentReceipt).where(
                PaymentReceipt.organization_id == organization_id, PaymentReceipt.payment_id == payment_id
            )
        )

    def get_receipt(
        self, session: Session, organization_id: uuid.UUID, receipt_id: uuid.UUID
    ) -> PaymentReceipt | None:
        return session.scalar(
            select(PaymentReceipt).where(
                PaymentReceipt.organization_id == organization_id, PaymentReceipt.id == receipt_id
            )
        )

    def receipt_list_stmt(
        self, organization_id: uuid.UUID, invoice_id: uuid.UUID | None
    ) -> Select[PaymentReceipt]:
        stmt = select(PaymentReceipt).where(PaymentReceipt.organization_id == organization_id)
        if invoice_id is not None:
            payments = self.list_stmt(
                organization_id, PaymentFilters(invoice_id=invoice_id)
            ).with_only_columns(Payment.id)
            stmt = stmt.where(PaymentReceipt.payment_id.in_(payments.order_by(None)))
        return stmt.order_by(PaymentReceipt.created_at.desc(), PaymentReceipt.id)

    def payments_by_id(
        self, session: Session, organization_id: uuid.UUID, ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, Payment]:
        if not ids:
            return {}
        rows = session.scalars(
            select(Payment).where(Payment.organization_id == organization_id, Payment.id.in_(set(ids)))
        )
        return {row.id: row for row in rows}

    def customers_by_id(
        self, session: Session, organization_id: uuid.UUID, ids: set[uuid.UUID]
    ) -> dict[uuid.UUID, Customer]:
        if not ids:
            return {}
        rows = session.scalars(
            select(Customer).where(Customer.organization_id == organization_id, Customer.id.in_(ids))
        )
        return {row.id: row for row in rows}

    def invoices_by_id(
        self, session: Session, organization_id: uuid.UUID, ids: set[uuid.UUID]
    ) -> dict[uuid.UUID, Invoice]:
        if not ids:
            return {}
        rows = session.scalars(
            select(Invoice).where(Invoice.organization_id == organization_id, Invoice.id.in_(ids))
        )
        return {row.id: row for row in rows}


payment_repository = PaymentRepository()
