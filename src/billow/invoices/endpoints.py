from __future__ import annotations

import dataclasses
import re
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from billow.auth import CurrentOrganization
from billow.db import DbSession
from billow.invoices.repository import InvoiceFilters, invoice_repository
from billow.invoices.schemas import (
    FeeEnvelope,
    FeeList,
    FeeUpdateRequest,
    InvoiceEnvelope,
    InvoiceList,
    InvoiceUpdateRequest,
    InvoiceVoidInput,
)
from billow.invoices.service import invoice_service
from billow.invoices.views import invoice_envelope, invoice_list, render_fees
from billow.kit.pagination import Pagination, paginate
from billow.kit.strict_json import StrictJSONRoute

router = APIRouter(tags=["invoices"], route_class=StrictJSONRoute)


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
    return invoice_list(session, organization, filters, pages)


@router.get("/invoices/{lago_id}", response_model=InvoiceEnvelope)
def show(lago_id: str, session: DbSession, organization: CurrentOrganization) -> InvoiceEnvelope:
    return invoice_envelope(session, organization, invoice_service.get(session, organization, lago_id))


@router.put("/invoices/{lago_id}", response_model=InvoiceEnvelope)
def update(
    lago_id: str, body: InvoiceUpdateRequest, session: DbSession, organization: CurrentOrganization
) -> InvoiceEnvelope:
    invoice = invoice_service.update(session, organization, lago_id, body.invoice)
    return invoice_envelope(session, organization, invoice)


@router.delete("/invoices/{lago_id}", response_model=InvoiceEnvelope)
def destroy(lago_id: str, session: DbSession, organization: CurrentOrganization) -> InvoiceEnvelope:
    """Deletes a draft (Lago's ``mark_as_deleted``); the response shows it with status ``deleted``."""
    invoice = invoice_service.delete(session, organization, lago_id)
    return invoice_envelope(session, organization, invoice)


@router.post("/invoices/{lago_id}/void", response_model=InvoiceEnvelope)
def void(
    lago_id: str,
    session: DbSession,
    organization: CurrentOrganization,
    body: InvoiceVoidInput | None = None,
) -> InvoiceEnvelope:
    invoice = invoice_service.void(session, organization, lago_id, body or InvoiceVoidInput())
    return invoice_envelope(session, organization, invoice)


@router.post("/invoices/{lago_id}/lose_dispute", response_model=InvoiceEnvelope)
@router.put("/invoices/{lago_id}/lose_dispute", response_model=InvoiceEnvelope, include_in_schema=False)
def lose_dispute(lago_id: str, session: DbSession, organization: CurrentOrganization) -> InvoiceEnvelope:
    """The payment's dispute is lost (Lago's route is POST; its Python client sends PUT: both work)."""
    invoice = invoice_service.lose_dispute(session, organization, lago_id)
    return invoice_envelope(session, organization, invoice)


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
    return invoice_list(session, organization, filters, pages)


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
    return FeeList(fees=render_fees(session, fees), meta=meta)


@router.put("/fees/{lago_id}", response_model=FeeEnvelope)
def fee_update(
    lago_id: str, body: FeeUpdateRequest, session: DbSession, organization: CurrentOrganization
) -> FeeEnvelope:
    fee = invoice_service.update_fee(session, organization, lago_id, body.fee)
    [out] = render_fees(session, [fee])
    return FeeEnvelope(fee=out)


@router.delete("/fees/{lago_id}", response_model=FeeEnvelope)
def fee_destroy(lago_id: str, session: DbSession, organization: CurrentOrganization) -> FeeEnvelope:
    fee = invoice_service.delete_fee(session, organization, lago_id)
    [out] = render_fees(session, [fee])
    return FeeEnvelope(fee=out)


@router.get("/fees/{lago_id}", response_model=FeeEnvelope)
def fee_show(lago_id: str, session: DbSession, organization: CurrentOrganization) -> FeeEnvelope:
    fee = invoice_service.get_fee(session, organization, lago_id)
    [out] = render_fees(session, [fee])
    return FeeEnvelope(fee=out)
