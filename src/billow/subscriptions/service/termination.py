"""Terminate a subscription (``DELETE /subscriptions/{external_id}``), or cancel a pending one."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from billow.errors import Errors, NotFound
from billow.models.credit_notes import CreditNoteReason
from billow.models.organizations import Organization
from billow.models.subscriptions import Subscription, SubscriptionStatus
from billow.subscriptions.follow_up import bill_after_commit
from billow.subscriptions.repository import DEFAULT_CREDIT_NOTE
from billow.subscriptions.repository import subscription_repository as repository
from billow.subscriptions.service.common import (
    DEFAULT_TERMINATION_INVOICE,
    ON_TERMINATION_CREDIT_NOTES,
    ON_TERMINATION_INVOICES,
    announce,
    cancel_pending_plan_change,
    owe_unused_days,
    plan_of,
)


def terminate(
    session: Session,
    organization: Organization,
    external_id: str,
    *,
    status: str | None,
    on_termination_credit_note: str | None,
    on_termination_invoice: str | None,
    now: datetime,
) -> Subscription:
    """``DELETE /subscriptions/{external_id}``: terminate the active subscription now, or with
    ``status=pending`` cancel the pending one. Anything else (already ended) is not found, as Lago.
    Termination of a pay-in-advance subscription credits the unused days per
    ``on_termination_credit_note``: the billing run does, right after the commit."""
    if status == SubscriptionStatus.PENDING:
        subscription = repository.by_external_id(
            session, organization.id, external_id, SubscriptionStatus.PENDING
        )
    else:
        subscription = repository.active_by_external_id(session, organization.id, external_id)
    if subscription is None:
        raise NotFound("subscription")

    if subscription.status == SubscriptionStatus.PENDING:
        subscription.status = SubscriptionStatus.CANCELED
        subscription.canceled_at = now
        session.flush()
        announce(session, subscription, "subscription.canceled")
        return subscription

    plan = plan_of(session, subscription)
    errors = Errors()
    if on_termination_invoice and on_termination_invoice not in ON_TERMINATION_INVOICES:
        errors.add("on_termination_invoice", "invalid_value")
    if (
        plan.pay_in_advance
        and on_termination_credit_note
        and on_termination_credit_note not in ON_TERMINATION_CREDIT_NOTES
    ):
        errors.add("on_termination_credit_note", "invalid_value")
    errors.raise_if_any()

    subscription.status = SubscriptionStatus.TERMINATED
    subscription.terminated_at = now
    subscription.on_termination_invoice = (
        on_termination_invoice or subscription.on_termination_invoice or DEFAULT_TERMINATION_INVOICE
    )
    if plan.pay_in_advance:
        subscription.on_termination_credit_note = (
            on_termination_credit_note or subscription.on_termination_credit_note or DEFAULT_CREDIT_NOTE
        )
        owe_unused_days(subscription, CreditNoteReason.ORDER_CANCELLATION, now)
    cancel_pending_plan_change(session, subscription, now)
    session.flush()
    announce(session, subscription, "subscription.terminated")
    if subscription.on_termination_invoice != "skip" or subscription.unused_days_credit is not None:
        # The final invoice and the credit of the unused days, right after the commit (the billing scan
        # otherwise).
        bill_after_commit(session, [subscription.id], now)
    return subscription
