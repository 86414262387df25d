"""The aggregation engine: how many units did a subscription use of a billable metric over a period?

    aggregate(session, organization_id=..., external_subscription_id=..., metric=..., from_datetime=...,
              to_datetime=..., filters=[ChargeFilterSpec...], pricing_group_keys=[...],
              source=UsageSource) -> [BucketAggregation]

One result per bucket and group: a bucket is a charge filter (``filter_id``) or the default bucket
(``filter_id=None``, the events matching no filter, :mod:`billow.metering.filters`); within a bucket, one
result per distinct tuple of the grouping keys' values (``grouped_by``; a missing or empty property is the
``None`` group, as Lago's ``presence``). A bucket without any event still gets one zero result (its
grouping keys all ``None``), as Lago's ``null_result``. Buckets come in the order of ``filters``, the
default bucket last; groups are sorted by their values (``None`` first).

The events: those of the organization with ``external_subscription_id`` and ``code = metric.code`` and
``from_datetime <= timestamp < to_datetime``; recurring ``sum_agg`` and ``unique_count_agg`` have no lower
bound (units carry over from period to period). The numeric aggregations (sum, max, latest, weighted sum)
only see events whose ``properties[field_name]`` is a plain decimal (``^-?[0-9]+(\\.[0-9]+)?$``, a JSON
number or a string; ``"1e3"``, ``"+5"``, ``".5"`` are skipped), and count only those.

Per type (Lago §2):

* ``count_agg``: units = events_count = number of events.
* ``sum_agg``: Σ values (may be negative); events_count = number of numeric events.
* ``max_agg``: the largest value; ``latest_agg``: the value of the latest event (timestamp, then
  reception time), negative → 0.
* ``unique_count_agg``: the number of distinct values whose latest operation (``properties.operation_type``,
  ``add`` by default; anything else removes) is an add; events_count = units (Lago). Events without the
  property are ignored (Lago would count their missing value as one more distinct value).
* ``weighted_sum_agg``: the running total (initial value: 0, or for a recurring metric the sum of every
  earlier event) weighted by the seconds it held, divided by the seconds of the whole period
  (``period_duration_days``), ceiled to 20 decimals. Streamed in time order and integrated in Python.
  ``total_aggregated_units`` is the sum of the period's events (plus the initial value if recurring).

Prorated charges (``proration=``, :mod:`billow.metering.proration`): sums and unique counts are also
weighted by the days each unit was live in the period; ``units`` are then the prorated units and
``full_units`` the units without proration.

Units are then rounded with the metric's ``rounding_function`` (``round`` half-up, ``ceil``, ``floor``) at
``rounding_precision`` decimals.

SQL: one query per call for count, sum, max, latest and unique count: the bucket is a ``CASE`` over the
filters (most specific first) and the query groups by bucket and grouping keys (a unique count runs a
second, ordered query only when an add and a removal of one value share their latest timestamp).
Weighted sums stream their events (plus one query for the initial values of a recurring metric), and so
do pay-in-advance sums and unique counts (``pay_in_advance=True``: Lago prices current usage on the
largest total reached in the period, see :attr:`BucketAggregation.units`) and ``with_event_values``
(percentage charges). On PostgreSQL the queries are always planned for their actual parameters
(:meth:`billow.metering.sql.MeteringDialect.prepare`).

The event store is an argument: ``source`` answers the per-type base results (:class:`UsageSource`):
:data:`PLAIN` (the queries above, :mod:`.plain`) or a :class:`billow.metering.sources.RollupSource`
(PostgreSQL rollups, falling back to the plain queries), chosen for a session by
:func:`billow.metering.sources.usage_source`. The package: :mod:`.query` (the query model: layout, event
scope, partial results, the source protocol), :mod:`.plain`, :mod:`.result` (rounding and ordering).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from billow.metering.aggregation.plain import (
    PLAIN,
    PlainSource,
    event_values,
    in_advance_sum,
    in_advance_unique_count,
    prorate,
)
from billow.metering.aggregation.query import (
    AGGREGATION_TYPES,
    RECURRING_WITHOUT_LOWER_BOUND,
    Layout,
    Query,
    Span,
    UnsupportedAggregation,
    UsageSource,
)
from billow.metering.aggregation.result import BucketAggregation, apply_rounding, results
from billow.metering.filters import ChargeFilterSpec
from billow.metering.proration import PRORATED_AGGREGATIONS, Proration
from billow.metering.sql import metering_dialect
from billow.models.billable_metrics import AggregationType, BillableMetric

__all__ = [
    "AGGREGATION_TYPES",
    "PLAIN",
    "BucketAggregation",
    "PlainSource",
    "UnsupportedAggregation",
    "UsageSource",
    "aggregate",
    "apply_rounding",
]


def aggregate(
    session: Session,
    *,
    organization_id: uuid.UUID,
    external_subscription_id: str,
    metric: BillableMetric,
    from_datetime: datetime,
    to_datetime: datetime,
    filters: Sequence[ChargeFilterSpec] = (),
    pricing_group_keys: Sequence[str] = (),
    with_event_values: bool = False,
    pay_in_advance: bool = False,
    period_duration_days: int | None = None,
    proration: Proration | None = None,
    source: UsageSource,
) -> list[BucketAggregation]:
    """The usage of ``metric`` by one subscription over ``[from_datetime, to_datetime)``, per bucket and
    group (see the module documentation).

    ``period_duration_days``: the full charges period's length, the denominator of weighted sums (default:
    the window's length in days, rounded up).
    ``proration``: for a ``prorated`` charge, the charges window in local days; sums and unique counts are
    then prorated (:mod:`billow.metering.proration`), other types ignore it.
    ``source``: where the base results come from (:data:`PLAIN`, or the source
    :func:`billow.metering.sources.usage_source` chooses for the session).
    """
    kind = metric.aggregation_type
    if kind not in AGGREGATION_TYPES:
        raise UnsupportedAggregation(f"aggregation type {kind!r} is not supported")
    dialect = metering_dialect(session.get_bind().dialect.name)
    dialect.prepare(session)
    layout = Layout(dialect, filters, pricing_group_keys)
    query = Query(
        dialect,
        layout,
        organization_id=organization_id,
        external_subscription_id=external_subscription_id,
        metric=metric,
    )
    lower: datetime | None = from_datetime
    if metric.recurring and kind in RECURRING_WITHOUT_LOWER_BOUND:
        lower = None

    days = period_duration_days or _ceil_days(to_datetime - from_datetime)
    span = Span(lower, from_datetime, to_datetime, days)
    # Pay-in-advance charges and per-event values stream every event anyway: the plain queries answer.
    base = PLAIN if pay_in_advance or with_event_values else source
    partials = base.partials(session, query, span)

    if pay_in_advance and kind == AggregationType.SUM:
        in_advance_sum(session, query, partials, from_datetime, to_datetime)
    elif pay_in_advance and kind == AggregationType.UNIQUE_COUNT:
        in_advance_unique_count(session, query, partials, lower, from_datetime, to_datetime)
    if with_event_values:
        event_values(session, query, partials, lower, to_datetime)
    if proration is not None and kind in PRORATED_AGGREGATIONS:
        prorate(
            session,
            query,
            partials,
            lower,
            from_datetime,
            to_datetime,
            proration,
            pay_in_advance=pay_in_advance,
        )

    return results(metric, layout, partials, pay_in_advance=pay_in_advance)


def _ceil_days(span: timedelta) -> int:
    days = span.days + (1 if span.seconds or span.microseconds else 0)
    return max(days, 1)
