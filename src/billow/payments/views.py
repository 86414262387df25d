"""Rendering payments, payment receipts and payment requests in Lago's shape: the API's answers and the
webhooks' objects (``payment.*``, ``payment_receipt.*``, ``payment_request.*``:
:mod:`billow.webhooks.payloads`). A page costs a fixed number of queries whatever its length."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from billow.customers.repository import customer_repository
from billow.customers.schemas import CustomerOut, customer_out
from billow.documents.i18n import document_locale
from billow.documents.pdf import PaymentReceiptFacts, render_payment_receipt_pdf
from billow.invoices.schemas import InvoiceHeadOut
from billow.invoices.views import document_links, render_invoices
from billow.models.customers import Customer
from billow.models.invoices import Invoice
from billow.models.organizations import Organization
from billow.models.payments import PayableType, Payment, PaymentReceipt, PaymentRequest
from billow.payments.repository import payment_repository
from billow.payments.schemas import PaymentOut, PaymentReceiptOut, PaymentRequestOut
from billow.webhooks.payloads import renderer

PAYABLE_TYPES = {PayableType.INVOICE.value: "Invoice", PayableType.PAYMENT_REQUEST.value: "PaymentRequest"}


def next_action(payment: Payment) -> dict[str, Any]:
    if not payment.next_action_url:
        return {}
    return {"type": "redirect_to_url", "redirect_to_url": {"url": payment.next_action_url}}


def render_payments(
    session: Session, organization: Organization, payments: Sequence[Payment]
) -> list[PaymentOut]:
    customers = payment_repository.customers_by_id(
        session, organization.id, {p.customer_id for p in payments}
    )
    request_ids = [p.payable_id for p in payments if p.payable_type == PayableType.PAYMENT_REQUEST]
    by_request = payment_repository.request_invoices(session, organization.id, request_ids)
    invoice_ids = {p.payable_id for p in payments if p.payable_type == PayableType.INVOICE}
    invoices = payment_repository.invoices_by_id(session, organization.id, invoice_ids)
    out = []
    for payment in payments:
        if payment.payable_type == PayableType.INVOICE:
            paid: list[Invoice] = [invoices[payment.payable_id]] if payment.payable_id in invoices else []
        else:
            paid = by_request.get(payment.payable_id, [])
        customer = customers.get(payment.customer_id)
        out.append(
            PaymentOut(
                lago_id=payment.id,
                lago_customer_id=payment.customer_id,
                external_customer_id=customer.external_id if customer else "",
                invoice_ids=[invoice.id for invoice in paid],
                invoice_numbers=[invoice.number for invoice in paid],
                lago_payable_id=payment.payable_id,
                payable_type=PAYABLE_TYPES.get(payment.payable_type, payment.payable_type),
                amount_cents=payment.amount_cents,
                amount_currency=payment.amount_currency,
                status=payment.provider_status or payment.status,
                payment_status=payment.status,
                type=payment.payment_type,
                # Lago's document and lago-python-client require a string: a provider payment has none.
                reference=payment.reference or "",
                payment_provider_code=payment.integration_code,
                payment_provider_type=payment.provider,
                external_payment_id=payment.provider_payment_id,
                provider_payment_id=payment.provider_payment_id,
                provider_customer_id=payment.provider_customer_id,
                next_action=next_action(payment),
                created_at=payment.created_at,
            )
        )
    return out


def render_receipts(
    session: Session, organization: Organization, receipts: Sequence[PaymentReceipt]
) -> list[PaymentReceiptOut]:
    payments = payment_repository.payments_by_id(session, organization.id, [r.payment_id for r in receipts])
    ordered = [payments[r.payment_id] for r in receipts]
    rendered = dict(
        zip([p.id for p in ordered], render_payments(session, organization, ordered), strict=True)
    )
    links = document_links(session, organization.id, [r.id for r in receipts])
    return [
        PaymentReceiptOut(
            lago_id=receipt.id,
            number=receipt.number,
            payment=rendered[receipt.payment_id],
            file_url=links.get(receipt.id, {}).get("pdf"),
            created_at=receipt.created_at,
        )
        for receipt in receipts
    ]


def render_requests(
    session: Session, organization: Organization, requests: Sequence[PaymentRequest]
) -> list[PaymentRequestOut]:
    by_request = payment_repository.request_invoices(session, organization.id, [r.id for r in requests])
    every_invoice = {invoice.id: invoice for invoices in by_request.values() for invoice in invoices}
    rendered_invoices = dict(
        zip(
            every_invoice,
            render_invoices(session, organization, list(every_invoice.values())),
            strict=True,
        )
    )
    customers = customers_out(session, organization, {r.customer_id for r in requests})
    heads = set(InvoiceHeadOut.model_fields)
    return [
        PaymentRequestOut(
            lago_id=request.id,
            email=request.email,
            amount_cents=request.amount_cents,
            amount_currency=request.amount_currency,
            payment_status=request.payment_status,
            created_at=request.created_at,
            customer=customers[request.customer_id],
            invoices=[
                InvoiceHeadOut(**{name: getattr(rendered_invoices[i.id], name) for name in heads})
                for i in by_request.get(request.id, [])
            ],
        )
        for request in requests
    ]


def customers_out(
    session: Session, organization: Organization, ids: set[uuid.UUID]
) -> dict[uuid.UUID, CustomerOut]:
    customers = payment_repository.customers_by_id(session, organization.id, ids)
    metadata = customer_repository.metadata_by_customer(session, list(customers))
    taxes = customer_repository.taxes_by_customer(session, list(customers))
    return {
        cid: customer_out(customer, organization, metadata[cid], taxes[cid])
        for cid, customer in customers.items()
    }


def render_receipt_pdf(session: Session, organization: Organization, receipt: PaymentReceipt) -> bytes:
    [out] = render_receipts(session, organization, [receipt])
    customer_row = session.get(Customer, out.payment.lago_customer_id)
    customer = customers_out(session, organization, {out.payment.lago_customer_id})[
        out.payment.lago_customer_id
    ]
    locale = document_locale(
        customer_row.document_locale if customer_row else None, organization.document_locale
    )
    payment = out.payment
    facts = PaymentReceiptFacts(
        number=out.number,
        created_at=out.created_at,
        paid_at=payment.created_at,
        reference=payment.reference,
        invoice_numbers=payment.invoice_numbers,
        amount_cents=payment.amount_cents,
        currency=payment.amount_currency,
    )
    return render_payment_receipt_pdf(facts, customer, organization, locale)


@renderer("payment")
def payment_payloads(
    session: Session, organization: Organization, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    payments = list(payment_repository.payments_by_id(session, organization.id, ids).values())
    rendered = render_payments(session, organization, payments)
    return {p.id: out.model_dump(mode="json") for p, out in zip(payments, rendered, strict=True)}


@renderer("payment_receipt")
def receipt_payloads(
    session: Session, organization: Organization, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    receipts = list(
        session.scalars(
            select(PaymentReceipt).where(
                PaymentReceipt.organization_id == organization.id, PaymentReceipt.id.in_(set(ids))
            )
        )
    )
    rendered = render_receipts(session, organization, receipts)
    return {r.id: out.model_dump(mode="json") for r, out in zip(receipts, rendered, strict=True)}


@renderer("payment_request")
def request_payloads(
    session: Session, organization: Organization, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    requests = list(
        session.scalars(
            select(PaymentRequest).where(
                PaymentRequest.organization_id == organization.id, PaymentRequest.id.in_(set(ids))
            )
        )
    )
    rendered = render_requests(session, organization, requests)
    return {r.id: out.model_dump(mode="json") for r, out in zip(requests, rendered, strict=True)}
