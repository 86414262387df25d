"""Subscriptions: a customer on a plan, identified in the API by ``external_id``.

Design overview: several subscription rows may share one ``external_id`` over time (a terminated one,
the one that replaced it on a plan change, a pending downgrade), but at most one is ``active`` at a
time per organization and external id (partial unique index). Events name subscriptions by
``external_id``, so usage follows the external id across plan changes, as in Lago.
Instants are UTC; periods are computed in the customer's applicable time zone
(:mod:`billow.subscriptions.calendar`).

Plan changes (Lago's upgrade/downgrade, a second ``POST`` with the same external id and another plan):
an **upgrade** (the new plan's yearly amount is at least the old one's) terminates the active subscription
now and starts a new one now, ``previous_subscription_id`` pointing at the old one; a **downgrade** adds a
``pending`` subscription (``previous_subscription_id`` set, ``plan_change_at`` = the end of the current
billing period) that replaces the active one at that instant.

Life cycle: a subscription whose ``subscription_at`` is in the future is ``pending``; it becomes
``active`` at that instant with ``started_at = subscription_at`` (so a backdated subscription starts
in the past). An ``active`` one becomes ``terminated`` on request or at ``ending_at``
(``terminated_at = ending_at``); a ``pending`` one that is deleted becomes ``canceled``. The credit of a
pay-in-advance fee's unused days at termination is left to the billing run (``unused_days_credit``). Timed
transitions are applied by :func:`billow.subscriptions.service.transitions.apply_due_transitions`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from billow.db import Base, TenantMixin
from billow.kit.db_types import UTCDateTime


class SubscriptionStatus(StrEnum):
    PENDING = "pending"
    """Starts in the future (``subscription_at``) or waits for a downgrade date."""
    ACTIVE = "active"
    TERMINATED = "terminated"
    """Ended after having been active."""
    CANCELED = "canceled"
    """Ended before it started (a pending subscription that was deleted)."""


class Subscription(TenantMixin, Base):
    __tablename__ = "subscriptions"
    __table_args__ = (
        # At most one active subscription per external id; serves lookups of the active one.
        Index(
            "uq_subscriptions_active_external_id",
            "organization_id",
            "external_id",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
        # Serves lookups by external id whatever the status, and the customer's subscriptions.
        Index("ix_subscriptions_organization_id_external_id", "organization_id", "external_id"),
        Index("ix_subscriptions_customer_id", "customer_id"),
        # Serve apply_due_transitions: pending subscriptions whose start has come, active ones whose end has.
        Index(
            "ix_subscriptions_pending_subscription_at",
            "subscription_at",
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        Index(
            "ix_subscriptions_active_ending_at",
            "ending_at",
            sqlite_where=text("status = 'active' AND ending_at IS NOT NULL"),
            postgresql_where=text("status = 'active' AND ending_at IS NOT NULL"),
        ),
        # Serves the plan-change lookups: the next subscription of one, and due pending downgrades.
        Index("ix_subscriptions_previous_subscription_id", "previous_subscription_id"),
        # Serves the billing run's pass over the subscriptions still owed a credit of unused days.
        Index(
            "ix_subscriptions_unused_days_credit",
            "organization_id",
            sqlite_where=text("unused_days_credit IS NOT NULL"),
            postgresql_where=text("unused_days_credit IS NOT NULL"),
        ),
    )

    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"))
    plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("plans.id"))
    external_id: Mapped[str] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default=SubscriptionStatus.ACTIVE)
    #: ``calendar`` or ``anniversary`` (:class:`billow.subscriptions.calendar.BillingTime`).
    billing_time: Mapped[str] = mapped_column(String(16), default="calendar")
    #: The start the client asked for (may be in the past: backdated, or future: pending).
    subscription_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: When it became active (equals ``subscription_at`` for backdated subscriptions).
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ending_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    terminated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    canceled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Set when the plan's trial is over (:mod:`billow.subscriptions.notices`, ``subscription.trial_ended``).
    trial_ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The ``subscription.termination_alert`` last sent, in days before ``ending_at`` (45, then 15);
    #: cleared when ``ending_at`` changes.
    termination_alerted_days: Mapped[int | None] = mapped_column()
    #: The subscription this one replaced on a plan change (same external id).
    previous_subscription_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("subscriptions.id"))
    #: A pending downgrade (``previous_subscription_id`` set): the instant it replaces the previous
    #: subscription (the end of that one's billing period when the downgrade was asked for).
    plan_change_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: ``credit`` | ``refund`` | ``offset`` | ``skip`` (pay-in-advance plans).
    on_termination_credit_note: Mapped[str | None] = mapped_column(String(16))
    #: Pending work of the billing run (decision 0005): the unused days of a pay-in-advance plan's fee to
    #: credit, set when the subscription is terminated or upgraded — the credit note's reason
    #: (``order_cancellation``, ``order_change``) — and cleared by the run once it credited them
    #: (:mod:`billow.billing.termination_credits`).
    unused_days_credit: Mapped[str | None] = mapped_column(String(32))
    #: When that termination was applied (the credit note's issuing date).
    unused_days_credit_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: ``generate`` | ``skip``.
    on_termination_invoice: Mapped[str] = mapped_column(String(16), default="generate")
    #: Progressive billing (usage thresholds) is off for this subscription.
    progressive_billing_disabled: Mapped[bool] = mapped_column(default=False)
    #: The subscription may share an invoice with the customer's other subscriptions (Lago's default).
    consolidate_invoice: Mapped[bool] = mapped_column(default=True)
    #: Printed on the subscription's invoices.
    purchase_order_number: Mapped[str | None] = mapped_column(String(255))
