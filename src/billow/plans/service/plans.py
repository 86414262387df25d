"""Plans: create, update, delete, with their charges, usage thresholds, minimum commitment and taxes."""

from __future__ import annotations

from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from billow.db import utcnow
from billow.errors import Errors, NotAllowed, NotFound, ValidationFailed
from billow.kit.currency import is_currency
from billow.kit.limits import MAX_DAYS, MAX_PRICE_DECIMALS, bounded_decimal
from billow.models.organizations import Organization
from billow.models.plans import (
    MONTHLY_CHARGES_INTERVALS,
    Charge,
    Commitment,
    Interval,
    Plan,
    UsageThreshold,
    charge_taxes,
    commitment_taxes,
    plan_taxes,
)
from billow.models.taxes import Tax
from billow.plans.repository import plan_repository as repository
from billow.plans.schemas import (
    ChargeInput,
    ChargeOverrideInput,
    MinimumCommitmentInput,
    PlanInput,
    PlanOverridesInput,
    UsageThresholdInput,
)
from billow.plans.service.charge_drafts import ChargeDraft, ChargeDrafter, assign_codes
from billow.plans.service.charge_writer import delete_charge, write_charge
from billow.plans.service.fixed_charge_drafts import (
    delete_plan_fixed_charges,
    draft_plan_fixed_charges,
    link_to_parent,
    override_inputs,
    write_plan_fixed_charges,
)
from billow.taxes.service import tax_service
from billow.webhooks.outbox import emit


@dataclass
class _PlanState:
    """A plan's own fields as they will be saved, validated as a whole."""

    name: str | None = None
    code: str | None = None
    interval: str | None = None
    description: str | None = None
    invoice_display_name: str | None = None
    amount_cents: int | None = None
    amount_currency: str | None = None
    trial_period: Decimal | None = None
    pay_in_advance: bool = False
    bill_charges_monthly: bool | None = None
    bill_fixed_charges_monthly: bool | None = None

    @classmethod
    def of(cls, plan: Plan) -> _PlanState:
        return cls(**{f.name: getattr(plan, f.name) for f in fields(cls)})

    def apply(self, changes: dict[str, Any]) -> None:
        for key, value in changes.items():
            if hasattr(self, key):
                setattr(self, key, value)
        # Monthly billing of charges only means something inside a longer interval: null otherwise.
        splittable = self.interval in MONTHLY_CHARGES_INTERVALS
        self.bill_charges_monthly = bool(self.bill_charges_monthly) if splittable else None
        self.bill_fixed_charges_monthly = bool(self.bill_fixed_charges_monthly) if splittable else None

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class _CommitmentChange:
    delete: bool
    amount_cents: int | None = None
    invoice_display_name: str | None = None
    fields: frozenset[str] = frozenset()
    taxes: list[Tax] | None = None


class PlanService:
    def get(self, session: Session, organization: Organization, code: str) -> Plan:
        plan = repository.by_code(session, organization.id, code)
        if plan is None:
            raise NotFound("plan")
        return plan

    def create(
        self, session: Session, organization: Organization, data: PlanInput, *, parent: Plan | None = None
    ) -> Plan:
        """A plan; with ``parent``, a child plan holding a subscription's overrides (same code)."""
        state = _PlanState()
        state.apply(data.provided())
        taxes = self._taxes(session, organization, data.tax_codes)
        drafter = ChargeDrafter(session, organization.id)
        errors = Errors()
        self._validate(
            session, organization, state, errors, current_code=parent.code if parent is not None else None
        )
        # Ids are meaningless on a new plan: every charge is new.
        drafts = [drafter.draft(c, None, errors) for c in data.charges or []]
        assign_codes(drafts, (), errors)
        fixed_inputs = data.fixed_charges or []
        fixed_charges = draft_plan_fixed_charges(session, organization, None, fixed_inputs, errors)
        commitment = self._commitment_change(session, organization, data.minimum_commitment, None, errors)
        _validate_thresholds(data.usage_thresholds or [], errors)
        errors.raise_if_any()

        plan = Plan(
            organization_id=organization.id,
            metadata_=data.metadata,
            parent_id=parent.id if parent is not None else None,
            **state.as_dict(),
        )
        session.add(plan)
        session.flush()
        if taxes is not None:
            repository.set_taxes(session, plan_taxes, plan.id, taxes)
        for position, draft in enumerate(drafts):
            write_charge(session, plan, draft, position)
        write_plan_fixed_charges(session, plan, fixed_charges)
        if parent is not None:
            link_to_parent(session, parent, plan)
        if commitment is not None:
            self._write_commitment(session, plan, commitment)
        _replace_thresholds(session, plan, data.usage_thresholds or [])
        session.flush()
        if parent is None:  # a subscription's child plan is not announced (as Lago's overrides)
            emit(session, organization.id, "plan.created", "plan", plan.id)
        return plan

    def update(self, session: Session, organization: Organization, code: str, data: PlanInput) -> Plan:
        """Apply what was sent. ``charges``, ``usage_thresholds``, ``minimum_commitment`` and
        ``tax_codes``, when sent, replace the plan's current ones.

        Hook: once subscriptions exist, Lago only lets name, invoice_display_name, description and
        amount_cents change on a plan that has subscriptions; that restriction goes here.
        """
        plan = self._update(session, organization, self.get(session, organization, code), data)
        emit(session, organization.id, "plan.updated", "plan", plan.id)
        return plan

    def _update(self, session: Session, organization: Organization, plan: Plan, data: PlanInput) -> Plan:
        state = _PlanState.of(plan)
        state.apply(data.provided())
        taxes = self._taxes(session, organization, data.tax_codes)
        errors = Errors()
        self._validate(session, organization, state, errors, current_code=plan.code)
        charge_plan = (
            self._draft_charge_replacement(session, organization, plan, data.charges, errors)
            if data.charges is not None
            else None
        )
        fixed_charges = (
            draft_plan_fixed_charges(session, organization, plan, data.fixed_charges, errors)
            if data.fixed_charges is not None
            else None
        )
        current_commitment = repository.commitments_of(session, [plan.id]).get(plan.id)
        commitment = self._commitment_change(
            session, organization, data.minimum_commitment, current_commitment, errors
        )
        if data.usage_thresholds is not None:
            _validate_thresholds(data.usage_thresholds, errors)
        errors.raise_if_any()

        for key, value in state.as_dict().items():
            setattr(plan, key, value)
        if "metadata" in data.provided():
            plan.metadata_ = data.metadata
        session.flush()
        if taxes is not None:
            repository.set_taxes(session, plan_taxes, plan.id, taxes)
        if charge_plan is not None:
            drafts, stale = charge_plan
            now = utcnow()
            for charge in stale:
                delete_charge(session, charge, now)
            session.flush()
            # Existing charges first, so that a code they give up is free before a new charge takes it.
            ordered = sorted(enumerate(drafts), key=lambda item: item[1].existing is None)
            for position, draft in ordered:
                write_charge(session, plan, draft, position)
        if fixed_charges is not None:
            write_plan_fixed_charges(session, plan, fixed_charges)
        if commitment is not None:
            self._write_commitment(session, plan, commitment, current_commitment)
        if data.usage_thresholds is not None:
            _replace_thresholds(session, plan, data.usage_thresholds)
        session.flush()
        return plan

    def override(
        self,
        session: Session,
        organization: Organization,
        parent: Plan,
        child: Plan | None,
        overrides: PlanOverridesInput,
    ) -> Plan:
        """A subscription's ``plan_overrides``: create the child plan of ``parent`` (a copy of it with
        the overrides applied), or apply them to the subscription's ``child`` plan. Validated as plan
        creation and update are (same 422 errors, nothing written on error).

        A charge override's ``id`` is a charge of the parent or of the child (they share codes).
        """
        values = {
            key: value
            for key, value in overrides.provided().items()
            if key not in ("charges", "fixed_charges")
        }
        base = child if child is not None else parent
        charges = repository.charges_of(session, base)
        by_code = self._charge_overrides(session, parent, child, overrides.charges or [])
        fixed_charges = override_inputs(session, parent, child, overrides.fixed_charges)
        if fixed_charges is not None:
            values["fixed_charges"] = fixed_charges
        if child is not None:
            if by_code:
                values["charges"] = [
                    ChargeInput(id=str(charge.id), **by_code[charge.code].provided_without_id())
                    if charge.code in by_code
                    else ChargeInput(id=str(charge.id))
                    for charge in charges
                ]
            return self._update(session, organization, child, PlanInput(**values))
        copy = self._copy_of(session, organization, parent, charges, by_code)
        commitment = overrides.minimum_commitment
        if commitment is not None and commitment.provided() and copy["minimum_commitment"] is not None:
            # A partial commitment override keeps the parent's other commitment fields.
            values["minimum_commitment"] = MinimumCommitmentInput(
                **{**copy["minimum_commitment"].provided(), **commitment.provided()}
            )
        data = PlanInput(**{**copy, **values})
        return self.create(session, organization, data, parent=parent)

    def delete(self, session: Session, organization: Organization, code: str) -> Plan:
        """Soft-delete the plan and its charges; refused while subscriptions are on it.

        Lago terminates (and invoices) the plan's subscriptions in the background instead; Billow
        asks the caller to terminate them first, so that no one loses a subscription by accident.
        """
        plan = self.get(session, organization, code)
        if repository.has_live_subscriptions(session, plan):
            raise NotAllowed(code="plan_has_active_subscriptions")
        now = utcnow()
        for charge in repository.charges_of(session, plan):
            delete_charge(session, charge, now)
        delete_plan_fixed_charges(session, plan, now)
        plan.deleted_at = now
        session.flush()
        emit(session, organization.id, "plan.deleted", "plan", plan.id)
        return plan

    # ------------------------------------------------------------------------------------ helpers

    def _charge_overrides(
        self, session: Session, parent: Plan, child: Plan | None, items: list[ChargeOverrideInput]
    ) -> dict[str, _ChargeOverride]:
        """Charge overrides by charge code; an ``id`` of no charge of the plans is ignored (as Lago)."""
        codes = {str(c.id): c.code for c in repository.charges_of(session, parent)}
        if child is not None:
            codes.update({str(c.id): c.code for c in repository.charges_of(session, child)})
        result: dict[str, _ChargeOverride] = {}
        for item in items:
            code = codes.get((item.id or "").lower())
            if code is not None:
                result[code] = _ChargeOverride(item)
        return result

    def _copy_of(
        self,
        session: Session,
        organization: Organization,
        parent: Plan,
        charges: list[Charge],
        overrides: dict[str, _ChargeOverride],
    ) -> dict[str, Any]:
        """The parent plan as plan input (for its child), charge overrides applied."""
        fields_ = _PlanState.of(parent).as_dict()
        taxes = repository.taxes_of(session, plan_taxes, [parent.id])[parent.id]
        charge_tax_map = repository.taxes_of(session, charge_taxes, [c.id for c in charges])
        drafter = ChargeDrafter(session, organization.id)
        charge_inputs = []
        for charge in charges:
            values: dict[str, Any] = {
                "billable_metric_id": str(charge.billable_metric_id),
                "code": charge.code,
                "invoice_display_name": charge.invoice_display_name,
                "charge_model": charge.charge_model,
                "pay_in_advance": charge.pay_in_advance,
                "prorated": charge.prorated,
                "invoiceable": charge.invoiceable,
                "regroup_paid_fees": charge.regroup_paid_fees,
                "min_amount_cents": charge.min_amount_cents,
                "properties": charge.properties,
                "filters": drafter._current_filters(charge),
                "tax_codes": [tax.code for tax in charge_tax_map[charge.id]],
            }
            if charge.code in overrides:
                values.update(overrides[charge.code].provided_without_id())
            charge_inputs.append(ChargeInput(**values))
        commitment = repository.commitments_of(session, [parent.id]).get(parent.id)
        thresholds = repository.thresholds_of(session, [parent.id])[parent.id]
        return {
            **{key: value for key, value in fields_.items() if value is not None},
            "metadata": parent.metadata_,
            "tax_codes": [tax.code for tax in taxes],
            "charges": charge_inputs,
            "minimum_commitment": MinimumCommitmentInput(**self._commitment_fields(session, commitment))
            if commitment is not None
            else None,
            "usage_thresholds": [
                UsageThresholdInput(
                    threshold_display_name=t.threshold_display_name,
                    amount_cents=t.amount_cents,
                    recurring=t.recurring,
                )
                for t in thresholds
            ],
        }

    def _commitment_fields(self, session: Session, commitment: Commitment) -> dict[str, Any]:
        taxes = repository.taxes_of(session, commitment_taxes, [commitment.id])[commitment.id]
        return {
            "amount_cents": commitment.amount_cents,
            "invoice_display_name": commitment.invoice_display_name,
            "tax_codes": [tax.code for tax in taxes],
        }

    def _taxes(
        self, session: Session, organization: Organization, codes: list[str] | None
    ) -> list[Tax] | None:
        return None if codes is None else tax_service.resolve_codes(session, organization.id, codes)

    def _validate(
        self,
        session: Session,
        organization: Organization,
        state: _PlanState,
        errors: Errors,
        current_code: str | None,
    ) -> None:
        for field in ("name", "code"):
            if not getattr(state, field):
                errors.add(field, "value_is_mandatory")
        if state.interval not in tuple(Interval):
            # As Lago: a missing interval is value_is_invalid too.
            errors.add("interval", "value_is_invalid")
        if state.amount_cents is None:
            errors.add("amount_cents", "value_is_mandatory")
        elif state.amount_cents < 0:
            errors.add("amount_cents", "value_is_out_of_range")
        if not is_currency(state.amount_currency):
            errors.add("amount_currency", "value_is_invalid")
        if state.trial_period is not None and not bounded_decimal(
            state.trial_period, high=Decimal(MAX_DAYS), decimals=MAX_PRICE_DECIMALS
        ):
            errors.add("trial_period", "value_is_out_of_range")
        changed_code = state.code if state.code != current_code else None
        if changed_code and repository.by_code(session, organization.id, changed_code) is not None:
            errors.add("code", "value_already_exist")

    def _draft_charge_replacement(
        self,
        session: Session,
        organization: Organization,
        plan: Plan,
        inputs: list[ChargeInput],
        errors: Errors,
    ) -> tuple[list[ChargeDraft], list[Any]]:
        """Drafts for the charges sent, and the current charges that are not listed (to delete)."""
        current = {str(charge.id): charge for charge in repository.charges_of(session, plan)}
        drafter = ChargeDrafter(session, organization.id)
        drafts: list[ChargeDraft] = []
        kept: set[str] = set()
        for item in inputs:
            existing = None
            if item.id is not None:
                existing = current.get(item.id.lower())
                if existing is None:
                    raise NotFound("charge")
                kept.add(str(existing.id))
            drafts.append(drafter.draft(item, existing, errors))
        assign_codes(drafts, (), errors)
        stale = [charge for charge_id, charge in current.items() if charge_id not in kept]
        return drafts, stale

    def _commitment_change(
        self,
        session: Session,
        organization: Organization,
        data: MinimumCommitmentInput | None,
        current: Commitment | None,
        errors: Errors,
    ) -> _CommitmentChange | None:
        """What to do with the minimum commitment: nothing (None), delete it (``{}`` sent) or upsert it."""
        if data is None:
            return None
        provided = data.provided()
        if not provided:
            return _CommitmentChange(delete=True)
        amount = provided.get("amount_cents", current.amount_cents if current is not None else None)
        if amount is None:
            errors.add("amount_cents", "value_is_mandatory")
        elif amount <= 0:
            errors.add("amount_cents", "value_is_out_of_range")
        taxes = self._taxes(session, organization, data.tax_codes)
        return _CommitmentChange(
            delete=False,
            amount_cents=amount,
            invoice_display_name=data.invoice_display_name,
            fields=frozenset(provided),
            taxes=taxes,
        )

    def _write_commitment(
        self, session: Session, plan: Plan, change: _CommitmentChange, current: Commitment | None = None
    ) -> None:
        if change.delete:
            if current is not None:
                session.delete(current)
            return
        commitment = current
        if commitment is None:
            commitment = Commitment(organization_id=plan.organization_id, plan_id=plan.id)
            session.add(commitment)
        assert change.amount_cents is not None
        commitment.amount_cents = change.amount_cents
        if current is None or "invoice_display_name" in change.fields:
            commitment.invoice_display_name = change.invoice_display_name
        session.flush()
        if change.taxes is not None:
            repository.set_taxes(session, commitment_taxes, commitment.id, change.taxes)


@dataclass
class _ChargeOverride:
    item: ChargeOverrideInput

    def provided_without_id(self) -> dict[str, Any]:
        sent = self.item.provided()
        return {k: v for k, v in sent.items() if k not in ("id", "applied_pricing_unit")}


def _validate_thresholds(items: list[UsageThresholdInput], errors: Errors) -> None:
    if any(item.amount_cents is None for item in items):
        errors.add("usage_thresholds", "missing_amount_cents")
    if any(item.amount_cents is not None and item.amount_cents <= 0 for item in items):
        errors.add("amount_cents", "value_is_out_of_range")
    keys = [(item.amount_cents, bool(item.recurring)) for item in items]
    if len(set(keys)) != len(keys):
        errors.add("usage_thresholds", "duplicated_values")
    if sum(1 for item in items if item.recurring) > 1:
        errors.add("usage_thresholds", "multiple_recurring_thresholds")


def _replace_thresholds(session: Session, plan: Plan, items: list[UsageThresholdInput]) -> None:
    """Make the plan's live thresholds exactly ``items``.

    The recurring threshold and fixed thresholds of the same amount keep their rows (and lago_id);
    the others are soft-deleted, since progressive billing invoices may refer to them.
    """
    current = repository.thresholds_of(session, [plan.id])[plan.id]
    recurring = next((t for t in current if t.recurring), None)
    fixed = {t.amount_cents: t for t in current if not t.recurring}
    for item in items:
        assert item.amount_cents is not None  # validated
        if item.recurring:
            row, recurring = recurring, None
        else:
            row = fixed.pop(item.amount_cents, None)
        if row is None:
            row = UsageThreshold(
                organization_id=plan.organization_id, plan_id=plan.id, recurring=bool(item.recurring)
            )
            session.add(row)
        row.amount_cents = item.amount_cents
        if "threshold_display_name" in item.provided() or row.threshold_display_name is None:
            row.threshold_display_name = item.threshold_display_name
    now = utcnow()
    for stale in [*fixed.values(), *([recurring] if recurring is not None else [])]:
        stale.deleted_at = now


plan_service = PlanService()


class PlanMetadataService:
    """``/plans/{code}/metadata``: a flat map of string keys to string (or null) values."""

    def replace(
        self, session: Session, organization: Organization, code: str, values: dict[str, Any]
    ) -> dict:
        plan = plan_service.get(session, organization, code)
        plan.metadata_ = _checked_metadata(values)
        session.flush()
        return dict(plan.metadata_)

    def merge(self, session: Session, organization: Organization, code: str, values: dict[str, Any]) -> dict:
        plan = plan_service.get(session, organization, code)
        plan.metadata_ = {**(plan.metadata_ or {}), **_checked_metadata(values)}
        session.flush()
        return dict(plan.metadata_)

    def delete(self, session: Session, organization: Organization, code: str, key: str | None = None) -> dict:
        plan = plan_service.get(session, organization, code)
        remaining = {} if key is None else {k: v for k, v in (plan.metadata_ or {}).items() if k != key}
        plan.metadata_ = remaining or None
        session.flush()
        return remaining


def _checked_metadata(values: dict[str, Any]) -> dict[str, str | None]:
    bad = [key for key, value in values.items() if value is not None and not isinstance(value, str)]
    if bad:
        raise ValidationFailed({"metadata": ["value_is_invalid"]})
    return dict(values)


plan_metadata_service = PlanMetadataService()
