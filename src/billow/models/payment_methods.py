"""A customer's payment methods stored at its payment provider (Lago's ``payment_methods``): filled from
the provider's answers (``GET /customers/{id}/payment_methods``) and its webhooks, one default per
customer, soft-deleted.

Not to be confused with ``customers.provider_payment_methods``: Lago's list of the method *types* a
customer may use (``card``, ``sepa_debit``), configured through ``billing_configuration``."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from billow.db import Base, SoftDeleteMixin, TenantMixin


class PaymentMethod(TenantMixin, SoftDeleteMixin, Base):
    __tablename__ = "payment_methods"

    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    #: The payment provider's integration (its ``type``, ``code`` and ``name`` are rendered).
    integration_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("integrations.id", ondelete="CASCADE"))
    #: The provider's id of the customer when the method was stored.
    provider_customer_id: Mapped[str | None] = mapped_column(String(255))
    provider_method_id: Mapped[str] = mapped_column(String(255))
    #: ``card``, ``sepa_debit``, ``paypal``...
    provider_method_type: Mapped[str] = mapped_column(String(64))
    is_default: Mapped[bool] = mapped_column(default=False)
    #: Brand, last4, expiry... as the provider reports them (never a full number).
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


Index(
    "uq_payment_methods_integration_customer_method",
    PaymentMethod.integration_id,
    PaymentMethod.customer_id,
    PaymentMethod.provider_method_id,
    unique=True,
    sqlite_where=PaymentMethod.deleted_at.is_(None),
    postgresql_where=PaymentMethod.deleted_at.is_(None),
)
