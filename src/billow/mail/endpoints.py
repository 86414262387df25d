"""``POST /invoices/{id}/resend_email`` and ``POST /credit_notes/{id}/resend_email`` (Lago's routes:
an empty 200 once the e-mail is queued; it leaves after the commit)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from billow.auth import CurrentOrganization
from billow.db import DbSession
from billow.kit.strict_json import StrictJSONRoute
from billow.mail.schemas import ResendEmailInput
from billow.mail.service import mail_service
from billow.models.mail import DocumentKind

router = APIRouter(tags=["emails"], route_class=StrictJSONRoute)

_QUEUED: dict[int | str, dict[str, Any]] = {200: {"description": "The e-mail is queued (empty body)."}}


@router.post("/invoices/{lago_id}/resend_email", status_code=200, response_class=Response, responses=_QUEUED)
def resend_invoice_email(
    lago_id: str, session: DbSession, organization: CurrentOrganization, body: ResendEmailInput | None = None
) -> Response:
    """Send a finalized invoice's e-mail again, to the customer or to ``to`` (with ``cc``, ``bcc``).
    404 ``invoice_not_found``; 405 ``invoice_not_finalized``, ``email_settings_disabled``,
    ``email_not_configured`` (no SMTP server); 422 ``validation_errors`` (``billing_entity``, ``to``,
    ``cc``, ``bcc``)."""
    mail_service.resend(session, organization, DocumentKind.INVOICE, lago_id, body)
    return Response(status_code=200)


@router.post(
    "/credit_notes/{lago_id}/resend_email", status_code=200, response_class=Response, responses=_QUEUED
)
def resend_credit_note_email(
    lago_id: str, session: DbSession, organization: CurrentOrganization, body: ResendEmailInput | None = None
) -> Response:
    """Send a credit note's e-mail again, to the customer or to ``to`` (with ``cc``, ``bcc``).
    404 ``credit_note_not_found``; 405 ``credit_note_not_finalized``, ``email_settings_disabled``,
    ``email_not_configured`` (no SMTP server); 422 ``validation_errors`` (``billing_entity``, ``to``,
    ``cc``, ``bcc``)."""
    mail_service.resend(session, organization, DocumentKind.CREDIT_NOTE, lago_id, body)
    return Response(status_code=200)
