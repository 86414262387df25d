from __future__ import annotations

import uuid

from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from billow.db import Base, SoftDeleteMixin, TenantMixin


class AddOn(TenantMixin, SoftDeleteMixin, Base):
    """A catalogue item billed once, on a one-off invoice. ``amount_cents`` is the default unit price."""

    __tablename__ = "add_ons"

    name: Mapped[str] = mapped_column(String(255))
    invoice_display_name: Mapped[str | None] = mapped_column(String(255))
    code: Mapped[str] = mapped_column(String(255))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    amount_currency: Mapped[str] = mapped_column(String(3))
    description: Mapped[str | None] = mapped_column(String(2048))


# One code per organization among live add-ons: a deleted add-on frees its code.
Index(
    "uq_add_ons_organization_id_code",
    AddOn.organization_id,
    AddOn.code,
    unique=True,
    sqlite_where=AddOn.deleted_at.is_(None),
    postgresql_where=AddOn.deleted_at.is_(None),
)


class AddOnTax(Base):
    """A tax applied to an add-on. Deleting the tax (or the add-on) removes the link."""

    __tablename__ = "add_on_taxes"

    add_on_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("add_ons.id", ondelete="CASCADE"), primary_key=True
    )
    tax_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("taxes.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
