from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy.orm import Session

from billow.billable_metrics.repository import billable_metric_repository as repository
from billow.billable_metrics.schemas import BillableMetricInput, MetricFilterInput
from billow.db import utcnow
from billow.errors import Errors, NotAllowed, NotFound
from billow.kit import expression as expressions
from billow.models.billable_metrics import (
    NON_RECURRING_AGGREGATIONS,
    AggregationType,
    BillableMetric,
    BillableMetricFilter,
)
from billow.models.organizations import Organization
from billow.webhooks.outbox import emit

log = logging.getLogger(__name__)

ROUNDING_FUNCTIONS = ("round", "ceil", "floor")
WEIGHTED_INTERVALS = ("seconds",)
ALL_FILTER_VALUES = "__ALL_FILTER_VALUES__"

#: Fields Lago lets you change once a plan charges the metric; other changes are ignored then,
#: because they would change what past and current charges measure.
_ALWAYS_EDITABLE = frozenset({"name", "description"})


@dataclass
class _MetricState:
    """The metric's scalar fields as they will be saved, validated as a whole."""

    name: str | None = None
    code: str | None = None
    description: str | None = None
    aggregation_type: str | None = None
    field_name: str | None = None
    weighted_interval: str | None = None
    recurring: bool = False
    rounding_function: str | None = None
    rounding_precision: int | None = None
    expression: str | None = None

    @classmethod
    def of(cls, metric: BillableMetric) -> _MetricState:
        return cls(**{f.name: getattr(metric, f.name) for f in fields(cls)})

    def apply(self, changes: dict[str, Any]) -> None:
        for key, value in changes.items():
            setattr(self, key, value)
        # Explicit nulls count as absent, so an empty string is how an expression is removed.
        if not self.expression:
            self.expression = None
        if self.aggregation_type == AggregationType.COUNT:
            self.field_name = None
        if self.aggregation_type == AggregationType.WEIGHTED_SUM and self.weighted_interval is None:
            self.weighted_interval = "seconds"

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class BillableMetricService:
    def get(self, session: Session, organization: Organization, code: str) -> BillableMetric:
        metric = repository.by_code(session, organization.id, code)
        if metric is None:
            raise NotFound("billable_metric")
        return metric

    def create(
        self, session: Session, organization: Organization, data: BillableMetricInput
    ) -> BillableMetric:
        state = _MetricState()
        state.apply(_scalar_changes(data))
        filters = _clean_filters(data.filters or [])
        errors = Errors()
        self._validate(session, organization, state, errors, current_code=None)
        _validate_filters(filters, errors)
        errors.raise_if_any()

        metric = BillableMetric(organization_id=organization.id, **state.as_dict())
        session.add(metric)
        session.flush()
        _replace_filters(session, metric, [], filters)
        session.flush()
        emit(session, organization.id, "billable_metric.created", "billable_metric", metric.id)
        return metric

    def update(
        self, session: Session, organization: Organization, code: str, data: BillableMetricInput
    ) -> BillableMetric:
        metric = self.get(session, organization, code)
        changes = _scalar_changes(data)
        if repository.is_used_by_plans(session, metric.id):
            changes = {key: value for key, value in changes.items() if key in _ALWAYS_EDITABLE}
        state = _MetricState.of(metric)
        state.apply(changes)
        filters = _clean_filters(data.filters) if data.filters is not None else None

        errors = Errors()
        self._validate(session, organization, state, errors, current_code=metric.code)
        current_filters = repository.filters_of(session, [metric.id])[metric.id]
        if filters is not None:
            _validate_filters(filters, errors)
            if not errors and self._orphans_charge_filters(session, metric, filters):
                errors.add("filters", "value_is_used_by_charge_filters")
        errors.raise_if_any()

        for key, value in state.as_dict().items():
            setattr(metric, key, value)
        if filters is not None:
            _replace_filters(session, metric, current_filters, filters)
        session.flush()
        emit(session, organization.id, "billable_metric.updated", "billable_metric", metric.id)
        return metric

    def delete(self, session: Session, organization: Organization, code: str) -> BillableMetric:
        """Soft-delete the metric. Refused while a live plan charges it (Lago would drop those charges)."""
        metric = self.get(session, organization, code)
        if repository.is_used_by_plans(session, metric.id):
            raise NotAllowed(code="billable_metric_in_use")
        metric.deleted_at = utcnow()
        session.flush()
        emit(session, organization.id, "billable_metric.deleted", "billable_metric", metric.id)
        return metric

    def _validate(
        self,
        session: Session,
        organization: Organization,
        state: _MetricState,
        errors: Errors,
        current_code: str | None,
    ) -> None:
        for field in ("name", "code"):
            if not getattr(state, field):
                errors.add(field, "value_is_mandatory")
        if state.aggregation_type not in tuple(AggregationType):
            # Lago answers value_is_invalid for a missing type too (it fails the inclusion check).
            errors.add("aggregation_type", "value_is_invalid")
        elif state.aggregation_type == AggregationType.CUSTOM:
            errors.add("aggregation_type", "custom_agg_not_supported")
        elif state.aggregation_type != AggregationType.COUNT and not state.field_name:
            errors.add("field_name", "value_is_mandatory")
        if state.recurring and state.aggregation_type in NON_RECURRING_AGGREGATIONS:
            errors.add("recurring", "not_compatible_with_aggregation_type")
        if state.weighted_interval is not None and state.weighted_interval not in WEIGHTED_INTERVALS:
            errors.add("weighted_interval", "value_is_invalid")
        if state.rounding_function is not None and state.rounding_function not in ROUNDING_FUNCTIONS:
            errors.add("rounding_function", "value_is_invalid")
        if state.expression is not None and not _expression_parses(state.expression):
            errors.add("expression", expressions.INVALID_EXPRESSION)
        changed_code = state.code if state.code != current_code else None
        if changed_code and repository.by_code(session, organization.id, changed_code) is not None:
            errors.add("code", "value_already_exist")

    def _orphans_charge_filters(
        self, session: Session, metric: BillableMetric, filters: list[MetricFilterInput]
    ) -> bool:
        """Whether the new filters drop a key or value that a live charge filter still matches on.

        Lago silently trims such charge filters; we refuse so that prices never change behind the user.
        """
        allowed = {f.key: set(f.values or []) for f in filters}
        for used in repository.used_filter_values(session, metric.id):
            if used.key not in allowed:
                return True
            if used.values != [ALL_FILTER_VALUES] and not set(used.values) <= allowed[used.key]:
                return True
        return False


def _expression_parses(source: str) -> bool:
    """Whether ``source`` parses with the parser that evaluates events (Lago's ``invalid_expression``
    otherwise). Lago's error body has no room for the parser's message; it is logged for the operator."""
    try:
        expressions.validate(source)
    except expressions.ExpressionError as exc:
        log.info("invalid billable metric expression %r: %s", source[:200], exc.message)
        return False
    return True


def _scalar_changes(data: BillableMetricInput) -> dict[str, Any]:
    return {key: value for key, value in data.provided().items() if key != "filters"}


def _clean_filters(filters: list[MetricFilterInput]) -> list[MetricFilterInput]:
    """Values deduplicated, first occurrence first."""
    return [
        MetricFilterInput(key=f.key, values=list(dict.fromkeys(f.values)) if f.values is not None else None)
        for f in filters
    ]


def _validate_filters(filters: list[MetricFilterInput], errors: Errors) -> None:
    seen: set[str] = set()
    for f in filters:
        if not f.key:
            errors.add("key", "value_is_mandatory")
        elif f.key in seen:
            errors.add("filters", "value_already_exist")
        else:
            seen.add(f.key)
        if not f.values:
            errors.add("values", "value_is_mandatory")


def _replace_filters(
    session: Session,
    metric: BillableMetric,
    current: list[BillableMetricFilter],
    wanted: list[MetricFilterInput],
) -> None:
    """Make the metric's filters exactly ``wanted``, keeping the rows of keys that stay."""
    by_key = {f.key: f for f in current}
    for f in wanted:
        assert f.key is not None and f.values is not None  # validated
        row = by_key.pop(f.key, None)
        if row is None:
            session.add(
                BillableMetricFilter(
                    organization_id=metric.organization_id,
                    billable_metric_id=metric.id,
                    key=f.key,
                    values=f.values,
                )
            )
        elif row.values != f.values:
            row.values = f.values
    for row in by_key.values():
        session.delete(row)


billable_metric_service = BillableMetricService()
