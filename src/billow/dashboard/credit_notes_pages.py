"""``/app/credit_notes``: the list (customer, number) and a credit note's page (items, amounts,
status), with its void action (``PUT /credit_notes/{id}/void``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from billow.credit_notes.manual import manual_credit_notes
from billow.credit_notes.schemas import CreditNoteFilters
from billow.credit_notes.service import credit_note_service
from billow.credit_notes.views import render_credit_notes, render_listed_credit_notes
from billow.dashboard.pages import (
    error_codes,
    not_found,
    organization_of,
    page_links,
    page_params,
    redirect,
)
from billow.db import DbSession
from billow.errors import BillowError, NotFound
from billow.kit.pagination import paginate
from billow.web.auth import Viewer, require
from billow.web.templating import render

router = APIRouter(prefix="/app/credit_notes")

View = Annotated[Viewer, Depends(require("credit_notes:view"))]
Void = Annotated[Viewer, Depends(require("credit_notes:void"))]


@router.get("")
def index(request: Request, session: DbSession, viewer: View) -> Response:
    organization = organization_of(session, viewer)
    filters = {
        name: request.query_params.get(name, "").strip()[:255] for name in ("external_customer_id", "number")
    }
    stmt = credit_note_service.list_stmt(
        organization,
        CreditNoteFilters(
            external_customer_id=filters["external_customer_id"] or None,
            search_term=filters["number"] or None,
        ),
    )
    notes, meta = paginate(session, stmt, page_params(request))
    return render(
        request,
        "credit_notes/index.html",
        {
            "notes": render_listed_credit_notes(session, organization, notes),
            "filters": filters,
            "meta": meta,
            "links": page_links(request, meta),
        },
    )


def _show(
    request: Request,
    session: DbSession,
    viewer: Viewer,
    lago_id: str,
    errors: dict[str, list[str]],
    status: int,
) -> Response:
    organization = organization_of(session, viewer)
    try:
        note = credit_note_service.get(session, organization, lago_id)
    except NotFound:
        return not_found(request, "credit note")
    [out], _ = render_credit_notes(session, [note])
    return render(request, "credit_notes/show.html", {"note": out, "errors": errors}, status_code=status)


@router.get("/{lago_id}")
def show(lago_id: str, request: Request, session: DbSession, viewer: View) -> Response:
    return _show(request, session, viewer, lago_id, {}, 200)


@router.post("/{lago_id}/void")
def void(lago_id: str, request: Request, session: DbSession, viewer: Void) -> Response:
    organization = organization_of(session, viewer)
    try:
        credit_note_service.get(session, organization, lago_id)
    except NotFound:
        return not_found(request, "credit note")
    try:
        manual_credit_notes.void(session, organization, lago_id)
    except BillowError as error:
        session.rollback()
        return _show(request, session, viewer, lago_id, error_codes(error), 422)
    return redirect(f"/app/credit_notes/{lago_id}", "Credit note voided.")
