"""A subscription's fixed charges (``/subscriptions/{external_id}/fixed_charges[/{code}]``).

The subscription's fixed charges are its plan's: the plan itself, or its child plan when the
subscription has ``plan_overrides``. An override (``PUT``) changes ``units``, ``properties``,
``invoice_display_name`` or ``tax_codes`` of one of them on the subscription's child plan, created first
(a copy of the plan) when it has none, and never the plan's: this is ``plan_overrides.fixed_charges`` of
``PUT /subscriptions/{external_id}`` for one fixed charge (same validation, nothing written on error).

As Lago: the subscription is the one with ``subscription_status`` (default ``active``), else 404
``subscription_not_found``; the fixed charge is the subscription plan's live one with the code, else 404
``fixed_charge_not_found``. Billow departure: Lago records a units-only change as a per-subscription
units override without a child plan; Billow always uses the child plan (the same units are billed).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from billow.errors import NotFound
from billow.models.organizations import Organization
from billow.models.plans import FixedCharge, Plan
from billow.models.subscriptions import Subscription, SubscriptionStatus
from billow.plans.fixed_charge_repository import fixed_charge_repository
from billow.plans.fixed_charge_schemas import FixedChargeOverrideInput
from billow.plans.schemas import PlanOverridesInput
from billow.plans.service import plan_service
from billow.plans.service.fixed_charge_drafts import OVERRIDABLE
from billow.subscriptions.repository import subscription_repository


class SubscriptionFixedChargeService:
    def plan(
        self, session: Session, organization: Organization, external_id: str, status: str | None
    ) -> tuple[Subscription, Plan]:
        """The subscription with ``status`` (default active) and its plan (its child plan if it has one)."""
        subscription = subscription_repository.by_external_id(
            session, organization.id, external_id, status or SubscriptionStatus.ACTIVE
        )
        if subscription is None:
            raise NotFound("subscription")
        plan = subscription_repository.plans_by_id(session, [subscription.plan_id])[subscription.plan_id]
        return subscription, plan

    def find(
        self, session: Session, organization: Organization, external_id: str, code: str, status: str | None
    ) -> tuple[Subscription, Plan, FixedCharge]:
        subscription, plan = self.plan(session, organization, external_id, status)
        fixed_charge = fixed_charge_repository.by_code(session, plan, code)
        if fixed_charge is None:
            raise NotFound("fixed_charge")
        return subscription, plan, fixed_charge

    def override(
        self,
        session: Session,
        organization: Organization,
        external_id: str,
        code: str,
        status: str | None,
        data: FixedChargeOverrideInput,
    ) -> FixedCharge:
        """Override the subscription's fixed charge ``code`` on its child plan (created if need be)."""
        subscription, plan, fixed_charge = self.find(session, organization, external_id, code, status)
        sent = {key: value for key, value in data.provided().items() if key in OVERRIDABLE}
        item = FixedChargeOverrideInput(id=str(fixed_charge.id), **sent)
        overrides = PlanOverridesInput(fixed_charges=[item])
        if plan.parent_id is None:
            child = plan_service.override(session, organization, plan, None, overrides)
            subscription.plan_id = child.id
        else:
            parent = subscription_repository.plans_by_id(session, [plan.parent_id])[plan.parent_id]
            child = plan_service.override(session, organization, parent, plan, overrides)
        session.flush()
        overridden = fixed_charge_repository.by_code(session, child, fixed_charge.code)
        assert overridden is not None  # the child plan copies every fixed charge, codes included
        return overridden


subscription_fixed_charge_service = SubscriptionFixedChargeService()
