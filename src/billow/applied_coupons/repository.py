from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from billow.models.coupons import AppliedCoupon, Coupon, CouponTarget
from billow.models.customers import Customer
from billow.models.plans import Charge


class AppliedCouponRepository:
    def ever_applied(self, session: Session, customer_id: uuid.UUID, coupon_id: uuid.UUID) -> bool:
        """Whether the coupon was applied to the customer, whatever that application's status."""
        return (
            session.scalar(
                select(AppliedCoupon.id)
                .where(AppliedCoupon.customer_id == customer_id, AppliedCoupon.coupon_id == coupon_id)
                .limit(1)
            )
            is not None
        )

    def targets_overlap(self, session: Session, customer_id: uuid.UUID, coupon_id: uuid.UUID) -> bool:
        """Whether an active applied coupon of the customer targets what this coupon targets: the same plan,
        the same billable metric, or a plan charging one of the metrics (and the reverse)."""
        target_plans = select(CouponTarget.plan_id).where(
            CouponTarget.coupon_id == coupon_id, CouponTarget.plan_id.is_not(None)
        )
        target_metrics = select(CouponTarget.billable_metric_id).where(
            CouponTarget.coupon_id == coupon_id, CouponTarget.billable_metric_id.is_not(None)
        )
        plans_charging = select(Charge.plan_id).where(
            Charge.billable_metric_id.in_(target_metrics), Charge.deleted_at.is_(None)
        )
        metrics_charged = select(Charge.billable_metric_id).where(
            Charge.plan_id.in_(target_plans), Charge.deleted_at.is_(None)
        )
        stmt = (
            select(AppliedCoupon.id)
            .join(CouponTarget, CouponTarget.coupon_id == AppliedCoupon.coupon_id)
            .where(
                AppliedCoupon.customer_id == customer_id,
                AppliedCoupon.status == "active",
                CouponTarget.plan_id.in_(target_plans)
                | CouponTarget.billable_metric_id.in_(target_metrics)
                | CouponTarget.plan_id.in_(plans_charging)
                | CouponTarget.billable_metric_id.in_(metrics_charged),
            )
            .limit(1)
        )
        return session.scalar(stmt) is not None

    def of_customer(
        self,
        session: Session,
        organization_id: uuid.UUID,
        customer_id: uuid.UUID,
        applied_coupon_id: uuid.UUID,
    ) -> AppliedCoupon | None:
        return session.scalars(
            select(AppliedCoupon).where(
                AppliedCoupon.organization_id == organization_id,
                AppliedCoupon.customer_id == customer_id,
                AppliedCoupon.id == applied_coupon_id,
            )
        ).first()

    def list_stmt(
        self, organization_id: uuid.UUID, *, external_customer_id: str | None, status: str | None
    ) -> Select[AppliedCoupon]:
        """Newest first (Lago's order), optionally one customer's (by ``external_id``) or one status."""
        stmt = select(AppliedCoupon).where(AppliedCoupon.organization_id == organization_id)
        if external_customer_id is not None:
            stmt = stmt.join(Customer, Customer.id == AppliedCoupon.customer_id).where(
                Customer.external_id == external_customer_id, Customer.deleted_at.is_(None)
            )
        if status is not None:
            stmt = stmt.where(AppliedCoupon.status == status)
        return stmt.order_by(AppliedCoupon.created_at.desc(), AppliedCoupon.id)

    def coupons_and_customers(
        self, session: Session, applied: Sequence[AppliedCoupon]
    ) -> tuple[dict[uuid.UUID, Coupon], dict[uuid.UUID, Customer]]:
        """The coupons (deleted ones included) and customers of these applied coupons, by id."""
        coupon_ids = {a.coupon_id for a in applied}
        customer_ids = {a.customer_id for a in applied}
        if not applied:
            return {}, {}
        coupons = session.scalars(select(Coupon).where(Coupon.id.in_(coupon_ids)))
        customers = session.scalars(select(Customer).where(Customer.id.in_(customer_ids)))
        return {c.id: c for c in coupons}, {c.id: c for c in customers}


applied_coupon_repository = AppliedCouponRepository()
