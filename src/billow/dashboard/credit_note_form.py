"""``/app/invoices/{id}/credit_notes/new``: issuing a credit note on a finalized invoice from its page.

The form lists the invoice's fees with an amount per fee (typed in the currency's unit,
:func:`billow.web.amounts.to_minor_units`), a reason, a description and the split of the note between
credit (the customer's balance) and refund (a paid invoice). It builds the same
:class:`~billow.credit_notes.schemas.CreditNoteCreateInput` as ``POST /credit_notes`` and calls the same
service (:data:`billow.credit_notes.manual.manual_credit_notes`); "Estimate" (htmx) shows what
``POST /credit_notes/estimate`` computes. A refusal shows the form again with Lago's codes (422, nothing
written); a created note redirects to its page."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from billow.credit_notes.manual import manual_credit_notes
from billow.credit_notes.schemas import CreditNoteCreateInput, CreditNoteItemInput
from billow.dashboard.pages import FormInvalid, error_codes, form_input, not_found, organization_of, redirect
from billow.db import DbSession
from billow.errors import BillowError, NotFound, ValidationFailed
from billow.invoices.service import invoice_service
from billow.invoices.views import render_invoices
from billow.kit.money import round_minor_units
from billow.models.credit_notes import CreditNoteReason
from billow.models.invoices import Invoice
from billow.models.organizations import Organization
from billow.web.amounts import to_minor_units
from billow.web.auth import Viewer, require
from billow.web.templating import render

router = APIRouter(prefix="/app/invoices")

Create = Annotated[Viewer, Depends(require("credit_notes:create"))]

#: Lago's reasons, in Lago's order, with their labels.
REASONS = [(reason.value, reason.value.replace("_", " ").capitalize()) for reason in CreditNoteReason]
TEXT_FIELDS = ("reason", "description", "credit_amount", "refund_amount")


def _invoice(session: Session, organization: Organization, lago_id: str) -> Invoice | None:
    try:
        return invoice_service.get(session, organization, lago_id)
    except NotFound:
        return None


def _form(
    request: Request,
    session: Session,
    organization: Organization,
    invoice: Invoice,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, list[str]] | None = None,
    status_code: int = 200,
) -> Response:
    [out] = render_invoices(session, organization, [invoice])
    context = {
        "invoice": out,
        "reasons": REASONS,
        "values": values or {"reason": CreditNoteReason.OTHER.value},
        "errors": errors or {},
        "refundable": invoice.total_paid_amount_cents > 0,
    }
    return render(request, "credit_notes/new.html", context, status_code=status_code)


def _values(form: FormData) -> dict[str, str]:
    """The form's text fields and its ``fee_<id>`` amounts, in the form's order (the service checks the
    fees are the invoice's)."""
    names = [*TEXT_FIELDS, *(key for key in form if key.startswith("fee_"))]
    return {name: str(form.get(name) or "").strip() for name in names}


def _items(values: dict[str, str], currency: str, errors: dict[str, list[str]]) -> list[CreditNoteItemInput]:
    """The items of the fees given a non-blank amount (a blank or zero amount credits nothing)."""
    items: list[CreditNoteItemInput] = []
    for name, text in values.items():
        if not name.startswith("fee_") or not text:
            continue
        try:
            cents = to_minor_units(text, currency, name)
        except ValidationFailed as error:
            errors.update(error_codes(error))
            continue
        if cents != 0:
            items.append(CreditNoteItemInput(fee_id=name.removeprefix("fee_"), amount_cents=cents))
    return items


def _cents(values: dict[str, str], name: str, currency: str, errors: dict[str, list[str]]) -> int | None:
    if not values.get(name):
        return None
    try:
        return to_minor_units(values[name], currency, name)
    except ValidationFailed as error:
        errors.update(error_codes(error))
        return None


@router.get("/{lago_id}/credit_notes/new")
def new(lago_id: str, request: Request, session: DbSession, viewer: Create) -> Response:
    organization = organization_of(session, viewer)
    invoice = _invoice(session, organization, lago_id)
    if invoice is None:
        return not_found(request, "invoice")
    return _form(request, session, organization, invoice)


@router.post("/{lago_id}/credit_notes/estimate")
async def estimate(lago_id: str, request: Request, session: DbSession, viewer: Create) -> Response:
    """The estimate's totals (a fragment for htmx): ``POST /credit_notes/estimate``'s computation; a
    refusal is the fragment with Lago's codes (status 200, so that htmx shows it)."""
    organization = organization_of(session, viewer)
    invoice = _invoice(session, organization, lago_id)
    if invoice is None:
        return not_found(request, "invoice")
    values = _values(await request.form())
    errors: dict[str, list[str]] = {}
    items = _items(values, invoice.currency, errors)
    context: dict[str, Any] = {"currency": invoice.currency, "errors": errors, "estimate": None}
    if not errors:
        try:
            _, money, bounds = manual_credit_notes.estimate(session, organization, str(invoice.id), items)
        except BillowError as error:
            context["errors"] = error_codes(error)
        else:
            context["estimate"] = {
                "items_amount_cents": round_minor_units(money.items_precise_amount_cents),
                "coupons_adjustment_amount_cents": money.coupons_adjustment_amount_cents,
                "sub_total_excluding_taxes_amount_cents": money.sub_total_excluding_taxes_amount_cents,
                "taxes_amount_cents": bounds.taxes_amount_cents,
                "max_creditable_amount_cents": bounds.max_creditable_amount_cents,
                "max_refundable_amount_cents": bounds.max_refundable_amount_cents,
            }
    session.rollback()  # an estimate writes nothing (it only locked the invoice)
    # 200 even when refused: htmx 2 swaps no 4xx answer, and the codes must show in the form.
    return render(request, "credit_notes/_estimate.html", context)


@router.post("/{lago_id}/credit_notes")
async def create(lago_id: str, request: Request, session: DbSession, viewer: Create) -> Response:
    organization = organization_of(session, viewer)
    invoice = _invoice(session, organization, lago_id)
    if invoice is None:
        return not_found(request, "invoice")
    values = _values(await request.form())
    errors: dict[str, list[str]] = {}
    items = _items(values, invoice.currency, errors)
    data: dict[str, Any] = {
        "invoice_id": str(invoice.id),
        "reason": values["reason"] or None,
        "description": values["description"] or None,
        "credit_amount_cents": _cents(values, "credit_amount", invoice.currency, errors),
        "refund_amount_cents": _cents(values, "refund_amount", invoice.currency, errors),
        "items": [item.model_dump() for item in items],
    }
    try:
        if errors:
            raise FormInvalid(errors)
        note = manual_credit_notes.create(session, organization, form_input(CreditNoteCreateInput, data))
    except FormInvalid as invalid:
        errors = invalid.errors
    except BillowError as error:
        errors = error_codes(error)
    if errors:
        session.rollback()
        invoice = _invoice(session, organization, lago_id)
        assert invoice is not None
        return _form(request, session, organization, invoice, values=values, errors=errors, status_code=422)
    return redirect(f"/app/credit_notes/{note.id}", "Credit note issued.")
