"""One aggregation query for many subscriptions: the usage of one charge over one window for each of a
batch of subscriptions (a billing run closes the same calendar period for thousands of subscriptions
of a plan).

    aggregate_many(session, organization_id=..., external_subscription_ids=[...], metric=..., ...)
        -> {external_subscription_id: [BucketAggregation]} | None

The results are exactly those of :func:`billow.metering.aggregation.aggregate` for each subscription:
the same per-type queries run with ``external_subscription_id IN (...)`` and the subscription as an extra
(first) grouping key, and the rows are split per subscription before the usual rounding and ordering
(:func:`billow.metering.aggregation.result.results`). ``None`` means "not answered here, aggregate each
subscription on its own": weighted sums, prorated charges, per-event values (percentage with free units
or per-transaction limits) and pay-in-advance charges stream or post-process per subscription.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from billow.metering.aggregation import BucketAggregation
from billow.metering.aggregation.plain import PER_TYPE
from billow.metering.aggregation.query import RECURRING_WITHOUT_LOWER_BOUND, Layout, Partials, Query
from billow.metering.aggregation.result import results
from billow.metering.filters import ChargeFilterSpec
from billow.metering.sql import MeteringDialect, metering_dialect
from billow.models.billable_metrics import AggregationType, BillableMetric
from billow.models.events import Event

_BATCH_AGGREGATIONS = PER_TYPE

#: The grouping key that stands for the subscription (not a property name an event can carry: NUL).
_SUBSCRIPTION = "\x00external_subscription_id"


class _BatchLayout(Layout):
    """:class:`Layout` with the subscription's external id as the first grouping key of every bucket."""

    def __init__(
        self, dialect: MeteringDialect, specs: Sequence[ChargeFilterSpec], default_keys: Sequence[str]
    ) -> None:
        super().__init__(dialect, specs, default_keys)
        self.keys_by_bucket = {bucket: [_SUBSCRIPTION, *keys] for bucket, keys in self.keys_by_bucket.items()}
        self.keys = [_SUBSCRIPTION, *self.keys]

    def inner_columns(self) -> list[ColumnElement[Any]]:
        columns: list[ColumnElement[Any]] = [
            self.bucket_expression().label("b"),
            Event.external_subscription_id.label("t0"),
        ]
        columns += [self.dialect.text(key).label(f"t{i}") for i, key in enumerate(self.keys) if i > 0]
        return columns


class _BatchQuery(Query):
    def __init__(self, *args: Any, external_subscription_ids: Sequence[str], **kwargs: Any) -> None:
        super().__init__(*args, external_subscription_id="", **kwargs)
        self.external_subscription_ids = list(external_subscription_ids)

    def subscription_condition(self) -> ColumnElement[bool]:
        return Event.external_subscription_id.in_(self.external_subscription_ids)


def supported(
    metric: BillableMetric, *, with_event_values: bool, pay_in_advance: bool, prorated: bool
) -> bool:
    return (
        metric.aggregation_type in _BATCH_AGGREGATIONS
        and not with_event_values
        and not pay_in_advance
        and not prorated
    )


def aggregate_many(
    session: Session,
    *,
    organization_id: uuid.UUID,
    external_subscription_ids: Sequence[str],
    metric: BillableMetric,
    from_datetime: datetime,
    to_datetime: datetime,
    filters: Sequence[ChargeFilterSpec] = (),
    pricing_group_keys: Sequence[str] = (),
) -> dict[str, list[BucketAggregation]]:
    """The usage of ``metric`` by each subscription over ``[from_datetime, to_datetime)``, as
    :func:`billow.metering.aggregation.aggregate` computes it (check :func:`supported` first)."""
    kind = AggregationType(metric.aggregation_type)
    if kind not in _BATCH_AGGREGATIONS:
        raise ValueError(f"aggregation type {kind!r} is not aggregated in batches")
    dialect = metering_dialect(session.get_bind().dialect.name)
    dialect.prepare(session)
    layout = Layout(dialect, filters, pricing_group_keys)
    query = _BatchQuery(
        dialect,
        _BatchLayout(dialect, filters, pricing_group_keys),
        organization_id=organization_id,
        external_subscription_ids=external_subscription_ids,
        metric=metric,
    )
    lower: datetime | None = from_datetime
    if metric.recurring and kind in RECURRING_WITHOUT_LOWER_BOUND:
        lower = None
    partials = _BATCH_AGGREGATIONS[kind](session, query, lower, to_datetime)
    by_subscription: dict[str, Partials] = defaultdict(dict)
    for (bucket, values), partial in partials.items():
        external_id = values[0]
        assert external_id is not None
        by_subscription[external_id][(bucket, values[1:])] = partial
    return {
        external_id: results(metric, layout, by_subscription.get(external_id, {}), pay_in_advance=False)
        for external_id in dict.fromkeys(external_subscription_ids)
    }
