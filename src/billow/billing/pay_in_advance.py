"""Pay-in-advance charges: one fee per event, and for invoiceable charges one invoice per event (Lago's
``Fees::CreatePayInAdvanceService`` and ``Invoices::CreatePayInAdvanceChargeService``, reference §3.9).

The database is the source of truth: :func:`create_pay_in_advance_fees` (the ``pay_in_advance_fees``
scans) finds the events of the active subscriptions' pay-in-advance charges that have no fee yet and bills
each one. Event ingestion does nothing for them (it stays one ``INSERT``).

**Amount.** An event's fee is ``price(units with the event) - price(units without it)``
(:func:`billow.fees.in_advance.event_fee`, the same computation as ``POST /events/estimate_fees``),
the events of the charges period being taken in **time order** (timestamp, then reception, then id): the
units "without" are those of the period's events before it in that order, whatever was billed already.
So the fees of a period add up to the price of its units when events arrive in time order. A late event
(older timestamp than events already billed) is priced at its place in time; the fees of the later events
are not revised. Filters, grouping keys, proration, percentage per-transaction rules and dynamic pricing
work as in the estimate. Taxes: the charge's, else the plan's, the customer's, the organization's
(:mod:`billow.taxes.rules`), computed as on any invoice (:func:`billow.billing.amounts.compute_amounts`).

**Invoices.** ``invoiceable`` charges: each fee gets its own invoice (``invoice_type: subscription``,
``invoicing_reason: in_advance_charge``), issued on the scan's day (customer's time zone), finalized and
numbered at once (:func:`billow.invoices.finalization.apply_final_status`; a zero-amount one is
``closed`` when the customer/organization does not finalize zero-amount invoices). Otherwise the fee is
stored without invoice (``lago_invoice_id: null``, payment status settable with ``PUT /fees/{id}``). The
subscription invoice of the period never bills pay-in-advance charges
(:func:`billow.billing.charge_fees.charge_fees` skips them).

**Exactly once.** A unique index on fees ``(subscription_id, charge_id, event_transaction_id)``: an event
never yields two fees for a charge. Each event is billed in its own transaction after locking the
subscription row (as the billing run does), re-checking under the lock; a concurrent scan that still gets
past it fails on the index and its transaction (fee *and* invoice) rolls back.

**Cost when idle.** Two scans share the code: ``pay_in_advance_fees`` (every 10 s) looks at events whose
timestamp is within :data:`RECENT` of now — one range of the ``ix_events_usage`` index per subscription and
pay-in-advance charge, anti-joined on the fees' unique index — and ``pay_in_advance_fees_reconcile``
(every 15 min) looks at the whole current and previous charges periods of each subscription. The events
table has no index on reception time (it would cost ingestion throughput), so a reception-time watermark
could not be read cheaply; the timestamp window is the cheap path and the reconciliation is what makes a
late event (an old timestamp, or a slow ingestion transaction) impossible to miss: it is billed at most
15 minutes later, as long as its timestamp is in the current or the previous charges period. Events older
than that, and events of terminated subscriptions, are not billed in advance.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billow.billable_metrics.repository import billable_metric_repository
from billow.billing import locks
from billow.billing.amounts import compute_amounts
from billow.billing.context import FeeDraft
from billow.billing.repository import billing_repository
from billow.billing.writer import write_immediate_invoice
from billow.fees.in_advance import EstimatedFee, StoredEvent, event_fee, priced_event, pricing_context
from billow.models.customers import Customer
from billow.models.events import Event
from billow.models.invoices import Fee, FeeType, InvoiceType, PaymentStatus
from billow.models.organizations import Organization
from billow.models.plans import Charge, Plan
from billow.models.subscriptions import Subscription, SubscriptionStatus
from billow.plans.repository import ChargeGraph, plan_repository
from billow.subscriptions.periods import UsageWindow, charges_window
from billow.webhooks.outbox import emit

log = logging.getLogger(__name__)

#: The fast scan looks at events whose timestamp is at most this old.
RECENT = timedelta(hours=1)
_MICROSECOND = timedelta(microseconds=1)
IN_ADVANCE_CHARGE = "in_advance_charge"


@dataclass
class PayInAdvanceSummary:
    fees_created: int = 0
    invoices_created: int = 0
    already_billed: int = 0
    failed: list[str] = field(default_factory=list)
    fee_ids: list[uuid.UUID] = field(default_factory=list)


@dataclass(frozen=True)
class _Candidate:
    """One pay-in-advance charge of one active subscription."""

    organization_id: uuid.UUID
    subscription_id: uuid.UUID
    external_subscription_id: str
    started_at: datetime
    charge_id: uuid.UUID
    code: str


def create_pay_in_advance_fees(
    session_factory: Callable[[], Session],
    now: datetime,
    *,
    since: datetime | None = None,
    organization_id: uuid.UUID | None = None,
    external_subscription_ids: Sequence[str] | None = None,
) -> PayInAdvanceSummary:
    """Create the fee (and invoice) of every pay-in-advance event without one, with a timestamp at or before
    ``now`` (and at or after ``since``); of one organization's subscriptions with these external ids (the
    task queued after an event ingestion, :mod:`billow.billing.immediate`). Idempotent; safe to run
    concurrently."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    summary = PayInAdvanceSummary()
    with session_factory() as session:
        work = _pending_work(session, now, since, organization_id, external_subscription_ids)
    for candidate, event_id in work:
        try:
            fee_id, invoiced = _bill_event(session_factory, candidate, event_id, now)
        except Exception as error:  # one event fails (retried by the next scan); the others go on
            log.exception("pay-in-advance fee of event %s failed", event_id)
            summary.failed.append(f"{event_id}: {error!r}")
            continue
        if fee_id is None:
            summary.already_billed += 1
        else:
            summary.fees_created += 1
            summary.invoices_created += int(invoiced)
            summary.fee_ids.append(fee_id)
    return summary


# ------------------------------------------------------------------------------------------ finding work


def _pending_work(
    session: Session,
    now: datetime,
    since: datetime | None,
    organization_id: uuid.UUID | None,
    external_ids: Sequence[str] | None = None,
) -> list[tuple[_Candidate, uuid.UUID]]:
    """``(candidate, event id)`` of every event without a fee, in time order per candidate."""
    if since is not None:
        return _recent_work(session, now, since, organization_id, external_ids)
    work: list[tuple[_Candidate, uuid.UUID]] = []
    candidates = billing_repository.candidates(session, now, organization_id, external_ids)
    lower_bounds: dict[uuid.UUID, datetime] = {}
    for org_id, subscription_id, external_id, started_at, charge_id, code in candidates:
        assert started_at is not None  # the candidates are started subscriptions only
        candidate = _Candidate(org_id, subscription_id, external_id, started_at, charge_id, code)
        if candidate.subscription_id not in lower_bounds:
            lower_bounds[candidate.subscription_id] = _lower_bound(session, candidate, now)
        lower = lower_bounds[candidate.subscription_id]
        events = billing_repository.unbilled_events(
            session,
            organization_id=candidate.organization_id,
            external_subscription_id=candidate.external_subscription_id,
            code=candidate.code,
            subscription_id=candidate.subscription_id,
            charge_id=candidate.charge_id,
            since=lower,
            now=now,
        )
        work.extend((candidate, event_id) for event_id in events)
    return work


def _recent_work(
    session: Session,
    now: datetime,
    since: datetime,
    organization_id: uuid.UUID | None,
    external_ids: Sequence[str] | None = None,
) -> list[tuple[_Candidate, uuid.UUID]]:
    """The fast path, one statement: events with a timestamp in ``[since, now]`` (``since`` is never
    before the previous charges period: periods last at least a day)."""
    rows = billing_repository.recent_unbilled_events(session, now, since, organization_id, external_ids)
    return [(_Candidate(*row[:6]), row[6]) for row in rows]


def _lower_bound(session: Session, candidate: _Candidate, now: datetime) -> datetime:
    """The start of the previous charges period (clipped to the subscription's start)."""
    subscription = session.get(Subscription, candidate.subscription_id)
    assert subscription is not None
    plan = session.get(Plan, subscription.plan_id)
    customer = session.get(Customer, subscription.customer_id)
    organization = session.get(Organization, subscription.organization_id)
    assert plan is not None and customer is not None and organization is not None
    timezone = customer.applicable_timezone(organization)

    def window_start(at: datetime) -> datetime:
        return charges_window(
            subscription,
            plan_interval=plan.interval,
            bill_charges_monthly=plan.bill_charges_monthly,
            timezone=timezone,
            at=at,
        ).from_datetime

    current = window_start(now)
    if current <= candidate.started_at:
        return candidate.started_at
    return max(window_start(current - _MICROSECOND), candidate.started_at)


# ------------------------------------------------------------------------------------------ one event


def _has_fee(session: Session, candidate: _Candidate, transaction_id: str) -> bool:
    return billing_repository.has_fee(session, candidate.subscription_id, candidate.charge_id, transaction_id)


def _bill_event(
    session_factory: Callable[[], Session], candidate: _Candidate, event_id: uuid.UUID, now: datetime
) -> tuple[uuid.UUID | None, bool]:
    """Write the event's fee (and invoice) in its own transaction; ``(None, False)`` if already billed."""
    session = session_factory()
    try:
        with session.begin():
            subscription = locks.lock_subscription(session, candidate.subscription_id)
            event = session.get(Event, event_id)
            if (
                subscription.status != SubscriptionStatus.ACTIVE
                or event is None
                or _has_fee(session, candidate, event.transaction_id)
            ):
                return None, False
            fee, invoiced = write_event_fee(session, subscription, candidate.charge_id, event, now)
            session.flush()
            return fee.id, invoiced
    except IntegrityError:
        # Another scan billed this event between our check and our insert.
        with session_factory() as fresh:
            event = fresh.get(Event, event_id)
            if event is not None and _has_fee(fresh, candidate, event.transaction_id):
                return None, False
        raise
    finally:
        session.close()


def price_event(
    session: Session, subscription: Subscription, graph: ChargeGraph, event: Event
) -> tuple[EstimatedFee, UsageWindow]:
    """The pay-in-advance fee of a stored ``event`` for the charge of ``graph`` (not written), and the
    charges window of the event."""
    organization = session.get(Organization, subscription.organization_id)
    customer = session.get(Customer, subscription.customer_id)
    plan = session.get(Plan, subscription.plan_id)
    assert organization is not None and customer is not None and plan is not None
    context = pricing_context(session, organization, subscription, customer, plan, at=event.timestamp)
    window = context.window
    metric_filters = billable_metric_repository.filter_values(
        session, organization.id, [graph.metric.id]
    ).get(graph.metric.id, {})
    history = StoredEvent(id=event.id, timestamp=event.timestamp, created_at=event.created_at)
    return event_fee(context, graph, metric_filters, priced_event(event), history), window


def write_event_fee(
    session: Session, subscription: Subscription, charge_id: uuid.UUID, event: Event, now: datetime
) -> tuple[Fee, bool]:
    """Price and write the event's fee, and its invoice when the charge is invoiceable."""
    charge = session.get(Charge, charge_id)
    assert charge is not None
    [graph] = plan_repository.load_charges(session, [charge])
    estimated, window = price_event(session, subscription, graph, event)
    display_name = charge.invoice_display_name
    if estimated.filter is not None and estimated.filter.filter.invoice_display_name:
        display_name = estimated.filter.filter.invoice_display_name
    fee = Fee(
        id=uuid.uuid4(),
        organization_id=subscription.organization_id,
        customer_id=subscription.customer_id,
        subscription_id=subscription.id,
        charge_id=charge.id,
        charge_filter_id=estimated.filter.filter.id if estimated.filter is not None else None,
        fee_type=FeeType.CHARGE,
        grouped_by=dict(estimated.grouped_by),
        units=estimated.units,
        total_aggregated_units=estimated.units,
        events_count=1,
        amount_cents=estimated.amount_cents,
        precise_amount_cents=estimated.precise_amount_cents,
        amount_currency=estimated.currency,
        unit_amount=estimated.unit_amount,
        amount_details=_jsonable(estimated.amount_details),
        invoice_display_name=display_name,
        pay_in_advance=True,
        invoiceable=charge.invoiceable,
        payment_status=PaymentStatus.PENDING,
        from_datetime=window.from_datetime,
        to_datetime=window.to_datetime,
        event_transaction_id=event.transaction_id,
    )
    drafts = [FeeDraft(fee, [t.tax for t in estimated.applied_taxes])]
    if not charge.invoiceable:
        compute_amounts(drafts)  # the fee's taxes (it is on no invoice)
        session.add(fee)
        session.flush()  # the unique key: fails here if another scan billed this event
        emit(session, fee.organization_id, "fee.created", "fee", fee.id)  # Lago: a fee without invoice
        return fee, False

    organization = session.get(Organization, subscription.organization_id)
    customer = estimated.customer
    assert organization is not None
    write_immediate_invoice(
        session,
        organization=organization,
        customer=customer,
        subscription=subscription,
        invoice_type=InvoiceType.SUBSCRIPTION,
        invoicing_reason=IN_ADVANCE_CHARGE,
        currency=estimated.currency,
        window_from=window.from_datetime,
        window_to=window.to_datetime,
        timestamp=event.timestamp,
        now=now,
        drafts=drafts,
    )
    return fee, True


def _jsonable(value: Any) -> Any:
    """``amount_details`` with decimals as strings (JSON column)."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    return value


__all__ = ["PayInAdvanceSummary", "create_pay_in_advance_fees", "price_event"]
