"""Progressive billing and lifetime usage (reference §6 "Progressive billing"; Lago's
``LifetimeUsages::UsageThresholds::CheckService`` and ``Invoices::ProgressiveBillingService``).

**Lifetime usage** of a subscription (:func:`lifetime_usage`), in minor units of the plan's currency:

* ``external_historical_usage_amount_cents``: set by ``PUT /subscriptions/{id}/lifetime_usage``;
* ``invoiced_usage_amount_cents``: the usage already invoiced — the charge fees (pay-in-advance ones
  excluded) of the subscription's ``subscription`` and ``progressive_billing`` invoices that are not
  voided, minus the progressive-billing credits of its subscription invoices (so a period billed
  progressively and then closed counts once);
* ``current_usage_amount_cents``: the usage of the open charges period not invoiced yet: its current usage
  (charges billed in arrears) minus what the period's progressive invoices billed.

Their sum is the lifetime usage the thresholds are compared with. Pay-in-advance charges are billed as
their events arrive (:mod:`billow.billing.pay_in_advance`): they are not part of progressive billing.

**Thresholds**: the plan's ``usage_thresholds``: fixed amounts, and at most one ``recurring`` amount that
is reached again every time the lifetime usage grows by it above the largest fixed threshold (from 0 if
there is none). A threshold is applied once in the subscription's life: the invoice that applies it
records it in ``applied_usage_thresholds`` (a snapshot in Lago's shape, with the lifetime usage at the
time).

**The scan** (``progressive_billing``, every 5 minutes, :func:`bill_thresholds`): for each active
subscription whose plan has thresholds (and without ``progressive_billing_disabled``): if the lifetime
usage reached thresholds not applied yet — checked again under the subscription's row lock, as the billing
run and the pay-in-advance scan take it, so two scans never bill one crossing twice — one
``progressive_billing`` invoice (finalized, numbered, taxed like any invoice) bills, per charge, filter
and group, the period's usage to date minus what the period's progressive invoices already billed for it
(fees that would be zero or negative are left out; when no fee is left, nothing is issued and the
thresholds wait).

**At period end** the subscription invoice deducts what the period's progressive invoices billed
(:mod:`billow.billing.progressive_credits`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from billow.billing import locks
from billow.billing.context import FeeDraft
from billow.billing.progressive_credits import FeeKey, fee_key, progressive_billed
from billow.billing.repository import PROGRESSIVE_BILLING, billing_repository
from billow.billing.writer import write_immediate_invoice
from billow.fees.usage import CurrentUsage, usage_service
from billow.kit.money import from_minor_units
from billow.kit.schemas import iso_seconds
from billow.metering.aggregation import AGGREGATION_TYPES
from billow.models.billing import LifetimeUsage
from billow.models.customers import Customer
from billow.models.invoices import (
    Fee,
    FeeType,
    Invoice,
    InvoiceType,
    PaymentStatus,
)
from billow.models.organizations import Organization
from billow.models.plans import Plan, UsageThreshold
from billow.models.subscriptions import Subscription, SubscriptionStatus
from billow.plans.repository import plan_repository
from billow.subscriptions.periods import UsageWindow, charges_window
from billow.webhooks.outbox import emit

log = logging.getLogger(__name__)

_NAMESPACE = uuid.UUID("5a0d7c1e-3f61-4c52-9d0e-6b3f4a1c2e70")


def lifetime_usage_id(subscription_id: uuid.UUID) -> uuid.UUID:
    """The ``lago_id`` of a subscription's lifetime usage (stable before its row exists)."""
    return uuid.uuid5(_NAMESPACE, str(subscription_id))


# ------------------------------------------------------------------------------------------ thresholds


@dataclass(frozen=True)
class Threshold:
    id: uuid.UUID
    amount_cents: int
    recurring: bool
    threshold_display_name: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @classmethod
    def of(cls, row: UsageThreshold) -> Threshold:
        return cls(
            row.id,
            row.amount_cents,
            row.recurring,
            row.threshold_display_name,
            row.created_at,
            row.updated_at,
        )


@dataclass(frozen=True)
class Applied:
    """A threshold already applied by an invoice: its amount, whether recurring, the lifetime usage then."""

    amount_cents: int
    recurring: bool
    lifetime_usage_amount_cents: int
    created_at: str | None = None


def _recurring_occurrences(lifetime_cents: int, base_cents: int, recurring_cents: int) -> int:
    """How many times the recurring threshold was reached at ``lifetime_cents`` (above ``base_cents``)."""
    if recurring_cents <= 0 or lifetime_cents < base_cents:
        return 0
    return (lifetime_cents - base_cents) // recurring_cents


def newly_reached(
    thresholds: Sequence[Threshold], applied: Sequence[Applied], lifetime_cents: int
) -> list[Threshold]:
    """The thresholds reached at ``lifetime_cents`` and not applied yet (fixed ones by amount; the
    recurring one when it was reached more times than at its last application). Pure."""
    fixed = sorted((t for t in thresholds if not t.recurring), key=lambda t: t.amount_cents)
    applied_fixed = {a.amount_cents for a in applied if not a.recurring}
    reached = [t for t in fixed if t.amount_cents <= lifetime_cents and t.amount_cents not in applied_fixed]
    recurring = next((t for t in thresholds if t.recurring), None)
    if recurring is not None:
        base = fixed[-1].amount_cents if fixed else 0
        now = _recurring_occurrences(lifetime_cents, base, recurring.amount_cents)
        before = max(
            (
                _recurring_occurrences(a.lifetime_usage_amount_cents, base, recurring.amount_cents)
                for a in applied
                if a.recurring
            ),
            default=0,
        )
        if now > before:
            reached.append(recurring)
    return reached


@dataclass(frozen=True)
class ThresholdProgress:
    amount_cents: int
    completion_ratio: Decimal
    reached_at: str | None


def threshold_progress(
    thresholds: Sequence[Threshold], applied: Sequence[Applied], lifetime_cents: int
) -> list[ThresholdProgress]:
    """Lifetime usage's ``usage_thresholds``: each fixed threshold, then the recurring threshold's reached
    occurrences and its next one; the ratio is the progress from the previous threshold, in [0, 1]. Pure."""

    def ratio(previous: int, amount: int) -> Decimal:
        if amount <= previous:
            return Decimal(1) if lifetime_cents >= amount else Decimal(0)
        value = Decimal(lifetime_cents - previous) / Decimal(amount - previous)
        return min(max(value, Decimal(0)), Decimal(1))

    reached_fixed = {a.amount_cents: a.created_at for a in applied if not a.recurring}
    out: list[ThresholdProgress] = []
    previous = 0
    fixed = sorted((t for t in thresholds if not t.recurring), key=lambda t: t.amount_cents)
    for threshold in fixed:
        out.append(
            ThresholdProgress(
                threshold.amount_cents,
                ratio(previous, threshold.amount_cents),
                reached_fixed.get(threshold.amount_cents),
            )
        )
        previous = threshold.amount_cents
    recurring = next((t for t in thresholds if t.recurring), None)
    if recurring is not None and recurring.amount_cents > 0:
        base = previous
        reached_at: dict[int, str | None] = {}
        for a in sorted((a for a in applied if a.recurring), key=lambda a: a.lifetime_usage_amount_cents):
            k = _recurring_occurrences(a.lifetime_usage_amount_cents, base, recurring.amount_cents)
            reached_at.setdefault(k, a.created_at)
        occurrences = _recurring_occurrences(lifetime_cents, base, recurring.amount_cents)
        for k in range(1, occurrences + 2):
            amount = base + k * recurring.amount_cents
            stamp = (
                next((v for key, v in sorted(reached_at.items()) if key >= k), None)
                if k <= occurrences
                else None
            )
            out.append(ThresholdProgress(amount, ratio(amount - recurring.amount_cents, amount), stamp))
    return out


def applied_thresholds(session: Session, subscription_id: uuid.UUID) -> list[Applied]:
    """The thresholds applied by the subscription's invoices (voided ones excluded)."""
    out = []
    for items in billing_repository.applied_usage_thresholds(session, subscription_id):
        for item in items or []:
            threshold = item.get("usage_threshold") or {}
            out.append(
                Applied(
                    amount_cents=int(threshold.get("amount_cents") or 0),
                    recurring=bool(threshold.get("recurring")),
                    lifetime_usage_amount_cents=int(item.get("lifetime_usage_amount_cents") or 0),
                    created_at=item.get("created_at"),
                )
            )
    return out


def plan_thresholds(session: Session, plan_id: uuid.UUID) -> list[Threshold]:
    return [Threshold.of(row) for row in plan_repository.thresholds_of(session, [plan_id])[plan_id]]


# ------------------------------------------------------------------------------------------ lifetime usage


@dataclass
class LifetimeFigures:
    subscription: Subscription
    plan: Plan
    customer: Customer
    organization: Organization
    external_historical_usage_amount_cents: int
    invoiced_usage_amount_cents: int
    current_usage_amount_cents: int
    #: The open charges period and its usage (charges billed in arrears); ``None`` unless active.
    window: UsageWindow | None = None
    usage: CurrentUsage | None = None
    #: What the period's progressive invoices billed, per charge fee key.
    billed_in_period: dict[FeeKey, int] = field(default_factory=dict)

    @property
    def total_amount_cents(self) -> int:
        return (
            self.external_historical_usage_amount_cents
            + self.invoiced_usage_amount_cents
            + self.current_usage_amount_cents
        )


def invoiced_usage(session: Session, subscription_id: uuid.UUID) -> int:
    """Charge fees (in arrears) of the subscription's subscription and progressive invoices, minus the
    progressive credits of its subscription invoices (on an invoice of several subscriptions, this
    subscription's share: :func:`_credit_share`)."""
    fees = billing_repository.invoiced_charge_fees(session, subscription_id)
    credits = 0
    for invoice_id, credit, charges_from, shared in billing_repository.progressive_credits(
        session, subscription_id
    ):
        credits += _credit_share(session, subscription_id, invoice_id, charges_from) if shared else credit
    return fees - credits


def _credit_share(
    session: Session, subscription_id: uuid.UUID, invoice_id: uuid.UUID, charges_from: datetime | None
) -> int:
    """The progressive credit an invoice of several subscriptions gave this subscription's charge fees:
    recomputed as :func:`apply_period_credits` computed it (each fee, at most its amount)."""
    if charges_from is None:
        return 0
    billed = progressive_billed(session, subscription_id, charges_from)
    fees = billing_repository.invoice_charge_fees(session, invoice_id, subscription_id)
    share = 0
    for charge_id, filter_id, grouped_by, amount in fees:
        key = fee_key(charge_id, filter_id, grouped_by)
        credit = min(billed.get(key, 0), amount)
        if credit > 0:
            share += credit
            billed[key] -= credit
    return share


def lifetime_usage(session: Session, subscription: Subscription, now: datetime) -> LifetimeFigures:
    plan = session.get(Plan, subscription.plan_id)
    customer = session.get(Customer, subscription.customer_id)
    organization = session.get(Organization, subscription.organization_id)
    assert plan is not None and customer is not None and organization is not None
    figures = LifetimeFigures(
        subscription=subscription,
        plan=plan,
        customer=customer,
        organization=organization,
        external_historical_usage_amount_cents=billing_repository.historical_usage(session, subscription.id),
        invoiced_usage_amount_cents=invoiced_usage(session, subscription.id),
        current_usage_amount_cents=0,
    )
    if subscription.status != SubscriptionStatus.ACTIVE or subscription.started_at is None:
        return figures
    if subscription.started_at > now:
        return figures
    graphs = [
        graph
        for graph in plan_repository.load_charges(session, plan_repository.charges_of(session, plan))
        if graph.metric.aggregation_type in AGGREGATION_TYPES and not graph.charge.pay_in_advance
    ]
    figures.window = charges_window(
        subscription,
        plan_interval=plan.interval,
        bill_charges_monthly=plan.bill_charges_monthly,
        timezone=customer.applicable_timezone(organization),
        at=now,
    )
    figures.usage = usage_service.compute(
        session,
        organization,
        customer=customer,
        subscription=subscription,
        plan=plan,
        charges=graphs,
        now=now,
        apply_taxes=True,
    )
    figures.billed_in_period = progressive_billed(session, subscription.id, figures.window.from_datetime)
    figures.current_usage_amount_cents = figures.usage.amount_cents - sum(figures.billed_in_period.values())
    return figures


def set_historical_usage(session: Session, subscription: Subscription, amount_cents: int) -> None:
    row = billing_repository.lifetime_usage(session, subscription.id)
    if row is None:
        row = LifetimeUsage(
            id=lifetime_usage_id(subscription.id),
            organization_id=subscription.organization_id,
            subscription_id=subscription.id,
        )
        session.add(row)
    row.external_historical_usage_amount_cents = amount_cents
    session.flush()


# ------------------------------------------------------------------------------------------ the scan


@dataclass
class ProgressiveSummary:
    invoices_created: int = 0
    failed: list[str] = field(default_factory=list)
    invoice_ids: list[uuid.UUID] = field(default_factory=list)


def bill_thresholds(
    session_factory: Callable[[], Session],
    now: datetime,
    *,
    organization_id: uuid.UUID | None = None,
    external_subscription_ids: Sequence[str] | None = None,
) -> ProgressiveSummary:
    """Check every active subscription with usage thresholds (of one organization; with these external
    ids: the task queued after an event ingestion, :mod:`billow.billing.immediate`). Idempotent; safe to
    run concurrently."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    summary = ProgressiveSummary()
    with session_factory() as session:
        subscription_ids = billing_repository.threshold_subscription_ids(
            session, now, organization_id, external_subscription_ids
        )
    for subscription_id in subscription_ids:
        try:
            with session_factory() as session, session.begin():
                invoice = check_subscription(session, subscription_id, now)
                invoice_id = invoice.id if invoice is not None else None
        except Exception as error:  # one subscription fails; the others go on
            log.exception("progressive billing of subscription %s failed", subscription_id)
            summary.failed.append(f"{subscription_id}: {error!r}")
            continue
        if invoice_id is not None:
            summary.invoices_created += 1
            summary.invoice_ids.append(invoice_id)
    return summary


def _reached(
    session: Session, subscription: Subscription, now: datetime
) -> tuple[LifetimeFigures, list[Threshold]]:
    figures = lifetime_usage(session, subscription, now)
    if figures.usage is None or figures.window is None:
        return figures, []
    reached = newly_reached(
        plan_thresholds(session, figures.plan.id),
        applied_thresholds(session, subscription.id),
        figures.total_amount_cents,
    )
    return figures, reached


def check_subscription(session: Session, subscription_id: uuid.UUID, now: datetime) -> Invoice | None:
    """The progressive invoice of the thresholds just reached, if any.

    A first look takes no lock (the usual answer is "nothing reached"); when a threshold is reached, the
    subscription row is locked and everything is computed again under the lock, so concurrent scans
    issue one invoice."""
    subscription = session.get(Subscription, subscription_id)
    if subscription is None or subscription.status != SubscriptionStatus.ACTIVE:
        return None
    _, reached = _reached(session, subscription, now)
    if not reached:
        return None
    subscription = locks.lock_subscription(session, subscription_id)  # reloaded under it
    if subscription.status != SubscriptionStatus.ACTIVE or subscription.progressive_billing_disabled:
        return None
    figures, reached = _reached(session, subscription, now)
    if not reached:
        return None
    invoice_id = uuid.uuid4()
    drafts = progressive_fee_drafts(figures, invoice_id)
    if not drafts:
        return None
    return write_progressive_invoice(session, figures, invoice_id, drafts, reached, now)


def progressive_fee_drafts(figures: LifetimeFigures, invoice_id: uuid.UUID) -> list[FeeDraft]:
    """Per charge, filter and group: the period's usage to date minus what was progressively billed."""
    assert figures.usage is not None and figures.window is not None
    subscription, window, currency = figures.subscription, figures.window, figures.usage.currency
    drafts = []
    for charge_usage in figures.usage.charges:
        charge = charge_usage.charge
        for item in charge_usage.fees:
            filter_id = item.filter.filter.id if item.filter is not None else None
            amount = item.amount_cents - figures.billed_in_period.get(
                fee_key(charge.id, filter_id, item.grouped_by), 0
            )
            if amount <= 0:
                continue
            display_name = charge.invoice_display_name
            if item.filter is not None and item.filter.filter.invoice_display_name:
                display_name = item.filter.filter.invoice_display_name
            fee = Fee(
                id=uuid.uuid4(),
                organization_id=subscription.organization_id,
                invoice_id=invoice_id,
                customer_id=subscription.customer_id,
                subscription_id=subscription.id,
                charge_id=charge.id,
                charge_filter_id=filter_id,
                fee_type=FeeType.CHARGE,
                grouped_by=dict(item.grouped_by),
                units=item.units,
                total_aggregated_units=item.total_aggregated_units,
                events_count=item.events_count,
                amount_cents=amount,
                precise_amount_cents=Decimal(amount),
                amount_currency=currency,
                unit_amount=from_minor_units(amount, currency) / item.units if item.units else Decimal(0),
                amount_details={},
                invoice_display_name=display_name,
                pay_in_advance=False,
                invoiceable=charge.invoiceable,
                payment_status=PaymentStatus.PENDING,
                from_datetime=window.from_datetime,
                to_datetime=window.to_datetime,
            )
            drafts.append(FeeDraft(fee, charge_usage.taxes))
    return drafts


def _threshold_json(threshold: Threshold, lifetime_cents: int, now: datetime) -> dict[str, Any]:
    return {
        "lifetime_usage_amount_cents": lifetime_cents,
        "created_at": iso_seconds(now),
        "usage_threshold": {
            "lago_id": str(threshold.id),
            "threshold_display_name": threshold.threshold_display_name,
            "amount_cents": threshold.amount_cents,
            "recurring": threshold.recurring,
            "created_at": iso_seconds(threshold.created_at) if threshold.created_at else None,
            "updated_at": iso_seconds(threshold.updated_at) if threshold.updated_at else None,
        },
    }


def write_progressive_invoice(
    session: Session,
    figures: LifetimeFigures,
    invoice_id: uuid.UUID,
    drafts: Sequence[FeeDraft],
    reached: Sequence[Threshold],
    now: datetime,
) -> Invoice:
    assert figures.window is not None and figures.usage is not None
    organization, customer, subscription = figures.organization, figures.customer, figures.subscription
    window = figures.window
    # Lago announces the thresholds reached with the subscription.
    emit(session, organization.id, "subscription.usage_threshold_reached", "subscription", subscription.id)
    return write_immediate_invoice(
        session,
        organization=organization,
        customer=customer,
        subscription=subscription,
        invoice_type=InvoiceType.PROGRESSIVE_BILLING,
        invoicing_reason=PROGRESSIVE_BILLING,
        currency=figures.usage.currency,
        window_from=window.from_datetime,
        window_to=window.to_datetime,
        timestamp=now,
        now=now,
        drafts=drafts,
        invoice_id=invoice_id,
        applied_usage_thresholds=[_threshold_json(t, figures.total_amount_cents, now) for t in reached],
    )
