from __future__ import annotations

import uuid
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index, String, Table, and_
from sqlalchemy.orm import Mapped, mapped_column

from billow.db import Base, SoftDeleteMixin, TenantMixin
from billow.kit.db_types import ExactDecimal


def _tax_link(name: str, owner_table: str) -> Table:
    """An association ``<owner> ↔ tax``. Deleting a tax (or the owner) removes the link."""
    owner_column = owner_table.removesuffix("s") + "_id"
    return Table(
        name,
        Base.metadata,
        Column(owner_column, ForeignKey(f"{owner_table}.id", ondelete="CASCADE"), primary_key=True),
        Column("tax_id", ForeignKey("taxes.id", ondelete="CASCADE"), primary_key=True, index=True),
        Column(
            "organization_id", ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False, index=True
        ),
    )


class Interval(StrEnum):
    DAILY = "daily"
    """Billow extension: one local calendar day."""
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    SEMIANNUAL = "semiannual"
    YEARLY = "yearly"


#: Plan intervals long enough for their usage charges to be billed monthly (``bill_charges_monthly``).
MONTHLY_CHARGES_INTERVALS = frozenset({Interval.YEARLY, Interval.SEMIANNUAL})


class Plan(TenantMixin, SoftDeleteMixin, Base):
    __tablename__ = "plans"

    name: Mapped[str] = mapped_column(String(255))
    code: Mapped[str] = mapped_column(String(255))
    interval: Mapped[str] = mapped_column(String(16))
    description: Mapped[str | None] = mapped_column(String(2048))
    invoice_display_name: Mapped[str | None] = mapped_column(String(255))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    amount_currency: Mapped[str] = mapped_column(String(3))
    # Days, possibly fractional (Lago types it as a float; we keep it exact).
    trial_period: Mapped[Decimal | None] = mapped_column(ExactDecimal())
    pay_in_advance: Mapped[bool] = mapped_column(default=False)
    bill_charges_monthly: Mapped[bool | None] = mapped_column(default=None)
    bill_fixed_charges_monthly: Mapped[bool | None] = mapped_column(default=None)
    # ``metadata`` is reserved by SQLAlchemy's declarative base, hence the attribute name.
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSON)
    # A child plan holds one subscription's ``plan_overrides``; it keeps its parent's code and is
    # neither listed nor found by code.
    parent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("plans.id", ondelete="CASCADE"), index=True, default=None
    )


# Codes are unique among live parent plans (children share their parent's code).
Index(
    "uq_plans_organization_id_code",
    Plan.organization_id,
    Plan.code,
    unique=True,
    sqlite_where=and_(Plan.deleted_at.is_(None), Plan.parent_id.is_(None)),
    postgresql_where=and_(Plan.deleted_at.is_(None), Plan.parent_id.is_(None)),
)

plan_taxes = _tax_link("plan_taxes", "plans")


class Charge(TenantMixin, SoftDeleteMixin, Base):
    """How a plan prices one billable metric. ``properties`` keep prices as decimal strings."""

    __tablename__ = "charges"

    plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"), index=True)
    billable_metric_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("billable_metrics.id", ondelete="CASCADE"), index=True
    )
    code: Mapped[str] = mapped_column(String(255))
    charge_model: Mapped[str] = mapped_column(String(32))
    invoice_display_name: Mapped[str | None] = mapped_column(String(255))
    pay_in_advance: Mapped[bool] = mapped_column(default=False)
    prorated: Mapped[bool] = mapped_column(default=False)
    invoiceable: Mapped[bool] = mapped_column(default=True)
    regroup_paid_fees: Mapped[str | None] = mapped_column(String(16))
    min_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Order of the charges in the plan (the order they were given in); rows created in one request
    # can share a ``created_at``.
    position: Mapped[int] = mapped_column(default=0)


Index(
    "uq_charges_plan_id_code",
    Charge.plan_id,
    Charge.code,
    unique=True,
    sqlite_where=Charge.deleted_at.is_(None),
    postgresql_where=Charge.deleted_at.is_(None),
)

charge_taxes = _tax_link("charge_taxes", "charges")


class ChargeFilter(TenantMixin, SoftDeleteMixin, Base):
    """A price override of a charge for events whose properties match ``ChargeFilterValue`` rows."""

    __tablename__ = "charge_filters"

    charge_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("charges.id", ondelete="CASCADE"), index=True)
    invoice_display_name: Mapped[str | None] = mapped_column(String(255))
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Order of the filters in the charge, as given.
    position: Mapped[int] = mapped_column(default=0)


class ChargeFilterValue(TenantMixin, Base):
    """One key of a charge filter and the metric filter values it matches (or ``__ALL_FILTER_VALUES__``).

    Refers to the metric filter by ``key``: a metric update cannot remove a key or value still used here.
    """

    __tablename__ = "charge_filter_values"
    __table_args__ = (
        Index("uq_charge_filter_values_charge_filter_id_key", "charge_filter_id", "key", unique=True),
    )

    charge_filter_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("charge_filters.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    values: Mapped[list[Any]] = mapped_column(JSON)


class UsageThreshold(TenantMixin, SoftDeleteMixin, Base):
    """Progressive billing: invoice when usage reaches ``amount_cents`` (every time, if recurring)."""

    __tablename__ = "usage_thresholds"

    plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"), index=True)
    threshold_display_name: Mapped[str | None] = mapped_column(String(255))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    recurring: Mapped[bool] = mapped_column(default=False)


class Commitment(TenantMixin, Base):
    """A plan's minimum commitment per billing interval (the only commitment type Lago has)."""

    __tablename__ = "commitments"
    __table_args__ = (
        Index("uq_commitments_plan_id_commitment_type", "plan_id", "commitment_type", unique=True),
    )

    plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"))
    commitment_type: Mapped[str] = mapped_column(String(32), default="minimum_commitment")
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    invoice_display_name: Mapped[str | None] = mapped_column(String(255))


commitment_taxes = _tax_link("commitment_taxes", "commitments")


class FixedCharge(TenantMixin, SoftDeleteMixin, Base):
    """An add-on a plan bills every period: ``units`` priced by ``charge_model`` (standard, graduated or
    volume), in advance (at the period start) or in arrears. ``properties`` keep prices as strings.

    A child plan's fixed charge (a subscription's override) points at the parent plan's one it copies
    (``parent_id``, Lago's ``lago_parent_id``); codes are unique among a plan's live fixed charges.
    """

    __tablename__ = "fixed_charges"

    plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"), index=True)
    add_on_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("add_ons.id", ondelete="CASCADE"), index=True)
    parent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("fixed_charges.id", ondelete="SET NULL"), index=True, default=None
    )
    code: Mapped[str] = mapped_column(String(255))
    charge_model: Mapped[str] = mapped_column(String(32))
    invoice_display_name: Mapped[str | None] = mapped_column(String(255))
    pay_in_advance: Mapped[bool] = mapped_column(default=False)
    prorated: Mapped[bool] = mapped_column(default=False)
    units: Mapped[Decimal] = mapped_column(ExactDecimal(), default=Decimal(0))
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Order of the fixed charges in the plan, as given.
    position: Mapped[int] = mapped_column(default=0)


Index(
    "uq_fixed_charges_plan_id_code",
    FixedCharge.plan_id,
    FixedCharge.code,
    unique=True,
    sqlite_where=FixedCharge.deleted_at.is_(None),
    postgresql_where=FixedCharge.deleted_at.is_(None),
)

fixed_charge_taxes = _tax_link("fixed_charge_taxes", "fixed_charges")
