"""The fixed-charge fees of a subscription invoice (Lago's ``Fees::FixedChargeService``).

A fixed charge bills its add-on for ``units`` every plan period, priced by its charge model
(:mod:`billow.pricing`: standard, graduated or volume), whatever the plan's own timing:

* **in arrears**, on the invoice at the end of a plan period, for that period (the used part of it on a
  termination invoice: ``[period start, terminated_at)``); never on the invoice that starts a subscription;
* **in advance**, on the invoice at the start of a plan period, for that period (the invoice that starts a
  subscription bills the first period from ``started_at``); never on a termination invoice.

The periods are the plan's (its interval, the subscription's billing time and anniversary, the customer's
time zone), as for the plan fee (:mod:`billow.billing.proration`, :mod:`billow.billing.schedule`); the
days of a partial span are counted as the plan fee's (local calendar days, both ends included).

A **prorated** fixed charge bills ``units x days / period_days`` units (rounded to 6 decimals, Lago's
``ProratedAggregationService``) priced in the tier of its full units; otherwise a partial period bills the
full units. A fee with 0 units and 0 amount is not written (Lago's ``should_persist_fee?``).

After an upgrade, the new subscription's first fee of a prorated in-advance fixed charge is reduced by
what the previous subscription already paid for the same add-on over those days (Lago's
``first_prorated_paid_in_advance_charge_billed_in_prev_subscription?``): the paid fee's amount x the new
span's days / the paid span's days, rounded half-up; never below 0.

Billow departures: the units are the fixed charge's at billing time (Lago keeps a history of units
changes, ``fixed_charge_events``, and can bill a change mid-period with ``apply_units_immediately``); the
first period of an in-advance fixed charge is billed only when the subscription has a starting invoice
(a pay-in-advance plan: Lago also issues one for an in-arrears plan with in-advance fixed charges);
``bill_fixed_charges_monthly`` (yearly and semiannual plans: fixed charges billed monthly) is applied only
with ``bill_charges_monthly`` (whose monthly invoices carry them; Lago also invoices monthly for fixed
charges alone).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from billow.billing.context import FeeDraft, InvoiceContext
from billow.billing.proration import inclusive_days
from billow.billing.repository import billing_repository
from billow.billing.run_context import cached
from billow.billing.schedule import DueInvoice, InvoicingReason
from billow.kit.money import CONTEXT, precise_minor_units, round_minor_units, to_minor_units
from billow.kit.time import local_date
from billow.models.invoices import Fee, FeeType
from billow.models.plans import FixedCharge, Interval
from billow.models.taxes import Tax
from billow.plans.fixed_charge_repository import fixed_charge_repository
from billow.pricing import Aggregation, ChargeAmount, price
from billow.subscriptions.calendar import Period, period_containing
from billow.subscriptions.periods import charges_interval

_EPSILON = timedelta(microseconds=1)
#: Prorated units keep 6 decimals (Lago rounds ``units x ratio`` so in SQL).
PRORATED_UNITS_QUANTUM = Decimal("0.000001")


@dataclass(frozen=True)
class FixedChargeSpan:
    """What a fixed charge bills on one invoice: ``[from_datetime, to_datetime)`` of ``period``."""

    period: Period
    from_datetime: datetime
    to_datetime: datetime


@dataclass(frozen=True)
class PlanCalendar:
    """How a subscription's plan periods fall (the schedule's inputs)."""

    interval: Interval | str
    billing_time: str
    timezone: str
    started_at: datetime

    def period(self, at: datetime) -> Period:
        return period_containing(
            at,
            interval=Interval(self.interval),
            billing_time=self.billing_time,
            anchor=local_date(self.started_at, self.timezone),
            timezone=self.timezone,
        )


def fixed_charges_interval(
    plan_interval: str, bill_charges_monthly: bool | None, bill_fixed_charges_monthly: bool | None
) -> Interval:
    """The periods of a plan's fixed charges: a month with ``bill_fixed_charges_monthly`` when the usage
    charges are billed monthly too (Billow has monthly invoices then), else the plan's interval."""
    return charges_interval(plan_interval, bool(bill_charges_monthly and bill_fixed_charges_monthly))


def fixed_charge_span(
    due: DueInvoice, calendar: PlanCalendar, *, pay_in_advance: bool
) -> FixedChargeSpan | None:
    """The span an in-advance (or in-arrears) fixed charge bills on the invoice ``due``, or ``None``."""
    started = calendar.started_at
    if due.reason == InvoicingReason.SUBSCRIPTION_STARTING:
        if not pay_in_advance:
            return None
        first = calendar.period(started)
        return FixedChargeSpan(first, max(first.start, started), first.end)
    if due.reason == InvoicingReason.SUBSCRIPTION_TERMINATING:
        if pay_in_advance:
            return None
        ended = due.due_at
        period = calendar.period(max(ended - _EPSILON, started))
        start = max(period.start, started)
        return FixedChargeSpan(period, start, ended) if ended > start else None
    boundary = due.due_at
    if pay_in_advance:
        following = calendar.period(boundary)
        return FixedChargeSpan(following, boundary, following.end) if following.start == boundary else None
    ended_period = calendar.period(boundary - _EPSILON)
    if ended_period.end != boundary:
        return None
    start = max(ended_period.start, started)
    return FixedChargeSpan(ended_period, start, boundary) if boundary > start else None


def span_days(span: FixedChargeSpan, timezone: str) -> int:
    """Local calendar days of the span, both ends included (a span ending at local midnight ends the day
    before); the whole period's days when it covers the period."""
    if span.from_datetime <= span.period.start and span.to_datetime >= span.period.end:
        return span.period.days
    first = local_date(span.from_datetime, timezone)
    last = local_date(span.to_datetime - _EPSILON, timezone)
    return min(inclusive_days(first, last), span.period.days)


def prorated_units(units: Decimal, days: int, period_days: int) -> Decimal:
    """``units x days / period_days`` rounded half-up to 6 decimals; ``units`` for a whole period.

    3 units for 15 of 31 days: 3 x 15 / 31 = 1.4516129... → 1.451613."""
    if days >= period_days:
        return units
    if days <= 0:
        return Decimal(0)
    share = CONTEXT.divide(CONTEXT.multiply(units, Decimal(days)), Decimal(period_days))
    return share.quantize(PRORATED_UNITS_QUANTUM, rounding=ROUND_HALF_UP, context=CONTEXT)


def paid_share_cents(paid_cents: int, paid_days: int, days: int) -> int:
    """What ``days`` of a fee of ``paid_cents`` for ``paid_days`` were worth: half-up, whole cents.

    3000 paid for 31 days, 10 of them again: 3000 x 10 / 31 = 967.74 -> 968."""
    if paid_days <= 0:
        return 0
    return round_minor_units(
        CONTEXT.divide(CONTEXT.multiply(Decimal(paid_cents), Decimal(days)), Decimal(paid_days))
    )


def fixed_charge_amount(
    charge_model: str,
    properties: Mapping[str, Any],
    units: Decimal,
    *,
    currency: str,
    prorated: Decimal | None = None,
) -> ChargeAmount:
    """What ``units`` cost (in currency units, unrounded); with ``prorated`` units, those are billed and
    the full ``units`` pick the tiers (volume range, graduated tiers), as for a prorated charge."""
    if prorated is None:
        aggregation = Aggregation(units=units)
    else:
        aggregation = Aggregation(units=prorated, full_units=units, prorated_values=((units, prorated),))
    return price(charge_model, properties, aggregation, currency=currency)


def fixed_charge_fee_drafts(ctx: InvoiceContext) -> list[FeeDraft]:
    """The fixed-charge fees of the invoice's subscription period ``ctx.due``."""
    session, plan, subscription = ctx.session, ctx.plan, ctx.subscription
    fixed_charges: list[FixedCharge] = cached(
        ctx.run, session, ("fixed_charges", plan.id), lambda: fixed_charge_repository.of_plan(session, plan)
    )
    if not fixed_charges or subscription.started_at is None:
        return []
    taxes: dict[Any, list[Tax]] = cached(
        ctx.run,
        session,
        ("fixed_charge_taxes", plan.id),
        lambda: fixed_charge_repository.taxes_of(session, [f.id for f in fixed_charges]),
    )
    calendar = PlanCalendar(
        fixed_charges_interval(plan.interval, plan.bill_charges_monthly, plan.bill_fixed_charges_monthly),
        subscription.billing_time,
        ctx.timezone,
        subscription.started_at,
    )
    drafts = []
    for fixed_charge in fixed_charges:
        span = fixed_charge_span(ctx.due, calendar, pay_in_advance=fixed_charge.pay_in_advance)
        if span is None:
            continue
        fee = _fee(ctx, fixed_charge, span)
        if fee is not None:
            drafts.append(FeeDraft(fee, ctx.taxes_for(taxes[fixed_charge.id])))
    return drafts


def _fee(ctx: InvoiceContext, fixed_charge: FixedCharge, span: FixedChargeSpan) -> Fee | None:
    units = fixed_charge.units
    prorated = None
    if fixed_charge.prorated:
        prorated = prorated_units(units, span_days(span, ctx.timezone), span.period.days)
    result = fixed_charge_amount(
        fixed_charge.charge_model, fixed_charge.properties, units, currency=ctx.currency, prorated=prorated
    )
    amount_cents = to_minor_units(result.amount, ctx.currency)
    precise = precise_minor_units(result.amount, ctx.currency)
    subscription = ctx.subscription
    if (
        fixed_charge.pay_in_advance
        and fixed_charge.prorated
        and ctx.due.reason == InvoicingReason.SUBSCRIPTION_STARTING
    ):
        paid = _paid_by_previous(ctx, fixed_charge, span)
        if paid:
            amount_cents, precise = max(amount_cents - paid, 0), max(precise - paid, Decimal(0))
    if result.units == 0 and amount_cents == 0:
        return None
    return Fee(
        organization_id=subscription.organization_id,
        invoice_id=ctx.invoice_id,
        customer_id=ctx.customer.id,
        subscription_id=subscription.id,
        fee_type=FeeType.FIXED_CHARGE,
        fixed_charge_id=fixed_charge.id,
        add_on_id=fixed_charge.add_on_id,
        # Set as on a charge fee (their defaults), so the invoice's fees are inserted in one batch.
        charge_id=None,
        charge_filter_id=None,
        grouped_by={},
        invoiceable=True,
        # Lago's fee units are the full units (``full_units_number``); the prorated ones are aggregated.
        units=units,
        total_aggregated_units=result.units,
        events_count=0,
        amount_cents=amount_cents,
        precise_amount_cents=precise,
        amount_currency=ctx.currency,
        unit_amount=result.unit_amount,
        amount_details=result.amount_details,
        invoice_display_name=fixed_charge.invoice_display_name,
        pay_in_advance=fixed_charge.pay_in_advance,
        from_datetime=span.from_datetime,
        to_datetime=span.to_datetime,
    )


def _paid_by_previous(ctx: InvoiceContext, fixed_charge: FixedCharge, span: FixedChargeSpan) -> int:
    """The share of the span already paid by the previous subscription (an upgrade) for the add-on."""
    previous_id = ctx.subscription.previous_subscription_id
    if previous_id is None:
        return 0
    paid = billing_repository.paid_fixed_charge_fee(
        ctx.session, previous_id, fixed_charge.add_on_id, (span.from_datetime, span.to_datetime)
    )
    if paid is None or paid.from_datetime is None or paid.to_datetime is None:
        return 0
    paid_span = FixedChargeSpan(span.period, paid.from_datetime, paid.to_datetime)
    days = span_days(span, ctx.timezone)
    return paid_share_cents(paid.amount_cents, _days(paid_span, ctx.timezone), days)


def _days(span: FixedChargeSpan, timezone: str) -> int:
    first = local_date(span.from_datetime, timezone)
    last = local_date(span.to_datetime - _EPSILON, timezone)
    return inclusive_days(first, last)


__all__: Sequence[str] = (
    "FixedChargeSpan",
    "PlanCalendar",
    "fixed_charge_amount",
    "fixed_charge_fee_drafts",
    "fixed_charge_span",
    "fixed_charges_interval",
    "paid_share_cents",
    "prorated_units",
    "span_days",
)
