"""Create a subscription (creating the customer if needed); re-posting a live external id with another
plan is a plan change (:mod:`billow.subscriptions.service.plan_change`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from billow.customers.service import customer_service
from billow.errors import Errors, NotFound, ValidationFailed
from billow.kit.time import parse_instant_or_none
from billow.models.organizations import Organization
from billow.models.subscriptions import Subscription, SubscriptionStatus
from billow.plans.fixed_charge_repository import fixed_charge_repository
from billow.plans.repository import plan_repository
from billow.subscriptions.calendar import BillingTime
from billow.subscriptions.follow_up import bill_after_commit
from billow.subscriptions.repository import subscription_repository as repository
from billow.subscriptions.schemas import SubscriptionInput
from billow.subscriptions.service.common import (
    DEFAULT_TERMINATION_INVOICE,
    MAX_LENGTH,
    adopt_currency,
    announce,
    parse_ending_at,
    plan_of,
    purchase_order_number,
    start_if_due,
    with_overrides,
    within_backdating_horizon,
)
from billow.subscriptions.service.plan_change import PlanChangeInput, downgrade, is_upgrade, upgrade


def create(
    session: Session, organization: Organization, data: SubscriptionInput, now: datetime
) -> Subscription:
    """Subscribe a customer (created if unknown) to a plan.

    Re-posting the external id of the customer's live subscription on the same plan returns that
    subscription unchanged (as Lago); on another plan it is a plan change.
    ``plan_overrides`` put the new subscription on a child plan of the plan; the other inputs listed
    as ignored in :class:`SubscriptionInput` are ignored.
    """
    plan = plan_repository.by_code(session, organization.id, data.plan_code) if data.plan_code else None
    if plan is None:
        raise NotFound("plan")

    errors = Errors()
    external_customer_id = (data.external_customer_id or "").strip()
    external_id = (data.external_id or "").strip()
    name = (data.name or "").strip()
    order_number = purchase_order_number(data.purchase_order_number or "")
    for field, value in (
        ("external_customer_id", external_customer_id),
        ("external_id", external_id),
    ):
        if not value:
            errors.add(field, "value_is_mandatory")
    for field, text in (
        ("external_customer_id", external_customer_id),
        ("external_id", external_id),
        ("name", name),
        ("purchase_order_number", order_number),
    ):
        if text and len(text) > MAX_LENGTH:
            errors.add(field, "value_is_too_long")
    billing_time = data.billing_time or BillingTime.CALENDAR.value
    if billing_time not in {b.value for b in BillingTime}:
        errors.add("billing_time", "value_is_invalid")
    subscription_at = now if data.subscription_at is None else parse_instant_or_none(data.subscription_at)
    if subscription_at is None:
        errors.add("subscription_at", "invalid_date")
    elif not within_backdating_horizon(subscription_at, now):
        errors.add("subscription_at", "value_is_out_of_range")
    ending_at = parse_ending_at(data.ending_at, subscription_at, now, errors)
    errors.raise_if_any()
    assert subscription_at is not None

    customer = customer_service.get_or_create(session, organization, external_customer_id)
    overrides = data.plan_overrides
    adopt_currency(customer, plan, overrides.amount_currency if overrides is not None else None)

    live = repository.live_of_customer(session, customer.id, external_id)
    if live is not None:
        current_plan = plan_of(session, live)
        if plan.id in (live.plan_id, current_plan.parent_id):
            return live
        plan = with_overrides(session, organization, plan, overrides)
        if live.status == SubscriptionStatus.PENDING:
            # Not started yet: it just takes the new plan (Lago's ``update_pending_subscription``).
            live.plan_id = plan.id
            if name:
                live.name = name
            session.flush()
            return live
        provided = data.provided()
        changes = PlanChangeInput(
            name=name,
            ending_at=ending_at if "ending_at" in provided else live.ending_at,
            consolidate_invoice=live.consolidate_invoice
            if data.consolidate_invoice is None
            else data.consolidate_invoice,
            progressive_billing_disabled=bool(data.progressive_billing_disabled),
            purchase_order_number=order_number,
        )
        if is_upgrade(current_plan, plan):
            return upgrade(session, live, current_plan, plan, changes, now)
        return downgrade(session, organization, customer, live, current_plan, plan, changes, now)
    if repository.live_external_id_taken(session, organization.id, external_id):
        raise ValidationFailed.one("external_id", "value_already_exist")

    plan = with_overrides(session, organization, plan, overrides)
    subscription = Subscription(
        organization_id=organization.id,
        customer_id=customer.id,
        plan_id=plan.id,
        external_id=external_id,
        name=name,
        billing_time=billing_time,
        subscription_at=subscription_at,
        ending_at=ending_at,
        on_termination_invoice=DEFAULT_TERMINATION_INVOICE,
        progressive_billing_disabled=bool(data.progressive_billing_disabled),
        consolidate_invoice=True if data.consolidate_invoice is None else data.consolidate_invoice,
        purchase_order_number=order_number,
    )
    start_if_due(subscription, now)
    session.add(subscription)
    session.flush()
    if subscription.status == SubscriptionStatus.ACTIVE:
        announce(session, subscription, "subscription.started")
    billed_at_start = plan.pay_in_advance or fixed_charge_repository.has_pay_in_advance(session, plan)
    if subscription.status == SubscriptionStatus.ACTIVE and billed_at_start:
        # Its ``subscription_starting`` invoice, right after the commit (Lago's create service); an
        # in-arrears plan has one for its fixed charges paid in advance.
        bill_after_commit(session, [subscription.id], now)
    return subscription
