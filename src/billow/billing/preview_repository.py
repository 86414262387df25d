"""The queries of the invoice preview (:mod:`billow.billing.preview`), beside billing's
(:mod:`billow.billing.repository`): reads only, no lock."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from billow.models.coupons import AppliedCoupon
from billow.models.customers import Customer
from billow.models.subscriptions import Subscription, SubscriptionStatus


class PreviewRepository:
    def preview_subscriptions(
        self, session: Session, customer: Customer, external_ids: Sequence[str], now: datetime
    ) -> list[Subscription]:
        """The customer's active subscriptions with these external ids; for one external id, its pending
        subscription starting after ``now`` (not a plan change) when it has no active one (Lago)."""
        mine = (Subscription.organization_id == customer.organization_id) & (
            Subscription.customer_id == customer.id
        )
        found = list(
            session.scalars(
                select(Subscription)
                .where(mine, Subscription.external_id.in_(external_ids))
                .where(Subscription.status == SubscriptionStatus.ACTIVE)
                .order_by(Subscription.created_at, Subscription.id)
            )
        )
        if found or len(external_ids) != 1:
            return found
        pending = session.scalars(
            select(Subscription).where(
                mine,
                Subscription.external_id == external_ids[0],
                Subscription.status == SubscriptionStatus.PENDING,
                Subscription.previous_subscription_id.is_(None),
                Subscription.subscription_at > now,
            )
        ).all()
        return list(pending) if len(pending) == 1 else []

    def pending_plan_change(self, session: Session, subscription: Subscription) -> Subscription | None:
        """The pending subscription replacing this one at its ``plan_change_at`` (a downgrade)."""
        return session.scalars(
            select(Subscription).where(
                Subscription.organization_id == subscription.organization_id,
                Subscription.previous_subscription_id == subscription.id,
                Subscription.status == SubscriptionStatus.PENDING,
            )
        ).first()

    def active_applied_coupons(self, session: Session, customer: Customer) -> list[AppliedCoupon]:
        """The customer's active applied coupons, oldest first, read without a lock (a preview)."""
        return list(
            session.scalars(
                select(AppliedCoupon)
                .where(
                    AppliedCoupon.organization_id == customer.organization_id,
                    AppliedCoupon.customer_id == customer.id,
                    AppliedCoupon.status == "active",
                )
                .order_by(AppliedCoupon.created_at, AppliedCoupon.id)
            )
        )


preview_repository = PreviewRepository()
