"""Payments (issue 13): what a customer paid, on an invoice or on a payment request, and their receipts.

* :class:`Payment` — one payment attempt of a *payable* (an invoice or a payment request, Lago's
  polymorphic ``payable``), ``manual`` (``POST /payments``) or ``provider`` (a payment provider's result or
  webhook, :mod:`billow.payments.provider_hooks`). ``status`` is Lago's normalized ``payment_status``;
  ``provider_status`` the provider's own word (Lago's ``status``). A provider payment is unique per
  organization, provider and ``provider_payment_id``: a replayed result finds its row.
* :class:`PaymentRequest` — several finalized, unpaid invoices of one customer to collect together
  (``payment_request_invoices``).
* :class:`PaymentReceipt` — one per succeeded payment, numbered per organization; its PDF is a
  ``documents`` row of kind ``payment_receipt_pdf``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from billow.db import Base, TenantMixin
from billow.kit.db_types import UTCDateTime


class PayableType(StrEnum):
    INVOICE = "invoice"
    PAYMENT_REQUEST = "payment_request"


class PaymentType(StrEnum):
    MANUAL = "manual"
    PROVIDER = "provider"


class PaymentState(StrEnum):
    """A payment's normalized status (Lago's ``payment_status`` of a payment)."""

    PENDING = "pending"
    PROCESSING = "processing"
    REQUIRES_ACTION = "requires_action"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


class Payment(TenantMixin, Base):
    __tablename__ = "payments"
    __table_args__ = (
        Index("ix_payments_payable", "payable_id"),
        Index("ix_payments_customer_id", "customer_id"),
        # A provider's payment is recorded once (a replayed result or webhook finds it).
        Index(
            "uq_payments_provider_payment_id",
            "organization_id",
            "provider",
            "provider_payment_id",
            unique=True,
            sqlite_where=text("provider_payment_id IS NOT NULL"),
            postgresql_where=text("provider_payment_id IS NOT NULL"),
        ),
        # A manual payment's reference is recorded once per payable (``POST /payments`` sent twice).
        Index(
            "uq_payments_manual_reference",
            "organization_id",
            "payable_id",
            "reference",
            unique=True,
            sqlite_where=text("payment_type = 'manual' AND reference IS NOT NULL"),
            postgresql_where=text("payment_type = 'manual' AND reference IS NOT NULL"),
        ),
    )

    #: A :class:`PayableType`.
    payable_type: Mapped[str] = mapped_column(String(32))
    #: The invoice's or payment request's id (no foreign key: the column serves both).
    payable_id: Mapped[uuid.UUID] = mapped_column(Uuid())
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    amount_currency: Mapped[str] = mapped_column(String(3))
    #: A :class:`PaymentState`.
    status: Mapped[str] = mapped_column(String(32), default=PaymentState.PENDING)
    #: The provider's own status (``requires_payment_method``...); ``succeeded`` for a manual payment.
    provider_status: Mapped[str | None] = mapped_column(String(255))
    #: A :class:`PaymentType`.
    payment_type: Mapped[str] = mapped_column(String(16))
    reference: Mapped[str | None] = mapped_column(String(255))
    #: When the money was received (a manual payment's ``paid_at``; a provider payment's success).
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The provider's name (the integration ``type``: ``stripe``) and the integration's code.
    provider: Mapped[str | None] = mapped_column(String(64))
    integration_code: Mapped[str | None] = mapped_column(String(255))
    provider_payment_id: Mapped[str | None] = mapped_column(String(255))
    provider_customer_id: Mapped[str | None] = mapped_column(String(255))
    #: The method used as the provider reports it (brand, last4, mandate...).
    provider_payment_method: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error_code: Mapped[str | None] = mapped_column(String(255))
    error_message: Mapped[str | None] = mapped_column(String(2048))
    #: 3-D Secure and the like: where the customer completes the payment.
    next_action_url: Mapped[str | None] = mapped_column(String(2048))


class PaymentRequest(TenantMixin, Base):
    __tablename__ = "payment_requests"
    __table_args__ = (Index("ix_payment_requests_customer_id", "customer_id"),)

    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"))
    email: Mapped[str] = mapped_column(String(1024))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    amount_currency: Mapped[str] = mapped_column(String(3))
    #: ``pending``, ``succeeded`` or ``failed`` (as an invoice's).
    payment_status: Mapped[str] = mapped_column(String(16), default="pending")
    payment_attempts: Mapped[int] = mapped_column(default=0)
    ready_for_payment_processing: Mapped[bool] = mapped_column(default=True)
    #: The dunning campaign that created it (a later issue adds the campaigns; no foreign key yet).
    dunning_campaign_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())


class PaymentRequestInvoice(TenantMixin, Base):
    """An invoice of a payment request (Lago's ``invoices_payment_requests``)."""

    __tablename__ = "payment_request_invoices"
    __table_args__ = (
        Index("uq_payment_request_invoices", "payment_request_id", "invoice_id", unique=True),
        Index("ix_payment_request_invoices_invoice_id", "invoice_id"),
    )

    payment_request_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("payment_requests.id", ondelete="CASCADE")
    )
    invoice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"))


class PaymentReceipt(TenantMixin, Base):
    __tablename__ = "payment_receipts"
    __table_args__ = (
        Index("uq_payment_receipts_payment_id", "payment_id", unique=True),
        Index("uq_payment_receipts_number", "organization_id", "number", unique=True),
    )

    payment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payments.id", ondelete="CASCADE"))
    number: Mapped[str] = mapped_column(String(255))
