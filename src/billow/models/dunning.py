"""Dunning campaigns (issue 13): a schedule of payment requests sent to customers whose overdue balance
reaches a threshold (:mod:`billow.dunning`).

* :class:`DunningCampaign` — ``code`` unique per organization among non-deleted campaigns; at most one is
  ``applied_to_organization`` (the default of the customers without their own campaign).
* :class:`DunningCampaignThreshold` — the overdue balance, per currency, from which the campaign acts.

The customer's side (``applied_dunning_campaign_id``, ``exclude_from_dunning_campaign``, the attempt
counter) is on :class:`billow.models.customers.Customer`.
"""

from __future__ import annotations

import uuid

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from billow.db import Base, SoftDeleteMixin, TenantMixin


class DunningCampaign(TenantMixin, SoftDeleteMixin, Base):
    __tablename__ = "dunning_campaigns"

    code: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(String(2048))
    #: Addresses copied (bcc) on every payment request the campaign sends.
    bcc_emails: Mapped[list[str]] = mapped_column(JSON, default=list)
    days_between_attempts: Mapped[int] = mapped_column(default=1)
    max_attempts: Mapped[int] = mapped_column(default=1)
    #: The organization's default campaign (at most one per organization).
    applied_to_organization: Mapped[bool] = mapped_column(default=False)


Index(
    "uq_dunning_campaigns_organization_id_code",
    DunningCampaign.organization_id,
    DunningCampaign.code,
    unique=True,
    sqlite_where=DunningCampaign.deleted_at.is_(None),
    postgresql_where=DunningCampaign.deleted_at.is_(None),
)
# One default campaign per organization (booleans are 0/1 in SQLite).
Index(
    "uq_dunning_campaigns_organization_id_default",
    DunningCampaign.organization_id,
    unique=True,
    sqlite_where=text("applied_to_organization = 1 AND deleted_at IS NULL"),
    postgresql_where=text("applied_to_organization AND deleted_at IS NULL"),
)


class DunningCampaignThreshold(TenantMixin, Base):
    __tablename__ = "dunning_campaign_thresholds"
    __table_args__ = (
        Index(
            "uq_dunning_campaign_thresholds_campaign_currency", "dunning_campaign_id", "currency", unique=True
        ),
    )

    dunning_campaign_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("dunning_campaigns.id", ondelete="CASCADE")
    )
    currency: Mapped[str] = mapped_column(String(3))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
