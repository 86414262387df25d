"""``/app/invoices``: the list (filters: status, payment status, customer, issuing dates, number) and an
invoice's page: its fees (units, amounts), taxes, coupons, credits, totals and payments; the actions call
the services of the API's routes: download (``POST /invoices/{id}/download``: documents generated on
demand), finalize and refresh a draft (:mod:`billow.billing.drafts`), void, and record a payment
(``POST /payments``, :meth:`billow.payments.service.PaymentService.create_manual`; partial payments
allowed, more than what is due refused with ``invalid_amount``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from billow.billing import drafts
from billow.config import current_settings
from billow.dashboard.pages import (
    FormInvalid,
    error_codes,
    form_input,
    not_found,
    organization_of,
    page_links,
    page_params,
    redirect,
)
from billow.db import DbSession
from billow.documents.service import document_service
from billow.errors import BillowError, NotFound, ValidationFailed
from billow.invoices.repository import InvoiceFilters, invoice_repository
from billow.invoices.schemas import InvoiceVoidInput
from billow.invoices.service import FILTERABLE_STATUSES, INVOICE_PAYMENT_STATUSES, invoice_service
from billow.invoices.views import render_invoices
from billow.kit.pagination import paginate
from billow.models.invoices import Invoice
from billow.models.organizations import Organization
from billow.payments.repository import PaymentFilters, payment_repository
from billow.payments.schemas import PaymentInput
from billow.payments.service import payment_service
from billow.payments.views import render_payments
from billow.web.amounts import to_minor_units
from billow.web.auth import Viewer, require
from billow.web.templating import render, units_text

router = APIRouter(prefix="/app/invoices")

View = Annotated[Viewer, Depends(require("invoices:view"))]
Update = Annotated[Viewer, Depends(require("invoices:update"))]
Finalize = Annotated[Viewer, Depends(require("invoices:finalize"))]
Void = Annotated[Viewer, Depends(require("invoices:void"))]
Pay = Annotated[Viewer, Depends(require("payments:create"))]

FILTERS = (
    "status",
    "payment_status",
    "external_customer_id",
    "issuing_date_from",
    "issuing_date_to",
    "number",
)


@router.get("")
def index(request: Request, session: DbSession, viewer: View) -> Response:
    organization = organization_of(session, viewer)
    values = {name: request.query_params.get(name, "").strip()[:255] for name in FILTERS}
    context: dict[str, Any] = {
        "filters": values,
        "statuses": [(s, s.capitalize()) for s in FILTERABLE_STATUSES],
        "payment_statuses": [(s, s.capitalize()) for s in INVOICE_PAYMENT_STATUSES],
        "errors": {},
    }
    try:
        filters: InvoiceFilters = invoice_service.invoice_filters(
            statuses=[values["status"]] if values["status"] else [],
            payment_statuses=[values["payment_status"]] if values["payment_status"] else [],
            booleans={},
            metadata=[],
            external_customer_id=values["external_customer_id"] or None,
            issuing_date_from=values["issuing_date_from"] or None,
            issuing_date_to=values["issuing_date_to"] or None,
            search_term=values["number"] or None,
        )
    except BillowError as error:
        session.rollback()
        empty: dict[str, Any] = {"invoices": [], "meta": None, "links": {}}
        return render(request, "invoices/index.html", {**context, **empty, "errors": error_codes(error)}, 422)
    invoices, meta = paginate(
        session, invoice_repository.list_stmt(organization.id, filters), page_params(request)
    )
    return render(
        request,
        "invoices/index.html",
        {
            **context,
            "invoices": render_invoices(session, organization, invoices),
            "meta": meta,
            "links": page_links(request, meta),
        },
    )


def _invoice(session: Session, organization: Organization, lago_id: str) -> Invoice | None:
    try:
        return invoice_service.get(session, organization, lago_id)
    except NotFound:
        return None


def detail(
    request: Request,
    session: Session,
    organization: Organization,
    invoice: Invoice,
    *,
    errors: dict[str, list[str]] | None = None,
    payment_values: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    [out] = render_invoices(session, organization, [invoice])
    payments = list(
        session.scalars(payment_repository.list_stmt(organization.id, PaymentFilters(invoice_id=invoice.id)))
    )
    context = {
        "invoice": out,
        "payments": render_payments(session, organization, payments),
        "generate_documents": current_settings().generate_documents,
        "errors": errors or {},
        "payment_values": payment_values or {},
        "units": units_text,
    }
    return render(request, "invoices/show.html", context, status_code=status_code)


@router.get("/{lago_id}")
def show(lago_id: str, request: Request, session: DbSession, viewer: View) -> Response:
    organization = organization_of(session, viewer)
    invoice = _invoice(session, organization, lago_id)
    if invoice is None:
        return not_found(request, "invoice")
    return detail(request, session, organization, invoice)


def _action(
    request: Request, session: Session, viewer: Viewer, lago_id: str, action: Any, done: str
) -> Response:
    """Run ``action(organization, invoice)``; a refusal shows the invoice again with its error (422)."""
    organization = organization_of(session, viewer)
    invoice = _invoice(session, organization, lago_id)
    if invoice is None:
        return not_found(request, "invoice")
    try:
        action(organization, invoice)
    except BillowError as error:
        session.rollback()
        invoice = _invoice(session, organization, lago_id)
        assert invoice is not None
        return detail(request, session, organization, invoice, errors=error_codes(error), status_code=422)
    return redirect(f"/app/invoices/{invoice.id}", done)


@router.post("/{lago_id}/finalize")
def finalize(lago_id: str, request: Request, session: DbSession, viewer: Finalize) -> Response:
    return _action(
        request,
        session,
        viewer,
        lago_id,
        lambda organization, invoice: drafts.finalize_invoice(session, organization, str(invoice.id)),
        "Invoice finalized.",
    )


@router.post("/{lago_id}/refresh")
def refresh(lago_id: str, request: Request, session: DbSession, viewer: Update) -> Response:
    return _action(
        request,
        session,
        viewer,
        lago_id,
        lambda organization, invoice: drafts.refresh_invoice(session, organization, str(invoice.id)),
        "Invoice refreshed.",
    )


@router.post("/{lago_id}/void")
def void(lago_id: str, request: Request, session: DbSession, viewer: Void) -> Response:
    return _action(
        request,
        session,
        viewer,
        lago_id,
        lambda organization, invoice: invoice_service.void(
            session, organization, str(invoice.id), InvoiceVoidInput()
        ),
        "Invoice voided.",
    )


@router.post("/{lago_id}/documents")
def generate_documents(lago_id: str, request: Request, session: DbSession, viewer: Update) -> Response:
    """Generate the PDF now (as ``POST /invoices/{id}/download``): it writes documents, so it takes
    ``invoices:update``."""
    return _action(
        request,
        session,
        viewer,
        lago_id,
        lambda organization, invoice: document_service.ensure_invoice(session, organization, invoice),
        "PDF generated.",
    )


@router.post("/{lago_id}/payments")
async def record_payment(lago_id: str, request: Request, session: DbSession, viewer: Pay) -> Response:
    organization = organization_of(session, viewer)
    invoice = _invoice(session, organization, lago_id)
    if invoice is None:
        return not_found(request, "invoice")
    form = await request.form()
    values = {name: str(form.get(name) or "").strip() for name in ("amount", "reference", "paid_at")}
    data: dict[str, Any] = {"invoice_id": str(invoice.id), "reference": values["reference"] or None}
    if values["paid_at"]:
        data["paid_at"] = values["paid_at"]
    errors: dict[str, list[str]] = {}
    if values["amount"]:
        try:
            data["amount_cents"] = to_minor_units(values["amount"], invoice.currency)
        except ValidationFailed as error:
            errors = error_codes(error)
    try:
        if errors:
            raise FormInvalid(errors)
        payment_service.create_manual(session, organization, form_input(PaymentInput, data))
    except FormInvalid as invalid:
        errors = invalid.errors
    except BillowError as error:
        errors = error_codes(error)
    if errors:
        session.rollback()
        invoice = _invoice(session, organization, lago_id)
        assert invoice is not None
        return detail(
            request, session, organization, invoice, errors=errors, payment_values=values, status_code=422
        )
    return redirect(f"/app/invoices/{invoice.id}", "Payment recorded.")
