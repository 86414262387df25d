"""Subscription alerts evaluated on usage (Lago's ``UsageMonitoring::ProcessSubscriptionActivityService``
and ``ProcessAlertService``); wallet alerts are evaluated with the balances (:mod:`billow.alerts.evaluation`).

**Values** (Lago's ``find_value`` of each type), computed once per subscription and evaluation:

- ``current_usage_amount``: the current usage's ``amount_cents``, taxes excluded (Lago never applies taxes
  for alerting), of the charges period containing the evaluation (:mod:`billow.fees.usage`);
- ``billable_metric_current_usage_amount`` / ``..._units``: of the plan's charges on the alert's billable
  metric, each charge's usage (the sum of its fees' ``amount_cents`` / ``units`` over its filters and
  groups), the largest of them when the plan has several charges on the metric; no charge on the metric:
  no value, the alert is only marked processed (Lago);
- ``lifetime_usage_amount``: the lifetime usage progressive billing compares its thresholds with
  (:func:`billow.billing.progressive.lifetime_usage`, ``total_amount_cents``).

``billable_metric_lifetime_usage_units`` is not evaluated: it is refused at creation, as Lago answers
``feature_not_available`` without its premium integration.

**Crossings**: the thresholds crossed from ``previous_value`` to the value (:mod:`billow.alerts.crossing`,
recurring thresholds included); a ``TriggeredAlert`` per evaluation that crossed any, announced as the
hook ``alert.triggered`` with ``subscription=``; ``previous_value`` then becomes the value, so a threshold
triggers once per crossing.

**Once per billing period** (the current-usage types): the current usage starts again at each charges
period. When the alert was last evaluated before the start of the current charges period, the crossing is
computed from 0, not from the previous period's value: the first evaluation of a period reports every
threshold the period's usage already passed, and a threshold triggers again in each period it is reached.
Lago compares with the value carried over (an evaluation early in a period stores the small new value
without reporting; its pull request #6132 re-arms at renewal as here). The lifetime type accumulates
across periods and keeps its ``previous_value``; so do the billable-metric types on a ``recurring``
metric (its usage does not start again with the period).

**When** (never inline in ingestion): after an ingestion commits, :mod:`billow.billing.immediate` collects
the external ids of the events that are watched by a live alert (its per-organization hints: one cached
query) for ``BILLOW_ALERTS_WINDOW`` seconds per process, then queues one :data:`EVALUATE_ALERTS` task
with all of them (a stream of events evaluates a subscription at most once per window); the 5-minute
scan ``alerts.evaluate_usage`` evaluates every active subscription watched by a live alert (the safety
net: a dropped task, another process's stale hints). An event with a past timestamp counts the same: the
evaluation reads the usage as it is. A subscription that is not active (terminated, pending) evaluates
nothing; the alert follows the external id to the active subscription.

Each subscription is evaluated in its own transaction, its alerts locked before the usage is measured
(as the wallets are before their ongoing balances): two evaluations of one subscription take turns and
never report one crossing twice.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from billow.alerts.evaluation import record_evaluation
from billow.alerts.repository import alert_repository
from billow.billing.immediate import EVALUATE_ALERTS, TaskFailed
from billow.billing.progressive import lifetime_usage
from billow.fees.usage import CurrentUsage, UsageFilters, usage_charges, usage_service
from billow.kit.locking import lock_rows
from billow.models.alerts import CURRENT_USAGE_TYPES, USAGE_EVALUATED_TYPES, Alert, AlertType
from billow.models.billable_metrics import BillableMetric
from billow.models.customers import Customer
from billow.models.organizations import Organization
from billow.models.plans import Plan
from billow.models.subscriptions import Subscription, SubscriptionStatus
from billow.worker.dispatch import split_ids_payload, task
from billow.worker.scans import SessionFactory, scan

log = logging.getLogger(__name__)

_METRIC_TYPES = {
    AlertType.BILLABLE_METRIC_CURRENT_USAGE_AMOUNT: False,
    AlertType.BILLABLE_METRIC_CURRENT_USAGE_UNITS: True,
}


def metric_value(usage: CurrentUsage, billable_metric_id: uuid.UUID, *, units: bool) -> Decimal | None:
    """The usage of the charges on one billable metric: each charge's total (units, or amount in cents),
    the largest of them; ``None`` when no charge of the usage is on that metric. Pure."""
    totals = [
        sum((fee.units if units else Decimal(fee.amount_cents) for fee in charge.fees), Decimal(0))
        for charge in usage.charges
        if charge.metric.id == billable_metric_id
    ]
    return max(totals) if totals else None


def previous_of(alert: Alert, period_start: datetime | None, recurring_metric: bool) -> Decimal:
    """Where the crossing starts: ``previous_value``, or 0 for a current-usage alert last evaluated before
    the current charges period started (the rule of the module's docstring). Pure."""
    if (
        alert.alert_type in CURRENT_USAGE_TYPES
        and not recurring_metric
        and period_start is not None
        and alert.last_processed_at is not None
        and alert.last_processed_at < period_start
    ):
        return Decimal(0)
    return alert.previous_value


def active_subscription(
    session: Session, organization_id: uuid.UUID, external_id: str
) -> Subscription | None:
    """The active subscription of an external id (the latest started, as Lago)."""
    return session.scalars(
        select(Subscription)
        .where(
            Subscription.organization_id == organization_id,
            Subscription.external_id == external_id,
            Subscription.status == SubscriptionStatus.ACTIVE,
        )
        .order_by(Subscription.started_at.desc(), Subscription.id)
        .limit(1)
    ).first()


def _live_alerts(session: Session, organization_id: uuid.UUID, external_id: str) -> list[Alert]:
    return list(
        session.scalars(
            select(Alert)
            .where(
                Alert.organization_id == organization_id,
                Alert.subscription_external_id == external_id,
                Alert.deleted_at.is_(None),
                Alert.alert_type.in_(sorted(USAGE_EVALUATED_TYPES)),
            )
            .order_by(Alert.created_at, Alert.id)
            .execution_options(populate_existing=True)
        )
    )


def evaluate_subscription(
    session: Session, organization_id: uuid.UUID, external_id: str, now: datetime
) -> int:
    """Evaluate the live usage alerts of an external id's active subscription at ``now`` in ``session``'s
    transaction; how many triggered."""
    alerts = _live_alerts(session, organization_id, external_id)
    if not alerts:
        return 0
    subscription = active_subscription(session, organization_id, external_id)
    if subscription is None or subscription.started_at is None or subscription.started_at > now:
        return 0
    organization = session.get(Organization, organization_id)
    customer = session.get(Customer, subscription.customer_id)
    plan = session.get(Plan, subscription.plan_id)
    assert organization is not None and customer is not None and plan is not None

    # The alerts locked, then read again (one deleted or changed meanwhile) and the usage measured under
    # the locks: evaluations of one subscription take turns, each measuring at least what the one before
    # it measured, so a crossing is never reported twice.
    lock_rows(session, Alert, [a.id for a in alerts])
    alerts = _live_alerts(session, organization_id, external_id)
    usage: CurrentUsage | None = None
    if any(a.alert_type in CURRENT_USAGE_TYPES for a in alerts):
        usage = usage_service.compute(
            session, organization, customer=customer, subscription=subscription, plan=plan,
            charges=usage_charges(session, plan, UsageFilters()), now=now, apply_taxes=False,
        )  # fmt: skip
    lifetime: Decimal | None = None
    if any(a.alert_type == AlertType.LIFETIME_USAGE_AMOUNT for a in alerts):
        lifetime = Decimal(lifetime_usage(session, subscription, now).total_amount_cents)

    metrics = alert_repository.metrics(
        session, sorted({a.billable_metric_id for a in alerts if a.billable_metric_id is not None}, key=str)
    )
    thresholds = alert_repository.thresholds(session, [a.id for a in alerts])
    triggered = 0
    for alert in alerts:
        value = _value(alert, usage, lifetime)
        if value is None:  # a metric no charge of the plan is on: processed, nothing to compare
            alert.last_processed_at = now
            continue
        metric = metrics.get(alert.billable_metric_id) if alert.billable_metric_id else None
        previous = previous_of(alert, usage.from_datetime if usage is not None else None, _recurring(metric))
        rows = thresholds.get(alert.id, [])
        if record_evaluation(session, alert, rows, previous, value, now, subscription=subscription):
            triggered += 1
    session.flush()
    return triggered


def _recurring(metric: BillableMetric | None) -> bool:
    return bool(metric is not None and metric.recurring)


def _value(alert: Alert, usage: CurrentUsage | None, lifetime: Decimal | None) -> Decimal | None:
    if alert.alert_type == AlertType.LIFETIME_USAGE_AMOUNT:
        return lifetime
    if usage is None:
        return None
    if alert.alert_type == AlertType.CURRENT_USAGE_AMOUNT:
        return Decimal(usage.amount_cents)
    units = _METRIC_TYPES.get(AlertType(alert.alert_type))
    if units is None or alert.billable_metric_id is None:
        return None
    return metric_value(usage, alert.billable_metric_id, units=units)


def evaluate_subscriptions(
    session_factory: SessionFactory, organization_id: uuid.UUID, external_ids: Sequence[str], now: datetime
) -> tuple[int, list[str]]:
    """Evaluate each external id in its own transaction; (alerts triggered, failures). One failure never
    stops the others (logged; the scan retries)."""
    triggered, failed = 0, []
    for external_id in external_ids:
        try:
            with session_factory() as session, session.begin():
                triggered += evaluate_subscription(session, organization_id, external_id, now)
        except Exception as error:
            log.exception("could not evaluate the usage alerts of subscription %s", external_id)
            failed.append(f"{external_id}: {error!r}")
    return triggered, failed


@task(EVALUATE_ALERTS)
def evaluate_task(session_factory: SessionFactory, payload: str, now: datetime) -> int:
    """After an ingestion: the alerts of the subscriptions of an ``organization|external ids`` payload."""
    organization_id, external_ids = split_ids_payload(payload)
    triggered, failed = evaluate_subscriptions(session_factory, uuid.UUID(organization_id), external_ids, now)
    if failed:
        raise TaskFailed("; ".join(failed))
    return triggered


@scan("alerts.evaluate_usage", every=timedelta(minutes=5))
def evaluate_all(session_factory: SessionFactory, now: datetime) -> int:
    """Every active subscription watched by a live usage alert, one transaction each."""
    with session_factory() as session:
        rows = session.execute(
            select(Subscription.organization_id, Subscription.external_id)
            .join(
                Alert,
                and_(
                    Alert.organization_id == Subscription.organization_id,
                    Alert.subscription_external_id == Subscription.external_id,
                ),
            )
            .where(
                Subscription.status == SubscriptionStatus.ACTIVE,
                Alert.deleted_at.is_(None),
                Alert.alert_type.in_(sorted(USAGE_EVALUATED_TYPES)),
            )
            .distinct()
        ).all()
    by_organization: dict[uuid.UUID, list[str]] = {}
    for organization_id, external_id in rows:
        by_organization.setdefault(organization_id, []).append(external_id)
    triggered = 0
    for organization_id, external_ids in sorted(by_organization.items(), key=lambda item: str(item[0])):
        triggered += evaluate_subscriptions(session_factory, organization_id, sorted(external_ids), now)[0]
    return triggered
