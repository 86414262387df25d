from __future__ import annotations

import uuid

from pydantic import Field

from billow.kit.limits import RoundingPrecision
from billow.kit.pagination import PageMeta
from billow.kit.schemas import Input, Output, Timestamp
from billow.kit.strings import DESCRIPTION_MAX_LENGTH, EXPRESSION_MAX_LENGTH
from billow.models.billable_metrics import BillableMetric, BillableMetricFilter


class MetricFilterInput(Input):
    key: str | None = None
    values: list[str] | None = None


class BillableMetricInput(Input):
    name: str | None = None
    code: str | None = None
    description: str | None = Field(default=None, max_length=DESCRIPTION_MAX_LENGTH)
    aggregation_type: str | None = None
    field_name: str | None = None
    weighted_interval: str | None = None
    recurring: bool | None = None
    expression: str | None = Field(default=None, max_length=EXPRESSION_MAX_LENGTH)
    rounding_function: str | None = None
    rounding_precision: RoundingPrecision | None = None
    filters: list[MetricFilterInput] | None = None


class BillableMetricRequest(Input):
    billable_metric: BillableMetricInput


class MetricFilterOut(Output):
    key: str
    values: list[str]


class BillableMetricOut(Output):
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
    # Deprecated counters Lago still sends. Subscriptions and invoices do not exist yet.
    active_subscriptions_count: int
    draft_invoices_count: int
    plans_count: int


class BillableMetricEnvelope(Output):
    billable_metric: BillableMetricOut


class BillableMetricList(Output):
    billable_metrics: list[BillableMetricOut]
    meta: PageMeta


def billable_metric_out(
    metric: BillableMetric, filters: list[BillableMetricFilter], plans_count: int
) -> BillableMetricOut:
    return BillableMetricOut(
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
        active_subscriptions_count=0,
        draft_invoices_count=0,
        plans_count=plans_count,
    )
