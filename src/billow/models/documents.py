"""The documents of invoices and credit notes (:mod:`billow.documents`): one row per object and kind, written
once the file is stored (``storage_key`` in the configured storage, its ``sha256`` and ``size_bytes``)."""

from __future__ import annotations

import uuid
from enum import StrEnum

from sqlalchemy import BigInteger, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from billow.db import Base, TenantMixin


class DocumentKind(StrEnum):
    INVOICE_PDF = "invoice_pdf"
    INVOICE_XML = "invoice_xml"
    CREDIT_NOTE_PDF = "credit_note_pdf"
    CREDIT_NOTE_XML = "credit_note_xml"
    PAYMENT_RECEIPT_PDF = "payment_receipt_pdf"


class Document(TenantMixin, Base):
    __tablename__ = "documents"
    __table_args__ = (Index("ix_documents_object_kind", "object_id", "kind", unique=True),)

    #: A :class:`DocumentKind`.
    kind: Mapped[str] = mapped_column(String(32))
    #: The invoice's or credit note's id (no foreign key: a credit note and an invoice share the column).
    object_id: Mapped[uuid.UUID] = mapped_column(Uuid())
    storage_key: Mapped[str] = mapped_column(String(512))
    content_type: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)


#: The hook (:func:`billow.worker.dispatch.run_hooks`) by which the renderers of invoices and credit notes
#: ask for the links of their documents: ``function(session, organization_id=, object_ids=, links=)`` fills
#: ``links[object_id] = {"pdf": url, "xml": url}`` (:mod:`billow.documents.links`).
DOCUMENT_LINKS = "documents.links"
