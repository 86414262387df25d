"""The query model of an aggregation, shared by the plain queries (:mod:`.plain`), the batch queries
(:mod:`billow.metering.batch`) and the usage rollups (:mod:`billow.metering.rollups`).

A :class:`Layout` is a charge's buckets (its filters and the default bucket) and grouping keys as SQL
expressions; a :class:`Query` is the event scope of one aggregation (organization, subscription, metric);
a :class:`Partial` is what a source found for one (bucket, group) before rounding; a :class:`UsageSource`
answers the base partials of an aggregation (the event store: plain SQL, or PostgreSQL rollups).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import Integer, and_, case, func, literal_column, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import ColumnElement

from billow.metering.filters import ChargeFilterSpec, ranked
from billow.metering.sql import MeteringDialect
from billow.models.billable_metrics import (
    COMPUTED_AGGREGATIONS,
    NUMERIC_AGGREGATIONS,
    AggregationType,
    BillableMetric,
)
from billow.models.events import Event

ZERO = Decimal(0)
ONE = Decimal(1)

AGGREGATION_TYPES = COMPUTED_AGGREGATIONS
RECURRING_WITHOUT_LOWER_BOUND = frozenset({AggregationType.SUM, AggregationType.UNIQUE_COUNT})

#: Additions are exact (:data:`billow.kit.money.EXACT`: an inexact one raises); weighted sums divide under
#: :data:`billow.kit.money.USAGE_DIVISION`, then are ceiled to this quantum.
WEIGHTED_QUANTUM = Decimal("1e-20")
SECONDS_PER_DAY = 86_400


class UnsupportedAggregation(ValueError):
    """The metric's aggregation type is not computed by Billow (``custom_agg``)."""


GroupValues = tuple[str | None, ...]
Key = tuple[int, GroupValues]
"""(bucket, group values): 0 is the default bucket, ``i + 1`` the ``i``-th filter."""


@dataclass
class Partial:
    """What the queries found for one (bucket, group) before rounding."""

    units: Decimal = ZERO
    events_count: int = 0
    total_aggregated_units: Decimal | None = None
    in_advance_units: Decimal | None = None
    event_values: list[Decimal] = field(default_factory=list)
    precise_total_amount_cents: Decimal = ZERO
    prorated_units: Decimal | None = None
    prorated_values: list[tuple[Decimal, Decimal]] = field(default_factory=list)


Partials = dict[Key, Partial]


@dataclass(frozen=True)
class Span:
    """The events' window of one aggregation: ``[lower, to_datetime)``, ``lower`` being ``from_datetime``
    or ``None`` (recurring sums and unique counts have no lower bound); ``period_days`` is the denominator
    of weighted sums."""

    lower: datetime | None
    from_datetime: datetime
    to_datetime: datetime
    period_days: int


class UsageSource(Protocol):
    """Where an aggregation's base partial results come from (the event store): the per-type result over
    ``span`` for every (bucket, group) that has events. The passes that stream events (pay in advance,
    per-event values, proration) always read the events themselves."""

    def partials(self, session: Session, query: Query, span: Span) -> Partials: ...


class Layout:
    """The buckets of a charge and their grouping keys, as SQL expressions.

    Bucket numbers: 0 is the default bucket, ``i + 1`` the ``i``-th filter of ``specs``. Grouping keys:
    the union of every bucket's keys; a key some bucket does not group by is ``NULL`` in that bucket.
    """

    def __init__(
        self, dialect: MeteringDialect, specs: Sequence[ChargeFilterSpec], default_keys: Sequence[str]
    ) -> None:
        self.dialect = dialect
        self.specs = list(specs)
        self.keys_by_bucket: dict[int, list[str]] = {0: unique_keys(default_keys)}
        for index, spec in enumerate(self.specs):
            self.keys_by_bucket[index + 1] = unique_keys(spec.pricing_group_keys)
        self.keys = unique_keys(key for keys in self.keys_by_bucket.values() for key in keys)

    @property
    def buckets(self) -> list[int]:
        return [*range(1, len(self.specs) + 1), 0]

    def filter_id(self, bucket: int) -> uuid.UUID | None:
        return self.specs[bucket - 1].id if bucket else None

    def bucket_expression(self) -> ColumnElement[Any]:
        if not self.specs:
            return literal_column("0", Integer)
        whens = []
        for index in ranked(self.specs):
            spec = self.specs[index]
            conditions = [self.dialect.text(key).in_(list(values)) for key, values in spec.values.items()]
            whens.append((and_(*conditions) if conditions else literal_column("1 = 1"), index + 1))
        return case(*whens, else_=0)

    def inner_columns(self) -> list[ColumnElement[Any]]:
        """The bucket and the raw text of every grouping key, for the innermost ``SELECT``."""
        columns: list[ColumnElement[Any]] = [self.bucket_expression().label("b")]
        columns += [self.dialect.text(key).label(f"t{i}") for i, key in enumerate(self.keys)]
        return columns

    def group_columns(self, inner: Any) -> list[ColumnElement[Any]]:
        """One expression per grouping key over a subquery of :meth:`inner_columns`: its value (empty
        text counts as missing) in the buckets grouping by it, ``NULL`` elsewhere."""
        columns: list[ColumnElement[Any]] = []
        for i, key in enumerate(self.keys):
            value: ColumnElement[Any] = func.nullif(inner.c[f"t{i}"], "")
            users = [bucket for bucket, keys in self.keys_by_bucket.items() if key in keys]
            if len(users) < len(self.keys_by_bucket):
                value = case((inner.c.b.in_(users), value), else_=None)
            columns.append(value.label(f"g{i}"))
        return columns

    def grouped_by(self, bucket: int, values: GroupValues) -> dict[str, str | None]:
        position = {key: i for i, key in enumerate(self.keys)}
        return {key: values[position[key]] for key in self.keys_by_bucket[bucket]}

    def null_group(self) -> GroupValues:
        return tuple(None for _ in self.keys)


def unique_keys(keys: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for key in keys:
        seen.setdefault(str(key), None)
    return list(seen)


class Query:
    """The event scope of one aggregation."""

    def __init__(
        self,
        dialect: MeteringDialect,
        layout: Layout,
        *,
        organization_id: uuid.UUID,
        external_subscription_id: str,
        metric: BillableMetric,
    ) -> None:
        self.dialect = dialect
        self.layout = layout
        self.organization_id = organization_id
        self.external_subscription_id = external_subscription_id
        self.metric = metric

    def where(self, from_datetime: datetime | None, to_datetime: datetime) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = [
            Event.organization_id == self.organization_id,
            self.subscription_condition(),
            Event.code == self.metric.code,
            Event.timestamp < to_datetime,
        ]
        if from_datetime is not None:
            conditions.append(Event.timestamp >= from_datetime)
        if self.metric.aggregation_type in NUMERIC_AGGREGATIONS:
            conditions.append(self.dialect.is_number(self.field))
        return conditions

    def subscription_condition(self) -> ColumnElement[bool]:
        """The events' subscription (a batch query takes many)."""
        return Event.external_subscription_id == self.external_subscription_id

    @property
    def field(self) -> str:
        return self.metric.field_name or ""

    def inner(self, extra: Sequence[ColumnElement[Any]], conditions: Sequence[ColumnElement[bool]]) -> Any:
        return select(*self.layout.inner_columns(), *extra).where(*conditions).subquery("e")

    def keyed_rows(self, session: Session, stmt: Select[Any]) -> Iterable[tuple[int, GroupValues, Any]]:
        """Rows ``(bucket, g0..gn, rest...)`` as ``(bucket, group values, rest)``."""
        width = len(self.layout.keys)
        for row in session.execute(stmt):
            yield int(row[0]), tuple(row[1 : 1 + width]), row[1 + width :]

    def stream(
        self,
        session: Session,
        extra: Sequence[ColumnElement[Any]],
        from_datetime: datetime | None,
        to_datetime: datetime,
        conditions: Sequence[ColumnElement[bool]] = (),
    ) -> Iterable[tuple[int, GroupValues, Any]]:
        """The events one by one in time order (timestamp, then reception, then id)."""
        inner = self.inner(
            [*extra, Event.timestamp.label("ts"), Event.created_at.label("ca"), Event.id.label("id")],
            [*self.where(from_datetime, to_datetime), *conditions],
        )
        names = [column.key for column in extra]
        stmt = (
            select(
                inner.c.b, *self.layout.group_columns(inner), *[inner.c[name] for name in names], inner.c.ts
            )
            .order_by(inner.c.ts, inner.c.ca, inner.c.id)
            .execution_options(yield_per=5000)
        )
        return self.keyed_rows(session, stmt)


def operation_of(dialect: MeteringDialect) -> ColumnElement[Any]:
    return func.coalesce(dialect.text("operation_type"), "add")
