"""Update a subscription (``PUT /subscriptions/{external_id}``): what was sent changes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from billow.errors import Errors, NotAllowed, NotFound
from billow.kit.time import parse_instant_or_none
from billow.models.organizations import Organization
from billow.models.subscriptions import Subscription, SubscriptionStatus
from billow.plans.service import plan_service
from billow.subscriptions.repository import subscription_repository as repository
from billow.subscriptions.schemas import SubscriptionUpdateInput
from billow.subscriptions.service.common import (
    DEFAULT_TERMINATION_INVOICE,
    MAX_LENGTH,
    ON_TERMINATION_CREDIT_NOTES,
    ON_TERMINATION_INVOICES,
    announce,
    parent_of,
    parse_ending_at,
    plan_of,
    purchase_order_number,
    start_if_due,
    within_backdating_horizon,
)


def update(
    session: Session,
    organization: Organization,
    external_id: str,
    data: SubscriptionUpdateInput,
    *,
    status: str | None,
    now: datetime,
) -> Subscription:
    """Change what was sent. With several subscriptions under the external id, ``status=pending``
    picks the pending one, else the active one; with a single one, that one whatever its status."""
    subscription = _for_update(session, organization, external_id, status)
    plan = plan_of(session, subscription)
    provided = data.provided()
    errors = Errors()

    starts_later = (
        subscription.status == SubscriptionStatus.PENDING and subscription.previous_subscription_id is None
    )
    subscription_at = subscription.subscription_at
    if "subscription_at" in provided:
        parsed = parse_instant_or_none(data.subscription_at)
        if parsed is None:
            errors.add("subscription_at", "invalid_date")
        elif starts_later and not within_backdating_horizon(parsed, now):
            errors.add("subscription_at", "value_is_out_of_range")
        elif starts_later:
            subscription_at = parsed
    ending_at = subscription.ending_at
    if "ending_at" in provided:
        ending_at = parse_ending_at(data.ending_at, subscription_at, now, errors)
    elif (
        ending_at is not None
        and subscription_at != subscription.subscription_at
        and not ending_at.date() > subscription_at.date()
    ):
        # Moving the start past the end would make the subscription end before it starts.
        errors.add("ending_at", "invalid_date")
    if data.on_termination_credit_note and data.on_termination_credit_note not in ON_TERMINATION_CREDIT_NOTES:
        errors.add("on_termination_credit_note", "invalid_value")
    if data.on_termination_invoice and data.on_termination_invoice not in ON_TERMINATION_INVOICES:
        errors.add("on_termination_invoice", "invalid_value")
    if data.name is not None and len(data.name) > MAX_LENGTH:
        errors.add("name", "value_is_too_long")
    order_number = subscription.purchase_order_number
    if data.purchase_order_number is not None:
        order_number = purchase_order_number(data.purchase_order_number)
        if order_number and len(order_number) > MAX_LENGTH:
            errors.add("purchase_order_number", "value_is_too_long")
    errors.raise_if_any()

    live = subscription.status in (SubscriptionStatus.ACTIVE, SubscriptionStatus.PENDING)
    if order_number != subscription.purchase_order_number and not live:
        raise NotAllowed(code="purchase_order_number_not_editable")

    if data.plan_overrides is not None:
        if plan.parent_id is None:
            child = plan_service.override(session, organization, plan, None, data.plan_overrides)
            subscription.plan_id = child.id
        else:
            parent = parent_of(session, plan)
            plan_service.override(session, organization, parent, plan, data.plan_overrides)
    if data.name is not None:
        subscription.name = data.name
    subscription.ending_at = ending_at
    subscription.purchase_order_number = order_number
    if data.progressive_billing_disabled is not None:
        subscription.progressive_billing_disabled = data.progressive_billing_disabled
    if data.consolidate_invoice is not None:
        subscription.consolidate_invoice = data.consolidate_invoice
    if "on_termination_credit_note" in provided and plan.pay_in_advance:
        # Only pay-in-advance plans have unused days to credit (Lago ignores it for the others).
        subscription.on_termination_credit_note = data.on_termination_credit_note or None
    if "on_termination_invoice" in provided:
        subscription.on_termination_invoice = data.on_termination_invoice or DEFAULT_TERMINATION_INVOICE
    if starts_later and subscription_at != subscription.subscription_at:
        subscription.subscription_at = subscription_at
        start_if_due(subscription, now)
        if subscription.status == SubscriptionStatus.ACTIVE:
            announce(session, subscription, "subscription.started")
    session.flush()
    announce(session, subscription, "subscription.updated")
    return subscription


def _for_update(
    session: Session, organization: Organization, external_id: str, status: str | None
) -> Subscription:
    if repository.count_by_external_id(session, organization.id, external_id) > 1:
        wanted = (
            SubscriptionStatus.PENDING if status == SubscriptionStatus.PENDING else SubscriptionStatus.ACTIVE
        )
        subscription = repository.by_external_id(session, organization.id, external_id, wanted)
    else:
        subscription = repository.by_external_id(session, organization.id, external_id)
    if subscription is None:
        raise NotFound("subscription")
    return subscription
