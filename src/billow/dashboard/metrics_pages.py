"""Dashboard pages of billable metrics (``/app/billable_metrics``), through ``billable_metric_service``.

Filters are typed one per line, ``key: value, value``; the service validates them as the API does.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from billow.billable_metrics.repository import billable_metric_repository
from billow.billable_metrics.schemas import BillableMetricInput
from billow.billable_metrics.service import ROUNDING_FUNCTIONS, billable_metric_service
from billow.dashboard.catalog_area import Area, Field, mount
from billow.dashboard.catalog_forms import checked, number, text
from billow.dashboard.catalog_pages import F
from billow.models.billable_metrics import AggregationType, BillableMetric
from billow.models.organizations import Organization

router = APIRouter()

_TEXT = (
    "name",
    "code",
    "description",
    "aggregation_type",
    "field_name",
    "weighted_interval",
    "expression",
    "rounding_function",
    "rounding_precision",
    "filters",
)


def parse_filters(source: str | None) -> list[dict[str, Any]]:
    """``"region: eu, us\\ntier: gold"`` -> ``[{"key": "region", "values": ["eu", "us"]}, ...]``."""
    filters = []
    for line in (source or "").splitlines():
        if not line.strip():
            continue
        key, _, values = line.partition(":")
        filters.append({"key": key.strip(), "values": [v.strip() for v in values.split(",") if v.strip()]})
    return filters


def _fields(session: Session, organization: Organization) -> list[Field]:
    return [
        F("name", "Name", required=True),
        F("code", "Code", required=True),
        F("description", "Description", "textarea"),
        F("aggregation_type", "Aggregation", "select", options=[(a.value, a.value) for a in AggregationType]),
        F("field_name", "Field name", hint="the event property aggregated (not for count_agg)"),
        F("weighted_interval", "Weighted interval", "select", options=[("seconds", "seconds")], blank="—"),
        F("recurring", "Recurring (units carry over to the next period)", "checkbox"),
        F(
            "rounding_function",
            "Rounding",
            "select",
            options=[(r, r) for r in ROUNDING_FUNCTIONS],
            blank="none",
        ),
        F("rounding_precision", "Rounding precision", hint="decimals kept"),
        F("expression", "Expression", hint="e.g. round(event.properties.seconds / 60)"),
        F("filters", "Filters", "textarea", hint="one per line: key: value, value"),
    ]


def _typed(form: FormData) -> dict[str, Any]:
    values: dict[str, Any] = {name: text(form, name) for name in _TEXT}
    values["recurring"] = checked(form, "recurring")
    return values


def _build(values: dict[str, Any]) -> BillableMetricInput:
    payload = {name: values[name] for name in _TEXT if name != "filters"}
    payload["rounding_precision"] = number(values["rounding_precision"])
    payload["recurring"] = values["recurring"]
    payload["filters"] = parse_filters(values["filters"])
    return BillableMetricInput.model_validate(payload)


def _values(session: Session, metric: BillableMetric) -> dict[str, Any]:
    filters = billable_metric_repository.filters_of(session, [metric.id])[metric.id]
    return {
        "name": metric.name,
        "code": metric.code,
        "description": metric.description,
        "aggregation_type": metric.aggregation_type,
        "field_name": metric.field_name,
        "weighted_interval": metric.weighted_interval,
        "recurring": metric.recurring,
        "rounding_function": metric.rounding_function,
        "rounding_precision": None if metric.rounding_precision is None else str(metric.rounding_precision),
        "expression": metric.expression,
        "filters": "\n".join(f"{f.key}: {', '.join(f.values)}" for f in filters),
    }


mount(
    router,
    Area(
        path="/app/billable_metrics",
        permission="billable_metrics",
        title="Billable metrics",
        singular="billable metric",
        columns=[{"label": "Code"}, {"label": "Name"}, {"label": "Aggregation"}, {"label": "Field"}],
        objects=lambda session, org: list(session.scalars(billable_metric_repository.list_stmt(org.id))),
        cells=lambda session, metric: [
            metric.code,
            metric.name,
            metric.aggregation_type,
            metric.field_name or "",
        ],
        key=lambda metric: metric.code,
        fields=_fields,
        values=_values,
        typed=_typed,
        build=_build,
        get=billable_metric_service.get,
        create=billable_metric_service.create,
        update=billable_metric_service.update,
        delete=billable_metric_service.delete,
    ),
)
