from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from billow.billable_metrics.schemas import BillableMetricOut
from billow.kit.pagination import PageMeta
from billow.kit.schemas import DecimalString, Input, Output, Timestamp
from billow.models.alerts import Alert, AlertThreshold


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
    billable_metric: BillableMetricOut | None


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
    billable_metric: BillableMetricOut | None,
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
