"""Notices about a subscription's own calendar, found by scans (Lago's clock jobs):

* ``subscription.trial_ended``: the plan's trial period is over (``started_at`` + ``trial_period`` days,
  :func:`billow.subscriptions.calendar.trial_end`): ``trial_ended_at`` is set to that instant, and the
  webhook sent, once (every 10 minutes; Lago: hourly).
* ``subscription.termination_alert``: the subscription ends (``ending_at``) in 45 days, then again in 15
  (Lago's two horizons): once per horizon, the closest one reached when the scan first sees it (a
  subscription set to end in 10 days gets one alert, for 15). ``termination_alerted_days`` records the last
  horizon announced; changing ``ending_at`` clears it (:mod:`billow.subscriptions.service.update`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select

from billow.models.plans import Plan
from billow.models.subscriptions import Subscription, SubscriptionStatus
from billow.subscriptions.calendar import trial_end
from billow.subscriptions.service.common import announce
from billow.worker.scans import SessionFactory, scan

#: Days before ``ending_at`` at which ``subscription.termination_alert`` is sent (Lago's).
TERMINATION_ALERT_DAYS = (45, 15)


def alert_horizon(ending_at: datetime, now: datetime, already: int | None) -> int | None:
    """The horizon to announce now: the smallest of :data:`TERMINATION_ALERT_DAYS` that ``ending_at`` is
    within, if it was not announced yet (``already`` is the last one announced); else None."""
    if ending_at <= now:
        return None
    reached = [days for days in TERMINATION_ALERT_DAYS if ending_at - now <= timedelta(days=days)]
    if not reached:
        return None
    horizon = min(reached)
    return horizon if already is None or horizon < already else None


@scan("subscriptions.trial_ended", every=timedelta(minutes=10))
def announce_trials_ended(session_factory: SessionFactory, now: datetime) -> int:
    with session_factory() as session, session.begin():
        rows = session.execute(
            select(Subscription, Plan)
            .join(Plan, Plan.id == Subscription.plan_id)
            .where(
                Subscription.status == SubscriptionStatus.ACTIVE,
                Subscription.trial_ended_at.is_(None),
                Subscription.started_at.is_not(None),
                Plan.trial_period.is_not(None),  # 0 or more: compared in Python (trial_end)
            )
            .with_for_update(of=Subscription, skip_locked=True)
        ).all()
        count = 0
        for subscription, plan in rows:
            assert subscription.started_at is not None
            ended = trial_end(subscription.started_at, plan.trial_period)
            if ended is None or ended > now:
                continue
            subscription.trial_ended_at = ended
            announce(session, subscription, "subscription.trial_ended")
            count += 1
        return count


@scan("subscriptions.termination_alerts", every=timedelta(hours=1))
def announce_terminations(session_factory: SessionFactory, now: datetime) -> int:
    horizon = now + timedelta(days=max(TERMINATION_ALERT_DAYS))
    with session_factory() as session, session.begin():
        subscriptions = session.scalars(
            select(Subscription)
            .where(
                Subscription.status == SubscriptionStatus.ACTIVE,
                Subscription.ending_at.is_not(None),
                Subscription.ending_at > now,
                Subscription.ending_at <= horizon,
                or_(
                    Subscription.termination_alerted_days.is_(None),
                    Subscription.termination_alerted_days > min(TERMINATION_ALERT_DAYS),
                ),
            )
            .with_for_update(skip_locked=True)
        ).all()
        count = 0
        for subscription in subscriptions:
            assert subscription.ending_at is not None
            days = alert_horizon(subscription.ending_at, now, subscription.termination_alerted_days)
            if days is None:
                continue
            subscription.termination_alerted_days = days
            announce(session, subscription, "subscription.termination_alert")
            count += 1
        return count
