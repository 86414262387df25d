"""Rendering invoices in Lago's shape (``InvoiceOut``), shared by the routers that answer with invoices:
:mod:`billow.invoices.endpoints` and :mod:`billow.billing.endpoints` (refresh, finalize, retry). A page of
invoices costs a fixed number of queries whatever its length.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from billow.customers.repository import customer_repository
from billow.customers.schemas import customer_out
from billow.db import utcnow
from billow.invoices.repository import InvoiceFilters, invoice_repository
from billow.invoices.schemas import FeeOut, InvoiceEnvelope, InvoiceList, InvoiceOut, fee_out, invoice_out
from billow.kit.pagination import PageParams, paginate
from billow.models.documents import DOCUMENT_LINKS
from billow.models.invoices import Fee, Invoice
from billow.models.organizations import Organization
from billow.subscriptions.repository import subscription_repository
from billow.subscriptions.schemas import subscription_out
from billow.webhooks.payloads import renderer
from billow.worker.dispatch import run_hooks


def render_invoices(
    session: Session, organization: Organization, invoices: Sequence[Invoice]
) -> list[InvoiceOut]:
    ids = [invoice.id for invoice in invoices]
    fees = invoice_repository.fees_by_invoice(session, ids)
    links = invoice_repository.links_by_invoice(session, ids)
    taxes = invoice_repository.taxes_by_invoice(session, ids)
    all_fees = [fee for invoice_fees in fees.values() for fee in invoice_fees]
    context = invoice_repository.fee_context(session, all_fees)
    # Subscriptions billed without a persisted fee still appear in billing_periods.
    missing = {link.subscription_id for ls in links.values() for link in ls} - set(context.subscriptions)
    if missing:
        context.subscriptions.update(
            invoice_repository.subscriptions_by_id(session, organization.id, missing)
        )
    customers = invoice_repository.customers_by_id(
        session, organization.id, {i.customer_id for i in invoices}
    )
    context.customers.update(customers)
    plans = subscription_repository.plans_by_id(session, [s.plan_id for s in context.subscriptions.values()])
    context.plans.update(plans)
    customer_ids = list(customers)
    metadata = customer_repository.metadata_by_customer(session, customer_ids)
    customer_taxes = customer_repository.taxes_by_customer(session, customer_ids)
    invoice_metadata = invoice_repository.metadata_by_invoice(session, ids)
    credits = invoice_repository.credits_by_invoice(session, ids)
    offsets = invoice_repository.credit_note_offsets(session, ids)
    now = utcnow()
    documents = document_links(session, organization.id, ids)
    out = []
    for invoice in invoices:
        customer = customers[invoice.customer_id]
        timezone = customer.applicable_timezone(organization)
        invoice_links = links[invoice.id]
        subscriptions = [context.subscriptions[link.subscription_id] for link in invoice_links]
        out.append(
            invoice_out(
                invoice,
                customer=customer_out(
                    customer, organization, metadata[customer.id], customer_taxes[customer.id]
                ),
                subscriptions=[
                    subscription_out(s, customer, plans[s.plan_id], timezone=timezone, now=now)
                    for s in subscriptions
                ],
                links=invoice_links,
                fees=fees[invoice.id],
                taxes=taxes[invoice.id],
                context=context,
                purchase_order_number=next(
                    (s.purchase_order_number for s in subscriptions if s.purchase_order_number), None
                ),
                metadata=invoice_metadata[invoice.id],
                credits=credits[invoice.id],
                offset_cents=offsets.get(invoice.id, 0),
            )
        )
        found = documents.get(invoice.id)
        if found:
            out[-1].file_url, out[-1].xml_url = found.get("pdf"), found.get("xml")
    return out


def document_links(
    session: Session, organization_id: uuid.UUID, object_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, str]]:
    """The links of the objects' stored documents (``{"pdf": url, "xml": url}``), answered by the documents
    domain (above this one) through the :data:`DOCUMENT_LINKS` hook."""
    links: dict[uuid.UUID, dict[str, str]] = {}
    if object_ids:
        run_hooks(
            session, DOCUMENT_LINKS, organization_id=organization_id, object_ids=list(object_ids), links=links
        )
    return links


def invoice_list(
    session: Session, organization: Organization, filters: InvoiceFilters, pages: PageParams
) -> InvoiceList:
    invoices, meta = paginate(session, invoice_repository.list_stmt(organization.id, filters), pages)
    return InvoiceList(invoices=render_invoices(session, organization, invoices), meta=meta)


def invoice_envelope(session: Session, organization: Organization, invoice: Invoice) -> InvoiceEnvelope:
    [out] = render_invoices(session, organization, [invoice])
    return InvoiceEnvelope(invoice=out)


@renderer("invoice")
def invoice_payloads(
    session: Session, organization: Organization, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    """The ``invoice.*`` webhooks' object: the invoice as ``GET /invoices/{lago_id}`` answers it."""
    invoices = invoice_repository.by_ids(session, organization.id, ids)
    rendered = render_invoices(session, organization, invoices)
    return {invoice.id: out.model_dump(mode="json") for invoice, out in zip(invoices, rendered, strict=True)}


@renderer("payment_dispute_lost")
def dispute_lost_payloads(
    session: Session, organization: Organization, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    """``invoice.payment_dispute_lost``: the invoice, and the provider's error (Billow keeps none: null)."""
    rendered = invoice_payloads(session, organization, ids)
    return {invoice_id: {**payload, "provider_error": None} for invoice_id, payload in rendered.items()}


def render_fees(session: Session, fees: Sequence[Fee]) -> list[FeeOut]:
    context = invoice_repository.fee_context(session, fees)
    return [fee_out(fee, context) for fee in fees]


@renderer("fee")
def fee_payloads(
    session: Session, organization: Organization, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    """The ``fee.created`` webhook's object: the fee as ``GET /fees/{lago_id}`` answers it."""
    fees = list(
        session.scalars(select(Fee).where(Fee.organization_id == organization.id, Fee.id.in_(set(ids))))
    )
    return {
        fee.id: out.model_dump(mode="json") for fee, out in zip(fees, render_fees(session, fees), strict=True)
    }
