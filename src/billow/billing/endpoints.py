"""``GET`` and ``PUT /subscriptions/{external_id}/lifetime_usage`` (progressive billing)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from sqlalchemy.orm import Session

from billow.auth import CurrentOrganization
from billow.billing import progressive
from billow.billing.schemas import (
    LifetimeUsageEnvelope,
    LifetimeUsageOut,
    LifetimeUsageRequest,
    UsageThresholdProgressOut,
)
from billow.db import DbSession, utcnow
from billow.errors import NotFound, ValidationFailed
from billow.kit.limits import is_amount_cents
from billow.kit.strict_json import StrictJSONRoute
from billow.models.organizations import Organization
from billow.models.subscriptions import Subscription
from billow.subscriptions.repository import subscription_repository

router = APIRouter(tags=["subscriptions"], route_class=StrictJSONRoute)


def _subscription(session: Session, organization: Organization, external_id: str) -> Subscription:
    subscription = subscription_repository.by_external_id(session, organization.id, external_id)
    if subscription is None:
        raise NotFound("subscription")
    return subscription


def _out(session: Session, subscription: Subscription, now: datetime) -> LifetimeUsageOut:
    figures = progressive.lifetime_usage(session, subscription, now)
    progress = progressive.threshold_progress(
        progressive.plan_thresholds(session, subscription.plan_id),
        progressive.applied_thresholds(session, subscription.id),
        figures.total_amount_cents,
    )
    return LifetimeUsageOut(
        lago_id=progressive.lifetime_usage_id(subscription.id),
        lago_subscription_id=subscription.id,
        external_subscription_id=subscription.external_id,
        external_historical_usage_amount_cents=figures.external_historical_usage_amount_cents,
        invoiced_usage_amount_cents=figures.invoiced_usage_amount_cents,
        current_usage_amount_cents=figures.current_usage_amount_cents,
        from_datetime=subscription.started_at or subscription.subscription_at,
        to_datetime=now,
        usage_thresholds=[
            UsageThresholdProgressOut(
                amount_cents=p.amount_cents, completion_ratio=p.completion_ratio, reached_at=p.reached_at
            )
            for p in progress
        ],
    )


@router.get("/subscriptions/{external_id}/lifetime_usage", response_model=LifetimeUsageEnvelope)
def show(external_id: str, session: DbSession, organization: CurrentOrganization) -> LifetimeUsageEnvelope:
    subscription = _subscription(session, organization, external_id)
    return LifetimeUsageEnvelope(lifetime_usage=_out(session, subscription, utcnow()))


@router.put("/subscriptions/{external_id}/lifetime_usage", response_model=LifetimeUsageEnvelope)
def update(
    external_id: str, body: LifetimeUsageRequest, session: DbSession, organization: CurrentOrganization
) -> LifetimeUsageEnvelope:
    subscription = _subscription(session, organization, external_id)
    value = body.lifetime_usage.external_historical_usage_amount_cents
    if value is not None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationFailed.one("external_historical_usage_amount_cents", "value_is_invalid")
        if not is_amount_cents(value):
            raise ValidationFailed.one("external_historical_usage_amount_cents", "value_is_out_of_range")
        progressive.set_historical_usage(session, subscription, value)
    return LifetimeUsageEnvelope(lifetime_usage=_out(session, subscription, utcnow()))
