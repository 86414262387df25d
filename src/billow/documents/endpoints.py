"""``POST /invoices/{lago_id}/download`` (``download_pdf``, ``download_xml``) and the same for credit notes:
the object with its ``file_url`` and ``xml_url``, its documents generated now if they were not yet (Lago
answers an empty 200 and generates later; Billow renders in-process, so the links are always there).
A draft invoice has no document: 405 ``is_draft`` (Lago).

``GET /documents/{id}?expires=..&signature=..`` (outside ``/api/v1``, no API key: the signature is the
key) serves a document of the local storage; a wrong, tampered or expired signature is a 403, an unknown
document a 404.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response

from billow.auth import CurrentOrganization
from billow.config import current_settings
from billow.credit_notes.schemas import CreditNoteEnvelope
from billow.credit_notes.service import credit_note_service
from billow.credit_notes.views import render_credit_notes
from billow.db import DbSession
from billow.documents import signing
from billow.documents.repository import document_repository
from billow.documents.service import document_service
from billow.documents.storage import StoredFileMissing
from billow.errors import ErrorOut
from billow.invoices.schemas import InvoiceEnvelope
from billow.invoices.service import invoice_service
from billow.invoices.views import invoice_envelope
from billow.kit.strict_json import StrictJSONRoute

router = APIRouter(tags=["invoices"], route_class=StrictJSONRoute)
#: The signed links (mounted without the API prefix, outside authentication).
public_router = APIRouter(tags=["documents"])

_NOT_ALLOWED: dict[int | str, dict[str, Any]] = {
    405: {"model": ErrorOut, "description": "The invoice is a draft (`is_draft`)"}
}


def _download_invoice(lago_id: str, session: DbSession, organization: CurrentOrganization) -> InvoiceEnvelope:
    invoice = invoice_service.get(session, organization, lago_id)
    document_service.ensure_invoice(session, organization, invoice)
    return invoice_envelope(session, organization, invoice)


def _download_credit_note(
    lago_id: str, session: DbSession, organization: CurrentOrganization
) -> CreditNoteEnvelope:
    note = credit_note_service.get(session, organization, lago_id)
    document_service.ensure_credit_note(session, organization, note)
    [out], _ = render_credit_notes(session, [note])
    return CreditNoteEnvelope(credit_note=out)


for _suffix in ("download", "download_pdf", "download_xml"):
    router.add_api_route(
        f"/invoices/{{lago_id}}/{_suffix}",
        _download_invoice,
        methods=["POST"],
        response_model=InvoiceEnvelope,
        responses=_NOT_ALLOWED,
        operation_id=f"invoice_{_suffix}",
    )
    router.add_api_route(
        f"/credit_notes/{{lago_id}}/{_suffix}",
        _download_credit_note,
        methods=["POST"],
        response_model=CreditNoteEnvelope,
        tags=["credit_notes"],
        operation_id=f"credit_note_{_suffix}",
    )


def _refused(status: int, code: str) -> JSONResponse:
    error = "Forbidden" if status == 403 else "Not Found"
    return JSONResponse({"status": status, "error": error, "code": code}, status_code=status)


@public_router.get("/documents/{document_id}", include_in_schema=False)
def serve(
    document_id: str,
    session: DbSession,
    expires: int = Query(0),
    signature: str = Query(""),
) -> Response:
    try:
        wanted = uuid.UUID(document_id)
    except ValueError:
        return _refused(404, "document_not_found")
    settings = current_settings()
    if not signing.verify(settings, wanted, expires, signature, now=int(time.time())):
        return _refused(403, "invalid_signature")
    document = document_repository.get(session, wanted)
    if document is None:
        return _refused(404, "document_not_found")
    try:
        data = document_service.storage(settings).get(document.storage_key)
    except StoredFileMissing:
        return _refused(404, "document_not_found")
    filename = document.storage_key.rsplit("/", 1)[-1]
    return Response(
        data,
        media_type=document.content_type,
        headers={
            "Content-Disposition": f'inline; filename="{filename}"',
            "Cache-Control": "private, max-age=3600",
            "ETag": f'"{document.sha256}"',
        },
    )
