from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from billow.models.billable_metrics import BillableMetric, BillableMetricFilter
from billow.models.plans import Charge, ChargeFilter, ChargeFilterValue, Plan


def _live_charges_of(metric_ids: Sequence[uuid.UUID]) -> Select[Charge]:
    """Non-deleted charges of non-deleted plans on the given metrics."""
    return (
        select(Charge)
        .join(Plan, Plan.id == Charge.plan_id)
        .where(
            Charge.billable_metric_id.in_(metric_ids), Charge.deleted_at.is_(None), Plan.deleted_at.is_(None)
        )
    )


class BillableMetricRepository:
    def by_code(self, session: Session, organization_id: uuid.UUID, code: str) -> BillableMetric | None:
        """The live metric with this code, or None."""
        return session.scalars(
            select(BillableMetric).where(
                BillableMetric.organization_id == organization_id,
                BillableMetric.code == code,
                BillableMetric.deleted_at.is_(None),
            )
        ).first()

    def by_ids(
        self, session: Session, organization_id: uuid.UUID, ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, BillableMetric]:
        """Live metrics of the organization among ``ids``, by id."""
        if not ids:
            return {}
        metrics = session.scalars(
            select(BillableMetric).where(
                BillableMetric.organization_id == organization_id,
                BillableMetric.id.in_(ids),
                BillableMetric.deleted_at.is_(None),
            )
        )
        return {metric.id: metric for metric in metrics}

    def list_stmt(self, organization_id: uuid.UUID) -> Select[BillableMetric]:
        return (
            select(BillableMetric)
            .where(BillableMetric.organization_id == organization_id, BillableMetric.deleted_at.is_(None))
            .order_by(BillableMetric.created_at.desc(), BillableMetric.id)
        )

    def filters_of(
        self, session: Session, metric_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, list[BillableMetricFilter]]:
        """Each metric's filters, ordered by key (as Lago lists them)."""
        result: dict[uuid.UUID, list[BillableMetricFilter]] = {metric_id: [] for metric_id in metric_ids}
        if not metric_ids:
            return result
        rows = session.scalars(
            select(BillableMetricFilter)
            .where(BillableMetricFilter.billable_metric_id.in_(metric_ids))
            .order_by(BillableMetricFilter.key)
        )
        for row in rows:
            result[row.billable_metric_id].append(row)
        return result

    def filter_values(
        self, session: Session, organization_id: uuid.UUID, metric_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, dict[str, list[Any]]]:
        """Each metric's filters as the usage computations take them: values by key."""
        found: dict[uuid.UUID, dict[str, list[Any]]] = defaultdict(dict)
        if metric_ids:
            rows = session.scalars(
                select(BillableMetricFilter).where(
                    BillableMetricFilter.organization_id == organization_id,
                    BillableMetricFilter.billable_metric_id.in_(list(metric_ids)),
                )
            )
            for row in rows:
                found[row.billable_metric_id][row.key] = list(row.values)
        return found

    def plans_count(self, session: Session, metric_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
        """Number of distinct live plans with a live charge on each metric."""
        counts: dict[uuid.UUID, int] = {metric_id: 0 for metric_id in metric_ids}
        if not metric_ids:
            return counts
        charges = _live_charges_of(metric_ids).subquery()
        rows = session.execute(
            select(charges.c.billable_metric_id, func.count(func.distinct(charges.c.plan_id))).group_by(
                charges.c.billable_metric_id
            )
        )
        for metric_id, count in rows:
            counts[metric_id] = count
        return counts

    def is_used_by_plans(self, session: Session, metric_id: uuid.UUID) -> bool:
        return session.scalar(_live_charges_of([metric_id]).limit(1)) is not None

    def used_filter_values(self, session: Session, metric_id: uuid.UUID) -> list[ChargeFilterValue]:
        """Charge filter values of live charge filters of live charges (of live plans) on the metric."""
        charges = _live_charges_of([metric_id]).with_only_columns(Charge.id).scalar_subquery()
        return list(
            session.scalars(
                select(ChargeFilterValue)
                .join(ChargeFilter, ChargeFilter.id == ChargeFilterValue.charge_filter_id)
                .where(ChargeFilter.charge_id.in_(charges), ChargeFilter.deleted_at.is_(None))
            )
        )


billable_metric_repository = BillableMetricRepository()
