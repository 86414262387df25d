from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Select, and_, func, select
from sqlalchemy.orm import Session

from billow.models.credit_notes import CreditNote
from billow.models.documents import Document, DocumentKind
from billow.models.invoices import Invoice, InvoiceStatus

#: Invoices that have documents: finalized (and later voided) ones.
DOCUMENTED_STATUSES = (InvoiceStatus.FINALIZED, InvoiceStatus.VOIDED)


class DocumentRepository:
    def of_objects(
        self, session: Session, organization_id: uuid.UUID, object_ids: Sequence[uuid.UUID]
    ) -> list[Document]:
        return list(
            session.scalars(
                select(Document).where(
                    Document.organization_id == organization_id, Document.object_id.in_(object_ids)
                )
            )
        )

    def get(self, session: Session, document_id: uuid.UUID) -> Document | None:
        """A document by id, whatever its organization: only for the signed link, whose signature names
        the document (the link is the capability)."""
        return session.get(Document, document_id)

    def undocumented_invoices(self, limit: int, before: datetime) -> Select[uuid.UUID, uuid.UUID]:
        """Finalized invoices without a PDF (finalized before ``before``: the after-commit task's own)."""
        return (
            select(Invoice.organization_id, Invoice.id)
            .outerjoin(
                Document,
                and_(Document.object_id == Invoice.id, Document.kind == DocumentKind.INVOICE_PDF.value),
            )
            .where(
                Invoice.status.in_(DOCUMENTED_STATUSES),
                func.coalesce(Invoice.finalized_at, Invoice.created_at) < before,
                Document.id.is_(None),
            )
            .order_by(Invoice.created_at)
            .limit(limit)
        )

    def undocumented_credit_notes(self, limit: int, before: datetime) -> Select[uuid.UUID, uuid.UUID]:
        return (
            select(CreditNote.organization_id, CreditNote.id)
            .outerjoin(
                Document,
                and_(
                    Document.object_id == CreditNote.id, Document.kind == DocumentKind.CREDIT_NOTE_PDF.value
                ),
            )
            .where(CreditNote.status == "finalized", CreditNote.created_at < before, Document.id.is_(None))
            .order_by(CreditNote.created_at)
            .limit(limit)
        )


document_repository = DocumentRepository()
