"""What a payment's outcome does to what it pays, in the caller's transaction.

* :func:`succeeded` — a payment became ``succeeded``: its amount is added to its invoice (or spread over
  its payment request's invoices, the oldest first: :func:`billow.payments.amounts.spread`) under the
  invoices' row locks; an invoice with nothing left due becomes ``succeeded`` through the one path of a
  status change (:meth:`billow.invoices.service.InvoiceService.set_payment_status`: fees, overdue flag,
  hook ``invoices.payment_status_changed`` that settles a wallet top-up, webhook
  ``invoice.payment_status_updated``); a payment request whose invoices are all paid becomes
  ``succeeded`` (``payment_request.payment_status_updated``); the payment's receipt is created
  (:mod:`billow.payments.receipts`) and ``payment.succeeded`` announced.
* :func:`failed` — a provider payment (or its creation) failed: the payable becomes ``failed`` unless it
  is already paid, with ``invoice.payment_failure`` / ``payment_request.payment_failure``.
* :func:`pending` — a new attempt is under way: a ``failed`` payable is ``pending`` again.

Locks: a payment request's row, then its invoices' rows (id order); an invoice's payment takes the rows
of the unpaid payment requests that include it, then the invoice's (:func:`lock_invoice`): the same order,
so a payment of a request and one of its invoices queue rather than deadlock.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from billow.db import utcnow
from billow.invoices.repository import invoice_repository
from billow.invoices.service import invoice_service
from billow.kit.locking import lock_row, lock_rows
from billow.models.customers import Customer
from billow.models.invoices import Invoice, PaymentStatus
from billow.models.payments import PayableType, Payment, PaymentRequest
from billow.payments.amounts import Overpayment, Owed, apply_payment, due_cents, spread
from billow.payments.receipts import receipt_service
from billow.payments.repository import payment_repository
from billow.webhooks.outbox import emit
from billow.worker.dispatch import run_hooks

log = logging.getLogger(__name__)

#: ``run_hooks(session, PAYMENT_RECORDED, payment=, invoice_ids=, invoice_amounts=)``: a payment just
#: succeeded (manual or through a provider) and paid ``invoice_ids``, ``invoice_amounts[id]`` cents each
#: (e.g. accounting tools record it: :mod:`billow.integrations`).
PAYMENT_RECORDED = "payments.recorded"


def offset_of(session: Session, invoice: Invoice) -> int:
    return invoice_repository.credit_note_offsets(session, [invoice.id]).get(invoice.id, 0)


def invoice_due(session: Session, invoice: Invoice) -> int:
    return due_cents(invoice.total_amount_cents, invoice.total_paid_amount_cents, offset_of(session, invoice))


def lock_invoice(session: Session, organization_id: uuid.UUID, invoice_id: uuid.UUID) -> Invoice:
    """Lock an invoice for a payment, after the unpaid payment requests that include it (the order a
    payment request's payment takes too: request, then invoices), and return it as it is under the lock."""
    requests = payment_repository.requests_of_invoice(session, organization_id, invoice_id)
    lock_rows(session, PaymentRequest, [request.id for request in requests])
    return lock_row(session, Invoice, invoice_id)


def credit_invoice(session: Session, invoice: Invoice, amount_cents: int) -> None:
    """Add ``amount_cents`` to the (locked) invoice's paid amount; raises :class:`Overpayment`."""
    paid = apply_payment(
        total_amount_cents=invoice.total_amount_cents,
        total_paid_amount_cents=invoice.total_paid_amount_cents,
        amount_cents=amount_cents,
        offset_cents=offset_of(session, invoice),
        payment_status=invoice.payment_status,
    )
    invoice.total_paid_amount_cents = paid.total_paid_amount_cents
    invoice.updated_at = utcnow()
    session.flush()
    if paid.payment_status != invoice.payment_status:
        invoice_service.set_payment_status(session, invoice, paid.payment_status)
    if paid.payment_status == PaymentStatus.SUCCEEDED:
        for request in payment_repository.requests_of_invoice(session, invoice.organization_id, invoice.id):
            settle_request_if_paid(session, request)


def settle_request_if_paid(session: Session, request: PaymentRequest) -> bool:
    """A payment request whose invoices are all paid becomes ``succeeded`` (under its row lock)."""
    request = lock_row(session, PaymentRequest, request.id)
    if request.payment_status == PaymentStatus.SUCCEEDED:
        return False
    invoices = payment_repository.request_invoices(session, request.organization_id, [request.id])[request.id]
    if any(invoice.payment_status != PaymentStatus.SUCCEEDED for invoice in invoices):
        return False
    set_request_status(session, request, PaymentStatus.SUCCEEDED)
    return True


def set_request_status(session: Session, request: PaymentRequest, payment_status: str) -> bool:
    if request.payment_status == payment_status:
        return False
    request.payment_status = payment_status
    request.updated_at = utcnow()
    session.flush()
    emit(
        session,
        request.organization_id,
        "payment_request.payment_status_updated",
        "payment_request",
        request.id,
    )
    return True


def succeeded(session: Session, payment: Payment, *, strict: bool) -> None:
    """Apply a payment that just became ``succeeded``. ``strict`` (a manual payment): an amount larger
    than what is due is refused (:class:`Overpayment`, nothing written); otherwise (a provider took the
    money already) what is due is paid and the excess logged."""
    if payment.payable_type == PayableType.INVOICE:
        invoice = lock_invoice(session, payment.organization_id, payment.payable_id)
        amount = payment.amount_cents
        if not strict:
            amount = min(amount, invoice_due(session, invoice))
            if amount < payment.amount_cents:
                log.warning(
                    "payment %s pays %s cents more than due", payment.id, payment.amount_cents - amount
                )
        if amount > 0:
            credit_invoice(session, invoice, amount)
        paid_invoice_ids = [invoice.id]
        applied = {invoice.id: amount}
    else:
        request = lock_row(session, PaymentRequest, payment.payable_id)
        invoices = payment_repository.request_invoices(session, request.organization_id, [request.id])[
            request.id
        ]
        lock_rows(session, Invoice, [invoice.id for invoice in invoices])
        for invoice in invoices:
            session.refresh(invoice)
        owed = [Owed(invoice.id, invoice_due(session, invoice)) for invoice in invoices]
        amount = payment.amount_cents
        if not strict:
            amount = min(amount, sum(item.due_cents for item in owed))
        by_id = {invoice.id: invoice for invoice in invoices}
        paid_invoice_ids = []
        applied = {}
        for invoice_id, share in spread(amount, owed):
            credit_invoice(session, by_id[invoice_id], share)
            paid_invoice_ids.append(invoice_id)
            applied[invoice_id] = share
        settle_request_if_paid(session, request)
    receipt_service.create(session, payment)
    emit(session, payment.organization_id, "payment.succeeded", "payment", payment.id)
    run_hooks(
        session, PAYMENT_RECORDED, payment=payment, invoice_ids=paid_invoice_ids, invoice_amounts=applied
    )


@dataclass(frozen=True)
class Failure:
    provider: str | None
    integration_code: str | None
    provider_customer_id: str | None
    error_code: str | None
    error_message: str | None


def failed(session: Session, payable_type: str, payable_id: uuid.UUID, failure: Failure) -> bool:
    """The payable failed to be collected (unless it is paid already). Returns whether it changed."""
    if payable_type == PayableType.INVOICE:
        invoice = lock_row(session, Invoice, payable_id)  # no payment request is written
        if invoice.payment_status == PaymentStatus.SUCCEEDED:
            return False
        changed = invoice_service.set_payment_status(session, invoice, PaymentStatus.FAILED)
        if not changed:  # failed already: a replayed failure announces nothing again
            return False
        customer = session.get(Customer, invoice.customer_id)
        emit(
            session,
            invoice.organization_id,
            "invoice.payment_failure",
            "payment_provider_invoice_payment_error",
            payload={
                "lago_invoice_id": str(invoice.id),
                **_failure_fields(customer, failure),
            },
        )
        return True
    request = lock_row(session, PaymentRequest, payable_id)
    if request.payment_status == PaymentStatus.SUCCEEDED:
        return False
    invoices = payment_repository.request_invoices(session, request.organization_id, [request.id])[request.id]
    lock_rows(session, Invoice, [invoice.id for invoice in invoices])
    for invoice in invoices:
        session.refresh(invoice)
        if invoice.payment_status != PaymentStatus.SUCCEEDED:
            invoice_service.set_payment_status(session, invoice, PaymentStatus.FAILED)
    changed = set_request_status(session, request, PaymentStatus.FAILED)
    if not changed:
        return False
    customer = session.get(Customer, request.customer_id)
    emit(
        session,
        request.organization_id,
        "payment_request.payment_failure",
        "payment_provider_payment_request_payment_error",
        payload={
            "lago_payment_request_id": str(request.id),
            "lago_invoice_ids": [str(invoice.id) for invoice in invoices],
            **_failure_fields(customer, failure),
        },
    )
    return True


def pending(session: Session, payable_type: str, payable_id: uuid.UUID) -> None:
    """A new attempt is under way: a ``failed`` payable (and a failed request's invoices) is ``pending``."""
    if payable_type == PayableType.INVOICE:
        invoice = lock_row(session, Invoice, payable_id)
        if invoice.payment_status == PaymentStatus.FAILED:
            invoice_service.set_payment_status(session, invoice, PaymentStatus.PENDING)
        return
    request = lock_row(session, PaymentRequest, payable_id)
    if request.payment_status != PaymentStatus.FAILED:
        return
    invoices = payment_repository.request_invoices(session, request.organization_id, [request.id])[request.id]
    lock_rows(session, Invoice, [invoice.id for invoice in invoices])
    for invoice in invoices:
        session.refresh(invoice)
        if invoice.payment_status == PaymentStatus.FAILED:
            invoice_service.set_payment_status(session, invoice, PaymentStatus.PENDING)
    set_request_status(session, request, PaymentStatus.PENDING)


def _failure_fields(customer: Customer | None, failure: Failure) -> dict[str, Any]:
    return {
        "lago_customer_id": str(customer.id) if customer else None,
        "external_customer_id": customer.external_id if customer else None,
        "provider_customer_id": failure.provider_customer_id,
        "payment_provider": failure.provider,
        "payment_provider_code": failure.integration_code,
        "provider_error": {"message": failure.error_message, "error_code": failure.error_code},
    }


__all__ = ["Failure", "Overpayment", "credit_invoice", "failed", "pending", "succeeded"]
