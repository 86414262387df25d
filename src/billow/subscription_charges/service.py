"""A subscription's own charges (``/subscriptions/{external_id}/charges[/{code}[/filters[/{id}]]]``).

The subscription's charges are its plan's: the plan itself, or its child plan when the subscription has
``plan_overrides`` (:meth:`billow.plans.service.PlanService.override`). Reads show them; a write (a charge
override, a filter created, updated or deleted) first gives the subscription a child plan if it has
none (a copy of its plan: same charge codes, filter values and taxes), moves the subscription onto it,
and then changes the child's charge, never the plan's. Billing uses the child plan as for any
``plan_overrides``.

As Lago (``Api::V1::Subscriptions::ChargesController``, ``Charges::FiltersController``): the subscription
is the one with ``subscription_status`` (or ``status``, default ``active``), else 404
``subscription_not_found``; the charge is the subscription plan's live charge with the code, else 404
``charge_not_found``; the filter one of that charge's live filters, else 404 ``charge_filter_not_found``.
An empty ``charge`` or ``filter`` object is a 400 (Lago's ``params.require``). A new filter needs
``values`` (422 ``value_is_mandatory``) that no live filter of the charge has (422
``value_already_exists``). Everything is validated before anything is written.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.orm import Session

from billow.db import utcnow
from billow.errors import BadRequest, Errors, NotFound, ValidationFailed
from billow.kit.locking import lock_row
from billow.kit.schemas import Input
from billow.models.organizations import Organization
from billow.models.plans import Charge, ChargeFilter, Plan
from billow.models.subscriptions import Subscription, SubscriptionStatus
from billow.plans.repository import plan_repository
from billow.plans.schemas import ChargeFilterInput, ChargeInput, ChargeOverrideInput, PlanOverridesInput
from billow.plans.service import charge_filter_service, plan_service
from billow.plans.service.charge_drafts import ChargeDraft, ChargeDrafter, assign_codes, filter_identity
from billow.plans.service.charge_writer import write_charge
from billow.subscriptions.repository import subscription_repository

#: What a charge override may change (Lago's ``ChargeOverridableInput``; ``applied_pricing_unit`` is
#: accepted and ignored: Billow has no pricing units).
_OVERRIDABLE = ("invoice_display_name", "min_amount_cents", "properties", "filters", "tax_codes")


class SubscriptionChargeService:
    # ------------------------------------------------------------------------------------------ reads

    def plan(
        self,
        session: Session,
        organization: Organization,
        external_id: str,
        status: str | None,
        *,
        lock: bool = False,
    ) -> tuple[Subscription, Plan]:
        """The subscription with ``status`` (default active) and its plan (child plan included).
        ``lock``: for a write, the subscription's row is locked first, so that two concurrent first
        overrides do not give it two child plans (the second sees the first's)."""
        subscription = subscription_repository.by_external_id(
            session, organization.id, external_id, status or SubscriptionStatus.ACTIVE
        )
        if subscription is None:
            raise NotFound("subscription")
        if lock:
            subscription = lock_row(session, Subscription, subscription.id)
        plan = plan_repository.by_id(session, organization.id, subscription.plan_id)
        if plan is None:  # cannot happen: subscriptions keep their plan
            raise NotFound("subscription")
        return subscription, plan

    def charge(
        self,
        session: Session,
        organization: Organization,
        external_id: str,
        code: str,
        status: str | None,
        *,
        lock: bool = False,
    ) -> tuple[Subscription, Plan, Charge]:
        subscription, plan = self.plan(session, organization, external_id, status, lock=lock)
        charge = plan_repository.charge_by_code(session, plan, code)
        if charge is None:
            raise NotFound("charge")
        return subscription, plan, charge

    def filter(
        self,
        session: Session,
        organization: Organization,
        external_id: str,
        code: str,
        filter_id: str,
        status: str | None,
        *,
        lock: bool = False,
    ) -> tuple[Subscription, Plan, Charge, ChargeFilter]:
        subscription, plan, charge = self.charge(session, organization, external_id, code, status, lock=lock)
        charge_filter = plan_repository.filter_by_id(session, charge, filter_id)
        if charge_filter is None:
            raise NotFound("charge_filter")
        return subscription, plan, charge, charge_filter

    def parent_ids(
        self, session: Session, plan: Plan, charges: Sequence[Charge]
    ) -> dict[uuid.UUID, uuid.UUID]:
        """For a child plan's charges, the parent plan's live charge of the same code (the charge each
        overrides: a child plan is a copy of its parent and keeps its codes)."""
        if plan.parent_id is None or not charges:
            return {}
        parent = plan_repository.by_id(session, plan.organization_id, plan.parent_id)
        if parent is None:
            return {}
        by_code = {charge.code: charge.id for charge in plan_repository.charges_of(session, parent)}
        return {charge.id: by_code[charge.code] for charge in charges if charge.code in by_code}

    # ----------------------------------------------------------------------------------------- writes

    def override(
        self,
        session: Session,
        organization: Organization,
        external_id: str,
        code: str,
        status: str | None,
        data: ChargeOverrideInput,
    ) -> tuple[Plan, Charge]:
        """Change the subscription's charge ``code`` (its child plan's, created if need be)."""
        subscription, plan, charge = self.charge(session, organization, external_id, code, status, lock=True)
        _require(data, "charge")
        sent = {key: value for key, value in data.provided().items() if key in _OVERRIDABLE}
        changes = ChargeInput(**sent)
        self._draft(session, organization, plan, charge, changes)  # 422 before anything is written
        child, target = self._on_child(session, organization, subscription, plan, charge)
        draft = self._draft(session, organization, child, target, changes)
        return child, write_charge(session, child, draft, target.position)

    def create_filter(
        self,
        session: Session,
        organization: Organization,
        external_id: str,
        code: str,
        status: str | None,
        data: ChargeFilterInput,
    ) -> tuple[Charge, ChargeFilter]:
        subscription, plan, charge = self.charge(session, organization, external_id, code, status, lock=True)
        _require(data, "filter")
        if not data.values:
            raise ValidationFailed.one("values", "value_is_mandatory")
        charge_filter_service.check_new(
            session, organization, charge, data, duplicate_code="value_already_exists"
        )
        _, target = self._on_child(session, organization, subscription, plan, charge)
        created = charge_filter_service.create_on(
            session, organization, target, data, duplicate_code="value_already_exists"
        )
        return target, created

    def update_filter(
        self,
        session: Session,
        organization: Organization,
        external_id: str,
        code: str,
        filter_id: str,
        status: str | None,
        data: ChargeFilterInput,
    ) -> tuple[Charge, ChargeFilter]:
        """Change a filter's ``properties`` and ``invoice_display_name`` (its values cannot change)."""
        subscription, plan, charge, charge_filter = self.filter(
            session, organization, external_id, code, filter_id, status, lock=True
        )
        _require(data, "filter")
        charge_filter_service.check_update(session, organization, charge, charge_filter, data)
        _, target = self._on_child(session, organization, subscription, plan, charge)
        target_filter = self._same_filter(session, charge, charge_filter, target)
        return target, charge_filter_service.update_on(session, organization, target, target_filter, data)

    def delete_filter(
        self,
        session: Session,
        organization: Organization,
        external_id: str,
        code: str,
        filter_id: str,
        status: str | None,
    ) -> tuple[Charge, ChargeFilter]:
        subscription, plan, charge, charge_filter = self.filter(
            session, organization, external_id, code, filter_id, status, lock=True
        )
        _, target = self._on_child(session, organization, subscription, plan, charge)
        target_filter = self._same_filter(session, charge, charge_filter, target)
        target_filter.deleted_at = utcnow()
        session.flush()
        return target, target_filter

    # ---------------------------------------------------------------------------------------- helpers

    def _on_child(
        self,
        session: Session,
        organization: Organization,
        subscription: Subscription,
        plan: Plan,
        charge: Charge,
    ) -> tuple[Plan, Charge]:
        """The subscription's child plan (created from ``plan`` and given to the subscription if it has
        none) and its charge with ``charge``'s code."""
        if plan.parent_id is not None:
            return plan, charge
        child = plan_service.override(session, organization, plan, None, PlanOverridesInput())
        subscription.plan_id = child.id
        session.flush()
        target = plan_repository.charge_by_code(session, child, charge.code)
        if target is None:  # cannot happen: the child is a copy of the plan
            raise NotFound("charge")
        return child, target

    def _same_filter(
        self, session: Session, charge: Charge, charge_filter: ChargeFilter, target: Charge
    ) -> ChargeFilter:
        """``charge_filter`` itself, or its copy on ``target`` (the filter with the same values)."""
        if target.id == charge.id:
            return charge_filter
        values = plan_repository.values_of(session, [charge_filter.id])[charge_filter.id]
        wanted = filter_identity({row.key: row.values for row in values})
        copies = plan_repository.filters_of(session, [target])[target.id]
        copy_values = plan_repository.values_of(session, [f.id for f in copies])
        for copy in copies:
            if filter_identity({row.key: row.values for row in copy_values[copy.id]}) == wanted:
                return copy
        raise NotFound("charge_filter")  # cannot happen: the child is a copy of the plan

    def _draft(
        self, session: Session, organization: Organization, plan: Plan, charge: Charge, changes: ChargeInput
    ) -> ChargeDraft:
        errors = Errors()
        draft = ChargeDrafter(session, organization.id).draft(changes, charge, errors)
        others = [c.code for c in plan_repository.charges_of(session, plan) if c.id != charge.id]
        assign_codes([draft], others, errors)
        errors.raise_if_any()
        return draft


def _require(data: Input, root: str) -> None:
    """Lago's ``params.require(root)``: an empty object is a 400 (after the 404s: Lago finds the
    subscription, charge and filter first)."""
    if not data.provided():
        raise BadRequest(f"param is missing or the value is empty or invalid: {root}")


subscription_charge_service = SubscriptionChargeService()
