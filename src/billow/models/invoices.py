"""Invoices, their fees, the subscription periods they bill, and their applied taxes.

A subscription invoice is written in one transaction together with its ``invoice_subscriptions`` rows.
``invoice_subscriptions`` is unique on ``(subscription_id, invoicing_reason, period_start)`` (the key of
:class:`billow.billing.schedule.DueInvoice`): a second worker billing the same period fails on that key
and rolls back, so a period is billed once whatever runs concurrently.

Numbers come from :class:`InvoiceSequence` rows incremented with ``UPDATE ... RETURNING`` in the
invoice's transaction (concurrent billing runs queue on the row lock; a rollback gives the number back).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Date, ForeignKey, Index, String, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from billow.db import Base, TenantMixin
from billow.kit.db_types import ExactDecimal, UTCDateTime

#: Lago's current invoice ``version_number`` (fees and taxes computed per fee).
INVOICE_VERSION = 4


class InvoiceStatus(StrEnum):
    DRAFT = "draft"
    FINALIZED = "finalized"
    VOIDED = "voided"
    #: Invisible: a zero-amount invoice not finalized (``finalize_zero_amount_invoice`` = skip).
    CLOSED = "closed"
    #: Invisible: a deleted draft. Its ``invoice_subscriptions`` rows stay, so the period is not billed again.
    DELETED = "deleted"
    #: The billing of its period failed (:mod:`billow.billing.failures`): no fees, no number, amounts 0,
    #: ``error_details`` say why. Its ``invoice_subscriptions`` row holds the period's key but does not
    #: count as billed: the next run (or ``POST /invoices/{id}/retry``) bills the period into this invoice.
    FAILED = "failed"


#: Statuses the API shows (Lago's ``Invoice::VISIBLE_STATUS`` among those Billow uses).
VISIBLE_STATUSES = (InvoiceStatus.DRAFT, InvoiceStatus.FINALIZED, InvoiceStatus.VOIDED, InvoiceStatus.FAILED)


class InvoiceType(StrEnum):
    """What an invoice bills (Lago's ``invoice_type``): Billow writes the first two today."""

    SUBSCRIPTION = "subscription"
    PROGRESSIVE_BILLING = "progressive_billing"
    ADD_ON = "add_on"
    ONE_OFF = "one_off"
    CREDIT = "credit"
    ADVANCE_CHARGES = "advance_charges"


class PaymentStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Invoice(TenantMixin, Base):
    __tablename__ = "invoices"
    __table_args__ = (
        Index("ix_invoices_organization_id_issuing_date", "organization_id", "issuing_date"),
        Index("ix_invoices_customer_id", "customer_id"),
    )

    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"))
    #: ``<prefix>-DRAFT`` until finalization (drafts and closed invoices consume no number).
    number: Mapped[str] = mapped_column(String(255))
    #: The customer's invoice counter (``per_customer`` numbering); ``None`` until finalized.
    sequential_id: Mapped[int | None] = mapped_column(BigInteger)
    #: The organization's invoice counter (``per_organization`` numbering); ``None`` until finalized.
    organization_sequential_id: Mapped[int | None] = mapped_column(BigInteger)
    invoice_type: Mapped[str] = mapped_column(String(32), default=InvoiceType.SUBSCRIPTION)
    status: Mapped[str] = mapped_column(String(16), default=InvoiceStatus.FINALIZED)
    payment_status: Mapped[str] = mapped_column(String(16), default=PaymentStatus.PENDING)
    payment_overdue: Mapped[bool] = mapped_column(default=False)
    #: When the payment's dispute was lost (``POST /invoices/{id}/lose_dispute``, a provider's webhook).
    payment_dispute_lost_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    currency: Mapped[str] = mapped_column(String(3))
    issuing_date: Mapped[date] = mapped_column(Date)
    payment_due_date: Mapped[date] = mapped_column(Date)
    net_payment_term: Mapped[int] = mapped_column(default=0)
    fees_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    taxes_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    coupons_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    credit_notes_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    prepaid_credit_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    progressive_billing_credit_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    sub_total_excluding_taxes_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    sub_total_including_taxes_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    total_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    total_paid_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    version_number: Mapped[int] = mapped_column(default=INVOICE_VERSION)
    finalized_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Drafts: the day the grace period ends and the finalization scan finalizes it.
    expected_finalization_date: Mapped[date | None] = mapped_column(Date)
    #: Drafts: when the fees were last rebuilt (the refresh scan looks for events ingested since).
    refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Progressive billing: the usage thresholds this invoice bills, as Lago's ``applied_usage_thresholds``
    #: (a snapshot: the plan's thresholds may change later).
    applied_usage_thresholds: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    #: Failed invoices: Lago's ``error_details`` (``[{lago_id, error_code, details}]``), replaced at each
    #: failed attempt (the ``lago_id`` of an error code is kept).
    error_details: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)


class InvoiceMetadata(TenantMixin, Base):
    """A key/value pair of an invoice (Lago's ``invoice_metadata``), set by ``PUT /invoices/{id}``."""

    __tablename__ = "invoice_metadata"
    __table_args__ = (Index("uq_invoice_metadata_invoice_id_key", "invoice_id", "key", unique=True),)

    invoice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    value: Mapped[str] = mapped_column(String(255))


_MANY_PER_PERIOD = "invoicing_reason NOT IN ('in_advance_charge', 'progressive_billing')"


class InvoiceSubscription(TenantMixin, Base):
    """One subscription period billed by an invoice (Lago's ``invoice_subscriptions``)."""

    __tablename__ = "invoice_subscriptions"
    __table_args__ = (
        # One invoice per period; pay-in-advance charge and progressive-billing invoices (several per
        # period) have their own keys (the fee's event, the subscription's row lock).
        Index(
            "uq_invoice_subscriptions_period",
            "subscription_id",
            "invoicing_reason",
            "period_start",
            unique=True,
            sqlite_where=text(_MANY_PER_PERIOD),
            postgresql_where=text(_MANY_PER_PERIOD),
        ),
        Index("ix_invoice_subscriptions_invoice_id", "invoice_id"),
    )

    invoice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"))
    subscription_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subscriptions.id"))
    #: ``subscription_starting`` | ``subscription_periodic`` | ``subscription_terminating``.
    invoicing_reason: Mapped[str] = mapped_column(String(32))
    #: Start of the charges period the invoice closes (the first plan period for ``subscription_starting``).
    period_start: Mapped[datetime] = mapped_column(UTCDateTime())
    #: When the invoice became due (the period boundary, the start, or the termination).
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime())
    from_datetime: Mapped[datetime | None] = mapped_column(UTCDateTime())
    to_datetime: Mapped[datetime | None] = mapped_column(UTCDateTime())
    charges_from_datetime: Mapped[datetime | None] = mapped_column(UTCDateTime())
    charges_to_datetime: Mapped[datetime | None] = mapped_column(UTCDateTime())


class FeeType(StrEnum):
    SUBSCRIPTION = "subscription"
    CHARGE = "charge"
    COMMITMENT = "commitment"
    #: A one-off invoice's line: an add-on billed once (``POST /invoices``).
    ADD_ON = "add_on"
    #: A wallet top-up (paid credits) on a ``credit`` invoice.
    CREDIT = "credit"
    #: A plan's fixed charge (an add-on billed every period) on a subscription invoice.
    FIXED_CHARGE = "fixed_charge"


class Fee(TenantMixin, Base):
    __tablename__ = "fees"
    __table_args__ = (
        Index("ix_fees_invoice_id", "invoice_id"),
        Index("ix_fees_subscription_id", "subscription_id"),
        # Pay-in-advance fees: one fee per (subscription, charge, event), whatever runs concurrently.
        Index(
            "uq_fees_pay_in_advance_event",
            "subscription_id",
            "charge_id",
            "event_transaction_id",
            unique=True,
            sqlite_where=text("event_transaction_id IS NOT NULL"),
            postgresql_where=text("event_transaction_id IS NOT NULL"),
        ),
    )

    invoice_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"))
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"))
    subscription_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("subscriptions.id"))
    charge_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("charges.id"))
    charge_filter_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("charge_filters.id"))
    #: An ``add_on`` fee (one-off invoice): the add-on it bills (kept when the add-on is deleted).
    add_on_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("add_ons.id"), index=True)
    #: A ``fixed_charge`` fee: the plan's fixed charge it bills (its ``add_on_id`` is the charge's add-on).
    fixed_charge_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("fixed_charges.id"), index=True)
    #: A true-up fee (charge spending minimum) points at the charge fee it completes.
    true_up_parent_fee_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("fees.id", ondelete="SET NULL"), index=True
    )
    fee_type: Mapped[str] = mapped_column(String(16))
    grouped_by: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    units: Mapped[Decimal] = mapped_column(ExactDecimal(), default=Decimal(0))
    total_aggregated_units: Mapped[Decimal] = mapped_column(ExactDecimal(), default=Decimal(0))
    events_count: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    precise_amount_cents: Mapped[Decimal] = mapped_column(ExactDecimal(), default=Decimal(0))
    amount_currency: Mapped[str] = mapped_column(String(3))
    #: Price of one unit in currency units (Lago's ``precise_unit_amount``).
    unit_amount: Mapped[Decimal] = mapped_column(ExactDecimal(), default=Decimal(0))
    #: The fee's share of the invoice's coupons (whole cents: :mod:`billow.billing.coupons`).
    precise_coupons_amount_cents: Mapped[Decimal] = mapped_column(ExactDecimal(), default=Decimal(0))
    taxes_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    taxes_precise_amount_cents: Mapped[Decimal] = mapped_column(ExactDecimal(), default=Decimal(0))
    #: Sum of the applied taxes' rates, in percent.
    taxes_rate: Mapped[Decimal] = mapped_column(ExactDecimal(), default=Decimal(0))
    amount_details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    invoice_display_name: Mapped[str | None] = mapped_column(String(255))
    #: An ``add_on`` fee's description (the request's, else its add-on's).
    description: Mapped[str | None] = mapped_column(String(2048))
    pay_in_advance: Mapped[bool] = mapped_column(default=False)
    invoiceable: Mapped[bool] = mapped_column(default=True)
    payment_status: Mapped[str] = mapped_column(String(16), default=PaymentStatus.PENDING)
    from_datetime: Mapped[datetime | None] = mapped_column(UTCDateTime())
    to_datetime: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Set with ``payment_status`` by ``PUT /fees/{id}`` (fees not attached to an invoice).
    succeeded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    refunded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: ``DELETE /fees/{id}`` (only a fee not attached to an invoice): the fee is kept, hidden.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Pay-in-advance fees: the event they bill.
    event_transaction_id: Mapped[str | None] = mapped_column(String(255))
    #: Credit fees (``fee_type`` ``credit``): the wallet transaction they bill (Lago's ``invoiceable_id``).
    invoiceable_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)


class AppliedTax(TenantMixin, Base):
    """A tax applied to an invoice, with the amount owed (Lago's ``invoices_taxes``)."""

    __tablename__ = "applied_taxes"
    __table_args__ = (Index("ix_applied_taxes_invoice_id", "invoice_id"),)

    invoice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"))
    tax_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("taxes.id", ondelete="SET NULL"))
    tax_code: Mapped[str] = mapped_column(String(255))
    tax_name: Mapped[str] = mapped_column(String(255))
    tax_description: Mapped[str | None] = mapped_column(String(2048))
    tax_rate: Mapped[Decimal] = mapped_column(ExactDecimal())
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    amount_currency: Mapped[str] = mapped_column(String(3))
    #: The taxable base: the fees this tax applies to.
    fees_amount_cents: Mapped[int] = mapped_column(BigInteger)


class InvoiceSequence(Base):
    """The last invoice number of a scope: a customer (``per_customer``) or the organization.

    ``scope`` is ``"organization"`` or ``"customer:<uuid>"``.
    """

    __tablename__ = "invoice_sequences"

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_value: Mapped[int] = mapped_column(BigInteger, default=0)
