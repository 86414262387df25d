from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from billow.db import Base, SoftDeleteMixin, TenantMixin


class AggregationType(StrEnum):
    """How a billable metric turns events into units (Lago's ``aggregation_type``)."""

    COUNT = "count_agg"
    SUM = "sum_agg"
    MAX = "max_agg"
    UNIQUE_COUNT = "unique_count_agg"
    WEIGHTED_SUM = "weighted_sum_agg"
    LATEST = "latest_agg"
    #: Lago runs a customer script for it; Billow accepts the metric and computes no units for it.
    CUSTOM = "custom_agg"


#: The aggregations the metering engine computes.
COMPUTED_AGGREGATIONS = frozenset(AggregationType) - {AggregationType.CUSTOM}
#: Aggregations over a numeric event property (``field_name``), whose values must parse as decimals.
NUMERIC_AGGREGATIONS = frozenset(
    {AggregationType.SUM, AggregationType.MAX, AggregationType.LATEST, AggregationType.WEIGHTED_SUM}
)
#: A recurring metric carries its value over periods; that means nothing for these.
NON_RECURRING_AGGREGATIONS = frozenset({AggregationType.COUNT, AggregationType.MAX, AggregationType.LATEST})
#: A charge may be paid in advance (one fee per event) only on these.
PAYABLE_IN_ADVANCE_AGGREGATIONS = frozenset(
    {AggregationType.COUNT, AggregationType.SUM, AggregationType.UNIQUE_COUNT, AggregationType.CUSTOM}
)


class BillableMetric(TenantMixin, SoftDeleteMixin, Base):
    """What is measured from events (``code`` = the events' ``code``) and how it is aggregated."""

    __tablename__ = "billable_metrics"

    name: Mapped[str] = mapped_column(String(255))
    code: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(String(2048))
    aggregation_type: Mapped[str] = mapped_column(String(32))
    field_name: Mapped[str | None] = mapped_column(String(255))
    weighted_interval: Mapped[str | None] = mapped_column(String(32))
    recurring: Mapped[bool] = mapped_column(default=False)
    rounding_function: Mapped[str | None] = mapped_column(String(16))
    rounding_precision: Mapped[int | None] = mapped_column(Integer)
    # Kept verbatim; it is evaluated at event ingestion (not implemented yet).
    expression: Mapped[str | None] = mapped_column(Text)


# One code per organization among live metrics: a deleted metric frees its code.
Index(
    "uq_billable_metrics_organization_id_code",
    BillableMetric.organization_id,
    BillableMetric.code,
    unique=True,
    sqlite_where=BillableMetric.deleted_at.is_(None),
    postgresql_where=BillableMetric.deleted_at.is_(None),
)


class BillableMetricFilter(TenantMixin, Base):
    """A dimension charges may filter on: an event property ``key`` and its allowed ``values``.

    Rows are updated in place and deleted for real: charge filters refer to them by ``key`` and a
    metric update that would orphan a charge filter is refused.
    """

    __tablename__ = "billable_metric_filters"
    __table_args__ = (
        Index("uq_billable_metric_filters_billable_metric_id_key", "billable_metric_id", "key", unique=True),
    )

    billable_metric_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("billable_metrics.id", ondelete="CASCADE")
    )
    key: Mapped[str] = mapped_column(String(255))
    values: Mapped[list[Any]] = mapped_column(JSON)
