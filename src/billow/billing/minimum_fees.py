"""The true-up fees of a subscription invoice: charge spending minimums and the plan's minimum commitment.

Called by :func:`billow.billing.assembly.write_subscription_invoice` once the plan and usage fees are
drafted; the amounts come from :mod:`billow.billing.minimums`.

* **Charge true-up** (Lago's ``Fees::ChargeService#init_true_up_fee``): for each in-arrears charge with a
  ``min_amount_cents``, the charge's fees of the usage window (all filters and groups) are summed; when
  short of the prorated minimum a ``charge`` fee of 1 unit makes up the difference. Its parent is the
  charge's fee without filter (the first one); when that fee is empty it was not drafted, and a 0 fee is
  drafted as the parent (Lago persists an empty fee that carries a true-up).
* **Commitment** (Lago's ``Fees::Commitments::Minimum::CreateService``): a ``commitment`` fee on the
  invoice that closes a plan period (in arrears: the invoice carrying that period's plan fee, or the
  termination's; pay-in-advance plans: the invoice opening the next plan period, or the termination's
  for the period it ends). The period's fees are those drafted on this invoice plus those already stored
  for the subscription (earlier invoices, pay-in-advance charge fees) whose span lies in the period;
  fees of voided and progressive-billing invoices are left out.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Protocol

from sqlalchemy import func, or_, select

from billow.billing.context import InvoiceContext
from billow.billing.minimums import billed_days, charge_true_up, commitment_true_up
from billow.billing.run_context import cached
from billow.billing.schedule import InvoicingReason
from billow.kit.money import from_minor_units
from billow.kit.time import local_date
from billow.metering.aggregation import AGGREGATION_TYPES
from billow.models.invoices import Fee, FeeType, Invoice, InvoiceStatus, InvoiceType
from billow.models.plans import commitment_taxes
from billow.models.taxes import Tax
from billow.plans.repository import plan_repository
from billow.subscriptions.calendar import Period, period_containing
from billow.subscriptions.periods import charges_interval

_EPSILON = timedelta(microseconds=1)

#: Lago's default name of a minimum commitment fee (``commitment.minimum.name``).
COMMITMENT_DEFAULT_NAME = "Minimum commitment"

#: Fee types that count toward a minimum commitment (Lago: the plan fee, charges, fixed charges).
_COMMITTED_FEE_TYPES = (FeeType.SUBSCRIPTION.value, FeeType.CHARGE.value, FeeType.FIXED_CHARGE.value)


class Drafted(Protocol):
    @property
    def fee(self) -> Fee: ...


def charge_true_up_fees(ctx: InvoiceContext, drafts: Sequence[Drafted]) -> list[tuple[Fee, Sequence[Tax]]]:
    """True-up fees (and the empty parents they need) for the charges with a spending minimum."""
    due, plan, subscription = ctx.due, ctx.plan, ctx.subscription
    if due.charges_from is None or due.charges_to is None or due.charges_to <= due.charges_from:
        return []
    # Once per billing run (billow.billing.run_context).
    session = ctx.session
    plan_charges = cached(
        ctx.run, session, ("charges", plan.id), lambda: plan_repository.charges_of(session, plan)
    )
    charges = [c for c in plan_charges if c.min_amount_cents > 0 and not c.pay_in_advance]
    if not charges:
        return []
    assert subscription.started_at is not None
    charges_period = period_containing(
        due.charges_from,
        interval=charges_interval(plan.interval, plan.bill_charges_monthly),
        billing_time=subscription.billing_time,
        anchor=local_date(subscription.started_at, ctx.timezone),
        timezone=ctx.timezone,
    )
    days = billed_days(due.charges_from, due.charges_to, ctx.timezone)
    result: list[tuple[Fee, Sequence[Tax]]] = []
    for graph in plan_repository.load_charges(ctx.session, charges):
        charge = graph.charge
        if graph.metric.aggregation_type not in AGGREGATION_TYPES:
            continue
        fees = [
            d.fee
            for d in drafts
            if d.fee.charge_id == charge.id
            and d.fee.fee_type == FeeType.CHARGE
            and d.fee.true_up_parent_fee_id is None
        ]
        true_up = charge_true_up(
            min_amount_cents=charge.min_amount_cents,
            used_amount_cents=sum(f.amount_cents for f in fees),
            used_precise_amount_cents=sum((f.precise_amount_cents for f in fees), Decimal(0)),
            days=days,
            period_days=charges_period.days,
        )
        if true_up is None:
            continue
        taxes = ctx.taxes_for(graph.taxes)
        parent = next((f for f in fees if f.charge_filter_id is None), None)
        if parent is None:
            parent = _fee(ctx, charge_id=charge.id, amount_cents=0, precise=Decimal(0), units=Decimal(0))
            parent.invoice_display_name = charge.invoice_display_name
            parent.invoiceable = charge.invoiceable
            parent.from_datetime, parent.to_datetime = due.charges_from, due.charges_to
            result.append((parent, taxes))
        if parent.id is None:
            parent.id = uuid.uuid4()
        fee = _fee(
            ctx,
            charge_id=charge.id,
            amount_cents=true_up.amount_cents,
            precise=true_up.precise_amount_cents,
            units=Decimal(1),
        )
        fee.true_up_parent_fee_id = parent.id
        fee.unit_amount = from_minor_units(true_up.precise_amount_cents, ctx.currency)  # as Lago
        fee.grouped_by = dict(parent.grouped_by or {})
        fee.invoice_display_name = parent.invoice_display_name
        fee.invoiceable = charge.invoiceable
        fee.from_datetime, fee.to_datetime = due.charges_from, due.charges_to
        result.append((fee, taxes))
    return result


def commitment_fees(ctx: InvoiceContext, drafts: Sequence[Drafted]) -> list[tuple[Fee, Sequence[Tax]]]:
    """The minimum commitment true-up of the plan period this invoice closes (empty when none is owed)."""
    commitment = cached(
        ctx.run,
        ctx.session,
        ("commitment", ctx.plan.id),
        lambda: plan_repository.commitments_of(ctx.session, [ctx.plan.id]).get(ctx.plan.id),
    )
    if commitment is None or commitment.amount_cents <= 0:
        return []
    period = reconciled_period(ctx)
    if period is None:
        return []
    subscription = ctx.subscription
    assert subscription.started_at is not None
    start = max(period.start, subscription.started_at)
    end = period.end if subscription.terminated_at is None else min(period.end, subscription.terminated_at)
    days = billed_days(start, end, ctx.timezone)
    if days <= 0:
        return []
    amount_cents, precise = period_fees_total(ctx, drafts, period)
    true_up = commitment_true_up(
        commitment_amount_cents=commitment.amount_cents,
        days=days,
        period_days=period.days,
        fees_amount_cents=amount_cents,
        fees_precise_amount_cents=precise,
    )
    if true_up is None:
        return []
    fee = _fee(
        ctx,
        charge_id=None,
        amount_cents=true_up.amount_cents,
        precise=true_up.precise_amount_cents,
        units=Decimal(1),
        fee_type=FeeType.COMMITMENT,
    )
    fee.total_aggregated_units = Decimal(0)
    fee.invoice_display_name = commitment.invoice_display_name or COMMITMENT_DEFAULT_NAME
    fee.from_datetime, fee.to_datetime = start, end
    own_taxes = plan_repository.taxes_of(ctx.session, commitment_taxes, [commitment.id])[commitment.id]
    return [(fee, ctx.taxes_for(own_taxes))]


def reconciled_period(ctx: InvoiceContext) -> Period | None:
    """The plan period whose commitment this invoice settles, if any."""
    due, plan, subscription = ctx.due, ctx.plan, ctx.subscription
    if not plan.pay_in_advance:
        return due.fee_period
    assert subscription.started_at is not None
    if due.reason is InvoicingReason.SUBSCRIPTION_TERMINATING:
        assert subscription.terminated_at is not None
        instant = max(subscription.terminated_at - _EPSILON, subscription.started_at)
    elif due.reason is InvoicingReason.SUBSCRIPTION_PERIODIC and due.fee_period is not None:
        instant = due.due_at - _EPSILON  # the plan period that just ended
        if instant < subscription.started_at:
            return None
    else:
        return None
    return period_containing(
        instant,
        interval=plan.interval,
        billing_time=subscription.billing_time,
        anchor=local_date(subscription.started_at, ctx.timezone),
        timezone=ctx.timezone,
    )


def _in_period(start: datetime | None, end: datetime | None, period: Period) -> bool:
    return start is not None and period.start <= start < period.end and (end is None or end <= period.end)


def period_fees_total(ctx: InvoiceContext, drafts: Iterable[Drafted], period: Period) -> tuple[int, Decimal]:
    """Σ ``(amount_cents, precise_amount_cents)`` of the subscription's plan and charge fees in ``period``."""
    amount, precise = 0, Decimal(0)
    for draft in drafts:
        fee = draft.fee
        if fee.fee_type in _COMMITTED_FEE_TYPES and _in_period(fee.from_datetime, fee.to_datetime, period):
            amount += fee.amount_cents
            precise += fee.precise_amount_cents
    query = (
        select(Fee.amount_cents, Fee.precise_amount_cents)
        .outerjoin(Invoice, Invoice.id == Fee.invoice_id)
        .where(
            Fee.organization_id == ctx.subscription.organization_id,
            Fee.subscription_id == ctx.subscription.id,
            Fee.fee_type.in_(_COMMITTED_FEE_TYPES),
            Fee.from_datetime >= period.start,
            Fee.from_datetime < period.end,
            or_(Fee.to_datetime.is_(None), Fee.to_datetime <= period.end),
            or_(Fee.invoice_id.is_(None), Fee.invoice_id != ctx.invoice_id),
            or_(
                Invoice.id.is_(None),
                (Invoice.status != InvoiceStatus.VOIDED.value)
                & (func.coalesce(Invoice.invoice_type, "") != InvoiceType.PROGRESSIVE_BILLING),
            ),
        )
    )
    for row_amount, row_precise in ctx.session.execute(query):
        amount += row_amount
        precise += Decimal(row_precise)
    return amount, precise


def _fee(
    ctx: InvoiceContext,
    *,
    charge_id: uuid.UUID | None,
    amount_cents: int,
    precise: Decimal,
    units: Decimal,
    fee_type: FeeType = FeeType.CHARGE,
) -> Fee:
    return Fee(
        id=uuid.uuid4(),
        organization_id=ctx.subscription.organization_id,
        invoice_id=ctx.invoice_id,
        customer_id=ctx.customer.id,
        subscription_id=ctx.subscription.id,
        charge_id=charge_id,
        charge_filter_id=None,
        fee_type=fee_type,
        grouped_by={},
        units=units,
        total_aggregated_units=units,
        events_count=0,
        amount_cents=amount_cents,
        precise_amount_cents=precise,
        amount_currency=ctx.currency,
        unit_amount=from_minor_units(amount_cents, ctx.currency),
        amount_details={},
        pay_in_advance=False,
        invoiceable=True,
    )
