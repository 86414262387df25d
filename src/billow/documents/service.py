"""Generating, storing and linking the documents of invoices and credit notes.

A document is generated once: :meth:`DocumentService.ensure_invoice` (and ``ensure_credit_note``) takes
the object's row lock, renders what is missing (PDF and e-invoice XML) from the object as the API renders
it, stores the files, records them (``documents``: kind, key, sha256, size) and, in the same transaction,
announces ``invoice.generated`` / ``credit_note.generated`` (:func:`billow.webhooks.outbox.emit`).
Generating again finds the rows and does nothing.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from billow.config import Settings, current_settings
from billow.credit_notes.schemas import CreditNoteOut
from billow.credit_notes.views import render_credit_notes
from billow.customers.repository import customer_repository
from billow.customers.schemas import CustomerOut, customer_out
from billow.documents import signing
from billow.documents.i18n import document_locale
from billow.documents.pdf import render_credit_note_pdf, render_invoice_pdf
from billow.documents.repository import DOCUMENTED_STATUSES, document_repository
from billow.documents.storage import Storage, storage_from_settings
from billow.documents.xml import render_credit_note_xml, render_invoice_xml
from billow.errors import NotAllowed
from billow.invoices.schemas import InvoiceOut
from billow.invoices.views import render_invoices
from billow.kit.locking import lock_row
from billow.kit.secrets import SecretKeyMissing, derived_keys
from billow.models.credit_notes import CreditNote
from billow.models.customers import Customer
from billow.models.documents import Document, DocumentKind
from billow.models.invoices import Invoice
from billow.models.organizations import Organization
from billow.webhooks.outbox import emit

log = logging.getLogger(__name__)

PDF = "application/pdf"
XML = "application/xml"


@dataclass(frozen=True)
class Rendered:
    kind: DocumentKind
    key: str
    content_type: str
    render: Callable[[], bytes]


class DocumentService:
    def __init__(self, storage_factory: Callable[[Settings], Storage] = storage_from_settings) -> None:
        self.storage_factory = storage_factory

    def storage(self, settings: Settings | None = None) -> Storage:
        return self.storage_factory(settings or current_settings())

    # ------------------------------------------------------------------------------------------ generation

    def ensure_invoice(
        self, session: Session, organization: Organization, invoice: Invoice
    ) -> list[Document]:
        """The invoice's documents, generated now if missing. A draft has none (405 ``is_draft``, Lago)."""
        if invoice.status not in DOCUMENTED_STATUSES:
            raise NotAllowed(code="is_draft")
        invoice = lock_row(session, Invoice, invoice.id)
        out: list[InvoiceOut] = []

        def rendered() -> InvoiceOut:
            if not out:
                out.append(render_invoices(session, organization, [invoice])[0])
            return out[0]

        customer = session.get(Customer, invoice.customer_id)
        locale = document_locale(customer.document_locale if customer else None, organization.document_locale)
        base = f"{organization.id}/invoices/{invoice.id}"
        created = self._ensure(
            session,
            organization,
            invoice.id,
            [
                Rendered(
                    DocumentKind.INVOICE_PDF,
                    f"{base}.pdf",
                    PDF,
                    lambda: render_invoice_pdf(rendered(), organization, locale),
                ),
                Rendered(
                    DocumentKind.INVOICE_XML,
                    f"{base}.xml",
                    XML,
                    lambda: render_invoice_xml(rendered(), organization),
                ),
            ],
        )
        if DocumentKind.INVOICE_PDF in created:
            emit(session, organization.id, "invoice.generated", "invoice", invoice.id)
        return document_repository.of_objects(session, organization.id, [invoice.id])

    def ensure_credit_note(
        self, session: Session, organization: Organization, note: CreditNote
    ) -> list[Document]:
        note = lock_row(session, CreditNote, note.id)
        out: list[tuple[CreditNoteOut, CustomerOut]] = []

        def rendered() -> tuple[CreditNoteOut, CustomerOut]:
            if not out:
                [rendered_note], graph = render_credit_notes(session, [note])
                customer = graph.customers[note.customer_id]
                metadata = customer_repository.metadata_by_customer(session, [customer.id])
                taxes = customer_repository.taxes_by_customer(session, [customer.id])
                out.append(
                    (
                        rendered_note,
                        customer_out(customer, organization, metadata[customer.id], taxes[customer.id]),
                    )
                )
            return out[0]

        customer_row = session.get(Customer, note.customer_id)
        locale = document_locale(
            customer_row.document_locale if customer_row else None, organization.document_locale
        )
        base = f"{organization.id}/credit_notes/{note.id}"
        created = self._ensure(
            session,
            organization,
            note.id,
            [
                Rendered(
                    DocumentKind.CREDIT_NOTE_PDF,
                    f"{base}.pdf",
                    PDF,
                    lambda: render_credit_note_pdf(rendered()[0], rendered()[1], organization, locale),
                ),
                Rendered(
                    DocumentKind.CREDIT_NOTE_XML,
                    f"{base}.xml",
                    XML,
                    lambda: render_credit_note_xml(rendered()[0], rendered()[1], organization),
                ),
            ],
        )
        if DocumentKind.CREDIT_NOTE_PDF in created:
            emit(session, organization.id, "credit_note.generated", "credit_note", note.id)
        return document_repository.of_objects(session, organization.id, [note.id])

    def _ensure(
        self, session: Session, organization: Organization, object_id: uuid.UUID, wanted: Sequence[Rendered]
    ) -> set[DocumentKind]:
        existing = {doc.kind for doc in document_repository.of_objects(session, organization.id, [object_id])}
        missing = [item for item in wanted if item.kind.value not in existing]
        if not missing:
            return set()
        storage = self.storage()
        for item in missing:
            data = item.render()
            # Stored before the row: a row always names a stored file (a rolled-back transaction leaves a file
            # that the next generation writes again, with the same bytes).
            storage.put(item.key, data, item.content_type)
            session.add(
                Document(
                    organization_id=organization.id,
                    kind=item.kind.value,
                    object_id=object_id,
                    storage_key=item.key,
                    content_type=item.content_type,
                    sha256=hashlib.sha256(data).hexdigest(),
                    size_bytes=len(data),
                )
            )
        session.flush()
        return {item.kind for item in missing}

    # ------------------------------------------------------------------------------------------ links

    def links(
        self, documents: Sequence[Document], *, settings: Settings | None = None, now: int | None = None
    ) -> dict[uuid.UUID, dict[str, str]]:
        """``{object_id: {"pdf": url, "xml": url}}``: presigned URLs of the storage (S3), else Billow's
        signed links (:mod:`billow.documents.signing`)."""
        settings = settings or current_settings()
        now = int(time.time()) if now is None else now
        if settings.documents_storage == "local" and not _can_sign(settings):
            return {}
        storage = self.storage(settings) if settings.documents_storage != "local" else None
        links: dict[uuid.UUID, dict[str, str]] = {}
        for doc in documents:
            fmt = "pdf" if doc.content_type == PDF else "xml"
            url = None
            if storage is not None:
                filename = doc.storage_key.rsplit("/", 1)[-1]
                url = storage.presigned_url(
                    doc.storage_key, expires_in=settings.documents_url_ttl, filename=filename
                )
            links.setdefault(doc.object_id, {})[fmt] = url or signing.link(settings, doc.id, now=now)
        return links


def _can_sign(settings: Settings) -> bool:
    """Whether links can be signed: not in production without ``BILLOW_SECRET_KEY`` (then the objects are
    answered without links, logged, rather than failing every read of an invoice)."""
    try:
        derived_keys(settings, signing.PURPOSE)
    except SecretKeyMissing:
        log.warning("BILLOW_SECRET_KEY is not set: invoices and credit notes are answered without file_url")
        return False
    return True


document_service = DocumentService()
