"""All SQL of fixed charges (a plan's add-ons billed every period) and the add-ons they name.

A deleted plan is shown with the fixed charges deleted together with it (the same ``deleted_at``
instant), as its charges are (:mod:`billow.plans.repository`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, delete, func, insert, or_, select
from sqlalchemy.orm import Session

from billow.kit.ids import parse_uuid
from billow.models.add_ons import AddOn
from billow.models.plans import FixedCharge, Plan, fixed_charge_taxes
from billow.models.subscriptions import Subscription
from billow.models.taxes import Tax


@dataclass
class FixedChargeGraph:
    fixed_charge: FixedCharge
    add_on: AddOn
    taxes: list[Tax]


class FixedChargeRepository:
    # ---------------------------------------------------------------------------------------- add-ons

    def add_on_by_id(self, session: Session, organization_id: uuid.UUID, add_on_id: str) -> AddOn | None:
        wanted = parse_uuid(add_on_id)
        if wanted is None:
            return None
        return session.scalars(
            select(AddOn).where(
                AddOn.organization_id == organization_id, AddOn.id == wanted, AddOn.deleted_at.is_(None)
            )
        ).first()

    def add_on_by_code(self, session: Session, organization_id: uuid.UUID, code: str) -> AddOn | None:
        return session.scalars(
            select(AddOn).where(
                AddOn.organization_id == organization_id, AddOn.code == code, AddOn.deleted_at.is_(None)
            )
        ).first()

    # ---------------------------------------------------------------------------------- fixed charges

    def of_plans(self, session: Session, plans: Sequence[Plan]) -> dict[uuid.UUID, list[FixedCharge]]:
        """Each plan's fixed charges in plan order: live ones, or for a deleted plan those deleted with it."""
        result: dict[uuid.UUID, list[FixedCharge]] = {plan.id: [] for plan in plans}
        if not plans:
            return result
        deleted_at = {plan.id: plan.deleted_at for plan in plans}
        instants = [instant for instant in set(deleted_at.values()) if instant is not None]
        alive = FixedCharge.deleted_at.is_(None)
        rows = session.scalars(
            select(FixedCharge)
            .where(
                FixedCharge.plan_id.in_(list(result)),
                or_(alive, FixedCharge.deleted_at.in_(instants)) if instants else alive,
            )
            .order_by(FixedCharge.position, FixedCharge.created_at, FixedCharge.id)
        )
        for fixed_charge in rows:
            if fixed_charge.deleted_at == deleted_at[fixed_charge.plan_id]:
                result[fixed_charge.plan_id].append(fixed_charge)
        return result

    def of_plan(self, session: Session, plan: Plan) -> list[FixedCharge]:
        return self.of_plans(session, [plan])[plan.id]

    def by_code(self, session: Session, plan: Plan, code: str) -> FixedCharge | None:
        return session.scalars(
            select(FixedCharge).where(
                FixedCharge.plan_id == plan.id, FixedCharge.code == code, FixedCharge.deleted_at.is_(None)
            )
        ).first()

    def of_add_on(self, session: Session, add_on: AddOn) -> list[FixedCharge]:
        """The live fixed charges of an add-on, on every plan."""
        return list(
            session.scalars(
                select(FixedCharge).where(
                    FixedCharge.organization_id == add_on.organization_id,
                    FixedCharge.add_on_id == add_on.id,
                    FixedCharge.deleted_at.is_(None),
                )
            )
        )

    def has_subscriptions(self, session: Session, plan: Plan) -> bool:
        """Whether a subscription (of any status) is on the plan itself (Lago's
        ``attached_to_subscriptions?``)."""
        stmt = select(Subscription.id).where(
            Subscription.organization_id == plan.organization_id, Subscription.plan_id == plan.id
        )
        return session.scalars(stmt.limit(1)).first() is not None

    def has_pay_in_advance(self, session: Session, plan: Plan) -> bool:
        """Whether the plan has a live fixed charge paid in advance (its subscriptions' start bills it)."""
        stmt = select(FixedCharge.id).where(
            FixedCharge.plan_id == plan.id,
            FixedCharge.pay_in_advance.is_(True),
            FixedCharge.deleted_at.is_(None),
        )
        return session.scalars(stmt.limit(1)).first() is not None

    def list_stmt(self, plan: Plan) -> Select[FixedCharge]:
        """A plan's live fixed charges, newest first (Lago's order for this listing)."""
        return (
            select(FixedCharge)
            .where(FixedCharge.plan_id == plan.id, FixedCharge.deleted_at.is_(None))
            .order_by(FixedCharge.created_at.desc(), FixedCharge.position.desc(), FixedCharge.id)
        )

    def next_position(self, session: Session, plan: Plan) -> int:
        highest = session.scalar(select(func.max(FixedCharge.position)).where(FixedCharge.plan_id == plan.id))
        return 0 if highest is None else highest + 1

    def taxes_of(self, session: Session, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[Tax]]:
        result: dict[uuid.UUID, list[Tax]] = {fixed_charge_id: [] for fixed_charge_id in ids}
        if not ids:
            return result
        rows = session.execute(
            select(fixed_charge_taxes.c.fixed_charge_id, Tax)
            .join(Tax, Tax.id == fixed_charge_taxes.c.tax_id)
            .where(fixed_charge_taxes.c.fixed_charge_id.in_(list(ids)))
            .order_by(Tax.code)
        )
        for fixed_charge_id, tax in rows:
            result[fixed_charge_id].append(tax)
        return result

    def set_taxes(self, session: Session, fixed_charge: FixedCharge, taxes: Sequence[Tax]) -> None:
        """Replace the fixed charge's taxes (the fixed charge is flushed already)."""
        link = fixed_charge_taxes.c.fixed_charge_id
        session.execute(delete(fixed_charge_taxes).where(link == fixed_charge.id))
        if taxes:
            rows = [
                {"fixed_charge_id": fixed_charge.id, "tax_id": tax.id, "organization_id": tax.organization_id}
                for tax in taxes
            ]
            session.execute(insert(fixed_charge_taxes), rows)

    def load(self, session: Session, fixed_charges: Sequence[FixedCharge]) -> list[FixedChargeGraph]:
        add_on_ids = list({fixed_charge.add_on_id for fixed_charge in fixed_charges})
        # Deleted add-ons included: a fixed charge keeps its add-on.
        add_ons = (
            {a.id: a for a in session.scalars(select(AddOn).where(AddOn.id.in_(add_on_ids)))}
            if add_on_ids
            else {}
        )
        taxes = self.taxes_of(session, [fixed_charge.id for fixed_charge in fixed_charges])
        return [
            FixedChargeGraph(fixed_charge, add_ons[fixed_charge.add_on_id], taxes[fixed_charge.id])
            for fixed_charge in fixed_charges
        ]

    def load_plans(self, session: Session, plans: Sequence[Plan]) -> dict[uuid.UUID, list[FixedChargeGraph]]:
        by_plan = self.of_plans(session, plans)
        every = [f for fs in by_plan.values() for f in fs]
        graphs = {g.fixed_charge.id: g for g in self.load(session, every)}
        return {plan_id: [graphs[f.id] for f in fs] for plan_id, fs in by_plan.items()}

    def delete(self, fixed_charges: Sequence[FixedCharge], now: datetime) -> None:
        for fixed_charge in fixed_charges:
            fixed_charge.deleted_at = now


fixed_charge_repository = FixedChargeRepository()
