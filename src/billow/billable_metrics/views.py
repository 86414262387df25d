"""Rendering billable metrics in Lago's shape (``BillableMetricOut``): the API's answers and the
``billable_metric.*`` webhooks (:mod:`billow.webhooks.payloads`; a deleted metric is rendered from its
soft-deleted row, as ``DELETE /billable_metrics/{code}`` answered it)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from billow.billable_metrics.repository import billable_metric_repository
from billow.billable_metrics.schemas import BillableMetricOut, billable_metric_out
from billow.models.billable_metrics import BillableMetric
from billow.models.organizations import Organization
from billow.webhooks.payloads import renderer


def render_billable_metrics(session: Session, metrics: Sequence[BillableMetric]) -> list[BillableMetricOut]:
    ids = [m.id for m in metrics]
    filters = billable_metric_repository.filters_of(session, ids)
    plans_count = billable_metric_repository.plans_count(session, ids)
    return [billable_metric_out(m, filters[m.id], plans_count[m.id]) for m in metrics]


@renderer("billable_metric")
def billable_metric_payloads(
    session: Session, organization: Organization, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    metrics = list(
        session.scalars(
            select(BillableMetric).where(
                BillableMetric.organization_id == organization.id, BillableMetric.id.in_(set(ids))
            )
        )
    )
    rendered = render_billable_metrics(session, metrics)
    return {m.id: out.model_dump(mode="json") for m, out in zip(metrics, rendered, strict=True)}
