from __future__ import annotations

from fastapi import APIRouter

from billow.auth import CurrentOrganization
from billow.db import DbSession
from billow.kit.pagination import Pagination, paginate
from billow.kit.strict_json import StrictJSONRoute
from billow.payments.repository import payment_repository
from billow.payments.requests import payment_request_service
from billow.payments.schemas import (
    PaymentEnvelope,
    PaymentList,
    PaymentOut,
    PaymentReceiptEnvelope,
    PaymentReceiptList,
    PaymentRequestBody,
    PaymentRequestEnvelope,
    PaymentRequestList,
    PaymentRequestRequest,
)
from billow.payments.service import parse_invoice_filter, payment_service
from billow.payments.views import render_payments, render_receipts, render_requests

router = APIRouter(tags=["payments"], route_class=StrictJSONRoute)


@router.post("/payments", response_model=PaymentEnvelope)
def create(
    body: PaymentRequestBody, session: DbSession, organization: CurrentOrganization
) -> PaymentEnvelope:
    payment = payment_service.create_manual(session, organization, body.payment)
    [out] = render_payments(session, organization, [payment])
    return PaymentEnvelope(payment=out)


@router.get("/payments", response_model=PaymentList)
def index(
    session: DbSession,
    organization: CurrentOrganization,
    pages: Pagination,
    invoice_id: str | None = None,
    external_customer_id: str | None = None,
) -> PaymentList:
    filters = payment_service.filters(invoice_id=invoice_id, external_customer_id=external_customer_id)
    payments, meta = paginate(session, payment_repository.list_stmt(organization.id, filters), pages)
    return PaymentList(payments=render_payments(session, organization, payments), meta=meta)


@router.get("/payments/{lago_id}", response_model=PaymentEnvelope)
def show(lago_id: str, session: DbSession, organization: CurrentOrganization) -> PaymentEnvelope:
    payment = payment_service.get(session, organization, lago_id)
    out: list[PaymentOut] = render_payments(session, organization, [payment])
    return PaymentEnvelope(payment=out[0])


@router.get("/customers/{external_id}/payments", response_model=PaymentList)
def customer_payments(
    external_id: str,
    session: DbSession,
    organization: CurrentOrganization,
    pages: Pagination,
    invoice_id: str | None = None,
) -> PaymentList:
    customer = payment_service.customer(session, organization, external_id)
    filters = payment_service.filters(
        invoice_id=invoice_id, external_customer_id=None, customer_id=customer.id
    )
    payments, meta = paginate(session, payment_repository.list_stmt(organization.id, filters), pages)
    return PaymentList(payments=render_payments(session, organization, payments), meta=meta)


# ----------------------------------------------------------------------------------------- receipts


@router.get("/payment_receipts", response_model=PaymentReceiptList, tags=["payment_receipts"])
def receipts(
    session: DbSession, organization: CurrentOrganization, pages: Pagination, invoice_id: str | None = None
) -> PaymentReceiptList:
    stmt = payment_repository.receipt_list_stmt(organization.id, parse_invoice_filter(invoice_id))
    found, meta = paginate(session, stmt, pages)
    return PaymentReceiptList(payment_receipts=render_receipts(session, organization, found), meta=meta)


@router.get("/payment_receipts/{lago_id}", response_model=PaymentReceiptEnvelope, tags=["payment_receipts"])
def receipt(lago_id: str, session: DbSession, organization: CurrentOrganization) -> PaymentReceiptEnvelope:
    found = payment_service.get_receipt(session, organization, lago_id)
    [out] = render_receipts(session, organization, [found])
    return PaymentReceiptEnvelope(payment_receipt=out)


# ----------------------------------------------------------------------------------------- requests


@router.post("/payment_requests", response_model=PaymentRequestEnvelope, tags=["payment_requests"])
def create_request(
    body: PaymentRequestRequest, session: DbSession, organization: CurrentOrganization
) -> PaymentRequestEnvelope:
    request = payment_request_service.create(session, organization, body.payment_request)
    [out] = render_requests(session, organization, [request])
    return PaymentRequestEnvelope(payment_request=out)


@router.get("/payment_requests", response_model=PaymentRequestList, tags=["payment_requests"])
def requests(
    session: DbSession,
    organization: CurrentOrganization,
    pages: Pagination,
    external_customer_id: str | None = None,
    payment_status: str | None = None,
    currency: str | None = None,
) -> PaymentRequestList:
    filters = payment_request_service.filters(
        external_customer_id=external_customer_id, payment_status=payment_status, currency=currency
    )
    found, meta = paginate(session, payment_repository.request_list_stmt(organization.id, filters), pages)
    return PaymentRequestList(payment_requests=render_requests(session, organization, found), meta=meta)


@router.get("/payment_requests/{lago_id}", response_model=PaymentRequestEnvelope, tags=["payment_requests"])
def request(lago_id: str, session: DbSession, organization: CurrentOrganization) -> PaymentRequestEnvelope:
    found = payment_request_service.get(session, organization, lago_id)
    [out] = render_requests(session, organization, [found])
    return PaymentRequestEnvelope(payment_request=out)


@router.get(
    "/customers/{external_id}/payment_requests", response_model=PaymentRequestList, tags=["payment_requests"]
)
def customer_requests(
    external_id: str,
    session: DbSession,
    organization: CurrentOrganization,
    pages: Pagination,
    payment_status: str | None = None,
) -> PaymentRequestList:
    customer = payment_service.customer(session, organization, external_id)
    filters = payment_request_service.filters(
        external_customer_id=None, payment_status=payment_status, customer_id=customer.id
    )
    found, meta = paginate(session, payment_repository.request_list_stmt(organization.id, filters), pages)
    return PaymentRequestList(payment_requests=render_requests(session, organization, found), meta=meta)
