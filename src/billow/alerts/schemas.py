from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from billow.billable_metrics.schemas import MetricFilterOut
from billow.kit.pagination import PageMeta
from billow.kit.schemas import DecimalString, Input, Output, Timestamp
from billow.models.alerts import Alert, AlertThreshold
from billow.models.billable_metrics import BillableMetric, BillableMetricFilter


class ThresholdInput(Input):
    code: str | None = None
    #: An integer or a decimal string (Lago: ``oneOf integer, string``); checked by the service.
    value: Any = None
    recurring: bool | None = None


class AlertInput(Input):
    alert_type: str | None = None
    code: str | None = None
    name: str | None = None
    billable_metric_code: str | None = None
    thresholds: list[ThresholdInput] | None = None


class AlertRequest(Input):
    """``{"alert": {...}}`` or, for a create, ``{"alerts": [...]}`` (created atomically)."""

    alert: AlertInput | None = None
    alerts: list[AlertInput] | None = None


class AlertUpdateRequest(Input):
    alert: AlertInput | None = None


class AlertMetricOut(Output):
    """The alert's billable metric as Lago serializes it there: without the counters."""

    lago_id: uuid.UUID
    name: str
    code: str
    description: str | None
    aggregation_type: str
    weighted_interval: str | None
    recurring: bool
    rounding_function: str | None
    rounding_precision: int | None
    created_at: Timestamp
    field_name: str | None
    expression: str | None
    filters: list[MetricFilterOut]


def metric_out(metric: BillableMetric, filters: list[BillableMetricFilter]) -> AlertMetricOut:
    return AlertMetricOut(
        lago_id=metric.id,
        name=metric.name,
        code=metric.code,
        description=metric.description,
        aggregation_type=metric.aggregation_type,
        weighted_interval=metric.weighted_interval,
        recurring=metric.recurring,
        rounding_function=metric.rounding_function,
        rounding_precision=metric.rounding_precision,
        created_at=metric.created_at,
        field_name=metric.field_name,
        expression=metric.expression,
        filters=[MetricFilterOut(key=f.key, values=list(f.values)) for f in filters],
    )


class ThresholdOut(Output):
    code: str | None
    value: DecimalString
    recurring: bool


class AlertOut(Output):
    lago_id: uuid.UUID
    lago_organization_id: uuid.UUID
    subscription_external_id: str | None
    external_subscription_id: str | None
    lago_wallet_id: uuid.UUID | None
    wallet_code: str | None
    alert_type: str
    code: str
    name: str | None
    direction: str
    previous_value: DecimalString
    last_processed_at: Timestamp | None
    thresholds: list[ThresholdOut]
    created_at: Timestamp
    billable_metric: AlertMetricOut | None


class AlertEnvelope(Output):
    alert: AlertOut


class AlertList(Output):
    alerts: list[AlertOut]
    meta: PageMeta


class AlertCollection(Output):
    """A batch create's answer: the alerts, without ``meta`` (as Lago)."""

    alerts: list[AlertOut]


def alert_out(
    alert: Alert,
    thresholds: list[AlertThreshold],
    *,
    wallet_code: str | None,
    billable_metric: AlertMetricOut | None,
) -> AlertOut:
    created_at: datetime = alert.created_at
    return AlertOut(
        lago_id=alert.id,
        lago_organization_id=alert.organization_id,
        subscription_external_id=alert.subscription_external_id,
        external_subscription_id=alert.subscription_external_id,
        lago_wallet_id=alert.wallet_id,
        wallet_code=wallet_code,
        alert_type=alert.alert_type,
        code=alert.code,
        name=alert.name,
        direction=alert.direction,
        previous_value=alert.previous_value,
        last_processed_at=alert.last_processed_at,
        thresholds=[ThresholdOut(code=t.code, value=t.value, recurring=t.recurring) for t in thresholds],
        created_at=created_at,
        billable_metric=billable_metric,
    )
