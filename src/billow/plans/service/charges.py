"""A plan's charges and charge filters, one at a time (``/plans/{code}/charges[...]``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from billow.db import utcnow
from billow.errors import Errors, NotFound
from billow.models.organizations import Organization
from billow.models.plans import Charge, ChargeFilter, Plan
from billow.plans.repository import plan_repository as repository
from billow.plans.schemas import ChargeFilterInput, ChargeInput
from billow.plans.service.charge_drafts import ChargeDrafter, FilterDraft, assign_codes, filter_identity
from billow.plans.service.charge_writer import create_filter, delete_charge, write_charge
from billow.plans.service.plans import plan_service


class ChargeService:
    """Hook: once subscriptions exist, Lago restricts charge edits on plans that have subscriptions."""

    def get(self, session: Session, plan: Plan, code: str) -> Charge:
        charge = repository.charge_by_code(session, plan, code)
        if charge is None:
            raise NotFound("charge")
        return charge

    def find(
        self, session: Session, organization: Organization, plan_code: str, code: str
    ) -> tuple[Plan, Charge]:
        plan = plan_service.get(session, organization, plan_code)
        return plan, self.get(session, plan, code)

    def create(
        self, session: Session, organization: Organization, plan_code: str, data: ChargeInput
    ) -> Charge:
        plan = plan_service.get(session, organization, plan_code)
        errors = Errors()
        draft = ChargeDrafter(session, organization.id).draft(data, None, errors)
        assign_codes([draft], [c.code for c in repository.charges_of(session, plan)], errors)
        errors.raise_if_any()
        return write_charge(session, plan, draft, repository.next_charge_position(session, plan))

    def update(
        self, session: Session, organization: Organization, plan_code: str, code: str, data: ChargeInput
    ) -> Charge:
        plan, charge = self.find(session, organization, plan_code, code)
        errors = Errors()
        draft = ChargeDrafter(session, organization.id).draft(data, charge, errors)
        others = [c.code for c in repository.charges_of(session, plan) if c.id != charge.id]
        assign_codes([draft], others, errors)
        errors.raise_if_any()
        return write_charge(session, plan, draft, charge.position)

    def delete(self, session: Session, organization: Organization, plan_code: str, code: str) -> Charge:
        _, charge = self.find(session, organization, plan_code, code)
        delete_charge(session, charge, utcnow())
        session.flush()
        return charge


class ChargeFilterService:
    def get(
        self, session: Session, organization: Organization, plan_code: str, charge_code: str, filter_id: str
    ) -> tuple[Charge, ChargeFilter]:
        _, charge = charge_service.find(session, organization, plan_code, charge_code)
        charge_filter = repository.filter_by_id(session, charge, filter_id)
        if charge_filter is None:
            raise NotFound("charge_filter")
        return charge, charge_filter

    def create(
        self,
        session: Session,
        organization: Organization,
        plan_code: str,
        charge_code: str,
        data: ChargeFilterInput,
    ) -> tuple[Charge, ChargeFilter]:
        _, charge = charge_service.find(session, organization, plan_code, charge_code)
        return charge, self.create_on(session, organization, charge, data)

    def check_new(
        self,
        session: Session,
        organization: Organization,
        charge: Charge,
        data: ChargeFilterInput,
        *,
        duplicate_code: str = "value_already_exist",
    ) -> FilterDraft:
        """A new filter of ``charge``, validated (422 otherwise; ``duplicate_code`` when a live filter
        has the same values)."""
        drafter = ChargeDrafter(session, organization.id)
        metric = drafter.metric(str(charge.billable_metric_id))
        errors = Errors()
        draft = drafter.draft_filter(data, metric, charge.charge_model, errors)
        if draft is not None:
            current = repository.filters_of(session, [charge])[charge.id]
            values = repository.values_of(session, [f.id for f in current])
            identities = {filter_identity({row.key: row.values for row in values[f.id]}) for f in current}
            if draft.identity in identities:
                errors.add("values", duplicate_code)
        errors.raise_if_any()
        assert draft is not None
        return draft

    def create_on(
        self,
        session: Session,
        organization: Organization,
        charge: Charge,
        data: ChargeFilterInput,
        *,
        duplicate_code: str = "value_already_exist",
    ) -> ChargeFilter:
        """Add a filter to ``charge`` (any plan's, a child plan's included)."""
        draft = self.check_new(session, organization, charge, data, duplicate_code=duplicate_code)
        return create_filter(session, charge, draft, repository.next_filter_position(session, charge))

    def update(
        self,
        session: Session,
        organization: Organization,
        plan_code: str,
        charge_code: str,
        filter_id: str,
        data: ChargeFilterInput,
    ) -> tuple[Charge, ChargeFilter]:
        """Change the display name and properties. As in Lago, a filter's values cannot change."""
        charge, charge_filter = self.get(session, organization, plan_code, charge_code, filter_id)
        return charge, self.update_on(session, organization, charge, charge_filter, data)

    def check_update(
        self,
        session: Session,
        organization: Organization,
        charge: Charge,
        charge_filter: ChargeFilter,
        data: ChargeFilterInput,
    ) -> dict[str, Any] | None:
        """The filter's new properties, validated (None: not sent); 422 otherwise."""
        if "properties" not in data.provided():
            return None
        drafter = ChargeDrafter(session, organization.id)
        metric = drafter.metric(str(charge.billable_metric_id))
        errors = Errors()
        values = repository.values_of(session, [charge_filter.id])[charge_filter.id]
        checked = ChargeFilterInput(
            properties=data.properties, values={row.key: row.values for row in values}
        )
        draft = drafter.draft_filter(checked, metric, charge.charge_model, errors)
        errors.raise_if_any()
        assert draft is not None
        return draft.properties

    def update_on(
        self,
        session: Session,
        organization: Organization,
        charge: Charge,
        charge_filter: ChargeFilter,
        data: ChargeFilterInput,
    ) -> ChargeFilter:
        """Apply ``data`` to a filter of ``charge`` (any plan's, a child plan's included)."""
        properties = self.check_update(session, organization, charge, charge_filter, data)
        if properties is not None:
            charge_filter.properties = properties
        if "invoice_display_name" in data.provided():
            charge_filter.invoice_display_name = data.invoice_display_name
        session.flush()
        return charge_filter

    def delete(
        self, session: Session, organization: Organization, plan_code: str, charge_code: str, filter_id: str
    ) -> tuple[Charge, ChargeFilter]:
        charge, charge_filter = self.get(session, organization, plan_code, charge_code, filter_id)
        charge_filter.deleted_at = utcnow()
        session.flush()
        return charge, charge_filter


charge_service = ChargeService()
charge_filter_service = ChargeFilterService()
