"""Reads of the API: one subscription, the list statement, and the plan-change links shown with them."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from sqlalchemy import Select
from sqlalchemy.orm import Session

from billow.errors import NotFound
from billow.kit.time import local_date
from billow.models.customers import Customer
from billow.models.organizations import Organization
from billow.models.subscriptions import Subscription, SubscriptionStatus
from billow.subscriptions.repository import subscription_repository as repository
from billow.subscriptions.schemas import PlanChange, SubscriptionFilters
from billow.subscriptions.service.common import STATUSES


def get(session: Session, organization: Organization, external_id: str, status: str | None) -> Subscription:
    """``GET /subscriptions/{external_id}``: the one with ``status`` (default ``active``)."""
    subscription = repository.by_external_id(
        session, organization.id, external_id, status or SubscriptionStatus.ACTIVE
    )
    if subscription is None:
        raise NotFound("subscription")
    return subscription


def list_stmt(
    organization: Organization, filters: SubscriptionFilters, *, customer: Customer | None = None
) -> Select[Subscription]:
    """Default status filter ``active``; if any status sent is unknown, no status filter (as Lago)."""
    requested = filters.statuses or [SubscriptionStatus.ACTIVE.value]
    statuses = requested if all(status in STATUSES for status in requested) else None
    return repository.list_stmt(
        organization.id,
        customer_id=customer.id if customer is not None else None,
        external_customer_id=None if customer is not None else filters.external_customer_id or None,
        plan_code=filters.plan_code or None,
        external_id=filters.external_id or None,
        currency=filters.currency or None,
        statuses=statuses,
    )


def plan_changes(
    session: Session, subscriptions: list[Subscription], *, timezone_of: Callable[[Subscription], str]
) -> dict[uuid.UUID, PlanChange]:
    """``previous_plan_code``, ``next_plan_code`` and ``downgrade_plan_date`` of each subscription;
    ``timezone_of(subscription)`` gives its customer's zone."""
    following, previous = repository.plan_change_links(session, subscriptions)
    result: dict[uuid.UUID, PlanChange] = {}
    for subscription in subscriptions:
        next_code = None
        downgrade_date = None
        if subscription.id in following:
            next_code, next_subscription = following[subscription.id]
            if next_subscription.status == SubscriptionStatus.PENDING and next_subscription.plan_change_at:
                downgrade_date = local_date(
                    next_subscription.plan_change_at, timezone_of(subscription)
                ).isoformat()
        result[subscription.id] = PlanChange(
            previous_plan_code=previous.get(subscription.id),
            next_plan_code=next_code,
            downgrade_plan_date=downgrade_date,
        )
    return result
