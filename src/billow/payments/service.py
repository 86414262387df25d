"""Manual payments (``POST /payments``) and reading payments and receipts.

``POST /payments`` ``{payment: {invoice_id, amount_cents, reference, paid_at}}`` records money received
outside Billow on one finalized invoice:

* ``invoice_id``, ``amount_cents`` (> 0) and ``reference`` are mandatory (422 ``value_is_mandatory``;
  ``amount_cents`` ≤ 0: ``value_is_invalid``); ``paid_at`` (a date or an instant, default now) that does
  not read: 422 ``invalid_date``; an unknown invoice (or another organization's): 404
  ``invoice_not_found``; a draft, voided or failed invoice: 405 ``invalid_status``;
* more than what is due (total - paid - credit notes' offsets): 422 ``amount_cents: [invalid_amount]``;
* **idempotent by reference**: the same ``reference`` sent again for the same invoice with the same
  amount answers the payment recorded the first time and changes nothing; with another amount it is a
  422 ``reference: [value_already_exist]`` (a reference names one payment of an invoice);
* the payment is ``succeeded`` at once: the invoice's paid amount grows under its row lock, it becomes
  ``succeeded`` when nothing is left due, the payment's receipt is created and ``payment.succeeded`` is
  announced (:mod:`billow.payments.recording`). Lago records a manual payment's ``paid_at`` as its
  ``created_at``: so does Billow.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time

from sqlalchemy.orm import Session

from billow.customers.repository import customer_repository
from billow.db import utcnow
from billow.errors import Errors, NotAllowed, NotFound, ValidationFailed
from billow.kit.ids import parse_lago_id
from billow.kit.time import parse_instant
from billow.models.customers import Customer
from billow.models.invoices import Invoice, InvoiceStatus
from billow.models.organizations import Organization
from billow.models.payments import PayableType, Payment, PaymentReceipt, PaymentState, PaymentType
from billow.payments import recording
from billow.payments.amounts import Overpayment
from billow.payments.repository import PaymentFilters, payment_repository
from billow.payments.schemas import PaymentInput


def parse_paid_at(value: str) -> datetime | None:
    try:
        return parse_instant(value.strip())
    except (ValueError, OverflowError):
        pass
    try:
        return datetime.combine(date.fromisoformat(value.strip()), time.min, UTC)
    except ValueError:
        return None


class PaymentService:
    def create_manual(self, session: Session, organization: Organization, data: PaymentInput) -> Payment:
        errors = Errors()
        if not data.invoice_id:
            errors.add("invoice_id", "value_is_mandatory")
        if data.amount_cents is None:
            errors.add("amount_cents", "value_is_mandatory")
        elif data.amount_cents <= 0:
            errors.add("amount_cents", "value_is_invalid")
        if not data.reference:
            errors.add("reference", "value_is_mandatory")
        paid_at = None
        if data.paid_at is not None:
            paid_at = parse_paid_at(data.paid_at)
            if paid_at is None:
                errors.add("paid_at", "invalid_date")
        errors.raise_if_any()
        assert data.invoice_id is not None and data.amount_cents is not None and data.reference is not None
        invoice_id = parse_lago_id(data.invoice_id, "invoice")
        found = session.get(Invoice, invoice_id)
        if found is None or found.organization_id != organization.id:
            raise NotFound("invoice")
        invoice = recording.lock_invoice(session, organization.id, invoice_id)
        if invoice.status != InvoiceStatus.FINALIZED:
            raise NotAllowed(code="invalid_status")
        known = payment_repository.manual_by_reference(session, organization.id, invoice.id, data.reference)
        if known is not None:
            if known.amount_cents == data.amount_cents:
                return known  # the same payment sent again
            raise ValidationFailed.one("reference", "value_already_exist")
        now = utcnow()
        payment = Payment(
            organization_id=organization.id,
            payable_type=PayableType.INVOICE.value,
            payable_id=invoice.id,
            customer_id=invoice.customer_id,
            amount_cents=data.amount_cents,
            amount_currency=invoice.currency,
            status=PaymentState.SUCCEEDED.value,
            provider_status=PaymentState.SUCCEEDED.value,
            payment_type=PaymentType.MANUAL.value,
            reference=data.reference,
            paid_at=paid_at or now,
            created_at=paid_at or now,
            updated_at=now,
        )
        session.add(payment)
        session.flush()
        try:
            recording.succeeded(session, payment, strict=True)
        except Overpayment:
            raise ValidationFailed.one("amount_cents", "invalid_amount") from None
        return payment

    # ------------------------------------------------------------------------------------ reading

    def get(self, session: Session, organization: Organization, lago_id: str) -> Payment:
        payment = payment_repository.get(session, organization.id, parse_lago_id(lago_id, "payment"))
        if payment is None:
            raise NotFound("payment")
        return payment

    def get_receipt(self, session: Session, organization: Organization, lago_id: str) -> PaymentReceipt:
        receipt = payment_repository.get_receipt(
            session, organization.id, parse_lago_id(lago_id, "payment_receipt")
        )
        if receipt is None:
            raise NotFound("payment_receipt")
        return receipt

    def customer(self, session: Session, organization: Organization, external_id: str) -> Customer:
        customer = customer_repository.by_external_id(session, organization.id, external_id)
        if customer is None:
            raise NotFound("customer")
        return customer

    def filters(
        self,
        *,
        invoice_id: str | None,
        external_customer_id: str | None,
        customer_id: uuid.UUID | None = None,
    ) -> PaymentFilters:
        return PaymentFilters(
            invoice_id=parse_invoice_filter(invoice_id),
            external_customer_id=external_customer_id or None,
            customer_id=customer_id,
        )


def parse_invoice_filter(value: str | None) -> uuid.UUID | None:
    """An ``invoice_id`` filter: not a UUID matches nothing (the nil UUID)."""
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return uuid.UUID(int=0)


payment_service = PaymentService()
