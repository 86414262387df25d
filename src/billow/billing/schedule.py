"""Which subscription invoices are due at an instant, and what each bills. Pure: no clock, no database.

Invoices fall on the **charges-period boundaries** of a subscription (the charges period is the plan
interval, or a month for yearly/semiannual plans with ``bill_charges_monthly``; a plan-interval boundary
is always a charges boundary since both are anchored the same way):

* in arrears, the invoice at the end of charges period P bills P's usage and, when P's end is also the
  end of a plan period, that plan period's fee;
* in advance, the invoice at the start of charges period P bills the usage of P-1 and, when P starts a
  plan period, that plan period's fee. The first invoice (``subscription_starting``) is due when the
  subscription starts and bills the prorated fee of the first plan period and no usage. With a free
  trial it is due when the trial ends and bills the fee of the plan period containing the trial end
  (prorated from it, no usage); the periodic invoices until then carry no plan fee (a trial ending
  exactly on a period boundary leaves the fee to that boundary's periodic invoice);
* a termination produces a final invoice (``subscription_terminating``) at ``terminated_at``: the usage
  of the last charges period up to ``terminated_at`` and, in arrears, the fee of the used days.

Each invoice has a stable key ``(subscription_id, reason, period_start)`` — ``period_start`` is the start
of the charges period the invoice closes (the first plan period's start for ``subscription_starting``) —
which storage makes unique so a period can never be billed twice. The usage windows of the periodic and
terminating invoices tile ``[started_at, terminated_at or now)`` and so do the fee spans.

**Backdated subscriptions** (``started_at`` before the subscription was created): Lago never bills a
period whose invoice fell due before the subscription existed. Its billing picks the subscriptions due on
the current day, and a subscription created with a past ``subscription_at`` is marked active without its
``subscription_starting`` invoice (unless the start is on the creation day, when it is activated, and
billed, as a subscription starting today). ``SubscriptionFacts.billable_from`` carries that floor: the
invoices due before it are not listed (:func:`billable_from`: the start of the creation's local day).
The period in progress at the creation is billed when it ends (its usage from ``started_at``); a
pay-in-advance plan's fee of that period is not (its invoice was due at the period's start).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from billow.kit.time import local_date
from billow.models.plans import Interval
from billow.subscriptions.calendar import BillingTime, Period, period_containing
from billow.subscriptions.periods import charges_interval

_EPSILON = timedelta(microseconds=1)


class InvoicingReason(StrEnum):
    """Lago's ``invoice_subscriptions.invoicing_reason``."""

    SUBSCRIPTION_STARTING = "subscription_starting"
    SUBSCRIPTION_PERIODIC = "subscription_periodic"
    SUBSCRIPTION_TERMINATING = "subscription_terminating"


@dataclass(frozen=True)
class SubscriptionFacts:
    id: Hashable
    started_at: datetime
    interval: Interval | str
    billing_time: BillingTime | str
    timezone: str
    pay_in_advance: bool = False
    advance_fixed_charges: bool = False
    """The plan has fixed charges paid in advance: an in-arrears plan then has a starting invoice too
    (their first period, no plan fee; Lago's ``billing_advance_fixed_charges_on_first_invoice``)."""
    bill_charges_monthly: bool | None = None
    terminated_at: datetime | None = None
    trial_ended_at: datetime | None = None
    """``started_at`` + the plan's trial period (:func:`billow.billing.proration.trial_end`)."""
    anchor: date | None = None
    """Local anniversary date; defaults to the local date of ``started_at``."""
    billable_from: datetime | None = None
    """Invoices due before this instant are not billed (a backdated subscription's past, see
    :func:`billable_from`); ``None`` bills every period since ``started_at``."""


def billable_from(created_at: datetime, timezone: str) -> datetime:
    """The floor of a subscription's billable invoices, as Lago: the start of its creation's local day
    (Lago bills on a day what is due that day, for the subscriptions created on or before it)."""
    day = local_date(created_at, timezone)
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(timezone)).astimezone(UTC)


@dataclass(frozen=True)
class DueInvoice:
    subscription_id: Hashable
    reason: InvoicingReason
    period_start: datetime
    due_at: datetime
    fee_period: Period | None
    """The plan period whose fee this invoice carries (``None``: no plan fee)."""
    charges_from: datetime | None
    """Usage window ``[charges_from, charges_to)`` (``None``: no usage)."""
    charges_to: datetime | None

    @property
    def key(self) -> tuple[Hashable, str, datetime]:
        return (self.subscription_id, self.reason.value, self.period_start)


def _anchor(facts: SubscriptionFacts) -> date:
    return facts.anchor or local_date(facts.started_at, facts.timezone)


def _period(facts: SubscriptionFacts, at: datetime, interval: Interval) -> Period:
    return period_containing(
        at, interval=interval, billing_time=facts.billing_time, anchor=_anchor(facts), timezone=facts.timezone
    )


def due_invoices(
    facts: SubscriptionFacts, as_of: datetime, after: datetime | None = None
) -> list[DueInvoice]:
    """Every invoice of the subscription due at or before ``as_of`` (oldest first).

    ``after`` skips the invoices due before it (a caller that knows nothing older can be missing);
    invoices already stored are filtered by the caller through their keys.
    """
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    plan_interval = Interval(facts.interval)
    usage_interval = charges_interval(plan_interval, facts.bill_charges_monthly)
    started, ended = facts.started_at, facts.terminated_at
    result: list[DueInvoice] = []
    floor = facts.billable_from

    def emit(invoice: DueInvoice) -> None:
        if (
            invoice.due_at <= as_of
            and (after is None or invoice.due_at >= after)
            and (floor is None or invoice.due_at >= floor)
        ):
            result.append(invoice)

    trial = facts.trial_ended_at
    if trial is not None and trial <= started:
        trial = None
    if facts.pay_in_advance:
        # Due at the start, or at the trial end (Lago bills an ended trial's fee then, even when the
        # trial outlasts the first period: the periodic invoices before it carry no plan fee).
        due = started if trial is None else trial
        if ended is None or due < ended:
            first_period = _period(facts, due, plan_interval)
            if trial is None or first_period.start != due:  # a trial ending on a boundary: periodic
                emit(
                    DueInvoice(
                        facts.id,
                        InvoicingReason.SUBSCRIPTION_STARTING,
                        first_period.start,
                        due,
                        first_period,
                        None,
                        None,
                    )
                )
    elif facts.advance_fixed_charges and (ended is None or started < ended):
        # An in-arrears plan: the start bills only the first period of its in-advance fixed charges.
        first_period = _period(facts, started, plan_interval)
        emit(
            DueInvoice(
                facts.id, InvoicingReason.SUBSCRIPTION_STARTING, first_period.start, started, None, None, None
            )
        )

    usage_period = _period(facts, started, usage_interval)
    while True:
        boundary = usage_period.end
        window_from = max(usage_period.start, started)
        if ended is not None and ended <= boundary:
            break
        if boundary > as_of:
            return _by_due(result)
        plan_period = _period(facts, boundary - _EPSILON, plan_interval)
        next_plan_period = _period(facts, boundary, plan_interval)
        fee_period: Period | None = None
        if facts.pay_in_advance:
            if next_plan_period.start == boundary and (trial is None or trial <= boundary):
                fee_period = next_plan_period
        elif plan_period.end == boundary:
            fee_period = plan_period
        emit(
            DueInvoice(
                facts.id,
                InvoicingReason.SUBSCRIPTION_PERIODIC,
                usage_period.start,
                boundary,
                fee_period,
                window_from,
                boundary,
            )
        )
        usage_period = _period(facts, boundary, usage_interval)

    # Terminated inside (or at the end of) ``usage_period``.
    assert ended is not None
    if ended <= as_of:
        window_from = max(usage_period.start, started)
        fee_period = None
        if not facts.pay_in_advance:
            fee_period = _period(facts, max(ended - _EPSILON, started), plan_interval)
        emit(
            DueInvoice(
                facts.id,
                InvoicingReason.SUBSCRIPTION_TERMINATING,
                usage_period.start,
                ended,
                fee_period,
                window_from,
                max(ended, window_from),
            )
        )
    return _by_due(result)


def _by_due(invoices: list[DueInvoice]) -> list[DueInvoice]:
    """Oldest first (a trial-end invoice falls among the periodic ones); stable on ties."""
    return sorted(invoices, key=lambda invoice: invoice.due_at)
