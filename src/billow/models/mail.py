"""E-mail deliveries: one row per invoice or credit-note e-mail (:mod:`billow.mail`).

A delivery is written in the transaction that finalizes the invoice or creates the credit note (or by a
``resend_email`` request), then sent after the commit by the task ``mail.send``; the scan ``mail.deliveries``
sends what a crash or an SMTP failure left behind. A sender *claims* a delivery before sending it (a
conditional UPDATE moving ``next_attempt_at`` past a lease), so two workers never send the same one.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, Index, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from billow.db import Base, TenantMixin
from billow.kit.db_types import UTCDateTime


class DeliveryStatus(StrEnum):
    #: Waiting for its first attempt.
    PENDING = "pending"
    SENT = "sent"
    #: The last attempt failed: retried after ``next_attempt_at`` until the attempts run out.
    FAILED = "failed"
    #: Nothing to send (no SMTP server configured, no recipient, a zero-amount invoice...): ``last_error``.
    SKIPPED = "skipped"


class DocumentKind(StrEnum):
    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"
    #: A payment request's invoices, to the request's ``email`` (:mod:`billow.payments.requests`).
    PAYMENT_REQUEST = "payment_request"
    #: A succeeded payment's receipt, to the customer (:mod:`billow.payments.receipts`).
    PAYMENT_RECEIPT = "payment_receipt"


class EmailDelivery(TenantMixin, Base):
    __tablename__ = "email_deliveries"
    __table_args__ = (
        Index("ix_email_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
        Index(
            "ix_email_deliveries_organization_id_document", "organization_id", "document_kind", "document_id"
        ),
    )

    document_kind: Mapped[str] = mapped_column(String(16))
    #: The invoice, credit note, payment request or payment receipt (no foreign key: one column for all).
    document_id: Mapped[uuid.UUID] = mapped_column(Uuid())
    #: ``{"to": [...], "cc": [...], "bcc": [...]}``; ``to`` is absent until sent when the delivery goes to
    #: the customer's e-mail (read when it is sent, as Lago's mailer does).
    recipients: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: Asked by ``POST .../resend_email`` (else written by the finalization).
    resend: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    #: When a sender may take it (the claim moves it past a lease; a failure past the backoff).
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text())
    #: The ``Message-ID`` header of the message sent.
    message_id: Mapped[str | None] = mapped_column(String(255))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
