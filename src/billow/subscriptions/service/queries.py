"""What billing reads of a subscription's plan changes: where its plan fee ends, and which of its charges
the next subscription bills."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from billow.models.subscriptions import Subscription
from billow.subscriptions.repository import subscription_repository as repository


def replaced_by_plan_change(session: Session, subscription: Subscription) -> bool:
    """Whether a plan change replaced this (terminated) subscription: its last plan-fee day is then
    the day before the switch (the next plan pays for the switch day)."""
    return repository.replaced_by_plan_change(session, subscription.id)


def plan_fee_end(session: Session, subscription: Subscription, timezone: str) -> datetime | None:
    """The end of the subscription's plan-fee span: ``terminated_at``, or for a subscription replaced
    by a plan change the start of the switch day (customer's zone), which the next plan pays for
    (Lago bills the old plan up to the day before: upgraded Jan 10, the old fee covers Jan 1-9)."""
    ended = subscription.terminated_at
    if ended is None or not repository.replaced_by_plan_change(session, subscription.id):
        return ended
    zone = ZoneInfo(timezone)
    local = ended.astimezone(zone)
    return datetime.combine(local.date(), time(), tzinfo=zone).astimezone(UTC)


def charges_carried_over(session: Session, subscription: Subscription) -> set[uuid.UUID]:
    """Charges of a subscription replaced by a plan change whose billable metric is recurring and
    also charged by the next plan: their usage carries over and is billed by the next subscription
    (Lago's ``Charge#included_in_next_subscription?``), not by this one's final invoice."""
    if subscription.terminated_at is None:
        return set()
    return repository.recurring_charges_shared_with_next_plan(session, subscription)
