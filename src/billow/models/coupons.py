from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from billow.db import Base, SoftDeleteMixin, TenantMixin
from billow.kit.db_types import ExactDecimal, UTCDateTime

COUPON_TYPES = ("fixed_amount", "percentage")
FREQUENCIES = ("once", "recurring", "forever")
EXPIRATIONS = ("no_expiration", "time_limit")


class Coupon(TenantMixin, SoftDeleteMixin, Base):
    """A discount template: a fixed amount or a percentage, applied once, N times or forever.

    ``limited_plans`` / ``limited_billable_metrics`` say whether :class:`CouponTarget` rows restrict
    it to some plans or some billable metrics (never both).
    """

    __tablename__ = "coupons"

    name: Mapped[str] = mapped_column(String(255))
    code: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(String(2048))
    coupon_type: Mapped[str] = mapped_column(String(16))
    amount_cents: Mapped[int | None] = mapped_column(BigInteger)
    amount_currency: Mapped[str | None] = mapped_column(String(3))
    #: A percent: ``12.5`` = 12.5 %.
    percentage_rate: Mapped[Decimal | None] = mapped_column(ExactDecimal())
    frequency: Mapped[str] = mapped_column(String(16))
    frequency_duration: Mapped[int | None] = mapped_column(Integer)
    expiration: Mapped[str] = mapped_column(String(16))
    expiration_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reusable: Mapped[bool] = mapped_column(default=True)
    limited_plans: Mapped[bool] = mapped_column(default=False)
    limited_billable_metrics: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(16), default="active")
    terminated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


# One code per organization among live coupons: a deleted coupon frees its code.
Index(
    "uq_coupons_organization_id_code",
    Coupon.organization_id,
    Coupon.code,
    unique=True,
    sqlite_where=Coupon.deleted_at.is_(None),
    postgresql_where=Coupon.deleted_at.is_(None),
)


class CouponTarget(TenantMixin, Base):
    """Restricts a coupon to one plan or one billable metric (exactly one of the two is set)."""

    __tablename__ = "coupon_targets"
    __table_args__ = (
        CheckConstraint("(plan_id IS NULL) <> (billable_metric_id IS NULL)", name="plan_xor_billable_metric"),
    )

    coupon_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("coupons.id", ondelete="CASCADE"), index=True)
    plan_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"), index=True)
    billable_metric_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("billable_metrics.id", ondelete="CASCADE"), index=True
    )


APPLIED_COUPON_STATUSES = ("active", "terminated")


class AppliedCoupon(TenantMixin, Base):
    """A coupon applied to a customer, with its own copy of the coupon's terms (the request may override
    them).

    ``amount_cents_remaining`` is what is left of a ``once`` fixed amount; ``frequency_duration_remaining``
    the periods left of a ``recurring`` one. Invoices consume them (a later step); terminating it ends it.
    """

    __tablename__ = "applied_coupons"

    coupon_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("coupons.id"), index=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="active")
    amount_cents: Mapped[int | None] = mapped_column(BigInteger)
    amount_cents_remaining: Mapped[int | None] = mapped_column(BigInteger)
    amount_currency: Mapped[str | None] = mapped_column(String(3))
    #: A percent: ``12.5`` = 12.5 %.
    percentage_rate: Mapped[Decimal | None] = mapped_column(ExactDecimal())
    frequency: Mapped[str] = mapped_column(String(16))
    frequency_duration: Mapped[int | None] = mapped_column(Integer)
    frequency_duration_remaining: Mapped[int | None] = mapped_column(Integer)
    terminated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class InvoiceCoupon(TenantMixin, Base):
    """What one invoice took from one applied coupon (Lago's coupon ``credit``, before taxes): written when
    the invoice is finalized, in its transaction, with the applied coupon's new state."""

    __tablename__ = "invoice_coupons"

    invoice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"), index=True)
    applied_coupon_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("applied_coupons.id"), index=True)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    amount_currency: Mapped[str] = mapped_column(String(3))
