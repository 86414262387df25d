"""Rendering subscriptions in Lago's shape, shared by the API and the ``subscription.*`` webhooks
(:mod:`billow.webhooks.payloads`: the detailed form, with the plan, as ``GET /subscriptions/{id}``)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from billow.db import utcnow
from billow.models.organizations import Organization
from billow.models.subscriptions import Subscription
from billow.plans.repository import plan_repository
from billow.subscriptions.repository import subscription_repository
from billow.subscriptions.schemas import (
    SubscriptionEnvelope,
    SubscriptionOut,
    subscription_detail_out,
    subscription_out,
)
from billow.subscriptions.service import subscription_service
from billow.webhooks.payloads import renderer


def render_subscriptions(
    session: Session, organization: Organization, subscriptions: Sequence[Subscription], now: datetime
) -> list[SubscriptionOut]:
    customers = subscription_repository.customers_by_id(session, [s.customer_id for s in subscriptions])
    plans = subscription_repository.plans_by_id(session, [s.plan_id for s in subscriptions])
    changes = subscription_service.plan_changes(
        session,
        list(subscriptions),
        timezone_of=lambda s: customers[s.customer_id].applicable_timezone(organization),
    )
    out: list[SubscriptionOut] = []
    for subscription in subscriptions:
        customer = customers[subscription.customer_id]
        out.append(
            subscription_out(
                subscription,
                customer,
                plans[subscription.plan_id],
                timezone=customer.applicable_timezone(organization),
                now=now,
                plan_change=changes[subscription.id],
            )
        )
    return out


def subscription_envelope(
    session: Session, organization: Organization, subscription: Subscription, now: datetime
) -> SubscriptionEnvelope:
    [customer] = subscription_repository.customers_by_id(session, [subscription.customer_id]).values()
    [plan] = subscription_repository.plans_by_id(session, [subscription.plan_id]).values()
    [graph] = plan_repository.load_plans(session, [plan])
    timezone = customer.applicable_timezone(organization)
    changes = subscription_service.plan_changes(session, [subscription], timezone_of=lambda _: timezone)
    return SubscriptionEnvelope(
        subscription=subscription_detail_out(
            subscription,
            customer,
            graph,
            timezone=timezone,
            now=now,
            plan_change=changes[subscription.id],
        )
    )


@renderer("subscription")
def subscription_payloads(
    session: Session, organization: Organization, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    subscriptions = session.scalars(
        select(Subscription).where(
            Subscription.organization_id == organization.id, Subscription.id.in_(set(ids))
        )
    )
    now = utcnow()
    return {
        s.id: subscription_envelope(session, organization, s, now).subscription.model_dump(mode="json")
        for s in subscriptions
    }
