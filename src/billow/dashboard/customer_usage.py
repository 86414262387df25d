"""A customer's live usage on the dashboard: per active subscription, the current usage (the very
computation of ``GET /customers/{id}/current_usage``, :meth:`billow.usage.service.CustomerUsageService.
current_usage`) and, per billable metric of the plan, the units of each day of the current period.

The daily units come from the aggregation engine itself (:func:`billow.metering.aggregation.aggregate`)
run over one-day windows (local days of the customer's time zone, from the period's start to now), with
the source the session's usage reads use: each bar is what the metric's aggregation gives for that day
alone (a count or sum of that day's events, the day's max...; a recurring sum or unique count has no
lower bound, so its bar is the running total at the day's end). Filters and groups are summed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from markupsafe import Markup
from sqlalchemy.orm import Session

from billow.errors import BillowError
from billow.fees.usage import CurrentUsage
from billow.metering.aggregation import UnsupportedAggregation, aggregate
from billow.metering.sources import usage_source
from billow.models.billable_metrics import BillableMetric
from billow.models.customers import Customer
from billow.models.organizations import Organization
from billow.models.subscriptions import Subscription
from billow.usage.schemas import CustomerUsageOut, customer_usage_out
from billow.usage.service import customer_usage_service
from billow.web.charts import Bar, bar_chart
from billow.web.templating import units_text

#: At most this many day bars per chart (a yearly period shows its last days).
MAX_DAYS = 62


@dataclass(frozen=True)
class MetricChart:
    metric_code: str
    metric_name: str
    days: list[Bar]
    svg: Markup


@dataclass(frozen=True)
class SubscriptionUsage:
    subscription: Subscription
    usage: CustomerUsageOut | None
    #: Why there is no usage (the error code), e.g. ``no_active_subscription``.
    error: str | None
    charts: list[MetricChart]


def day_windows(start: datetime, end: datetime, timezone: str) -> list[tuple[datetime, datetime]]:
    """``[day start, next day start)`` of each local day from ``start``'s day to ``end`` (exclusive)."""
    zone = ZoneInfo(timezone)
    windows: list[tuple[datetime, datetime]] = []
    day = start.astimezone(zone).date()
    while True:
        lower = datetime.combine(day, datetime.min.time(), zone)
        if lower >= end:
            break
        upper = datetime.combine(day + timedelta(days=1), datetime.min.time(), zone)
        windows.append((max(lower, start), min(upper, end)))
        day += timedelta(days=1)
    return windows[-MAX_DAYS:]


def daily_units(
    session: Session,
    organization_id: object,
    subscription: Subscription,
    metric: BillableMetric,
    windows: list[tuple[datetime, datetime]],
    timezone: str,
) -> list[Bar]:
    source = usage_source(session)
    zone = ZoneInfo(timezone)
    bars = []
    for lower, upper in windows:
        results = aggregate(
            session,
            organization_id=subscription.organization_id,
            external_subscription_id=subscription.external_id,
            metric=metric,
            from_datetime=lower,
            to_datetime=upper,
            period_duration_days=1,
            source=source,
        )
        units = sum((result.units for result in results), Decimal(0))
        label = lower.astimezone(zone).strftime("%b %d")
        bars.append(Bar(label=label, value=units, shown=units_text(units)))
    return bars


def subscription_usage(
    session: Session,
    organization: Organization,
    customer: Customer,
    subscription: Subscription,
    now: datetime,
) -> SubscriptionUsage:
    try:
        usage: CurrentUsage = customer_usage_service.current_usage(
            session,
            organization,
            external_customer_id=customer.external_id,
            external_subscription_id=subscription.external_id,
            now=now,
        )
    except (BillowError, ArithmeticError) as error:
        code = getattr(error, "code", None) or "usage_unavailable"
        return SubscriptionUsage(subscription, None, code, [])
    timezone = customer.applicable_timezone(organization)
    windows = day_windows(usage.from_datetime, min(now, usage.to_datetime + timedelta(seconds=1)), timezone)
    charts: list[MetricChart] = []
    seen: set[object] = set()
    for charge in usage.charges:
        metric = charge.metric
        if metric.id in seen:
            continue
        seen.add(metric.id)
        try:
            bars = daily_units(session, organization.id, subscription, metric, windows, timezone)
        except UnsupportedAggregation:
            continue
        key = f"chart-{subscription.id.hex[:8]}-{metric.code}".replace(" ", "_")
        title = f"{metric.name}: units per day ({subscription.external_id})"
        charts.append(MetricChart(metric.code, metric.name, bars, bar_chart(bars, title=title, key=key)))
    return SubscriptionUsage(subscription, customer_usage_out(usage).customer_usage, None, charts)
