"""``GET /credit_notes``, ``GET /credit_notes/{lago_id}``, ``GET /customers/{external_id}/credit_notes``;
manual credit notes: ``POST /credit_notes``, ``POST /credit_notes/estimate``, ``PUT /credit_notes/{lago_id}``
(``refund_status``, ``metadata``), ``PUT /credit_notes/{lago_id}/void`` and the metadata routes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session

from billow.auth import CurrentOrganization
from billow.credit_notes.manual import manual_credit_notes
from billow.credit_notes.repository import credit_note_repository
from billow.credit_notes.schemas import (
    CreditNoteCreateRequest,
    CreditNoteEnvelope,
    CreditNoteEstimateRequest,
    CreditNoteFilters,
    CreditNoteList,
    CreditNoteMetadataOut,
    CreditNoteMetadataRequest,
    CreditNoteUpdateRequest,
    EstimatedAppliedTaxOut,
    EstimatedCreditNoteEnvelope,
    EstimatedCreditNoteOut,
    EstimatedItemOut,
)
from billow.credit_notes.service import credit_note_service
from billow.credit_notes.views import render_credit_notes, render_listed_credit_notes
from billow.db import DbSession
from billow.kit.limits import clamp_bigint
from billow.kit.money import round_minor_units
from billow.kit.pagination import Pagination, paginate
from billow.kit.strict_json import StrictJSONRoute
from billow.kit.time import parse_date_or_none
from billow.models.credit_notes import CreditNote

router = APIRouter(tags=["credit_notes"], route_class=StrictJSONRoute)


def _int(value: str | None) -> int | None:
    try:
        return clamp_bigint(int(value)) if value not in (None, "") else None
    except ValueError:
        return None


def credit_note_filters(request: Request) -> CreditNoteFilters:
    query = request.query_params
    return CreditNoteFilters(
        external_customer_id=query.get("external_customer_id") or None,
        credit_status=query.get("credit_status") or None,
        refund_status=query.get("refund_status") or None,
        reason=query.get("reason") or None,
        currency=query.get("currency") or None,
        invoice_number=query.get("invoice_number") or None,
        issuing_date_from=parse_date_or_none(query.get("issuing_date_from")),
        issuing_date_to=parse_date_or_none(query.get("issuing_date_to")),
        amount_from=_int(query.get("amount_from")),
        amount_to=_int(query.get("amount_to")),
        search_term=query.get("search_term") or None,
        self_billed=query.get("self_billed", "").lower() == "true",
    )


@router.get("/credit_notes", response_model=CreditNoteList)
def index(
    request: Request, session: DbSession, organization: CurrentOrganization, pages: Pagination
) -> CreditNoteList:
    stmt = credit_note_service.list_stmt(organization, credit_note_filters(request))
    notes, meta = paginate(session, stmt, pages)
    return CreditNoteList(credit_notes=render_listed_credit_notes(session, organization, notes), meta=meta)


@router.get("/credit_notes/{lago_id}", response_model=CreditNoteEnvelope)
def show(lago_id: str, session: DbSession, organization: CurrentOrganization) -> CreditNoteEnvelope:
    note = credit_note_service.get(session, organization, lago_id)
    [out], _ = render_credit_notes(session, [note])
    return CreditNoteEnvelope(credit_note=out)


@router.get("/customers/{external_id}/credit_notes", response_model=CreditNoteList)
def customer_index(
    external_id: str,
    request: Request,
    session: DbSession,
    organization: CurrentOrganization,
    pages: Pagination,
) -> CreditNoteList:
    customer = credit_note_service.customer(session, organization, external_id)
    filters = credit_note_filters(request)
    filters.external_customer_id = None
    filters.customer_id = customer.id
    notes, meta = paginate(session, credit_note_service.list_stmt(organization, filters), pages)
    return CreditNoteList(credit_notes=render_listed_credit_notes(session, organization, notes), meta=meta)


def _envelope(session: Session, note: CreditNote) -> CreditNoteEnvelope:
    [out], _ = render_credit_notes(session, [note])
    return CreditNoteEnvelope(credit_note=out)


@router.post("/credit_notes", response_model=CreditNoteEnvelope)
def create(
    body: CreditNoteCreateRequest, session: DbSession, organization: CurrentOrganization
) -> CreditNoteEnvelope:
    note = manual_credit_notes.create(session, organization, body.credit_note)
    return _envelope(session, note)


@router.post("/credit_notes/estimate", response_model=EstimatedCreditNoteEnvelope)
def estimate(
    body: CreditNoteEstimateRequest, session: DbSession, organization: CurrentOrganization
) -> EstimatedCreditNoteEnvelope:
    data = body.credit_note
    invoice, money, bounds = manual_credit_notes.estimate(
        session, organization, data.invoice_id, data.items or []
    )
    taxes = {tax.id: tax for tax in credit_note_repository.applied_taxes(session, invoice.id)}
    return EstimatedCreditNoteEnvelope(
        estimated_credit_note=EstimatedCreditNoteOut(
            lago_invoice_id=invoice.id,
            invoice_number=invoice.number,
            currency=invoice.currency,
            taxes_amount_cents=bounds.taxes_amount_cents,
            precise_taxes_amount_cents=money.precise_taxes_amount_cents,
            taxes_rate=money.taxes_rate,
            sub_total_excluding_taxes_amount_cents=money.sub_total_excluding_taxes_amount_cents,
            max_creditable_amount_cents=bounds.max_creditable_amount_cents,
            max_refundable_amount_cents=bounds.max_refundable_amount_cents,
            max_offsettable_amount_cents=bounds.max_offsettable_amount_cents,
            coupons_adjustment_amount_cents=money.coupons_adjustment_amount_cents,
            precise_coupons_adjustment_amount_cents=money.precise_coupons_adjustment_amount_cents,
            items=[
                EstimatedItemOut(amount_cents=round_minor_units(amount), lago_fee_id=fee.fee_id)
                for fee, amount in money.items
            ],
            applied_taxes=[
                EstimatedAppliedTaxOut(
                    lago_tax_id=taxes[part.tax_id].tax_id,  # type: ignore[index]  # AppliedTax ids
                    tax_name=taxes[part.tax_id].tax_name,  # type: ignore[index]
                    tax_code=taxes[part.tax_id].tax_code,  # type: ignore[index]
                    tax_rate=part.rate,
                    tax_description=taxes[part.tax_id].tax_description,  # type: ignore[index]
                    base_amount_cents=part.base_amount_cents,
                    amount_cents=part.amount_cents,
                    amount_currency=invoice.currency,
                )
                for part in money.taxes
            ],
        )
    )


@router.put("/credit_notes/{lago_id}", response_model=CreditNoteEnvelope)
def update(
    lago_id: str, body: CreditNoteUpdateRequest, session: DbSession, organization: CurrentOrganization
) -> CreditNoteEnvelope:
    note = manual_credit_notes.update(session, organization, lago_id, body.credit_note)
    return _envelope(session, note)


@router.put("/credit_notes/{lago_id}/void", response_model=CreditNoteEnvelope)
def void(lago_id: str, session: DbSession, organization: CurrentOrganization) -> CreditNoteEnvelope:
    note = manual_credit_notes.void(session, organization, lago_id)
    return _envelope(session, note)


@router.post("/credit_notes/{lago_id}/metadata", response_model=CreditNoteMetadataOut)
def replace_metadata(
    lago_id: str, body: CreditNoteMetadataRequest, session: DbSession, organization: CurrentOrganization
) -> CreditNoteMetadataOut:
    note = manual_credit_notes.set_metadata(session, organization, lago_id, body.metadata, merge=False)
    return CreditNoteMetadataOut(metadata=note.key_values)


@router.patch("/credit_notes/{lago_id}/metadata", response_model=CreditNoteMetadataOut)
def merge_metadata(
    lago_id: str, body: CreditNoteMetadataRequest, session: DbSession, organization: CurrentOrganization
) -> CreditNoteMetadataOut:
    note = manual_credit_notes.set_metadata(session, organization, lago_id, body.metadata, merge=True)
    return CreditNoteMetadataOut(metadata=note.key_values)


@router.delete("/credit_notes/{lago_id}/metadata", response_model=CreditNoteMetadataOut)
def delete_metadata(
    lago_id: str, session: DbSession, organization: CurrentOrganization
) -> CreditNoteMetadataOut:
    note = manual_credit_notes.set_metadata(session, organization, lago_id, None, merge=False)
    return CreditNoteMetadataOut(metadata=note.key_values)


@router.delete("/credit_notes/{lago_id}/metadata/{key}", response_model=CreditNoteMetadataOut)
def delete_metadata_key(
    lago_id: str, key: str, session: DbSession, organization: CurrentOrganization
) -> CreditNoteMetadataOut:
    note = manual_credit_notes.delete_metadata_key(session, organization, lago_id, key)
    return CreditNoteMetadataOut(metadata=note.key_values)
