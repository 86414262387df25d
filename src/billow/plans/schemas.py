from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from pydantic import Field

from billow.kit.limits import AmountCents
from billow.kit.pagination import PageMeta
from billow.kit.schemas import Input, JsonNumber, Output, Timestamp
from billow.kit.strings import DESCRIPTION_MAX_LENGTH
from billow.models.plans import UsageThreshold
from billow.plans.fixed_charge_schemas import (
    FixedChargeInput,
    FixedChargeOut,
    FixedChargeOverrideInput,
    fixed_charge_out,
)
from billow.plans.repository import ChargeGraph, FilterGraph, PlanGraph
from billow.taxes.schemas import TaxOut, tax_out

# ---------------------------------------------------------------------------------------------- input


class ChargeFilterInput(Input):
    invoice_display_name: str | None = None
    properties: dict[str, Any] | None = None
    values: dict[str, list[str]] | None = None


class ChargeFilterRequest(Input):
    filter: ChargeFilterInput


class ChargeInput(Input):
    id: str | None = None  # a charge of the plan to update (plan updates only)
    billable_metric_id: str | None = None  # the metric's lago_id
    code: str | None = None
    invoice_display_name: str | None = None
    charge_model: str | None = None
    pay_in_advance: bool | None = None
    prorated: bool | None = None
    invoiceable: bool | None = None
    regroup_paid_fees: str | None = None
    min_amount_cents: AmountCents | None = None
    properties: dict[str, Any] | None = None
    filters: list[ChargeFilterInput] | None = None
    tax_codes: list[str] | None = None
    # Accepted and ignored: pricing units and wallet targeting do not exist in Billow yet.
    applied_pricing_unit: dict[str, Any] | None = None
    accepts_target_wallet: bool | None = None


class ChargeRequest(Input):
    charge: ChargeInput


class UsageThresholdInput(Input):
    threshold_display_name: str | None = None
    amount_cents: AmountCents | None = None
    recurring: bool | None = None


class MinimumCommitmentInput(Input):
    amount_cents: AmountCents | None = None
    invoice_display_name: str | None = None
    tax_codes: list[str] | None = None


class PlanInput(Input):
    name: str | None = None
    invoice_display_name: str | None = None
    code: str | None = None
    interval: str | None = None
    description: str | None = Field(default=None, max_length=DESCRIPTION_MAX_LENGTH)
    amount_cents: AmountCents | None = None
    amount_currency: str | None = None
    trial_period: Decimal | None = None
    pay_in_advance: bool | None = None
    bill_charges_monthly: bool | None = None
    bill_fixed_charges_monthly: bool | None = None
    metadata: dict[str, Any] | None = None
    tax_codes: list[str] | None = None
    minimum_commitment: MinimumCommitmentInput | None = None
    charges: list[ChargeInput] | None = None
    usage_thresholds: list[UsageThresholdInput] | None = None
    fixed_charges: list[FixedChargeInput] | None = None
    # Accepted and ignored: plan updates do not cascade to child plans.
    cascade_updates: bool | None = None


class PlanRequest(Input):
    plan: PlanInput


class ChargeOverrideInput(Input):
    """One charge of ``plan_overrides``: ``id`` is a charge of the plan (or of the child plan)."""

    id: str | None = None
    invoice_display_name: str | None = None
    min_amount_cents: AmountCents | None = None
    properties: dict[str, Any] | None = None
    filters: list[ChargeFilterInput] | None = None
    tax_codes: list[str] | None = None
    applied_pricing_unit: dict[str, Any] | None = None  # accepted and ignored


class PlanOverridesInput(Input):
    """A subscription's ``plan_overrides``: what its child plan changes from the plan."""

    name: str | None = None
    invoice_display_name: str | None = None
    description: str | None = Field(default=None, max_length=DESCRIPTION_MAX_LENGTH)
    amount_cents: AmountCents | None = None
    amount_currency: str | None = None
    trial_period: Decimal | None = None
    tax_codes: list[str] | None = None
    minimum_commitment: MinimumCommitmentInput | None = None
    charges: list[ChargeOverrideInput] | None = None
    usage_thresholds: list[UsageThresholdInput] | None = None
    metadata: dict[str, Any] | None = None
    fixed_charges: list[FixedChargeOverrideInput] | None = None


# --------------------------------------------------------------------------------------------- output


class ChargeFilterOut(Output):
    lago_id: uuid.UUID
    charge_code: str
    invoice_display_name: str | None
    properties: dict[str, Any]
    values: dict[str, list[str]]
    created_at: Timestamp


class ChargeOut(Output):
    lago_id: uuid.UUID
    lago_billable_metric_id: uuid.UUID
    billable_metric_code: str
    code: str
    invoice_display_name: str | None
    created_at: Timestamp
    charge_model: str
    invoiceable: bool
    regroup_paid_fees: str | None
    pay_in_advance: bool
    prorated: bool
    min_amount_cents: int
    accepts_target_wallet: bool
    properties: dict[str, Any]
    filters: list[ChargeFilterOut]
    taxes: list[TaxOut]
    applied_pricing_unit: dict[str, Any] | None
    lago_parent_id: uuid.UUID | None


class UsageThresholdOut(Output):
    lago_id: uuid.UUID
    threshold_display_name: str | None
    amount_cents: int
    recurring: bool
    created_at: Timestamp
    updated_at: Timestamp


class MinimumCommitmentOut(Output):
    lago_id: uuid.UUID
    plan_code: str
    amount_cents: int
    interval: str
    invoice_display_name: str | None
    taxes: list[TaxOut]
    created_at: Timestamp
    updated_at: Timestamp


class PlanOut(Output):
    lago_id: uuid.UUID
    name: str
    invoice_display_name: str | None
    created_at: Timestamp
    code: str
    interval: str
    description: str | None
    amount_cents: int
    amount_currency: str
    trial_period: JsonNumber | None
    pay_in_advance: bool
    bill_charges_monthly: bool | None
    bill_fixed_charges_monthly: bool | None
    # Subscriptions and invoices do not exist yet.
    customers_count: int
    active_subscriptions_count: int
    draft_invoices_count: int
    parent_id: uuid.UUID | None
    pending_deletion: bool
    charges: list[ChargeOut]
    fixed_charges: list[FixedChargeOut]
    usage_thresholds: list[UsageThresholdOut]
    taxes: list[TaxOut]
    minimum_commitment: MinimumCommitmentOut | None
    metadata: dict[str, Any] | None


class PlanEnvelope(Output):
    plan: PlanOut


class PlanList(Output):
    plans: list[PlanOut]
    meta: PageMeta


class ChargeEnvelope(Output):
    charge: ChargeOut


class ChargeList(Output):
    charges: list[ChargeOut]
    meta: PageMeta


class ChargeFilterEnvelope(Output):
    filter: ChargeFilterOut


class ChargeFilterList(Output):
    filters: list[ChargeFilterOut]
    meta: PageMeta


def charge_filter_out(graph: FilterGraph) -> ChargeFilterOut:
    return ChargeFilterOut(
        lago_id=graph.filter.id,
        charge_code=graph.charge_code,
        invoice_display_name=graph.filter.invoice_display_name,
        properties=graph.filter.properties,
        values=graph.values,
        created_at=graph.filter.created_at,
    )


def charge_out(graph: ChargeGraph) -> ChargeOut:
    charge = graph.charge
    return ChargeOut(
        lago_id=charge.id,
        lago_billable_metric_id=charge.billable_metric_id,
        billable_metric_code=graph.metric.code,
        code=charge.code,
        invoice_display_name=charge.invoice_display_name,
        created_at=charge.created_at,
        charge_model=charge.charge_model,
        invoiceable=charge.invoiceable,
        regroup_paid_fees=charge.regroup_paid_fees,
        pay_in_advance=charge.pay_in_advance,
        prorated=charge.prorated,
        min_amount_cents=charge.min_amount_cents,
        accepts_target_wallet=False,
        properties=charge.properties,
        filters=[charge_filter_out(f) for f in graph.filters],
        taxes=[tax_out(t) for t in graph.taxes],
        applied_pricing_unit=None,
        lago_parent_id=None,
    )


def usage_threshold_out(threshold: UsageThreshold) -> UsageThresholdOut:
    return UsageThresholdOut(
        lago_id=threshold.id,
        threshold_display_name=threshold.threshold_display_name,
        amount_cents=threshold.amount_cents,
        recurring=threshold.recurring,
        created_at=threshold.created_at,
        updated_at=threshold.updated_at,
    )


def plan_out(graph: PlanGraph) -> PlanOut:
    plan = graph.plan
    commitment = graph.commitment
    return PlanOut(
        lago_id=plan.id,
        name=plan.name,
        invoice_display_name=plan.invoice_display_name,
        created_at=plan.created_at,
        code=plan.code,
        interval=plan.interval,
        description=plan.description,
        amount_cents=plan.amount_cents,
        amount_currency=plan.amount_currency,
        trial_period=plan.trial_period,
        pay_in_advance=plan.pay_in_advance,
        bill_charges_monthly=plan.bill_charges_monthly,
        bill_fixed_charges_monthly=plan.bill_fixed_charges_monthly,
        customers_count=graph.customers_count,
        active_subscriptions_count=graph.active_subscriptions_count,
        draft_invoices_count=0,
        parent_id=plan.parent_id,
        pending_deletion=False,
        charges=[charge_out(c) for c in graph.charges],
        fixed_charges=[fixed_charge_out(f) for f in graph.fixed_charges],
        usage_thresholds=[usage_threshold_out(t) for t in graph.thresholds],
        taxes=[tax_out(t) for t in graph.taxes],
        minimum_commitment=None
        if commitment is None
        else MinimumCommitmentOut(
            lago_id=commitment.id,
            plan_code=plan.code,
            amount_cents=commitment.amount_cents,
            interval=plan.interval,
            invoice_display_name=commitment.invoice_display_name,
            taxes=[tax_out(t) for t in graph.commitment_taxes],
            created_at=commitment.created_at,
            updated_at=commitment.updated_at,
        ),
        metadata=plan.metadata_,
    )
