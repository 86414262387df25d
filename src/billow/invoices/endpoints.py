from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from fastapi import APIRouter
from sqlalchemy.orm import Session

from billow.customers.repository import customer_repository
from billow.customers.schemas import customer_out
from billow.db import DbSession, utcnow
from billow.invoices.models import Fee, Invoice
from billow.invoices.repository import FeeFilters, InvoiceFilters, invoice_repository
from billow.invoices.schemas import (
    FeeEnvelope,
    FeeList,
    FeeOut,
    InvoiceEnvelope,
    InvoiceList,
    InvoiceOut,
    fee_out,
    invoice_out,
)
from billow.invoices.service import invoice_service
from billow.kit.pagination import PageParams, Pagination, paginate
from billow.organizations.dependencies import CurrentOrganization
from billow.organizations.models import Organization
from billow.subscriptions.repository import subscription_repository
from billow.subscriptions.schemas import subscription_out

router = APIRouter(tags=["invoices"])


def _render(session: Session, organization: Organization, invoices: Sequence[Invoice]) -> list[InvoiceOut]:
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
    now = utcnow()
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
            )
        )
    return out


def _list(
    session: Session, organization: Organization, filters: InvoiceFilters, pages: PageParams
) -> InvoiceList:
    invoices, meta = paginate(session, invoice_repository.list_stmt(organization.id, filters), pages)
    return InvoiceList(invoices=_render(session, organization, invoices), meta=meta)


@router.get("/invoices", response_model=InvoiceList)
def index(
    session: DbSession,
    organization: CurrentOrganization,
    pages: Pagination,
    external_customer_id: str | None = None,
    status: str | None = None,
    payment_status: str | None = None,
    invoice_type: str | None = None,
    issuing_date_from: date | None = None,
    issuing_date_to: date | None = None,
) -> InvoiceList:
    filters = InvoiceFilters(
        external_customer_id=external_customer_id,
        status=status,
        payment_status=payment_status,
        invoice_type=invoice_type,
        issuing_date_from=issuing_date_from,
        issuing_date_to=issuing_date_to,
    )
    return _list(session, organization, filters, pages)


@router.get("/invoices/{lago_id}", response_model=InvoiceEnvelope)
def show(lago_id: str, session: DbSession, organization: CurrentOrganization) -> InvoiceEnvelope:
    invoice = invoice_service.get(session, organization, lago_id)
    [out] = _render(session, organization, [invoice])
    return InvoiceEnvelope(invoice=out)


@router.get("/customers/{external_id}/invoices", response_model=InvoiceList)
def customer_invoices(
    external_id: str, session: DbSession, organization: CurrentOrganization, pages: Pagination
) -> InvoiceList:
    customer = invoice_service.customer(session, organization, external_id)
    return _list(session, organization, InvoiceFilters(customer_id=customer.id), pages)


def _fees_out(session: Session, fees: Sequence[Fee]) -> list[FeeOut]:
    context = invoice_repository.fee_context(session, fees)
    return [fee_out(fee, context) for fee in fees]


@router.get("/fees", response_model=FeeList)
def fees_index(
    session: DbSession,
    organization: CurrentOrganization,
    pages: Pagination,
    fee_type: str | None = None,
    external_subscription_id: str | None = None,
    external_customer_id: str | None = None,
) -> FeeList:
    filters = FeeFilters(
        fee_type=fee_type,
        external_subscription_id=external_subscription_id,
        external_customer_id=external_customer_id,
    )
    fees, meta = paginate(session, invoice_repository.fees_stmt(organization.id, filters), pages)
    return FeeList(fees=_fees_out(session, fees), meta=meta)


@router.get("/fees/{lago_id}", response_model=FeeEnvelope)
def fee_show(lago_id: str, session: DbSession, organization: CurrentOrganization) -> FeeEnvelope:
    fee = invoice_service.get_fee(session, organization, lago_id)
    [out] = _fees_out(session, [fee])
    return FeeEnvelope(fee=out)
