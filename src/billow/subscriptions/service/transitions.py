"""Timed transitions: pending subscriptions start at ``subscription_at``, active ones end at ``ending_at``,
and a pending downgrade replaces its subscription at ``plan_change_at``."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from billow.models.subscriptions import SubscriptionStatus
from billow.subscriptions.repository import subscription_repository as repository
from billow.subscriptions.service.common import SUBSCRIPTION_ANNOUNCED
from billow.webhooks.outbox import emit
from billow.worker.dispatch import run_hooks


@dataclass(frozen=True)
class DueTransitions:
    activated: list[uuid.UUID]
    terminated: list[uuid.UUID]


def apply_due_transitions(
    session: Session, now: datetime, organization_id: uuid.UUID | None = None
) -> DueTransitions:
    """Activate pending subscriptions whose ``subscription_at`` is at or before ``now`` and terminate
    active ones whose ``ending_at`` is; for one organization, or all of them (the scheduler).

    Idempotent: the result depends only on the stored rows and ``now``. Read endpoints call it with
    the request time, so answers are right even between two scheduler runs.
    """
    if not repository.has_due_transitions(session, now, organization_id):
        return DueTransitions([], [])
    activated: list[uuid.UUID] = []
    terminated: list[uuid.UUID] = []
    # Downgrades first: a subscription replaced at its period end before an ``ending_at`` that falls
    # later is replaced (the new one inherits ``ending_at``, ended below if due).
    for old, new in repository.due_plan_changes(session, now, organization_id):
        assert new.plan_change_at is not None
        old.status = SubscriptionStatus.TERMINATED
        old.terminated_at = new.plan_change_at
        session.flush()  # one active subscription per external id
        new.status = SubscriptionStatus.ACTIVE
        new.started_at = new.plan_change_at
        session.flush()
        terminated.append(old.id)
        activated.append(new.id)
    activated += repository.activate_due(session, now, organization_id)
    # A pay-in-advance fee's unused days are owed too (credited by the billing run).
    terminated += repository.terminate_due(session, now, organization_id)
    canceled = repository.cancel_orphan_plan_changes(session, now, organization_id)
    for webhook_type, ids in (
        ("subscription.terminated", terminated),
        ("subscription.started", activated),
        ("subscription.canceled", canceled),
    ):
        for subscription_id, owner in repository.organizations_of(session, ids).items():
            emit(session, owner, webhook_type, "subscription", subscription_id)
            run_hooks(
                session,
                SUBSCRIPTION_ANNOUNCED,
                organization_id=owner,
                subscription_id=subscription_id,
                webhook_type=webhook_type,
            )
    # The billing run bills the final invoices of the ended subscriptions (crediting their unused days)
    # and the first ones of the started ones.
    return DueTransitions(activated, terminated)
