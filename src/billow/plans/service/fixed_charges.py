"""A plan's fixed charges one at a time (``/plans/{code}/fixed_charges[/{code}]``); the rules are in
:mod:`billow.plans.service.fixed_charge_drafts`."""

from __future__ import annotations

from sqlalchemy.orm import Session

from billow.db import utcnow
from billow.errors import Errors, NotFound
from billow.models.organizations import Organization
from billow.models.plans import FixedCharge, Plan
from billow.plans.fixed_charge_repository import fixed_charge_repository as repository
from billow.plans.fixed_charge_schemas import FixedChargeInput
from billow.plans.service.fixed_charge_drafts import FixedChargeDrafter, assign_codes, write_fixed_charge
from billow.plans.service.plans import plan_service


class FixedChargeService:
    def find(
        self, session: Session, organization: Organization, plan_code: str, code: str
    ) -> tuple[Plan, FixedCharge]:
        plan = plan_service.get(session, organization, plan_code)
        fixed_charge = repository.by_code(session, plan, code)
        if fixed_charge is None:
            raise NotFound("fixed_charge")
        return plan, fixed_charge

    def create(
        self, session: Session, organization: Organization, plan_code: str, data: FixedChargeInput
    ) -> FixedCharge:
        plan = plan_service.get(session, organization, plan_code)
        errors = Errors()
        draft = FixedChargeDrafter(session, organization.id).draft(data, None, errors)
        assign_codes([draft], [f.code for f in repository.of_plan(session, plan)], errors)
        errors.raise_if_any()
        return write_fixed_charge(session, plan, draft, repository.next_position(session, plan))

    def update(
        self, session: Session, organization: Organization, plan_code: str, code: str, data: FixedChargeInput
    ) -> FixedCharge:
        plan, fixed_charge = self.find(session, organization, plan_code, code)
        errors = Errors()
        locked = repository.has_subscriptions(session, plan)
        draft = FixedChargeDrafter(session, organization.id).draft(data, fixed_charge, errors, locked=locked)
        others = [f.code for f in repository.of_plan(session, plan) if f.id != fixed_charge.id]
        assign_codes([draft], others, errors)
        errors.raise_if_any()
        return write_fixed_charge(session, plan, draft, fixed_charge.position)

    def delete(self, session: Session, organization: Organization, plan_code: str, code: str) -> FixedCharge:
        _, fixed_charge = self.find(session, organization, plan_code, code)
        repository.delete([fixed_charge], utcnow())
        session.flush()
        return fixed_charge


fixed_charge_service = FixedChargeService()
