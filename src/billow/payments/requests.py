"""Payment requests (``POST /payment_requests``): several overdue invoices of one customer collected
together (Lago's ``PaymentRequests::CreateService``).

* ``external_customer_id``, ``email`` and ``lago_invoice_ids`` (not empty) are mandatory (422
  ``value_is_mandatory``); an unknown customer: 404 ``customer_not_found``; an id that is not one of the
  customer's finalized invoices: 404 ``invoice_not_found``;
* as Lago: every invoice must be overdue (``payment_overdue``; a paid invoice never is), else 405
  ``invoices_not_overdue``; all in one currency, else 405 ``invoices_have_different_currencies``;
* the request's amount is what its invoices still owe (total - paid - credit notes' offsets);
* announced in its transaction (``payment_request.created``) and, so that a payment provider collects
  it, :data:`~billow.providers.interface.PAYABLE_CREATED_HOOK` with a
  :class:`~billow.providers.interface.PayableData` (run in the transaction: a listener queues its
  provider call after the commit), and mailed to ``email`` with the invoices' numbers (:mod:`billow.mail`,
sent after the commit; an address that does not read: 422 ``invalid_email_format``).

Lago has no manual payment of a payment request: a payment recorded on each invoice (``POST /payments``)
settles the request once they are all paid (:func:`billow.payments.recording.settle_request_if_paid`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.orm import Session

from billow.customers.repository import customer_repository
from billow.customers.snapshots import customer_data
from billow.errors import Errors, NotAllowed, NotFound
from billow.kit.ids import parse_lago_id, parse_uuid
from billow.mail.addresses import is_email, split_addresses
from billow.mail.deliveries import record as record_mail
from billow.models.customers import Customer
from billow.models.invoices import Invoice
from billow.models.mail import DocumentKind as MailKind
from billow.models.organizations import Organization
from billow.models.payments import PayableType, PaymentRequest, PaymentRequestInvoice
from billow.payments.recording import invoice_due
from billow.payments.repository import RequestFilters, payment_repository
from billow.payments.schemas import PaymentRequestInput
from billow.providers.interface import PAYABLE_CREATED_HOOK, PayableData
from billow.webhooks.outbox import emit
from billow.worker.dispatch import run_hooks

REQUEST_PAYMENT_STATUSES = ("pending", "succeeded", "failed")


class PaymentRequestService:
    def create(
        self, session: Session, organization: Organization, data: PaymentRequestInput
    ) -> PaymentRequest:
        errors = Errors()
        if not data.external_customer_id:
            errors.add("external_customer_id", "value_is_mandatory")
        if not data.email:
            errors.add("email", "value_is_mandatory")
        if not data.lago_invoice_ids:
            errors.add("lago_invoice_ids", "value_is_mandatory")
        elif not split_addresses(data.email) or not all(is_email(a) for a in split_addresses(data.email)):
            errors.add("email", "invalid_email_format")
        errors.raise_if_any()
        assert data.external_customer_id and data.email and data.lago_invoice_ids
        customer = customer_repository.by_external_id(session, organization.id, data.external_customer_id)
        if customer is None:
            raise NotFound("customer")
        wanted: list[uuid.UUID] = []
        for raw in data.lago_invoice_ids:
            parsed = parse_uuid(raw)
            if parsed is None:
                raise NotFound("invoice")
            if parsed not in wanted:
                wanted.append(parsed)
        invoices = payment_repository.customer_invoices(session, organization.id, customer.id, wanted)
        if len(invoices) != len(wanted):
            raise NotFound("invoice")
        if any(not invoice.payment_overdue for invoice in invoices):
            raise NotAllowed(code="invoices_not_overdue")
        if len({invoice.currency for invoice in invoices}) > 1:
            raise NotAllowed(code="invoices_have_different_currencies")
        return self.open(session, organization, customer, invoices, data.email)

    def open(
        self,
        session: Session,
        organization: Organization,
        customer: Customer,
        invoices: Sequence[Invoice],
        email: str,
        *,
        dunning_campaign_id: uuid.UUID | None = None,
        bcc: Sequence[str] = (),
    ) -> PaymentRequest:
        """Write a payment request of ``invoices`` (the customer's, checked by the caller) and announce it:
        ``payment_request.created``, its e-mail to ``email`` (copied to ``bcc``; an empty ``email`` goes to
        the customer's addresses) and the provider's collection (:data:`PAYABLE_CREATED_HOOK`). The one path
        of ``POST /payment_requests`` and of the dunning campaigns (:mod:`billow.dunning`)."""
        request = PaymentRequest(
            organization_id=organization.id,
            customer_id=customer.id,
            email=email,
            amount_cents=sum(invoice_due(session, invoice) for invoice in invoices),
            amount_currency=invoices[0].currency,
            payment_status="pending",
            dunning_campaign_id=dunning_campaign_id,
        )
        session.add(request)
        session.flush()
        session.add_all(
            PaymentRequestInvoice(
                organization_id=organization.id, payment_request_id=request.id, invoice_id=invoice.id
            )
            for invoice in invoices
        )
        session.flush()
        emit(session, organization.id, "payment_request.created", "payment_request", request.id)
        recipients = {"bcc": list(bcc)} if bcc else None
        record_mail(session, organization.id, MailKind.PAYMENT_REQUEST, request.id, recipients=recipients)
        run_hooks(
            session,
            PAYABLE_CREATED_HOOK,
            organization_id=organization.id,
            customer_id=customer.id,
            payable=PayableData(
                type=PayableType.PAYMENT_REQUEST.value,
                id=str(request.id),
                description=f"Payment request of {request.created_at:%Y-%m-%d}",
                amount_cents=request.amount_cents,
                currency=request.amount_currency,
                customer=customer_data(customer),
                invoice_ids=tuple(str(invoice.id) for invoice in invoices),
            ),
        )
        return request

    def get(self, session: Session, organization: Organization, lago_id: str) -> PaymentRequest:
        request = payment_repository.get_request(
            session, organization.id, parse_lago_id(lago_id, "payment_request")
        )
        if request is None:
            raise NotFound("payment_request")
        return request

    def filters(
        self,
        *,
        external_customer_id: str | None,
        payment_status: str | None,
        currency: str | None = None,
        customer_id: uuid.UUID | None = None,
    ) -> RequestFilters:
        if payment_status and payment_status not in REQUEST_PAYMENT_STATUSES:
            errors = Errors()
            errors.add("payment_status", "value_is_invalid")
            errors.raise_if_any()
        return RequestFilters(
            external_customer_id=external_customer_id or None,
            customer_id=customer_id,
            payment_status=payment_status or None,
            currency=currency or None,
        )


payment_request_service = PaymentRequestService()
