"""Wallets (prepaid credits), their transactions and their recurring top-up rules (Lago's ``wallets``,
``wallet_transactions``, ``recurring_transaction_rules``).

A wallet holds *credits*; ``rate_amount`` is the currency value of one credit. Its balances are stored
on its row and changed only under the row's lock, in the transaction that settles a transaction
(:mod:`billow.wallets.service`): ``balance_cents`` is always the sum of its settled inbound transactions
minus its settled outbound ones, and never negative.

``code`` is unique per customer among active wallets (a partial unique index, as Lago's).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, text, true
from sqlalchemy.orm import Mapped, mapped_column

from billow.db import Base, TenantMixin
from billow.kit.db_types import ExactDecimal, UTCDateTime

#: The lowest priority (and the default): 1 is consumed first.
LOWEST_PRIORITY = 50


class WalletStatus(StrEnum):
    ACTIVE = "active"
    TERMINATED = "terminated"


class TransactionStatus(StrEnum):
    """Lago's ``transaction_status``: why the transaction exists."""

    PURCHASED = "purchased"
    GRANTED = "granted"
    VOIDED = "voided"
    INVOICED = "invoiced"


class TransactionType(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class SettlementStatus(StrEnum):
    """Lago's ``status`` of a transaction."""

    PENDING = "pending"
    SETTLED = "settled"
    FAILED = "failed"


class TransactionSource(StrEnum):
    MANUAL = "manual"
    INTERVAL = "interval"
    THRESHOLD = "threshold"


_ACTIVE = "status = 'active'"


class Wallet(TenantMixin, Base):
    __tablename__ = "wallets"
    __table_args__ = (
        Index("ix_wallets_customer_id", "customer_id"),
        Index(
            "uq_wallets_active_code_per_customer",
            "customer_id",
            "code",
            unique=True,
            sqlite_where=text(_ACTIVE),
            postgresql_where=text(_ACTIVE),
        ),
    )

    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"))
    status: Mapped[str] = mapped_column(String(16), default=WalletStatus.ACTIVE)
    name: Mapped[str | None] = mapped_column(String(255))
    code: Mapped[str] = mapped_column(String(255))
    currency: Mapped[str] = mapped_column(String(3))
    #: Currency value of one credit (``> 0``).
    rate_amount: Mapped[Decimal] = mapped_column(ExactDecimal())
    priority: Mapped[int] = mapped_column(Integer, default=LOWEST_PRIORITY)
    balance_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    credits_balance: Mapped[Decimal] = mapped_column(ExactDecimal(), default=Decimal(0))
    consumed_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    consumed_credits: Mapped[Decimal] = mapped_column(ExactDecimal(), default=Decimal(0))
    #: ``balance`` minus the customer's current usage: equal to the balance for now (no usage deducted).
    ongoing_balance_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    ongoing_usage_balance_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    credits_ongoing_balance: Mapped[Decimal] = mapped_column(ExactDecimal(), default=Decimal(0))
    credits_ongoing_usage_balance: Mapped[Decimal] = mapped_column(ExactDecimal(), default=Decimal(0))
    #: Lago's ``depleted_ongoing_balance``: the ongoing balance is at or below 0 and that was announced
    #: (``wallet.depleted_ongoing_balance``); cleared when it is above 0 again. A new wallet starts at 0,
    #: not depleted from above: true.
    depleted_ongoing_balance: Mapped[bool] = mapped_column(default=True, server_default=true())
    expiration_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    terminated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_balance_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_consumed_credit_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    invoice_requires_successful_payment: Mapped[bool] = mapped_column(default=False)
    paid_top_up_min_amount_cents: Mapped[int | None] = mapped_column(BigInteger)
    paid_top_up_max_amount_cents: Mapped[int | None] = mapped_column(BigInteger)
    #: ``applies_to.fee_types`` (empty: every fee type).
    allowed_fee_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: ``applies_to.billable_metric_codes`` (empty: every metric).
    billable_metric_codes: Mapped[list[str]] = mapped_column(JSON, default=list)
    purchase_order_number: Mapped[str | None] = mapped_column(String(255))
    #: Lago's item metadata (``{key: value | null}``), ``None`` when the wallet has none.
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSON)


class WalletTransaction(TenantMixin, Base):
    __tablename__ = "wallet_transactions"
    __table_args__ = (
        Index("ix_wallet_transactions_wallet_id", "wallet_id"),
        Index("ix_wallet_transactions_invoice_id", "invoice_id"),
    )

    wallet_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("wallets.id"))
    #: The credit invoice of a purchase, or the invoice an ``invoiced`` transaction paid.
    invoice_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("invoices.id"))
    transaction_type: Mapped[str] = mapped_column(String(16))
    transaction_status: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16), default=TransactionSource.MANUAL)
    #: In the wallet's currency, rounded to its exponent (Lago's ``amount``).
    amount: Mapped[Decimal] = mapped_column(ExactDecimal())
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    credit_amount: Mapped[Decimal] = mapped_column(ExactDecimal())
    priority: Mapped[int] = mapped_column(Integer, default=LOWEST_PRIORITY)
    invoice_requires_successful_payment: Mapped[bool] = mapped_column(default=False)
    name: Mapped[str | None] = mapped_column(String(255))
    purchase_order_number: Mapped[str | None] = mapped_column(String(255))
    #: ``[{key, value}]``.
    metadata_: Mapped[list[dict[str, str]]] = mapped_column("metadata", JSON, default=list)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class RecurringTransactionRule(TenantMixin, Base):
    """A recurring top-up of a wallet (stored and shown; not executed yet)."""

    __tablename__ = "recurring_transaction_rules"
    __table_args__ = (Index("ix_recurring_transaction_rules_wallet_id", "wallet_id"),)

    wallet_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("wallets.id"))
    status: Mapped[str] = mapped_column(String(16), default=WalletStatus.ACTIVE)
    #: ``interval`` | ``threshold``.
    trigger: Mapped[str] = mapped_column(String(16))
    #: ``fixed`` | ``target``.
    method: Mapped[str] = mapped_column(String(16), default="fixed")
    #: ``weekly`` | ``monthly`` | ``quarterly`` | ``semiannual`` | ``yearly`` (interval rules).
    interval: Mapped[str | None] = mapped_column(String(16))
    threshold_credits: Mapped[Decimal] = mapped_column(ExactDecimal(), default=Decimal(0))
    paid_credits: Mapped[Decimal] = mapped_column(ExactDecimal(), default=Decimal(0))
    granted_credits: Mapped[Decimal] = mapped_column(ExactDecimal(), default=Decimal(0))
    target_ongoing_balance: Mapped[Decimal | None] = mapped_column(ExactDecimal())
    grants_target_top_up: Mapped[bool | None] = mapped_column()
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    expiration_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    terminated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    invoice_requires_successful_payment: Mapped[bool] = mapped_column(default=False)
    ignore_paid_top_up_limits: Mapped[bool] = mapped_column(default=False)
    transaction_name: Mapped[str | None] = mapped_column(String(255))
    purchase_order_number: Mapped[str | None] = mapped_column(String(255))
    transaction_metadata: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
