from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Select, case, delete, select, update
from sqlalchemy.orm import Session

from billow.models.billable_metrics import BillableMetric
from billow.models.coupons import AppliedCoupon, Coupon, CouponTarget
from billow.models.plans import Plan


class CouponRepository:
    def terminate_applications(
        self,
        session: Session,
        *,
        at: datetime,
        coupon_id: uuid.UUID | None = None,
        customer_id: uuid.UUID | None = None,
    ) -> None:
        """Terminate the active applications of a coupon (deleted) or to a customer (deleted)."""
        where = [AppliedCoupon.status == "active"]
        if coupon_id is not None:
            where.append(AppliedCoupon.coupon_id == coupon_id)
        if customer_id is not None:
            where.append(AppliedCoupon.customer_id == customer_id)
        if len(where) == 1:
            raise ValueError("terminate the applications of a coupon or of a customer")
        session.execute(
            update(AppliedCoupon).where(*where).values(status="terminated", terminated_at=at, updated_at=at)
        )

    def by_code(self, session: Session, organization_id: uuid.UUID, code: str) -> Coupon | None:
        """The live (not deleted) coupon with this code."""
        return session.scalars(
            select(Coupon).where(
                Coupon.organization_id == organization_id, Coupon.code == code, Coupon.deleted_at.is_(None)
            )
        ).first()

    def list_stmt(self, organization_id: uuid.UUID) -> Select[Coupon]:
        """Lago's order: active before terminated, unlimited before time-limited, soonest expiry, newest."""
        return (
            select(Coupon)
            .where(Coupon.organization_id == organization_id, Coupon.deleted_at.is_(None))
            .order_by(
                case((Coupon.status == "active", 0), else_=1),
                case((Coupon.expiration == "no_expiration", 0), else_=1),
                Coupon.expiration_at.asc().nulls_last(),
                Coupon.created_at.desc(),
                Coupon.id,
            )
        )

    def plans_by_codes(
        self, session: Session, organization_id: uuid.UUID, codes: Sequence[str]
    ) -> list[Plan]:
        if not codes:
            return []
        return list(
            session.scalars(
                select(Plan).where(
                    Plan.organization_id == organization_id,
                    Plan.code.in_(codes),
                    Plan.deleted_at.is_(None),
                    Plan.parent_id.is_(None),
                )
            )
        )

    def billable_metrics_by_codes(
        self, session: Session, organization_id: uuid.UUID, codes: Sequence[str]
    ) -> list[BillableMetric]:
        if not codes:
            return []
        return list(
            session.scalars(
                select(BillableMetric).where(
                    BillableMetric.organization_id == organization_id,
                    BillableMetric.code.in_(codes),
                    BillableMetric.deleted_at.is_(None),
                )
            )
        )

    def target_codes(
        self, session: Session, coupon_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, tuple[list[str], list[str]]]:
        """(plan codes, billable metric codes) of each coupon's live targets, sorted; one query per kind."""
        result: dict[uuid.UUID, tuple[list[str], list[str]]] = {cid: ([], []) for cid in coupon_ids}
        if not coupon_ids:
            return result
        plan_rows = session.execute(
            select(CouponTarget.coupon_id, Plan.code)
            .join(Plan, Plan.id == CouponTarget.plan_id)
            .where(CouponTarget.coupon_id.in_(coupon_ids), Plan.deleted_at.is_(None))
            .order_by(Plan.code)
        )
        for coupon_id, code in plan_rows:
            result[coupon_id][0].append(code)
        metric_rows = session.execute(
            select(CouponTarget.coupon_id, BillableMetric.code)
            .join(BillableMetric, BillableMetric.id == CouponTarget.billable_metric_id)
            .where(CouponTarget.coupon_id.in_(coupon_ids), BillableMetric.deleted_at.is_(None))
            .order_by(BillableMetric.code)
        )
        for coupon_id, code in metric_rows:
            result[coupon_id][1].append(code)
        return result

    def replace_targets(
        self,
        session: Session,
        coupon: Coupon,
        plans: Sequence[Plan],
        billable_metrics: Sequence[BillableMetric],
    ) -> None:
        session.execute(delete(CouponTarget).where(CouponTarget.coupon_id == coupon.id))
        session.add_all(
            CouponTarget(organization_id=coupon.organization_id, coupon_id=coupon.id, plan_id=plan.id)
            for plan in plans
        )
        session.add_all(
            CouponTarget(
                organization_id=coupon.organization_id, coupon_id=coupon.id, billable_metric_id=metric.id
            )
            for metric in billable_metrics
        )


coupon_repository = CouponRepository()
