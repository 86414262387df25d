"""The customer's coupons on an invoice being finalized: read them under a lock, apply them to the fees
(:func:`billow.billing.coupons.apply_coupons`, pure), and write what the invoice took with the coupons'
new state, in the invoice's transaction.

Two steps around the invoice's amounts, for every invoice kind (a subscription period's, a pay-in-advance
charge's, a progressive-billing one, a one-off):

1. :func:`take_coupons` before :func:`billow.billing.amounts.compute_amounts`: sets each draft's
   ``coupon_cents`` (a pre-tax deduction) and returns what to record;
2. :func:`record_coupons` once the invoice's row exists: one ``invoice_coupons`` row per coupon that
   applied (Lago's coupon ``credit``) and the applied coupon's remaining amount, remaining periods and
   status.

Coupons apply only when an invoice is finalized, never to a draft (Lago), so a draft's refresh changes no
coupon; the lock (:meth:`~billow.applied_coupons.repository.AppliedCouponRepository.active_locked`) makes
two invoices of one customer finalized at once take the coupons one after the other.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

from sqlalchemy.orm import Session

from billow.applied_coupons.repository import applied_coupon_repository
from billow.billing.context import FeeDraft
from billow.billing.coupons import (
    CouponFee,
    CouponTerms,
    CouponType,
    Frequency,
    InvoiceCoupons,
    apply_coupons,
)
from billow.billing.run_context import BillingRun, known_absent
from billow.models.coupons import AppliedCoupon, InvoiceCoupon


@dataclass
class TakenCoupons:
    """What :func:`take_coupons` found and computed, for :func:`record_coupons`."""

    result: InvoiceCoupons = field(default_factory=InvoiceCoupons)
    applied: dict[uuid.UUID, AppliedCoupon] = field(default_factory=dict)

    @property
    def amount_cents(self) -> int:
        return self.result.coupons_amount_cents


def _terms(
    applied: AppliedCoupon, coupon_type: str, plans: frozenset[uuid.UUID], metrics: frozenset[uuid.UUID]
) -> CouponTerms:
    return CouponTerms(
        id=applied.id,
        coupon_type=cast(CouponType, coupon_type),
        frequency=cast(Frequency, applied.frequency),
        created_at=applied.created_at,
        amount_cents=applied.amount_cents,
        amount_cents_remaining=applied.amount_cents_remaining,
        amount_currency=applied.amount_currency,
        percentage_rate=applied.percentage_rate,
        frequency_duration_remaining=applied.frequency_duration_remaining,
        plan_ids=frozenset(plans),
        billable_metric_ids=frozenset(metrics),
    )


def take_coupons(
    session: Session,
    customer_id: uuid.UUID,
    drafts: Sequence[FeeDraft],
    plans_by_subscription: Mapping[uuid.UUID, uuid.UUID],
    *,
    run: BillingRun | None = None,
) -> TakenCoupons:
    """Apply the customer's active coupons to ``drafts`` (one currency), setting each draft's
    ``coupon_cents``; ``plans_by_subscription``: the plan of each subscription the fees bill."""
    for draft in drafts:
        draft.coupon_cents = 0
    if not drafts or known_absent(run, "applied_coupons", customer_id):
        return TakenCoupons()
    applied = applied_coupon_repository.active_locked(session, customer_id)
    if not applied:
        return TakenCoupons()
    result = apply_terms(session, drafts, applied_terms(session, applied), plans_by_subscription)
    return TakenCoupons(result=result, applied={a.id: a for a in applied})


def applied_terms(session: Session, applied: Sequence[AppliedCoupon]) -> list[CouponTerms]:
    """The terms of the customer's applied coupons ``applied`` (their coupons' type and targets)."""
    if not applied:
        return []
    targets = applied_coupon_repository.targets(session, sorted({a.coupon_id for a in applied}, key=str))
    return [_terms(a, *targets[a.coupon_id]) for a in applied]


def apply_terms(
    session: Session,
    drafts: Sequence[FeeDraft],
    terms: Sequence[CouponTerms],
    plans_by_subscription: Mapping[uuid.UUID, uuid.UUID],
) -> InvoiceCoupons:
    """Apply coupons ``terms`` to ``drafts`` (:func:`billow.billing.coupons.apply_coupons`), setting each
    draft's ``coupon_cents``; reads the charges' billable metrics, writes nothing (the invoice preview uses
    it with coupons that are not stored)."""
    for draft in drafts:
        draft.coupon_cents = 0
    if not drafts or not terms:
        return InvoiceCoupons()
    metrics: dict[uuid.UUID, uuid.UUID] = {}
    if any(term.billable_metric_ids for term in terms):
        charge_ids = {d.fee.charge_id for d in drafts if d.fee.charge_id is not None}
        metrics = applied_coupon_repository.metrics_of_charges(session, charge_ids)
    fees = [
        CouponFee(
            key=index,
            amount_cents=max(draft.fee.amount_cents - draft.progressive_credit_cents, 0),
            currency=draft.fee.amount_currency,
            plan_id=plans_by_subscription.get(draft.fee.subscription_id)
            if draft.fee.subscription_id is not None
            else None,
            billable_metric_id=metrics.get(draft.fee.charge_id) if draft.fee.charge_id is not None else None,
        )
        for index, draft in enumerate(drafts)
    ]
    result = apply_coupons(fees, terms)
    for index, draft in enumerate(drafts):
        draft.coupon_cents = result.fee_coupons_cents.get(index, 0)
    return result


def record_coupons(
    session: Session,
    *,
    organization_id: uuid.UUID,
    invoice_id: uuid.UUID,
    currency: str,
    taken: TakenCoupons,
    now: datetime,
) -> list[InvoiceCoupon]:
    """Write what the invoice took from each coupon and the coupons' state after it (the invoice's row
    must exist)."""
    rows: list[InvoiceCoupon] = []
    for credit in taken.result.credits:
        applied = taken.applied[cast(uuid.UUID, credit.applied_coupon_id)]
        if credit.amount_cents_remaining is not None:
            applied.amount_cents_remaining = credit.amount_cents_remaining
        if applied.frequency == "recurring":
            applied.frequency_duration_remaining = credit.frequency_duration_remaining
        if credit.terminated:
            applied.status = "terminated"
            applied.terminated_at = now
        row = InvoiceCoupon(
            organization_id=organization_id,
            invoice_id=invoice_id,
            applied_coupon_id=applied.id,
            amount_cents=credit.amount_cents,
            amount_currency=currency,
        )
        session.add(row)
        rows.append(row)
    if rows:
        session.flush()
    return rows
