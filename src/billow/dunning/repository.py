"""All SQL of dunning campaigns and of the campaign run (every query filters on the organization, except
the run's cross-organization search for customers to look at)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import Select, delete, exists, or_, select, update
from sqlalchemy.orm import Session

from billow.models.customers import Customer
from billow.models.dunning import DunningCampaign, DunningCampaignThreshold
from billow.models.invoices import Invoice, InvoiceStatus, PaymentStatus

_RESET = {
    "last_dunning_campaign_attempt": 0,
    "last_dunning_campaign_attempt_at": None,
    "dunning_campaign_completed": False,
}


class DunningRepository:
    # ---------------------------------------------------------------------------------- campaigns

    def by_code(self, session: Session, organization_id: uuid.UUID, code: str) -> DunningCampaign | None:
        return session.scalars(
            select(DunningCampaign).where(
                DunningCampaign.organization_id == organization_id,
                DunningCampaign.code == code,
                DunningCampaign.deleted_at.is_(None),
            )
        ).first()

    def default(self, session: Session, organization_id: uuid.UUID) -> DunningCampaign | None:
        return session.scalars(
            select(DunningCampaign).where(
                DunningCampaign.organization_id == organization_id,
                DunningCampaign.applied_to_organization.is_(True),
                DunningCampaign.deleted_at.is_(None),
            )
        ).first()

    def get(
        self, session: Session, organization_id: uuid.UUID, campaign_id: uuid.UUID
    ) -> DunningCampaign | None:
        return session.scalars(
            select(DunningCampaign).where(
                DunningCampaign.organization_id == organization_id,
                DunningCampaign.id == campaign_id,
                DunningCampaign.deleted_at.is_(None),
            )
        ).first()

    def list_stmt(self, organization_id: uuid.UUID) -> Select[DunningCampaign]:
        return (
            select(DunningCampaign)
            .where(DunningCampaign.organization_id == organization_id, DunningCampaign.deleted_at.is_(None))
            .order_by(DunningCampaign.created_at.desc(), DunningCampaign.id)
        )

    def by_ids(
        self, session: Session, organization_id: uuid.UUID, ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, DunningCampaign]:
        if not ids:
            return {}
        rows = session.scalars(
            select(DunningCampaign).where(
                DunningCampaign.organization_id == organization_id, DunningCampaign.id.in_(set(ids))
            )
        )
        return {row.id: row for row in rows}

    def thresholds_by_campaign(
        self, session: Session, organization_id: uuid.UUID, campaign_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, list[DunningCampaignThreshold]]:
        found: dict[uuid.UUID, list[DunningCampaignThreshold]] = defaultdict(list)
        if not campaign_ids:
            return found
        rows = session.scalars(
            select(DunningCampaignThreshold)
            .where(
                DunningCampaignThreshold.organization_id == organization_id,
                DunningCampaignThreshold.dunning_campaign_id.in_(set(campaign_ids)),
            )
            .order_by(DunningCampaignThreshold.currency)
        )
        for row in rows:
            found[row.dunning_campaign_id].append(row)
        return found

    def replace_thresholds(
        self, session: Session, campaign: DunningCampaign, thresholds: Sequence[tuple[str, int]]
    ) -> None:
        session.execute(
            delete(DunningCampaignThreshold).where(
                DunningCampaignThreshold.organization_id == campaign.organization_id,
                DunningCampaignThreshold.dunning_campaign_id == campaign.id,
            )
        )
        session.add_all(
            DunningCampaignThreshold(
                organization_id=campaign.organization_id,
                dunning_campaign_id=campaign.id,
                currency=currency,
                amount_cents=amount_cents,
            )
            for currency, amount_cents in thresholds
        )
        session.flush()

    def unset_default(self, session: Session, organization_id: uuid.UUID) -> None:
        session.execute(
            update(DunningCampaign)
            .where(
                DunningCampaign.organization_id == organization_id,
                DunningCampaign.applied_to_organization.is_(True),
            )
            .values(applied_to_organization=False)
            .execution_options(synchronize_session="fetch")
        )

    # ---------------------------------------------------------------------------------- customers

    def reset_default_customers(self, session: Session, organization_id: uuid.UUID) -> None:
        """The customers following the organization's default campaign start over (it changed)."""
        session.execute(
            update(Customer)
            .where(
                Customer.organization_id == organization_id,
                Customer.applied_dunning_campaign_id.is_(None),
            )
            .values(**_RESET)
            .execution_options(synchronize_session="fetch")
        )

    def detach_customers(self, session: Session, organization_id: uuid.UUID, campaign_id: uuid.UUID) -> None:
        """The campaign's customers lose it (and start over with the default, if any)."""
        session.execute(
            update(Customer)
            .where(
                Customer.organization_id == organization_id,
                Customer.applied_dunning_campaign_id == campaign_id,
            )
            .values(applied_dunning_campaign_id=None, **_RESET)
            .execution_options(synchronize_session="fetch")
        )

    # ---------------------------------------------------------------------------------- the run

    def overdue_invoices(
        self, session: Session, organization_id: uuid.UUID, customer_id: uuid.UUID
    ) -> list[Invoice]:
        """The customer's finalized, overdue, unpaid invoices, the oldest first."""
        return list(
            session.scalars(
                select(Invoice)
                .where(
                    Invoice.organization_id == organization_id,
                    Invoice.customer_id == customer_id,
                    Invoice.status == InvoiceStatus.FINALIZED,
                    Invoice.payment_overdue.is_(True),
                    Invoice.payment_status != PaymentStatus.SUCCEEDED,
                )
                .order_by(Invoice.issuing_date, Invoice.created_at, Invoice.id)
            )
        )

    def candidates(self, session: Session) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """``(organization_id, customer_id)`` of every customer a run may act on: not deleted, with an
        overdue unpaid invoice or attempts to reset, in an organization that has a campaign."""
        overdue = exists().where(
            Invoice.organization_id == Customer.organization_id,
            Invoice.customer_id == Customer.id,
            Invoice.status == InvoiceStatus.FINALIZED,
            Invoice.payment_overdue.is_(True),
            Invoice.payment_status != PaymentStatus.SUCCEEDED,
        )
        has_campaign = exists().where(
            DunningCampaign.organization_id == Customer.organization_id,
            DunningCampaign.deleted_at.is_(None),
        )
        started = or_(
            Customer.last_dunning_campaign_attempt > 0, Customer.dunning_campaign_completed.is_(True)
        )
        rows = session.execute(
            select(Customer.organization_id, Customer.id)
            .where(Customer.deleted_at.is_(None), or_(started, overdue & has_campaign))
            .order_by(Customer.organization_id, Customer.id)
        )
        return [(organization_id, customer_id) for organization_id, customer_id in rows]


dunning_repository = DunningRepository()
