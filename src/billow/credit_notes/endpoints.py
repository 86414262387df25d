"""``GET /credit_notes``, ``GET /credit_notes/{lago_id}``, ``GET /customers/{external_id}/credit_notes``."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session

from billow.auth import CurrentOrganization
from billow.credit_notes.repository import CreditNoteGraph, credit_note_repository
from billow.credit_notes.schemas import (
    CreditNoteEnvelope,
    CreditNoteFilters,
    CreditNoteList,
    CreditNoteListedOut,
    CreditNoteOut,
    credit_note_out,
)
from billow.credit_notes.service import credit_note_service
from billow.customers.repository import customer_repository
from billow.customers.schemas import customer_out
from billow.db import DbSession
from billow.invoices.repository import invoice_repository
from billow.invoices.schemas import fee_out
from billow.kit.limits import clamp_bigint
from billow.kit.pagination import Pagination, paginate
from billow.kit.strict_json import StrictJSONRoute
from billow.kit.time import parse_date_or_none
from billow.models.credit_notes import CreditNote
from billow.models.organizations import Organization

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
    )


def _render(session: Session, notes: Sequence[CreditNote]) -> tuple[list[CreditNoteOut], CreditNoteGraph]:
    graph = credit_note_repository.load(session, notes)
    context = invoice_repository.fee_context(session, list(graph.fees.values()))
    outs = [
        credit_note_out(
            note,
            graph.invoices[note.invoice_id],
            [(item, fee_out(graph.fees[item.fee_id], context)) for item in graph.items[note.id]],
            graph.applied_taxes[note.id],
        )
        for note in notes
    ]
    return outs, graph


def _render_listed(
    session: Session, organization: Organization, notes: Sequence[CreditNote]
) -> list[CreditNoteListedOut]:
    rendered, graph = _render(session, notes)
    customer_ids = list(graph.customers)
    metadata = customer_repository.metadata_by_customer(session, customer_ids)
    taxes = customer_repository.taxes_by_customer(session, customer_ids)
    return [
        CreditNoteListedOut(
            **dict(out),
            customer=customer_out(
                graph.customers[note.customer_id],
                organization,
                metadata[note.customer_id],
                taxes[note.customer_id],
            ),
        )
        for out, note in zip(rendered, notes, strict=True)
    ]


@router.get("/credit_notes", response_model=CreditNoteList)
def index(
    request: Request, session: DbSession, organization: CurrentOrganization, pages: Pagination
) -> CreditNoteList:
    stmt = credit_note_service.list_stmt(organization, credit_note_filters(request))
    notes, meta = paginate(session, stmt, pages)
    return CreditNoteList(credit_notes=_render_listed(session, organization, notes), meta=meta)


@router.get("/credit_notes/{lago_id}", response_model=CreditNoteEnvelope)
def show(lago_id: str, session: DbSession, organization: CurrentOrganization) -> CreditNoteEnvelope:
    note = credit_note_service.get(session, organization, lago_id)
    [out], _ = _render(session, [note])
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
    return CreditNoteList(credit_notes=_render_listed(session, organization, notes), meta=meta)
