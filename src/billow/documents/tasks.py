"""Generation after the fact: the task queued after the commit that finalizes an invoice or creates a
credit note (``documents.generate``, payload ``invoice|<id>`` or ``credit_note|<id>``), the scan that finds
finalized invoices and credit notes without documents (the safety net), and the hook that gives the
renderers of lower domains the links of stored documents."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from billow.config import current_settings
from billow.credit_notes.service import CREATED_HOOK
from billow.documents.repository import document_repository
from billow.documents.service import document_service
from billow.invoices.finalization import FINALIZED_HOOK
from billow.models.credit_notes import CreditNote
from billow.models.documents import DOCUMENT_LINKS, DocumentKind
from billow.models.invoices import Invoice
from billow.models.organizations import Organization
from billow.worker.dispatch import after_commit, hook, task
from billow.worker.scans import SessionFactory, scan

log = logging.getLogger(__name__)

TASK = "documents.generate"
#: Invoices (and credit notes) one scan run finds at most; the next run, two minutes later, takes the rest
#: (on the job engine every one is its own job).
SCAN_BATCH = 200
#: The scan leaves an object this long to the task queued after its commit.
GRACE = timedelta(minutes=5)


def payload(object_type: str, object_id: uuid.UUID) -> str:
    return f"{object_type}|{object_id}"


@task(TASK)
def generate(session_factory: SessionFactory, item: str, now: datetime) -> None:
    """Generate the documents of one finalized invoice or credit note (idempotent)."""
    if not current_settings().generate_documents:
        return
    object_type, _, raw_id = item.partition("|")
    object_id = uuid.UUID(raw_id)
    with session_factory() as session, session.begin():
        model: Any = Invoice if object_type == "invoice" else CreditNote
        found = session.get(model, object_id)
        if found is None:
            return
        organization = session.get(Organization, found.organization_id)
        assert organization is not None
        if isinstance(found, Invoice):
            document_service.ensure_invoice(session, organization, found)
        else:
            document_service.ensure_credit_note(session, organization, found)


@scan("documents.generate_missing", every=timedelta(minutes=2), each=generate)
def find_missing(session_factory: SessionFactory, now: datetime) -> list[str]:
    """Finalized invoices and credit notes without documents (their task was lost)."""
    if not current_settings().generate_documents:
        return []
    before = now - GRACE
    with session_factory() as session:
        invoices = session.execute(document_repository.undocumented_invoices(SCAN_BATCH, before)).all()
        notes = session.execute(document_repository.undocumented_credit_notes(SCAN_BATCH, before)).all()
    return [payload("invoice", row[1]) for row in invoices] + [
        payload("credit_note", row[1]) for row in notes
    ]


@hook(FINALIZED_HOOK)
def on_invoice_finalized(session: Session, *, invoice: Invoice, **_: Any) -> None:
    """Render the documents of an invoice once the transaction that finalized it commits, also when a task
    finalized it (a billing run, a termination): rendering queues no more work but its webhook."""
    after_commit(session, TASK, payload("invoice", invoice.id), from_tasks=True)


@hook(CREATED_HOOK)
def on_credit_note_created(session: Session, *, credit_note: CreditNote, **_: Any) -> None:
    after_commit(session, TASK, payload("credit_note", credit_note.id), from_tasks=True)


@hook(DOCUMENT_LINKS)
def document_links(
    session: Session,
    *,
    organization_id: uuid.UUID,
    object_ids: list[uuid.UUID],
    links: dict[uuid.UUID, dict[str, str]],
) -> None:
    documents = document_repository.of_objects(session, organization_id, object_ids)
    if documents:
        links.update(document_service.links(documents))


#: Announced by :mod:`billow.mail.deliveries` (above this package) while it builds a message.
MAIL_ATTACHMENTS = "mail.attachments"


@hook(MAIL_ATTACHMENTS)
def attach_pdf(
    session: Session, *, kind: str, document: Invoice | CreditNote, attachments: list[tuple[str, bytes, str]]
) -> None:
    """An invoice's or credit note's e-mail carries its PDF (generated now if it is not yet)."""
    if not isinstance(document, Invoice | CreditNote):  # payments attach their receipts' PDFs themselves
        return
    organization = session.get(Organization, document.organization_id)
    if organization is None:
        return
    if isinstance(document, Invoice):
        stored = document_service.ensure_invoice(session, organization, document)
        wanted, name = DocumentKind.INVOICE_PDF, document.number
    else:
        stored = document_service.ensure_credit_note(session, organization, document)
        wanted, name = DocumentKind.CREDIT_NOTE_PDF, document.number
    for found in stored:
        if found.kind == wanted:
            data = document_service.storage().get(found.storage_key)
            attachments.append((f"{name or found.object_id}.pdf", data, "application/pdf"))


__all__ = [
    "TASK",
    "attach_pdf",
    "document_links",
    "find_missing",
    "generate",
    "on_credit_note_created",
    "on_invoice_finalized",
    "payload",
]
