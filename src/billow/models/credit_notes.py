"""Credit notes: an amount given back on a finalized invoice (Lago's ``credit_notes``).

Billow issues them automatically when a subscription whose plan fee was paid in advance is terminated
or upgraded before the end of the paid period (the unused days, :mod:`billow.credit_notes.service`,
credited by the billing run: :mod:`billow.billing.termination_credits`).
A credit note's total (items + taxes) is split between

* ``credit_amount_cents``: customer credit; ``balance_amount_cents`` is what is left of it, consumed by
  the customer's next invoices after taxes (oldest credit note first), each consumption recorded in
  :class:`InvoiceCreditNote`; ``credit_status`` is ``available`` until the balance is 0 (``consumed``);
* ``refund_amount_cents``: to be refunded (``refund_status`` ``pending`` until an update says otherwise,
  or the customer's payment provider answers the refund: ``credit_notes.service.refund_settled``);
* ``offset_amount_cents``: deducted from what is still due on the source invoice.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import JSON, BigInteger, Date, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from billow.db import Base, TenantMixin
from billow.kit.db_types import ExactDecimal, UTCDateTime


class CreditStatus(StrEnum):
    AVAILABLE = "available"
    CONSUMED = "consumed"
    VOIDED = "voided"


class RefundStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class CreditNoteReason(StrEnum):
    DUPLICATED_CHARGE = "duplicated_charge"
    PRODUCT_UNSATISFACTORY = "product_unsatisfactory"
    ORDER_CHANGE = "order_change"
    ORDER_CANCELLATION = "order_cancellation"
    FRAUDULENT_CHARGE = "fraudulent_charge"
    OTHER = "other"


class CreditNote(TenantMixin, Base):
    __tablename__ = "credit_notes"
    __table_args__ = (
        Index("ix_credit_notes_organization_id_customer_id", "organization_id", "customer_id"),
        # ``sequential_id`` counts the credit notes of one invoice (the number is ``<invoice>-CN<seq>``).
        Index("uq_credit_notes_invoice_id_sequential_id", "invoice_id", "sequential_id", unique=True),
        # The unused days of a subscription are credited once per reason, whatever the retries or
        # concurrent billing runs (:mod:`billow.billing.termination_credits`).
        Index(
            "uq_credit_notes_subscription_id_reason",
            "subscription_id",
            "reason",
            unique=True,
            sqlite_where=text("subscription_id IS NOT NULL"),
            postgresql_where=text("subscription_id IS NOT NULL"),
        ),
    )

    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"))
    invoice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("invoices.id"))
    #: The terminated (or upgraded) subscription whose unused days this credits, if automatic.
    subscription_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("subscriptions.id"))
    sequential_id: Mapped[int] = mapped_column(BigInteger)
    number: Mapped[str] = mapped_column(String(255))
    issuing_date: Mapped[date] = mapped_column(Date)
    #: ``finalized`` (Lago's drafts only exist for tax-provider flows).
    status: Mapped[str] = mapped_column(String(16), default="finalized")
    credit_status: Mapped[str | None] = mapped_column(String(16))
    refund_status: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(32))
    description: Mapped[str | None] = mapped_column(String(2048))
    currency: Mapped[str] = mapped_column(String(3))
    total_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    precise_total_amount_cents: Mapped[Decimal] = mapped_column(ExactDecimal(), default=Decimal(0))
    taxes_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    precise_taxes_amount_cents: Mapped[Decimal] = mapped_column(ExactDecimal(), default=Decimal(0))
    taxes_rate: Mapped[Decimal] = mapped_column(ExactDecimal(), default=Decimal(0))
    sub_total_excluding_taxes_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    coupons_adjustment_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    precise_coupons_adjustment_amount_cents: Mapped[Decimal] = mapped_column(
        ExactDecimal(), default=Decimal(0)
    )
    credit_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    balance_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    refund_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    offset_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    refunded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Lago's credit-note metadata: string keys (100 characters at most) to strings (255) or null.
    key_values: Mapped[dict[str, str | None] | None] = mapped_column("metadata", JSON)


class CreditNoteItem(TenantMixin, Base):
    """The part of one fee that is credited (before taxes)."""

    __tablename__ = "credit_note_items"
    __table_args__ = (
        Index("ix_credit_note_items_credit_note_id", "credit_note_id"),
        Index("ix_credit_note_items_fee_id", "fee_id"),
    )

    credit_note_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("credit_notes.id", ondelete="CASCADE"))
    fee_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("fees.id"))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    precise_amount_cents: Mapped[Decimal] = mapped_column(ExactDecimal())
    amount_currency: Mapped[str] = mapped_column(String(3))


class CreditNoteAppliedTax(TenantMixin, Base):
    __tablename__ = "credit_note_applied_taxes"
    __table_args__ = (Index("ix_credit_note_applied_taxes_credit_note_id", "credit_note_id"),)

    credit_note_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("credit_notes.id", ondelete="CASCADE"))
    tax_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("taxes.id", ondelete="SET NULL"))
    tax_code: Mapped[str] = mapped_column(String(255))
    tax_name: Mapped[str] = mapped_column(String(255))
    tax_description: Mapped[str | None] = mapped_column(String(2048))
    tax_rate: Mapped[Decimal] = mapped_column(ExactDecimal())
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    amount_currency: Mapped[str] = mapped_column(String(3))
    base_amount_cents: Mapped[int] = mapped_column(BigInteger)


class InvoiceCreditNote(TenantMixin, Base):
    """What one invoice consumed of one credit note's credit (Lago's ``credits`` row of a credit note)."""

    __tablename__ = "invoice_credit_notes"
    __table_args__ = (
        Index("ix_invoice_credit_notes_invoice_id", "invoice_id"),
        Index("ix_invoice_credit_notes_credit_note_id", "credit_note_id"),
    )

    invoice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"))
    credit_note_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("credit_notes.id"))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    amount_currency: Mapped[str] = mapped_column(String(3))
