"""Rendering plans in Lago's shape (``PlanOut``): the API's answers and the ``plan.*`` webhooks
(:mod:`billow.webhooks.payloads`). A deleted plan renders as ``DELETE /plans/{code}`` answered it (its
charges deleted with it), so ``plan.deleted`` is rendered from the soft-deleted row."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from billow.models.organizations import Organization
from billow.models.plans import Plan
from billow.plans.repository import plan_repository
from billow.plans.schemas import PlanOut, plan_out
from billow.webhooks.payloads import renderer


def render_plans(session: Session, plans: Sequence[Plan]) -> list[PlanOut]:
    return [plan_out(graph) for graph in plan_repository.load_plans(session, plans)]


@renderer("plan")
def plan_payloads(
    session: Session, organization: Organization, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    # Deleted plans included: plan.deleted renders the deleted plan.
    plans = list(
        session.scalars(select(Plan).where(Plan.organization_id == organization.id, Plan.id.in_(set(ids))))
    )
    rendered = render_plans(session, plans)
    return {plan.id: out.model_dump(mode="json") for plan, out in zip(plans, rendered, strict=True)}
