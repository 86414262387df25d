"""A plan's fixed charges: validated drafts and their writing (with the plan, one at a time, or as a
subscription's overrides on its child plan).

A fixed charge bills an add-on every period for ``units`` (a decimal ``>= 0``, default 0) priced by a
``standard``, ``graduated`` or ``volume`` charge model, whose properties follow the charge rules
(:mod:`billow.plans.charge_rules`; defaults when absent). As Lago's ``FixedCharge`` validations:

* ``charge_model`` is mandatory (422 ``value_is_mandatory``) and one of the three (``value_is_invalid``);
* a ``volume`` fixed charge cannot be paid in advance (``pay_in_advance: invalid_charge_model``), and a
  ``graduated`` one paid in advance cannot be prorated (``prorated: invalid_charge_model``);
* ``units`` must be a number (``value_is_invalid``) in ``[0, 10^18]`` (``value_is_out_of_range``);
* codes are unique in the plan (``value_already_exist``); a missing code is the add-on's code, suffixed
  ``_2``, ``_3``... when taken (Lago's ``FixedCharges::GenerateCodeService``);
* once the plan has subscriptions, an update keeps a fixed charge's ``charge_model`` and ``code``;
* the add-on is ``add_on_id`` (its lago_id) or ``add_on_code``: a live add-on of the organization, else 404
  ``add_on_not_found``; an update never changes it, nor ``pay_in_advance`` and ``prorated`` (Lago).

Billow departures: an update keeps the fields it is not sent (Lago resets ``units``, ``charge_model`` and
``properties`` to their defaults); ``apply_units_immediately`` and ``cascade_updates`` are accepted and
ignored (new units are billed from the next invoice; plans do not cascade to their child plans).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from billow.db import utcnow
from billow.errors import Errors, NotFound
from billow.kit.limits import is_quantity, parse_decimal_text
from billow.models.add_ons import AddOn
from billow.models.organizations import Organization
from billow.models.plans import FixedCharge, Plan
from billow.models.taxes import Tax
from billow.plans.charge_rules import ChargeSpec, validate_charge
from billow.plans.fixed_charge_repository import fixed_charge_repository as repository
from billow.plans.fixed_charge_schemas import FixedChargeInput, FixedChargeOverrideInput
from billow.plans.service.charge_drafts import unique_codes
from billow.taxes.service import tax_service

FIXED_CHARGE_MODELS = ("standard", "graduated", "volume")
#: What a subscription may override of a fixed charge (Lago's ``FixedChargeOverridableInput``).
OVERRIDABLE = ("invoice_display_name", "units", "properties", "tax_codes")


def parse_units(value: str | int | float | None) -> Decimal | None:
    """``units`` as sent (a decimal string or a JSON number); ``None`` when unreadable."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return parse_decimal_text(repr(value))
    return parse_decimal_text(value)


@dataclass
class FixedChargeDraft:
    existing: FixedCharge | None
    add_on: AddOn
    code: str | None  # None until assign_codes
    charge_model: str
    invoice_display_name: str | None
    pay_in_advance: bool
    prorated: bool
    units: Decimal
    properties: dict[str, Any]
    taxes: list[Tax] | None  # None: leave the fixed charge's taxes as they are


class FixedChargeDrafter:
    """Drafts the fixed charges of one organization (add-ons cached across a batch)."""

    def __init__(self, session: Session, organization_id: uuid.UUID):
        self.session = session
        self.organization_id = organization_id
        self._add_ons: dict[tuple[str, str], AddOn] = {}

    def add_on(self, add_on_id: str | None, add_on_code: str | None) -> AddOn:
        """The live add-on named by ``add_on_id`` (first) or ``add_on_code``; 404 ``add_on_not_found``."""
        key = ("id", add_on_id) if add_on_id else ("code", add_on_code or "")
        if key not in self._add_ons:
            if add_on_id:
                found = repository.add_on_by_id(self.session, self.organization_id, add_on_id)
            elif add_on_code:
                found = repository.add_on_by_code(self.session, self.organization_id, add_on_code)
            else:
                found = None
            if found is None:
                raise NotFound("add_on")
            self._add_ons[key] = found
        return self._add_ons[key]

    def draft(
        self, data: FixedChargeInput, existing: FixedCharge | None, errors: Errors, *, locked: bool = False
    ) -> FixedChargeDraft:
        """``locked``: the plan has subscriptions, so an existing fixed charge keeps its charge model and
        code (Lago ignores them then)."""
        provided = data.provided()
        if locked and existing is not None:
            provided = {k: v for k, v in provided.items() if k not in ("charge_model", "code")}
        if existing is None:
            add_on = self.add_on(data.add_on_id, data.add_on_code)
        else:  # an update never changes the add-on (Lago); it may have been deleted since
            found = self.session.get(AddOn, existing.add_on_id)
            assert found is not None  # a foreign key
            add_on = found
        taxes = (
            tax_service.resolve_codes(self.session, self.organization_id, data.tax_codes)
            if data.tax_codes is not None
            else None
        )

        def pick(field: str, default: Any) -> Any:
            if field in provided and (existing is None or field not in ("pay_in_advance", "prorated")):
                return provided[field]
            return getattr(existing, field) if existing is not None else default

        charge_model = pick("charge_model", None)
        if "properties" in provided:
            properties: Mapping[str, Any] | None = data.properties
        elif existing is not None and charge_model == existing.charge_model:
            properties = existing.properties
        else:
            properties = None  # the model's defaults
        pay_in_advance = bool(pick("pay_in_advance", False))
        prorated = bool(pick("prorated", False))
        normalized = check_fixed_charge(charge_model, properties, pay_in_advance, prorated, errors)

        units = existing.units if existing is not None else Decimal(0)
        if "units" in provided:
            units = checked_units(data.units, errors)
        return FixedChargeDraft(
            existing=existing,
            add_on=add_on,
            # An empty code is no code: one is generated (or the current one kept).
            code=provided.get("code") or (existing.code if existing is not None else None),
            charge_model=charge_model or "",
            invoice_display_name=pick("invoice_display_name", None),
            pay_in_advance=pay_in_advance,
            prorated=prorated,
            units=units,
            properties=normalized,
            taxes=taxes,
        )


def checked_units(value: str | int | float | None, errors: Errors) -> Decimal:
    units = parse_units(value)
    if units is None:
        errors.add("units", "value_is_invalid")
        return Decimal(0)
    if not is_quantity(units):
        errors.add("units", "value_is_out_of_range")
        return Decimal(0)
    return units


def check_fixed_charge(
    charge_model: str | None,
    properties: Mapping[str, Any] | None,
    pay_in_advance: bool,
    prorated: bool,
    errors: Errors,
) -> dict[str, Any]:
    """The normalized properties of a fixed charge; problems go to ``errors`` (Lago's fields and codes)."""
    if not charge_model:
        errors.add("charge_model", "value_is_mandatory")
        return {}
    if charge_model not in FIXED_CHARGE_MODELS:
        errors.add("charge_model", "value_is_invalid")
        return {}
    spec = ChargeSpec(
        charge_model=charge_model,
        properties=properties,
        aggregation_type="sum_agg",
        recurring=False,
        pay_in_advance=False,
        prorated=False,
        invoiceable=True,
        regroup_paid_fees=None,
        min_amount_cents=0,
    )
    normalized, problems = validate_charge(spec)
    for field, codes in problems.items():
        for code in codes:
            errors.add(field, code)
    # Fixed charges are not grouped: grouping keys are not theirs.
    normalized.pop("pricing_group_keys", None)
    normalized.pop("presentation_group_keys", None)
    if pay_in_advance and charge_model == "volume":
        errors.add("pay_in_advance", "invalid_charge_model")
    if prorated and pay_in_advance and charge_model == "graduated":
        errors.add("prorated", "invalid_charge_model")
    return normalized


def assign_codes(drafts: Sequence[FixedChargeDraft], taken: Iterable[str], errors: Errors) -> None:
    """Given codes must be unique in the plan; missing ones are the add-on's code (``_2``... if taken)."""
    unique_codes(drafts, taken, errors, lambda draft: draft.add_on.code)


def write_fixed_charge(session: Session, plan: Plan, draft: FixedChargeDraft, position: int) -> FixedCharge:
    assert draft.code is not None  # assign_codes ran
    fixed_charge = draft.existing
    if fixed_charge is None:
        fixed_charge = FixedCharge(organization_id=plan.organization_id, plan_id=plan.id)
        session.add(fixed_charge)
    fixed_charge.add_on_id = draft.add_on.id
    fixed_charge.code = draft.code
    fixed_charge.charge_model = draft.charge_model
    fixed_charge.invoice_display_name = draft.invoice_display_name
    fixed_charge.pay_in_advance = draft.pay_in_advance
    fixed_charge.prorated = draft.prorated
    fixed_charge.units = draft.units
    fixed_charge.properties = draft.properties
    fixed_charge.position = position
    session.flush()
    if draft.taxes is not None:
        repository.set_taxes(session, fixed_charge, draft.taxes)
    return fixed_charge


# ------------------------------------------------------------------------- with the plan (POST/PUT)


@dataclass
class FixedChargesChange:
    """A plan's new fixed charges (``fixed_charges`` of a plan create or update), validated."""

    drafts: list[FixedChargeDraft]
    stale: list[FixedCharge]


def draft_plan_fixed_charges(
    session: Session,
    organization: Organization,
    plan: Plan | None,
    inputs: list[FixedChargeInput],
    errors: Errors,
) -> FixedChargesChange:
    """The plan's fixed charges become ``inputs``: an ``id`` of one of them updates it (404
    ``fixed_charge_not_found`` otherwise), the others are new, and the current ones not listed go."""
    current = {str(f.id): f for f in repository.of_plan(session, plan)} if plan is not None else {}
    locked = plan is not None and repository.has_subscriptions(session, plan)
    drafter = FixedChargeDrafter(session, organization.id)
    drafts: list[FixedChargeDraft] = []
    for item in inputs:
        existing = None
        if item.id is not None and plan is not None:
            existing = current.get(item.id.lower())
            if existing is None:
                raise NotFound("fixed_charge")
        drafts.append(drafter.draft(item, existing, errors, locked=locked))
    assign_codes(drafts, (), errors)
    kept = {draft.existing.id for draft in drafts if draft.existing is not None}
    return FixedChargesChange(drafts, [f for f in current.values() if f.id not in kept])


def write_plan_fixed_charges(session: Session, plan: Plan, change: FixedChargesChange) -> None:
    repository.delete(change.stale, utcnow())
    session.flush()
    # Existing ones first, so that a code they give up is free before a new fixed charge takes it.
    ordered = sorted(enumerate(change.drafts), key=lambda item: item[1].existing is None)
    for position, draft in ordered:
        write_fixed_charge(session, plan, draft, position)


def delete_plan_fixed_charges(session: Session, plan: Plan, now: Any) -> None:
    """With the plan (same instant: a deleted plan is shown with them)."""
    repository.delete(repository.of_plan(session, plan), now)


# ----------------------------------------------------------------------------- subscription overrides


def override_inputs(
    session: Session, parent: Plan, child: Plan | None, overrides: list[FixedChargeOverrideInput] | None
) -> list[FixedChargeInput] | None:
    """``plan_overrides.fixed_charges`` as the child plan's fixed charges.

    A new child (``child`` None) copies every fixed charge of ``parent``, the overridden ones changed; an
    existing child keeps all of its own, the overridden ones changed (``None`` when nothing is sent). An
    override's ``id`` is a fixed charge of the parent or of the child (they share codes); another id is
    ignored, as Lago ignores it.
    """
    if child is not None and overrides is None:
        return None
    codes = {str(f.id): f.code for f in repository.of_plan(session, parent)}
    if child is not None:
        codes.update({str(f.id): f.code for f in repository.of_plan(session, child)})
    by_code: dict[str, dict[str, Any]] = {}
    for item in overrides or []:
        code = codes.get((item.id or "").lower())
        if code is not None:
            sent = item.provided()
            by_code[code] = {key: sent[key] for key in OVERRIDABLE if key in sent}
    if child is not None:
        own = repository.of_plan(session, child)
        return [FixedChargeInput(id=str(f.id), **by_code.get(f.code, {})) for f in own]
    source = repository.of_plan(session, parent)
    taxes = repository.taxes_of(session, [f.id for f in source])
    return [
        FixedChargeInput(
            **{
                "add_on_id": str(f.add_on_id),
                "code": f.code,
                "invoice_display_name": f.invoice_display_name,
                "charge_model": f.charge_model,
                "pay_in_advance": f.pay_in_advance,
                "prorated": f.prorated,
                "units": str(f.units),
                "properties": f.properties,
                "tax_codes": [tax.code for tax in taxes[f.id]],
                **by_code.get(f.code, {}),
            }
        )
        for f in source
    ]


def link_to_parent(session: Session, parent: Plan, child: Plan) -> None:
    """A new child plan's fixed charges point at the parent's they copy (Lago's ``parent_id``)."""
    by_code = {f.code: f.id for f in repository.of_plan(session, parent)}
    for fixed_charge in repository.of_plan(session, child):
        fixed_charge.parent_id = by_code.get(fixed_charge.code)
