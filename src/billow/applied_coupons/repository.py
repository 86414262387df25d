from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from billow.models.coupons import AppliedCoupon, Coupon, CouponTarget, InvoiceCoupon
from billow.models.customers import Customer
from billow.models.invoices import Invoice
from billow.models.plans import Charge, Plan


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
        self,
        organization_id: uuid.UUID,
        *,
        external_customer_id: str | None,
        status: str | None,
        coupon_codes: Sequence[str] | None = None,
    ) -> Select[AppliedCoupon]:
        """Newest first (Lago's order), optionally one customer's (by ``external_id``), one status, the
        applications of some coupons (by code, deleted coupons included)."""
        stmt = select(AppliedCoupon).where(AppliedCoupon.organization_id == organization_id)
        if external_customer_id is not None:
            stmt = stmt.join(Customer, Customer.id == AppliedCoupon.customer_id).where(
                Customer.external_id == external_customer_id, Customer.deleted_at.is_(None)
            )
        if status is not None:
            stmt = stmt.where(AppliedCoupon.status == status)
        if coupon_codes:
            codes = select(Coupon.id).where(
                Coupon.organization_id == organization_id, Coupon.code.in_(list(coupon_codes))
            )
            stmt = stmt.where(AppliedCoupon.coupon_id.in_(codes))
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

    # ------------------------------------------------------------------------------------- invoicing

    def active_locked(self, session: Session, customer_id: uuid.UUID) -> list[AppliedCoupon]:
        """The customer's active applied coupons, oldest first, locked until the transaction ends (two
        invoices finalized at once never take the same coupon amount twice). PostgreSQL: ``FOR UPDATE``
        (re-read after a wait, so a coupon the other invoice terminated is gone); SQLite: a no-op
        ``UPDATE`` takes the database's write lock before the read."""
        active = (AppliedCoupon.customer_id == customer_id) & (AppliedCoupon.status == "active")
        query = (
            select(AppliedCoupon)
            .where(active)
            .order_by(AppliedCoupon.created_at, AppliedCoupon.id)
            .execution_options(populate_existing=True)
        )
        if session.get_bind().dialect.name == "postgresql":
            return list(session.scalars(query.with_for_update()))
        table = AppliedCoupon.__table__
        session.execute(update(table).where(active).values(updated_at=table.c.updated_at))
        return list(session.scalars(query))

    def targets(
        self, session: Session, coupon_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, tuple[str, frozenset[uuid.UUID], frozenset[uuid.UUID]]]:
        """Per coupon: its type, the plans it is limited to (with the child plans of their overrides, as
        Lago's ``parent_and_overriden_plans``) and the billable metrics it is limited to."""
        types = {
            row.id: row.coupon_type
            for row in session.execute(select(Coupon.id, Coupon.coupon_type).where(Coupon.id.in_(coupon_ids)))
        }
        rows = session.execute(
            select(CouponTarget.coupon_id, CouponTarget.plan_id, CouponTarget.billable_metric_id).where(
                CouponTarget.coupon_id.in_(coupon_ids)
            )
        ).all()
        parents = {row.plan_id for row in rows if row.plan_id is not None}
        children: dict[uuid.UUID, set[uuid.UUID]] = {}
        if parents:
            for child_id, parent_id in session.execute(
                select(Plan.id, Plan.parent_id).where(Plan.parent_id.in_(parents))
            ):
                if parent_id is not None:
                    children.setdefault(parent_id, set()).add(child_id)
        plans: dict[uuid.UUID, set[uuid.UUID]] = {}
        metrics: dict[uuid.UUID, set[uuid.UUID]] = {}
        for row in rows:
            if row.plan_id is not None:
                plans.setdefault(row.coupon_id, set()).update({row.plan_id, *children.get(row.plan_id, ())})
            if row.billable_metric_id is not None:
                metrics.setdefault(row.coupon_id, set()).add(row.billable_metric_id)
        return {
            coupon_id: (
                types[coupon_id],
                frozenset(plans.get(coupon_id, ())),
                frozenset(metrics.get(coupon_id, ())),
            )
            for coupon_id in coupon_ids
        }

    def metrics_of_charges(self, session: Session, charge_ids: set[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
        if not charge_ids:
            return {}
        query = select(Charge.id, Charge.billable_metric_id).where(Charge.id.in_(charge_ids))
        return {row.id: row.billable_metric_id for row in session.execute(query)}

    def credits_of(
        self, session: Session, applied_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, list[tuple[InvoiceCoupon, Invoice]]]:
        """What invoices took from these applied coupons, oldest first, with the invoice of each."""
        out: dict[uuid.UUID, list[tuple[InvoiceCoupon, Invoice]]] = {i: [] for i in applied_ids}
        if not applied_ids:
            return out
        rows = session.execute(
            select(InvoiceCoupon, Invoice)
            .join(Invoice, Invoice.id == InvoiceCoupon.invoice_id)
            .where(InvoiceCoupon.applied_coupon_id.in_(applied_ids))
            .order_by(InvoiceCoupon.created_at, InvoiceCoupon.id)
        )
        for credit, invoice in rows:
            out[credit.applied_coupon_id].append((credit, invoice))
        return out


applied_coupon_repository = AppliedCouponRepository()
