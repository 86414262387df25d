"""Payment receipts: one per succeeded payment, created in the payment's transaction.

A receipt is numbered from the organization's counter (``invoice_sequences`` scope ``payment_receipts``,
incremented in the transaction: no gaps) as ``<document prefix>-RCPT-<counter on 3 digits or more>``,
announced (``payment_receipt.created``), and its PDF is rendered after the commit (task
``payments.receipt_pdf``; scan ``payments.receipts_without_pdf``, the safety net) with
:func:`billow.documents.pdf.render_payment_receipt_pdf`, stored as a ``documents`` row of kind
``payment_receipt_pdf`` and announced (``payment_receipt.generated``). Creating or generating twice
finds the rows and does nothing. With ``payment_receipt.created`` in the organization's
``email_settings`` the customer is mailed the receipt, its PDF attached (:mod:`billow.mail`).
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from billow.config import current_settings
from billow.documents.repository import document_repository
from billow.documents.service import document_service
from billow.mail.deliveries import ATTACHMENTS_HOOK
from billow.mail.deliveries import enabled as mail_enabled
from billow.mail.deliveries import record as record_mail
from billow.models.documents import Document, DocumentKind
from billow.models.mail import DocumentKind as MailKind
from billow.models.organizations import Organization
from billow.models.payments import Payment, PaymentReceipt
from billow.payments.repository import payment_repository
from billow.payments.views import render_receipt_pdf
from billow.webhooks.outbox import emit
from billow.worker.dispatch import after_commit, hook, task
from billow.worker.scans import SessionFactory, scan

PDF_TASK = "payments.receipt_pdf"
SCAN_BATCH = 200
#: The scan leaves a receipt this long to the task queued after its commit.
GRACE = timedelta(minutes=5)


def receipt_number(prefix: str, counter: int) -> str:
    return f"{prefix}-RCPT-{counter:03d}"


class ReceiptService:
    def create(self, session: Session, payment: Payment) -> PaymentReceipt:
        """The payment's receipt (created now when it has none)."""
        found = payment_repository.receipt_of(session, payment.organization_id, payment.id)
        if found is not None:
            return found
        organization = session.get(Organization, payment.organization_id)
        assert organization is not None
        counter = payment_repository.next_receipt_value(session, organization.id)
        receipt = PaymentReceipt(
            organization_id=organization.id,
            payment_id=payment.id,
            number=receipt_number(organization.document_number_prefix, counter),
        )
        session.add(receipt)
        session.flush()
        emit(session, organization.id, "payment_receipt.created", "payment_receipt", receipt.id)
        after_commit(session, PDF_TASK, str(receipt.id))
        if mail_enabled(organization, MailKind.PAYMENT_RECEIPT):
            record_mail(session, organization.id, MailKind.PAYMENT_RECEIPT, receipt.id)
        return receipt

    def ensure_pdf(self, session: Session, receipt: PaymentReceipt) -> Document:
        """The receipt's PDF, rendered and stored now when missing."""
        existing = document_repository.of_objects(session, receipt.organization_id, [receipt.id])
        for document in existing:
            if document.kind == DocumentKind.PAYMENT_RECEIPT_PDF:
                return document
        organization = session.get(Organization, receipt.organization_id)
        assert organization is not None
        data = render_receipt_pdf(session, organization, receipt)
        key = f"{organization.id}/payment_receipts/{receipt.id}.pdf"
        document_service.storage().put(key, data, "application/pdf")
        document = Document(
            organization_id=organization.id,
            kind=DocumentKind.PAYMENT_RECEIPT_PDF.value,
            object_id=receipt.id,
            storage_key=key,
            content_type="application/pdf",
            sha256=hashlib.sha256(data).hexdigest(),
            size_bytes=len(data),
        )
        session.add(document)
        session.flush()
        emit(session, organization.id, "payment_receipt.generated", "payment_receipt", receipt.id)
        return document


receipt_service = ReceiptService()


@hook(ATTACHMENTS_HOOK)
def attach_pdf(
    session: Session, *, kind: str, document: object, attachments: list[tuple[str, bytes, str]], **_: Any
) -> None:
    """A receipt's e-mail carries its PDF (rendered now if it is not yet)."""
    if kind != MailKind.PAYMENT_RECEIPT or not isinstance(document, PaymentReceipt):
        return
    stored = receipt_service.ensure_pdf(session, document)
    data = document_service.storage().get(stored.storage_key)
    attachments.append((f"{document.number}.pdf", data, "application/pdf"))


@task(PDF_TASK)
def generate_pdf(session_factory: SessionFactory, item: str, now: datetime) -> None:
    """Render and store one receipt's PDF (idempotent)."""
    if not current_settings().generate_documents:
        return
    with session_factory() as session, session.begin():
        receipt = session.get(PaymentReceipt, uuid.UUID(item))
        if receipt is not None:
            receipt_service.ensure_pdf(session, receipt)


@scan("payments.receipts_without_pdf", every=timedelta(minutes=2), each=generate_pdf)
def find_missing(session_factory: SessionFactory, now: datetime) -> list[str]:
    """Receipts without a PDF (their task was lost)."""
    if not current_settings().generate_documents:
        return []
    documented = select(Document.object_id).where(Document.kind == DocumentKind.PAYMENT_RECEIPT_PDF.value)
    with session_factory() as session:
        rows = session.scalars(
            select(PaymentReceipt.id)
            .where(PaymentReceipt.created_at <= now - GRACE, PaymentReceipt.id.not_in(documented))
            .order_by(PaymentReceipt.created_at)
            .limit(SCAN_BATCH)
        )
        return [str(row) for row in rows]
