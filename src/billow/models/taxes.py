from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from billow.db import Base, TenantMixin
from billow.kit.db_types import ExactDecimal


class Tax(TenantMixin, Base):
    """A tax rate. ``rate`` is a percent (``20`` = 20 %).

    Taxes are deleted for real: objects that applied one hold it through association tables whose
    foreign keys cascade, and issued invoices keep their own copy of name, code and rate.
    """

    __tablename__ = "taxes"
    __table_args__ = (
        # Serves lookups by code and enforces one code per organization.
        Index("uq_taxes_organization_id_code", "organization_id", "code", unique=True),
    )

    name: Mapped[str] = mapped_column(String(255))
    code: Mapped[str] = mapped_column(String(255))
    rate: Mapped[Decimal] = mapped_column(ExactDecimal())
    description: Mapped[str | None] = mapped_column(String(2048))
    applied_to_organization: Mapped[bool] = mapped_column(default=False)
