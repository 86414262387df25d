"""What the subscription use cases share: the vocabulary of the API's choices, input parsing, and the small
steps several use cases take (the plan of a subscription, a plan's currency adopted by the customer, a
start that is due, a pending downgrade canceled)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from billow.config import max_backdate_days
from billow.errors import Errors, ValidationFailed
from billow.kit.currency import is_currency
from billow.kit.time import parse_instant_or_none
from billow.models.credit_notes import CreditNoteReason
from billow.models.customers import Customer
from billow.models.organizations import Organization
from billow.models.plans import Plan
from billow.models.subscriptions import Subscription, SubscriptionStatus
from billow.plans.schemas import PlanOverridesInput
from billow.plans.service import plan_service
from billow.subscriptions.repository import subscription_repository as repository
from billow.webhooks.outbox import emit
from billow.worker.dispatch import run_hooks

ON_TERMINATION_CREDIT_NOTES = ("credit", "skip", "refund", "offset")
ON_TERMINATION_INVOICES = ("generate", "skip")
DEFAULT_TERMINATION_INVOICE = "generate"
#: Statuses the list filter knows (Lago's; ``incomplete`` never occurs here yet).
STATUSES = (*(status.value for status in SubscriptionStatus), "incomplete")
#: Column lengths checked before writing (``value_is_too_long``).
MAX_LENGTH = 255


def within_backdating_horizon(subscription_at: datetime, now: datetime) -> bool:
    """A subscription may start at most ``BILLOW_MAX_BACKDATE_DAYS`` before ``now`` (issue 9: a start in
    year 1 made billing catch up 24,311 monthly invoices); 422 ``value_is_out_of_range`` beyond."""
    return subscription_at >= now - timedelta(days=max_backdate_days())


def _ending_at_valid(ending_at: datetime, subscription_at: datetime, now: datetime) -> bool:
    """Lago's rule: the end is on a later (UTC) day than today and than the start."""
    return ending_at.date() > now.date() and ending_at.date() > subscription_at.date()


def parse_ending_at(
    value: Any, subscription_at: datetime | None, now: datetime, errors: Errors
) -> datetime | None:
    """The parsed ``ending_at``; ``None`` when absent or empty (no end)."""
    if value is None or value == "":
        return None
    ending_at = parse_instant_or_none(value)
    if ending_at is None or subscription_at is None or not _ending_at_valid(ending_at, subscription_at, now):
        errors.add("ending_at", "invalid_date")
        return None
    return ending_at


def purchase_order_number(value: str) -> str | None:
    return value.strip() or None


def plan_of(session: Session, subscription: Subscription) -> Plan:
    return repository.plans_by_id(session, [subscription.plan_id])[subscription.plan_id]


def parent_of(session: Session, plan: Plan) -> Plan:
    assert plan.parent_id is not None
    return repository.plans_by_id(session, [plan.parent_id])[plan.parent_id]


def with_overrides(
    session: Session, organization: Organization, plan: Plan, overrides: PlanOverridesInput | None
) -> Plan:
    """``plan``, or with ``plan_overrides`` a new child plan of it."""
    if overrides is None:
        return plan
    return plan_service.override(session, organization, plan, None, overrides)


def adopt_currency(customer: Customer, plan: Plan, override: str | None = None) -> None:
    """A customer bills in one currency: the first plan's, which later plans must share."""
    # An invalid override is reported by the plan's validation.
    currency = override if override and is_currency(override) else plan.amount_currency
    if customer.currency is None:
        customer.currency = currency
    elif customer.currency != currency:
        raise ValidationFailed.one("currency", "currencies_does_not_match")


def start_if_due(subscription: Subscription, now: datetime) -> None:
    if subscription.subscription_at <= now:
        subscription.status = SubscriptionStatus.ACTIVE
        subscription.started_at = subscription.subscription_at
    else:
        subscription.status = SubscriptionStatus.PENDING
        subscription.started_at = None


def owe_unused_days(subscription: Subscription, reason: CreditNoteReason, now: datetime) -> None:
    """Leave the credit of a just-terminated pay-in-advance subscription's unused days to the billing run
    (decision 0005: its invoice of the termination, or its pass over the subscriptions still owed one,
    :mod:`billow.billing.termination_credits`); ``reason`` and ``now`` are the credit note's."""
    subscription.unused_days_credit = reason.value
    subscription.unused_days_credit_at = now


def cancel_pending_plan_change(session: Session, current: Subscription, now: datetime) -> None:
    pending = repository.pending_plan_change_of(session, current.id)
    if pending is not None:
        pending.status = SubscriptionStatus.CANCELED
        pending.canceled_at = now


def announce(session: Session, subscription: Subscription, webhook_type: str) -> None:
    """A ``subscription.*`` webhook about ``subscription`` (started, terminated, canceled, updated), in
    the transaction that changed it."""
    emit(session, subscription.organization_id, webhook_type, "subscription", subscription.id)
    run_hooks(
        session,
        SUBSCRIPTION_ANNOUNCED,
        organization_id=subscription.organization_id,
        subscription_id=subscription.id,
        webhook_type=webhook_type,
    )


#: The hook announced with each ``subscription.*`` webhook (``organization_id``, ``subscription_id``,
#: ``webhook_type``), in the transaction that changed the subscription (e.g. CRM syncs, billow.integrations).
SUBSCRIPTION_ANNOUNCED = "subscriptions.announced"
