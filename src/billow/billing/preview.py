"""The invoice preview (``POST /invoices/preview``): the next invoice of a customer, computed as the billing
run would compute it, without writing anything.

What is previewed (Lago's ``Invoices::PreviewContextService``, ``Invoices::Preview::SubscriptionsService``):

* **projection** (``subscriptions.external_ids``): the next invoice of the customer's active subscriptions
  with those external ids — the first invoice due after now (the end of the current period: an in-arrears
  plan's fee and the period's usage; a pay-in-advance plan's next fee and the period's usage). A single
  pending subscription starting in the future is previewed as started at its ``subscription_at``;
* **termination** (``subscriptions.terminated_at``, one subscription): its final invoice if it ended then;
* **plan change** (``subscriptions.plan_code``, one subscription): the final invoice of an upgrade now or of
  a downgrade at the period end, with the new plan's first fee when paid in advance;
* **proposal** (no external ids; ``plan_code``, ``subscription_at``, ``billing_time``): the first invoice of
  a subscription that does not exist, for an existing customer or one described inline: its plan fee only
  (Lago computes no usage for it).

The fees are the billing run's (:func:`billow.billing.assembly.build_fee_drafts` over the period the
schedule gives, :mod:`billow.billing.schedule`), then, as a finalized invoice: coupons
(:func:`billow.billing.coupon_credits.apply_terms`, pure; the customer's active applied coupons, else the
coupons given inline, as Lago), taxes and the customer's credit-note balance (:func:`compute_amounts`), read
without any lock. Nothing is written: no object of the preview is added to the session (the subscriptions and
customer it changes are transient copies), and the endpoint rolls its transaction back.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from types import SimpleNamespace
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import exists, inspect, select
from sqlalchemy.orm import Session, object_session

from billow.billing.amounts import compute_amounts
from billow.billing.assembly import build_fee_drafts, invoicing_reason, subscription_fee_draft
from billow.billing.context import FeeDraft, InvoiceContext
from billow.billing.coupon_credits import applied_terms, apply_terms
from billow.billing.deductions import prepaid_credits
from billow.billing.preview_credits import (
    CouponCreditLine,
    CreditNoteCreditLine,
    active_applied_coupons,
    available_credit_notes,
    coupon_lines,
    coupon_names,
    credit_note_lines,
    inline_terms,
)
from billow.billing.preview_repository import preview_repository
from billow.billing.repository import subscription_facts
from billow.billing.schedule import DueInvoice, InvoicingReason, due_invoices
from billow.billing.schemas import InvoicePreviewRequest, PreviewCustomerInput
from billow.billing.totals import InvoiceAmounts
from billow.customers.repository import customer_repository
from billow.customers.settings import grace_period_days, net_payment_term
from billow.errors import NotFound, ValidationFailed
from billow.invoices import finalization
from billow.kit.currency import is_currency
from billow.kit.limits import MAX_DAYS
from billow.kit.time import is_timezone, local_date, parse_instant_or_none
from billow.models.billable_metrics import BillableMetric
from billow.models.customers import Customer
from billow.models.organizations import Organization
from billow.models.plans import FixedCharge, Plan, plan_taxes
from billow.models.subscriptions import Subscription, SubscriptionStatus
from billow.plans.repository import plan_repository
from billow.subscriptions.calendar import period_containing
from billow.subscriptions.service.common import within_backdating_horizon
from billow.subscriptions.service.plan_change import is_upgrade
from billow.taxes.repository import tax_repository

#: How far ahead the schedule is searched for a subscription's next invoice (a yearly plan's period).
_HORIZON = timedelta(days=800)
#: The furthest ``subscription_at`` or ``terminated_at`` previewed (the schedule walks the periods until it).
_FURTHEST = timedelta(days=MAX_DAYS)
#: The most external ids, or coupons, one preview takes.
MAX_LIST = 1000
BILLING_TIMES = ("calendar", "anniversary")


@dataclass(frozen=True)
class PreviewPeriod:
    """One subscription period the previewed invoice bills."""

    subscription: Subscription
    plan: Plan
    due: DueInvoice
    stored: bool
    fee_from: datetime | None
    fee_to: datetime | None


class Member(NamedTuple):
    """A subscription period of the previewed invoice, before its fees."""

    subscription: Subscription
    plan: Plan
    due: DueInvoice
    stored: bool
    #: A plan change's end of the old plan's fee (the switch day's start), when it differs.
    fee_end: datetime | None = None
    #: A plan change's next plan (its recurring charges carry over).
    next_plan: Plan | None = None


@dataclass
class InvoicePreview:
    #: An id for the answer, never stored.
    invoice_id: uuid.UUID
    organization: Organization
    customer: Customer
    customer_stored: bool
    customer_taxes: Sequence[Any]
    periods: list[PreviewPeriod]
    drafts: list[FeeDraft]
    amounts: InvoiceAmounts
    currency: str
    issuing_date: date
    net_payment_term: int
    coupon_credits: list[CouponCreditLine] = field(default_factory=list)
    credit_note_credits: list[CreditNoteCreditLine] = field(default_factory=list)

    @property
    def payment_due_date(self) -> date:
        return self.issuing_date + timedelta(days=self.net_payment_term)


# ------------------------------------------------------------------------------------------ the use case


def preview_invoice(
    session: Session, organization: Organization, body: InvoicePreviewRequest, now: datetime
) -> InvoicePreview:
    """The customer's next invoice as ``body`` describes it (module docstring). Writes nothing."""
    customer, stored = _customer(session, organization, body.customer, now)
    coupons = body.coupons or []
    if len(coupons) > MAX_LIST:
        raise ValidationFailed.one("coupons", "value_is_out_of_range")
    inline = inline_terms(session, organization, coupons, now)  # validated before any lookup below
    periods = _periods(session, organization, customer, stored, body, now)
    currencies = {member.plan.amount_currency for member in periods}
    if len(currencies) > 1:
        raise ValidationFailed.one("base", "subscription_currencies_does_not_match")
    timezone = customer.applicable_timezone(organization)
    if len({local_date(member.due.due_at, timezone) for member in periods}) > 1:
        raise ValidationFailed.one("base", "billing_periods_does_not_match")

    customer_taxes = (
        customer_repository.taxes_by_customer(session, [customer.id])[customer.id] if stored else []
    )
    organization_taxes = tax_repository.organization_default_taxes(session, organization.id)
    drafts: list[FeeDraft] = []
    built: list[PreviewPeriod] = []
    for member in periods:
        subscription, plan, due, subscription_stored = member[:4]
        ctx = InvoiceContext(
            session=session,
            organization=organization,
            customer=customer,
            # A plan change's switch day is paid by the next plan (the run reads it from the next row).
            subscription=subscription
            if member.fee_end is None
            else subscription_copy(subscription, terminated_at=member.fee_end),
            plan=plan,
            due=due,
            invoice_id=uuid.uuid4(),
            timezone=timezone,
            currency=plan.amount_currency,
            plan_taxes=plan_repository.taxes_of(session, plan_taxes, [plan.id])[plan.id],
            customer_taxes=customer_taxes,
            organization_taxes=organization_taxes,
        )
        if subscription_stored:
            ctx_drafts, fee_from, fee_to = build_fee_drafts(ctx)
            if member.next_plan is not None:  # recurring usage the next plan bills (Lago)
                carried = charges_carried_over(session, plan, member.next_plan)
                ctx_drafts = [d for d in ctx_drafts if d.fee.charge_id not in carried]
        else:  # a subscription that does not exist has no usage (Lago previews its plan fee)
            draft, fee_from, fee_to = subscription_fee_draft(ctx)
            ctx_drafts = [draft] if draft is not None else []
        drafts.extend(ctx_drafts)
        built.append(PreviewPeriod(subscription, plan, due, subscription_stored, fee_from, fee_to))

    currency = built[0].plan.amount_currency
    plans = {period.subscription.id: period.plan.id for period in built}
    stored_coupons = active_applied_coupons(session, customer) if stored else []
    if stored_coupons:  # Lago: the customer's active coupons, else the ones given inline
        terms = applied_terms(session, stored_coupons)
        names = coupon_names(session, {a.id: a.coupon_id for a in stored_coupons})
    else:
        terms = [term for term, _ in inline]
        names = {term.id: name for term, name in inline}
    coupons_result = apply_terms(session, drafts, terms, plans)
    notes = available_credit_notes(session, customer.id, currency) if stored else []
    amounts = compute_amounts(
        drafts, credit_notes_available_cents=sum(note.balance_amount_cents for note, _ in notes)
    )
    if stored:  # prepaid credits after the credit notes, read without locks (nothing is consumed)
        amounts = prepaid_credits(session, customer, drafts, amounts, currency, lock=False)[1]

    grace = grace_period_days(customer, organization)
    due_at = max(period.due.due_at for period in built)
    reason = invoicing_reason(period.due.reason.value for period in built)
    shift = finalization.issuing_date_shift(customer, grace, invoicing_reason=reason)
    term = net_payment_term(customer, organization)
    for draft in drafts:
        draft.fee.payment_status = "pending"
        draft.fee.created_at = draft.fee.updated_at = now
    return InvoicePreview(
        invoice_id=uuid.uuid4(),
        organization=organization,
        customer=customer,
        customer_stored=stored,
        customer_taxes=customer_taxes,
        periods=built,
        drafts=drafts,
        amounts=amounts,
        currency=currency,
        issuing_date=local_date(due_at, timezone) + timedelta(days=shift),
        net_payment_term=term,
        coupon_credits=coupon_lines(coupons_result, names),
        credit_note_credits=credit_note_lines(notes, amounts.credit_notes_amount_cents),
    )


# ------------------------------------------------------------------------------------------ the customer


def _customer(
    session: Session, organization: Organization, given: PreviewCustomerInput | None, now: datetime
) -> tuple[Customer, bool]:
    """The stored customer (``external_id``: 404 when unknown, as Lago), else a transient one."""
    given = given or PreviewCustomerInput()
    if given.external_id is not None:
        customer = customer_repository.by_external_id(session, organization.id, given.external_id)
        if customer is None:
            raise NotFound("customer")
        return customer, True
    if given.timezone is not None and not is_timezone(given.timezone):
        raise ValidationFailed.one("timezone", "invalid_timezone")
    if given.currency is not None and not is_currency(given.currency):
        raise ValidationFailed.one("currency", "value_is_invalid")
    shipping = given.shipping_address
    customer = _transient(
        Customer,
        id=uuid.uuid4(),
        organization_id=organization.id,
        external_id=None,
        name=given.name,
        currency=given.currency,
        timezone=given.timezone,
        tax_identification_number=given.tax_identification_number,
        address_line1=given.address_line1,
        address_line2=given.address_line2,
        city=given.city,
        zipcode=given.zipcode,
        state=given.state,
        country=given.country,
        shipping_address_line1=shipping.address_line1 if shipping else None,
        shipping_address_line2=shipping.address_line2 if shipping else None,
        shipping_city=shipping.city if shipping else None,
        shipping_zipcode=shipping.zipcode if shipping else None,
        shipping_state=shipping.state if shipping else None,
        shipping_country=shipping.country if shipping else None,
        created_at=now,
        updated_at=now,
    )
    return customer, False


def _transient(model: type, **values: Any) -> Any:
    """An object of ``model`` never added to a session, its unset columns at their scalar defaults."""
    for column in model.__table__.columns:  # type: ignore[attr-defined]
        default = column.default
        if column.key not in values and default is not None and not default.is_callable:
            values[column.key] = default.arg
    return model(**values)


def subscription_copy(subscription: Subscription, **changes: Any) -> Subscription:
    """A transient copy of a stored subscription with ``changes`` (the stored row stays untouched)."""
    values = {attr.key: getattr(subscription, attr.key) for attr in inspect(Subscription).column_attrs}
    values.update(changes)
    return Subscription(**values)


# ------------------------------------------------------------------------------------------ the periods


def _periods(
    session: Session,
    organization: Organization,
    customer: Customer,
    stored: bool,
    body: InvoicePreviewRequest,
    now: datetime,
) -> list[Member]:
    wanted = body.subscriptions
    external_ids = list(dict.fromkeys(wanted.external_ids or [])) if wanted else []
    if len(external_ids) > MAX_LIST:
        raise ValidationFailed.one("external_ids", "value_is_out_of_range")
    if not external_ids:
        return [_proposal(session, organization, customer, body, now)]
    if not stored:
        raise ValidationFailed.one("customer", "must_be_persisted")
    assert wanted is not None
    subscriptions = preview_repository.preview_subscriptions(session, customer, external_ids, now)
    if wanted.terminated_at is not None:
        return [_termination(session, organization, customer, subscriptions, wanted.terminated_at, now)]
    if wanted.plan_code is not None:
        return _plan_change(session, organization, customer, subscriptions, wanted.plan_code, now)
    if not subscriptions:
        raise NotFound("subscription")
    periods = []
    for subscription in subscriptions:
        periods.extend(_next_periods(session, organization, customer, subscription, now))
    return periods


def _next_periods(
    session: Session,
    organization: Organization,
    customer: Customer,
    subscription: Subscription,
    now: datetime,
) -> list[Member]:
    """The subscription's periods on its next invoice: its next periodic one, or its final one if it ends
    before (``ending_at``, a scheduled downgrade: then with the next subscription's first period when its
    plan is paid in advance), as the billing run will bill them after the transitions."""
    plan = _plan_of(session, subscription)
    if subscription.status == SubscriptionStatus.PENDING:  # starting in the future (Lago)
        subscription = subscription_copy(
            subscription,
            status=SubscriptionStatus.ACTIVE,
            started_at=subscription.subscription_at,
            created_at=subscription.subscription_at,
        )
    due = _next_due(organization, customer, subscription, plan, now)
    following = preview_repository.pending_plan_change(session, subscription)
    if (
        following is not None
        and following.plan_change_at is not None
        and following.plan_change_at <= due.due_at
    ):
        switch = following.plan_change_at
        periods = [_terminating(session, organization, customer, subscription, switch)]
        next_plan = _plan_of(session, following)
        started = subscription_copy(following, status=SubscriptionStatus.ACTIVE, started_at=switch)
        periods.extend(
            Member(started, next_plan, first, True)
            for first in due_invoices(_facts(organization, customer, started, next_plan), switch)
            if first.reason is InvoicingReason.SUBSCRIPTION_STARTING
        )
        return periods
    if subscription.ending_at is not None and subscription.ending_at <= due.due_at:
        return [_terminating(session, organization, customer, subscription, subscription.ending_at)]
    return [Member(subscription, plan, due, True)]


def _proposal(
    session: Session,
    organization: Organization,
    customer: Customer,
    body: InvoicePreviewRequest,
    now: datetime,
) -> Member:
    start = now
    if body.subscription_at is not None:
        parsed = _instant(body.subscription_at)
        if parsed is None:
            raise ValidationFailed.one("subscription_at", "invalid_date")
        if not within_backdating_horizon(parsed, now) or parsed > now + _FURTHEST:
            raise ValidationFailed.one("subscription_at", "value_is_out_of_range")
        start = parsed
    plan = plan_repository.by_code(session, organization.id, body.plan_code) if body.plan_code else None
    if plan is None:
        raise NotFound("plan")
    billing_time = body.billing_time if body.billing_time in BILLING_TIMES else "calendar"
    subscription = _transient(
        Subscription,
        id=uuid.uuid4(),
        organization_id=organization.id,
        customer_id=customer.id,
        plan_id=plan.id,
        external_id=None,
        name=plan.name,
        status=SubscriptionStatus.ACTIVE,
        billing_time=billing_time,
        subscription_at=start,
        started_at=start,
        created_at=start,
        updated_at=now,
    )
    facts = _facts(organization, customer, subscription, plan)
    dues = due_invoices(facts, start + _HORIZON)
    if not dues:
        raise ValidationFailed.one("subscription_at", "invalid_date")
    return Member(subscription, plan, dues[0], False)


def _termination(
    session: Session,
    organization: Organization,
    customer: Customer,
    subscriptions: list[Subscription],
    terminated_at: str,
    now: datetime,
) -> Member:
    active = [s for s in subscriptions if s.status == SubscriptionStatus.ACTIVE]
    if len(active) > 1:
        raise ValidationFailed.one("subscriptions", "only_one_subscription_allowed_for_termination")
    if not active:
        raise NotFound("subscription")
    ended = _instant(terminated_at)
    if ended is None:
        raise ValidationFailed.one("terminated_at", "invalid_timestamp")
    if ended < now:
        raise ValidationFailed.one("terminated_at", "cannot_be_in_past")
    if ended > now + _FURTHEST:
        raise ValidationFailed.one("terminated_at", "value_is_out_of_range")
    return _terminating(session, organization, customer, active[0], ended)


def _terminating(
    session: Session, organization: Organization, customer: Customer, stored: Subscription, ended: datetime
) -> Member:
    """The final invoice's period of ``stored`` if it ended at ``ended``."""
    plan = _plan_of(session, stored)
    subscription = subscription_copy(stored, status=SubscriptionStatus.TERMINATED, terminated_at=ended)
    facts = _facts(organization, customer, subscription, plan)
    final = [
        due for due in due_invoices(facts, ended) if due.reason is InvoicingReason.SUBSCRIPTION_TERMINATING
    ]
    if not final:  # terminated before it started
        raise ValidationFailed.one("terminated_at", "invalid_timestamp")
    return Member(subscription, plan, final[0], True)


def _plan_change(
    session: Session,
    organization: Organization,
    customer: Customer,
    subscriptions: list[Subscription],
    plan_code: str,
    now: datetime,
) -> list[Member]:
    """The invoice a plan change would make (Lago's ``SubscriptionPlanChangeService``): an upgrade ends the
    subscription now, a downgrade at the end of its billing period (:mod:`billow.subscriptions.service.
    plan_change`); its final invoice, with the new plan's first fee when paid in advance."""
    active = [s for s in subscriptions if s.status == SubscriptionStatus.ACTIVE]
    if len(active) > 1:
        raise ValidationFailed.one("subscriptions", "only_one_subscription_allowed_for_plan_change")
    if not active:
        raise NotFound("subscription")
    [current] = active
    target = plan_repository.by_code(session, organization.id, plan_code)
    if target is None:
        raise NotFound("plan")
    if target.id == current.plan_id:
        raise ValidationFailed.one("base", "new_plan_should_be_different_from_existing_plan")
    current_plan = _plan_of(session, current)
    if target.amount_currency != current_plan.amount_currency:
        raise ValidationFailed.one("base", "subscription_currencies_does_not_match")
    timezone = customer.applicable_timezone(organization)
    if is_upgrade(current_plan, target):
        switch = now
    else:
        assert current.started_at is not None
        switch = period_containing(
            now,
            interval=current_plan.interval,
            billing_time=current.billing_time,
            anchor=local_date(current.started_at, timezone),
            timezone=timezone,
        ).end
    old = _terminating(session, organization, customer, current, switch)
    day = datetime.combine(local_date(switch, timezone), time(), tzinfo=ZoneInfo(timezone)).astimezone(UTC)
    members = [old._replace(fee_end=day, next_plan=target)]
    if target.pay_in_advance:
        started = _transient(
            Subscription,
            id=uuid.uuid4(),
            organization_id=organization.id,
            customer_id=customer.id,
            plan_id=target.id,
            external_id=current.external_id,
            name=target.name,
            status=SubscriptionStatus.ACTIVE,
            billing_time=current.billing_time,
            subscription_at=current.subscription_at,
            started_at=switch,
            previous_subscription_id=current.id,
            created_at=now,
            updated_at=now,
        )
        members.extend(
            Member(started, target, first, False)
            for first in due_invoices(_facts(organization, customer, started, target), switch)
            if first.reason is InvoicingReason.SUBSCRIPTION_STARTING
        )
    return members


def charges_carried_over(session: Session, plan: Plan, next_plan: Plan) -> set[uuid.UUID]:
    """The plan's charges on a recurring metric the next plan also charges: their usage carries over
    (:func:`billow.subscriptions.service.charges_carried_over`, read from the next subscription's row)."""
    next_metrics = {charge.billable_metric_id for charge in plan_repository.charges_of(session, next_plan)}
    carried = set()
    for charge in plan_repository.charges_of(session, plan):
        metric = session.get(BillableMetric, charge.billable_metric_id)
        if metric is not None and metric.recurring and charge.billable_metric_id in next_metrics:
            carried.add(charge.id)
    return carried


def _plan_of(session: Session, subscription: Subscription) -> Plan:
    plan = session.get(Plan, subscription.plan_id)
    assert plan is not None
    return plan


def _facts(organization: Organization, customer: Customer, subscription: Subscription, plan: Plan) -> Any:
    """The schedule's facts of the subscription, as the billing run reads them
    (:func:`billow.billing.repository.subscription_facts`)."""
    assert subscription.started_at is not None
    session = object_session(plan)
    assert session is not None
    advance_fixed_charges = session.scalar(
        select(
            exists().where(
                FixedCharge.plan_id == plan.id,
                FixedCharge.pay_in_advance.is_(True),
                FixedCharge.deleted_at.is_(None),
            )
        )
    )
    row = SimpleNamespace(
        id=subscription.id,
        started_at=subscription.started_at,
        interval=plan.interval,
        billing_time=subscription.billing_time,
        terminated_at=subscription.terminated_at,
        pay_in_advance=plan.pay_in_advance,
        bill_charges_monthly=plan.bill_charges_monthly,
        trial_period=plan.trial_period,
        customer_timezone=customer.timezone,
        organization_timezone=organization.timezone,
        created_at=subscription.created_at,
        bill_backdated_periods=organization.bill_backdated_periods,
        advance_fixed_charges=bool(advance_fixed_charges),
    )
    return subscription_facts(row)


def _next_due(
    organization: Organization, customer: Customer, subscription: Subscription, plan: Plan, now: datetime
) -> DueInvoice:
    """The subscription's first invoice due after ``now`` (Lago: at the end of the current period)."""
    facts = _facts(organization, customer, subscription, plan)
    for due in due_invoices(facts, now + _HORIZON, after=now):
        if due.due_at > now:
            return due
    raise NotFound("subscription")


def _instant(text: str) -> datetime | None:
    try:
        return parse_instant_or_none(text)
    except OverflowError:
        return None


__all__ = [
    "BILLING_TIMES",
    "InvoicePreview",
    "PreviewPeriod",
    "preview_invoice",
    "subscription_copy",
]
