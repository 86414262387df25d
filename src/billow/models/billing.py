"""Billing state that is not an invoice: a subscription's lifetime usage settings (progressive billing)."""

from __future__ import annotations

import uuid

from sqlalchemy import BigInteger, ForeignKey, Index
from sqlalchemy.orm import Mapped, mapped_column

from billow.db import Base, TenantMixin


class LifetimeUsage(TenantMixin, Base):
    """A subscription's usage billed outside Billow (``external_historical_usage_amount_cents``, set by
    ``PUT /subscriptions/{external_id}/lifetime_usage``). The other lifetime amounts are computed when
    asked (:mod:`billow.billing.progressive`); a subscription without a row has no historical usage."""

    __tablename__ = "lifetime_usages"
    __table_args__ = (Index("uq_lifetime_usages_subscription_id", "subscription_id", unique=True),)

    subscription_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subscriptions.id", ondelete="CASCADE"))
    external_historical_usage_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
