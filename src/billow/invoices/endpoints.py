from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session

from billow.auth import CurrentOrganization
from billow.customers.repository import customer_repository
from billow.customers.schemas import customer_out
from billow.db import DbSession, utcnow
from billow.errors import NotFound
from billow.invoices.repository import InvoiceFilters, invoice_repository
from billow.invoices.schemas import (
    FeeEnvelope,
    FeeList,
    FeeOut,
    FeeUpdateRequest,
    InvoiceEnvelope,
    InvoiceList,
    InvoiceOut,
    InvoiceUpdateRequest,
    InvoiceVoidInput,
    fee_out,
    invoice_out,
)
from billow.invoices.service import invoice_service
from billow.kit.pagination import PageParams, Pagination, paginate
from billow.kit.strict_json import StrictJSONRoute
from billow.models.invoices import Fee, Invoice
from billow.models.organizations import Organization
from billow.subscriptions.dependencies import request_time
from billow.subscriptions.repository import subscription_repository
from billow.subscriptions.schemas import subscription_out

router = APIRouter(tags=["invoices"], route_class=StrictJSONRoute)


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
    invoice_metadata = invoice_repository.metadata_by_invoice(session, ids)
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
                metadata=invoice_metadata[invoice.id],
            )
        )
    return out


def _list(
    session: Session, organization: Organization, filters: InvoiceFilters, pages: PageParams
) -> InvoiceList:
    invoices, meta = paginate(session, invoice_repository.list_stmt(organization.id, filters), pages)
    return InvoiceList(invoices=_render(session, organization, invoices), meta=meta)


_METADATA_PARAM = re.compile(r"^metadata\[(.+)\]$")


def _many(request: Request, name: str) -> list[str]:
    """A filter sent once, repeated, or as ``name[]`` (Lago accepts a value or an array)."""
    params = request.query_params
    return [v for v in (*params.getlist(name), *params.getlist(f"{name}[]")) if v]


def _filters(
    request: Request,
    external_customer_id: str | None = None,
    customer_external_id: str | None = None,
    invoice_type: str | None = None,
    issuing_date_from: str | None = None,
    issuing_date_to: str | None = None,
    currency: str | None = None,
    amount_from: str | None = None,
    amount_to: str | None = None,
    search_term: str | None = None,
    payment_overdue: str | None = None,
    payment_dispute_lost: str | None = None,
    partially_paid: str | None = None,
    self_billed: str | None = None,
) -> InvoiceFilters:
    """Lago's invoice filters (``InvoiceIndex``); see :meth:`InvoiceService.invoice_filters`."""
    metadata = [
        (match.group(1), value)
        for key, value in request.query_params.multi_items()
        if (match := _METADATA_PARAM.match(key))
    ]
    return invoice_service.invoice_filters(
        statuses=_many(request, "status") or _many(request, "statuses"),
        payment_statuses=_many(request, "payment_status") or _many(request, "payment_statuses"),
        booleans={
            "payment_overdue": payment_overdue,
            "payment_dispute_lost": payment_dispute_lost,
            "partially_paid": partially_paid,
            "self_billed": self_billed,
        },
        metadata=metadata,
        external_customer_id=external_customer_id or customer_external_id,
        invoice_type=invoice_type,
        issuing_date_from=issuing_date_from,
        issuing_date_to=issuing_date_to,
        currency=currency,
        amount_from=amount_from,
        amount_to=amount_to,
        search_term=search_term,
    )


ListFilters = Annotated[InvoiceFilters, Depends(_filters)]


@router.get("/invoices", response_model=InvoiceList)
def index(
    session: DbSession, organization: CurrentOrganization, pages: Pagination, filters: ListFilters
) -> InvoiceList:
    return _list(session, organization, filters, pages)


@router.get("/invoices/{lago_id}", response_model=InvoiceEnvelope)
def show(lago_id: str, session: DbSession, organization: CurrentOrganization) -> InvoiceEnvelope:
    return _one(session, organization, invoice_service.get(session, organization, lago_id))


def _one(session: Session, organization: Organization, invoice: Invoice) -> InvoiceEnvelope:
    [out] = _render(session, organization, [invoice])
    return InvoiceEnvelope(invoice=out)


@router.put("/invoices/{lago_id}", response_model=InvoiceEnvelope)
def update(
    lago_id: str, body: InvoiceUpdateRequest, session: DbSession, organization: CurrentOrganization
) -> InvoiceEnvelope:
    invoice = invoice_service.update(session, organization, lago_id, body.invoice)
    return _one(session, organization, invoice)


@router.delete("/invoices/{lago_id}", response_model=InvoiceEnvelope)
def destroy(lago_id: str, session: DbSession, organization: CurrentOrganization) -> InvoiceEnvelope:
    """Deletes a draft (Lago's ``mark_as_deleted``); the response shows it with status ``deleted``."""
    invoice = invoice_service.delete(session, organization, lago_id)
    return _one(session, organization, invoice)


@router.put("/invoices/{lago_id}/refresh", response_model=InvoiceEnvelope)
def refresh(lago_id: str, session: DbSession, organization: CurrentOrganization) -> InvoiceEnvelope:
    invoice = invoice_service.refresh(session, organization, lago_id)
    return _one(session, organization, invoice)


@router.put("/invoices/{lago_id}/finalize", response_model=InvoiceEnvelope)
def finalize(lago_id: str, session: DbSession, organization: CurrentOrganization) -> InvoiceEnvelope:
    invoice = invoice_service.finalize(session, organization, lago_id)
    return _one(session, organization, invoice)


@router.post("/invoices/{lago_id}/void", response_model=InvoiceEnvelope)
def void(
    lago_id: str,
    session: DbSession,
    organization: CurrentOrganization,
    body: InvoiceVoidInput | None = None,
) -> InvoiceEnvelope:
    invoice = invoice_service.void(session, organization, lago_id, body or InvoiceVoidInput())
    return _one(session, organization, invoice)


@router.post("/invoices/{lago_id}/retry", response_model=InvoiceEnvelope)
def retry(
    lago_id: str,
    request: Request,
    session: DbSession,
    organization: CurrentOrganization,
    now: Annotated[datetime, Depends(request_time)],
) -> InvoiceEnvelope:
    """Bill a failed invoice's period again now (Lago's retry of a failed invoice). The billing run's own
    transactions do it (:func:`billow.billing.run.bill_subscriptions`, with the subscription's other
    periods due): on success the invoice (same id) is the real one; on failure it is still ``failed``,
    with the new ``error_details``. The request's transaction only reads."""
    from billow.billing.run import bill_subscriptions

    invoice = invoice_service.failed(session, organization, lago_id)
    subscription_ids = [
        link.subscription_id
        for link in invoice_repository.links_by_invoice(session, [invoice.id])[invoice.id]
    ]
    session.commit()  # nothing written: end the read before the billing transactions
    bill_subscriptions(request.app.state.sessionmaker, subscription_ids, now)
    session.expire_all()
    retried = invoice_repository.get(session, organization.id, invoice.id)
    if retried is None:  # the period was billed by another invoice meanwhile
        raise NotFound("invoice")
    return _one(session, organization, retried)


@router.get("/customers/{external_id}/invoices", response_model=InvoiceList)
def customer_invoices(
    external_id: str,
    session: DbSession,
    organization: CurrentOrganization,
    pages: Pagination,
    filters: ListFilters,
) -> InvoiceList:
    """The same filters as ``GET /invoices``, on one customer's invoices."""
    customer = invoice_service.customer(session, organization, external_id)
    filters = dataclasses.replace(filters, external_customer_id=None, customer_id=customer.id)
    return _list(session, organization, filters, pages)


def _fees_out(session: Session, fees: Sequence[Fee]) -> list[FeeOut]:
    context = invoice_repository.fee_context(session, fees)
    return [fee_out(fee, context) for fee in fees]


@router.get("/fees", response_model=FeeList)
def fees_index(
    session: DbSession,
    organization: CurrentOrganization,
    pages: Pagination,
    fee_type: str | None = None,
    payment_status: str | None = None,
    external_subscription_id: str | None = None,
    external_customer_id: str | None = None,
    billable_metric_code: str | None = None,
    currency: str | None = None,
    event_transaction_id: str | None = None,
    created_at_from: str | None = None,
    created_at_to: str | None = None,
    succeeded_at_from: str | None = None,
    succeeded_at_to: str | None = None,
    failed_at_from: str | None = None,
    failed_at_to: str | None = None,
    refunded_at_from: str | None = None,
    refunded_at_to: str | None = None,
) -> FeeList:
    filters = invoice_service.fee_filters(
        fee_type=fee_type,
        payment_status=payment_status,
        external_subscription_id=external_subscription_id,
        external_customer_id=external_customer_id,
        billable_metric_code=billable_metric_code,
        currency=currency,
        event_transaction_id=event_transaction_id,
        created_at_from=created_at_from,
        created_at_to=created_at_to,
        succeeded_at_from=succeeded_at_from,
        succeeded_at_to=succeeded_at_to,
        failed_at_from=failed_at_from,
        failed_at_to=failed_at_to,
        refunded_at_from=refunded_at_from,
        refunded_at_to=refunded_at_to,
    )
    fees, meta = paginate(session, invoice_repository.fees_stmt(organization.id, filters), pages)
    return FeeList(fees=_fees_out(session, fees), meta=meta)


@router.put("/fees/{lago_id}", response_model=FeeEnvelope)
def fee_update(
    lago_id: str, body: FeeUpdateRequest, session: DbSession, organization: CurrentOrganization
) -> FeeEnvelope:
    fee = invoice_service.update_fee(session, organization, lago_id, body.fee)
    [out] = _fees_out(session, [fee])
    return FeeEnvelope(fee=out)


@router.delete("/fees/{lago_id}", response_model=FeeEnvelope)
def fee_destroy(lago_id: str, session: DbSession, organization: CurrentOrganization) -> FeeEnvelope:
    fee = invoice_service.delete_fee(session, organization, lago_id)
    [out] = _fees_out(session, [fee])
    return FeeEnvelope(fee=out)


@router.get("/fees/{lago_id}", response_model=FeeEnvelope)
def fee_show(lago_id: str, session: DbSession, organization: CurrentOrganization) -> FeeEnvelope:
    fee = invoice_service.get_fee(session, organization, lago_id)
    [out] = _fees_out(session, [fee])
    return FeeEnvelope(fee=out)
