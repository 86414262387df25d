"""Writing validated charge drafts: charges, their filters and their taxes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from billow.db import utcnow
from billow.models.plans import Charge, ChargeFilter, ChargeFilterValue, Plan, charge_taxes
from billow.plans.repository import plan_repository as repository
from billow.plans.service.charge_drafts import ChargeDraft, FilterDraft, filter_identity


def write_charge(session: Session, plan: Plan, draft: ChargeDraft, position: int) -> Charge:
    assert draft.code is not None  # assign_codes ran
    charge = draft.existing
    if charge is None:
        charge = Charge(organization_id=plan.organization_id, plan_id=plan.id)
        session.add(charge)
    charge.billable_metric_id = draft.metric.id
    charge.code = draft.code
    charge.charge_model = draft.charge_model
    charge.invoice_display_name = draft.invoice_display_name
    charge.pay_in_advance = draft.pay_in_advance
    charge.prorated = draft.prorated
    charge.invoiceable = draft.invoiceable
    charge.regroup_paid_fees = draft.regroup_paid_fees
    charge.min_amount_cents = draft.min_amount_cents
    charge.properties = draft.properties
    charge.position = position
    session.flush()
    replace_filters(session, charge, draft.filters)
    if draft.taxes is not None:
        repository.set_taxes(session, charge_taxes, charge.id, draft.taxes)
    return charge


def replace_filters(session: Session, charge: Charge, drafts: Sequence[FilterDraft]) -> None:
    """Make the charge's live filters exactly ``drafts``, in that order.

    A filter with the same keys and values as a current one is that filter updated (it keeps its
    lago_id); the others are created, and current filters not listed are soft-deleted.
    """
    current = repository.filters_of(session, [charge])[charge.id]
    current_values = repository.values_of(session, [f.id for f in current])
    by_identity = {filter_identity({row.key: row.values for row in current_values[f.id]}): f for f in current}
    for position, draft in enumerate(drafts):
        existing = by_identity.pop(draft.identity, None)
        if existing is None:
            create_filter(session, charge, draft, position)
            continue
        existing.invoice_display_name = draft.invoice_display_name
        existing.properties = draft.properties
        existing.position = position
        for row in current_values[existing.id]:
            # Same values, possibly in another order: keep the order given.
            row.values = draft.values[row.key]
    now = utcnow()
    for stale in by_identity.values():
        stale.deleted_at = now
    session.flush()


def create_filter(session: Session, charge: Charge, draft: FilterDraft, position: int) -> ChargeFilter:
    charge_filter = ChargeFilter(
        organization_id=charge.organization_id,
        charge_id=charge.id,
        invoice_display_name=draft.invoice_display_name,
        properties=draft.properties,
        position=position,
    )
    session.add(charge_filter)
    session.flush()
    for key, values in draft.values.items():
        session.add(
            ChargeFilterValue(
                organization_id=charge.organization_id,
                charge_filter_id=charge_filter.id,
                key=key,
                values=values,
            )
        )
    session.flush()
    return charge_filter


def delete_charge(session: Session, charge: Charge, now: datetime) -> None:
    """Soft-delete a charge and its filters at the same instant (see the repository's note)."""
    for charge_filter in repository.filters_of(session, [charge])[charge.id]:
        charge_filter.deleted_at = now
    charge.deleted_at = now
