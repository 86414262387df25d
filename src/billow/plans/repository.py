"""All SQL of plans, charges, charge filters, usage thresholds and commitments.

Loading for responses is batched: ``load_plans`` / ``load_charges`` / ``load_filters`` fetch every
child of a page of objects in a fixed number of queries and return plain graphs for the schemas.

A deleted plan (or charge) is shown with the children deleted together with it: they carry the very
same ``deleted_at`` instant, which is how they are told apart from children deleted earlier.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, Table, delete, distinct, func, insert, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from billow.kit.ids import parse_uuid
from billow.models.billable_metrics import BillableMetric
from billow.models.plans import (
    Charge,
    ChargeFilter,
    ChargeFilterValue,
    Commitment,
    Plan,
    UsageThreshold,
    charge_taxes,
    commitment_taxes,
    plan_taxes,
)
from billow.models.subscriptions import Subscription, SubscriptionStatus
from billow.models.taxes import Tax
from billow.plans.fixed_charge_repository import FixedChargeGraph, fixed_charge_repository


@dataclass
class FilterGraph:
    filter: ChargeFilter
    charge_code: str
    values: dict[str, list[str]]  # by key, keys sorted


@dataclass
class ChargeGraph:
    charge: Charge
    metric: BillableMetric
    taxes: list[Tax]
    filters: list[FilterGraph]


@dataclass
class PlanGraph:
    plan: Plan
    charges: list[ChargeGraph]
    taxes: list[Tax]
    thresholds: list[UsageThreshold]
    commitment: Commitment | None
    commitment_taxes: list[Tax]
    active_subscriptions_count: int = 0
    customers_count: int = 0
    fixed_charges: list[FixedChargeGraph] = field(default_factory=list)


def _together_with(
    column: InstrumentedAttribute[datetime | None], parents_deleted_at: set[datetime | None]
) -> Any:
    """Rows alive, or deleted at one of the instants their parents were deleted."""
    instants = [instant for instant in parents_deleted_at if instant is not None]
    return or_(column.is_(None), column.in_(instants)) if instants else column.is_(None)


class PlanRepository:
    # ---------------------------------------------------------------------------------------- plans

    def by_code(self, session: Session, organization_id: uuid.UUID, code: str) -> Plan | None:
        """The live plan with this code, or None."""
        return session.scalars(
            select(Plan).where(
                Plan.organization_id == organization_id,
                Plan.code == code,
                Plan.deleted_at.is_(None),
                Plan.parent_id.is_(None),
            )
        ).first()

    def by_id(self, session: Session, organization_id: uuid.UUID, plan_id: uuid.UUID) -> Plan | None:
        """The plan with this id (deleted or not: subscriptions keep their plan)."""
        return session.scalars(
            select(Plan).where(Plan.organization_id == organization_id, Plan.id == plan_id)
        ).first()

    def list_stmt(self, organization_id: uuid.UUID) -> Select[Plan]:
        return (
            select(Plan)
            .where(
                Plan.organization_id == organization_id, Plan.deleted_at.is_(None), Plan.parent_id.is_(None)
            )
            .order_by(Plan.created_at.desc(), Plan.id)
        )

    # -------------------------------------------------------------------------------------- charges

    def charges_of(self, session: Session, plan: Plan) -> list[Charge]:
        return self._charges_of_plans(session, [plan])[plan.id]

    def charge_by_code(self, session: Session, plan: Plan, code: str) -> Charge | None:
        return session.scalars(
            select(Charge).where(Charge.plan_id == plan.id, Charge.code == code, Charge.deleted_at.is_(None))
        ).first()

    def charges_stmt(self, plan: Plan) -> Select[Charge]:
        """A plan's live charges, newest first (Lago's order for this listing)."""
        return (
            select(Charge)
            .where(Charge.plan_id == plan.id, Charge.deleted_at.is_(None))
            .order_by(Charge.created_at.desc(), Charge.position.desc(), Charge.id)
        )

    def next_charge_position(self, session: Session, plan: Plan) -> int:
        highest = session.scalar(select(func.max(Charge.position)).where(Charge.plan_id == plan.id))
        return 0 if highest is None else highest + 1

    def _charges_of_plans(self, session: Session, plans: Sequence[Plan]) -> dict[uuid.UUID, list[Charge]]:
        result: dict[uuid.UUID, list[Charge]] = {plan.id: [] for plan in plans}
        if not plans:
            return result
        deleted_at = {plan.id: plan.deleted_at for plan in plans}
        rows = session.scalars(
            select(Charge)
            .where(
                Charge.plan_id.in_(list(result)),
                _together_with(Charge.deleted_at, set(deleted_at.values())),
            )
            .order_by(Charge.position, Charge.created_at, Charge.id)
        )
        for charge in rows:
            if charge.deleted_at == deleted_at[charge.plan_id]:
                result[charge.plan_id].append(charge)
        return result

    # ------------------------------------------------------------------------------ charge filters

    def filters_of(self, session: Session, charges: Sequence[Charge]) -> dict[uuid.UUID, list[ChargeFilter]]:
        result: dict[uuid.UUID, list[ChargeFilter]] = {charge.id: [] for charge in charges}
        if not charges:
            return result
        deleted_at = {charge.id: charge.deleted_at for charge in charges}
        rows = session.scalars(
            select(ChargeFilter)
            .where(
                ChargeFilter.charge_id.in_(list(result)),
                _together_with(ChargeFilter.deleted_at, set(deleted_at.values())),
            )
            .order_by(ChargeFilter.position, ChargeFilter.created_at, ChargeFilter.id)
        )
        for charge_filter in rows:
            if charge_filter.deleted_at == deleted_at[charge_filter.charge_id]:
                result[charge_filter.charge_id].append(charge_filter)
        return result

    def filter_by_id(self, session: Session, charge: Charge, filter_id: str) -> ChargeFilter | None:
        wanted = parse_uuid(filter_id)
        if wanted is None:
            return None
        return session.scalars(
            select(ChargeFilter).where(
                ChargeFilter.id == wanted,
                ChargeFilter.charge_id == charge.id,
                ChargeFilter.deleted_at.is_(None),
            )
        ).first()

    def filters_stmt(self, charge: Charge) -> Select[ChargeFilter]:
        return (
            select(ChargeFilter)
            .where(ChargeFilter.charge_id == charge.id, ChargeFilter.deleted_at.is_(None))
            .order_by(ChargeFilter.position, ChargeFilter.created_at, ChargeFilter.id)
        )

    def next_filter_position(self, session: Session, charge: Charge) -> int:
        highest = session.scalar(
            select(func.max(ChargeFilter.position)).where(ChargeFilter.charge_id == charge.id)
        )
        return 0 if highest is None else highest + 1

    def values_of(
        self, session: Session, filter_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, list[ChargeFilterValue]]:
        """Each charge filter's value rows, by key."""
        result: dict[uuid.UUID, list[ChargeFilterValue]] = {filter_id: [] for filter_id in filter_ids}
        if not filter_ids:
            return result
        rows = session.scalars(
            select(ChargeFilterValue)
            .where(ChargeFilterValue.charge_filter_id.in_(list(filter_ids)))
            .order_by(ChargeFilterValue.key)
        )
        for row in rows:
            result[row.charge_filter_id].append(row)
        return result

    # --------------------------------------------------------------------- thresholds, commitment

    def thresholds_of(
        self, session: Session, plan_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, list[UsageThreshold]]:
        result: dict[uuid.UUID, list[UsageThreshold]] = {plan_id: [] for plan_id in plan_ids}
        if not plan_ids:
            return result
        rows = session.scalars(
            select(UsageThreshold)
            .where(UsageThreshold.plan_id.in_(list(plan_ids)), UsageThreshold.deleted_at.is_(None))
            .order_by(UsageThreshold.recurring, UsageThreshold.amount_cents)
        )
        for row in rows:
            result[row.plan_id].append(row)
        return result

    def commitments_of(self, session: Session, plan_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Commitment]:
        if not plan_ids:
            return {}
        rows = session.scalars(select(Commitment).where(Commitment.plan_id.in_(list(plan_ids))))
        return {row.plan_id: row for row in rows}

    # ------------------------------------------------------------------------------------- taxes

    def taxes_of(
        self, session: Session, link: Table, owner_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, list[Tax]]:
        """Taxes applied to each owner (plan, charge, commitment), by code."""
        result: dict[uuid.UUID, list[Tax]] = {owner_id: [] for owner_id in owner_ids}
        if not owner_ids:
            return result
        owner = _owner_column(link)
        rows = session.execute(
            select(owner, Tax)
            .join(Tax, Tax.id == link.c.tax_id)
            .where(owner.in_(list(owner_ids)))
            .order_by(Tax.code)
        )
        for owner_id, tax in rows:
            result[owner_id].append(tax)
        return result

    def set_taxes(self, session: Session, link: Table, owner_id: uuid.UUID, taxes: Sequence[Tax]) -> None:
        """Replace the taxes applied to one owner. The owner row must be flushed already."""
        owner = _owner_column(link)
        session.execute(delete(link).where(owner == owner_id))
        if taxes:
            rows = [
                {owner.name: owner_id, "tax_id": tax.id, "organization_id": tax.organization_id}
                for tax in taxes
            ]
            session.execute(insert(link), rows)

    # ------------------------------------------------------------------------------------ graphs

    def load_plans(self, session: Session, plans: Sequence[Plan]) -> list[PlanGraph]:
        plan_ids = [plan.id for plan in plans]
        charges = self._charges_of_plans(session, plans)
        charge_graphs = {
            graph.charge.id: graph
            for graph in self.load_charges(
                session, [c for plan_charges in charges.values() for c in plan_charges]
            )
        }
        taxes = self.taxes_of(session, plan_taxes, plan_ids)
        thresholds = self.thresholds_of(session, plan_ids)
        commitments = self.commitments_of(session, plan_ids)
        commitment_tax_map = self.taxes_of(session, commitment_taxes, [c.id for c in commitments.values()])
        counts = self.subscription_counts(session, plan_ids)
        fixed_charges = fixed_charge_repository.load_plans(session, plans)
        return [
            PlanGraph(
                plan=plan,
                charges=[charge_graphs[charge.id] for charge in charges[plan.id]],
                taxes=taxes[plan.id],
                thresholds=thresholds[plan.id],
                commitment=commitments.get(plan.id),
                commitment_taxes=commitment_tax_map[commitments[plan.id].id]
                if plan.id in commitments
                else [],
                active_subscriptions_count=counts.get(plan.id, (0, 0))[0],
                customers_count=counts.get(plan.id, (0, 0))[1],
                fixed_charges=fixed_charges[plan.id],
            )
            for plan in plans
        ]

    def subscription_counts(
        self, session: Session, plan_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, tuple[int, int]]:
        """Per plan: (active subscriptions, distinct customers with an active subscription)."""
        if not plan_ids:
            return {}
        rows = session.execute(
            select(
                Subscription.plan_id,
                func.count(),
                func.count(distinct(Subscription.customer_id)),
            )
            .where(Subscription.plan_id.in_(list(plan_ids)), Subscription.status == SubscriptionStatus.ACTIVE)
            .group_by(Subscription.plan_id)
        )
        return {plan_id: (active, customers) for plan_id, active, customers in rows}

    def has_live_subscriptions(self, session: Session, plan: Plan) -> bool:
        """Whether an active or pending subscription is on this plan or one of its child plans."""
        live = (SubscriptionStatus.ACTIVE, SubscriptionStatus.PENDING)
        children = select(Plan.id).where(Plan.parent_id == plan.id)
        stmt = select(Subscription.id).where(
            or_(Subscription.plan_id == plan.id, Subscription.plan_id.in_(children)),
            Subscription.status.in_(live),
        )
        return session.scalars(stmt.limit(1)).first() is not None

    def load_charges(self, session: Session, charges: Sequence[Charge]) -> list[ChargeGraph]:
        metric_ids = list({charge.billable_metric_id for charge in charges})
        # Deleted metrics included: a deleted plan's charges may point at one.
        metrics = (
            {
                m.id: m
                for m in session.scalars(select(BillableMetric).where(BillableMetric.id.in_(metric_ids)))
            }
            if metric_ids
            else {}
        )
        filters = self.filters_of(session, charges)
        codes = {charge.id: charge.code for charge in charges}
        filter_graphs = self.load_filters(session, [f for fs in filters.values() for f in fs], codes)
        by_charge: dict[uuid.UUID, list[FilterGraph]] = defaultdict(list)
        for graph in filter_graphs:
            by_charge[graph.filter.charge_id].append(graph)
        taxes = self.taxes_of(session, charge_taxes, [charge.id for charge in charges])
        return [
            ChargeGraph(
                charge=charge,
                metric=metrics[charge.billable_metric_id],
                taxes=taxes[charge.id],
                filters=by_charge[charge.id],
            )
            for charge in charges
        ]

    def load_filters(
        self, session: Session, filters: Sequence[ChargeFilter], charge_codes: dict[uuid.UUID, str]
    ) -> list[FilterGraph]:
        values = self.values_of(session, [f.id for f in filters])
        return [
            FilterGraph(
                filter=f,
                charge_code=charge_codes[f.charge_id],
                values={row.key: list(row.values) for row in values[f.id]},
            )
            for f in filters
        ]


def _owner_column(link: Table) -> Any:
    return next(column for column in link.c if column.name not in ("tax_id", "organization_id"))


plan_repository = PlanRepository()
