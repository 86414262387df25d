"""The aggregation engine: how many units did a subscription use of a billable metric over a period?

    aggregate(session, organization_id=..., external_subscription_id=..., metric=..., from_datetime=...,
              to_datetime=..., filters=[ChargeFilterSpec...], pricing_group_keys=[...]) -> [BucketAggregation]

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
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Context, Decimal, Inexact, InvalidOperation
from typing import Any, cast

from sqlalchemy import Integer, and_, case, func, literal_column, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import ColumnElement

from billow.metering.filters import ChargeFilterSpec, ranked
from billow.metering.proration import PRORATED_AGGREGATIONS, Proration, SumProration, UniqueCountProration
from billow.metering.sql import MeteringDialect, metering_dialect, to_decimal
from billow.models.billable_metrics import BillableMetric
from billow.models.events import Event

ZERO = Decimal(0)
ONE = Decimal(1)

AGGREGATION_TYPES = frozenset(
    {"count_agg", "sum_agg", "max_agg", "unique_count_agg", "weighted_sum_agg", "latest_agg"}
)
NUMERIC_AGGREGATIONS = frozenset({"sum_agg", "max_agg", "latest_agg", "weighted_sum_agg"})
RECURRING_WITHOUT_LOWER_BOUND = frozenset({"sum_agg", "unique_count_agg"})
ROUNDING_MODES = {"round": ROUND_HALF_UP, "ceil": ROUND_CEILING, "floor": ROUND_FLOOR}

#: Additions are exact (an inexact one raises); weighted sums divide under their own context.
_EXACT = Context(prec=400, traps=[InvalidOperation, Inexact])
_QUANTIZE = Context(prec=400, traps=[InvalidOperation])
_WEIGHTED_DIVISION = Context(prec=80, rounding=ROUND_CEILING, traps=[InvalidOperation])
_WEIGHTED_QUANTUM = Decimal("1e-20")
_SECONDS_PER_DAY = 86_400


class UnsupportedAggregation(ValueError):
    """The metric's aggregation type is not computed by Billow (``custom_agg``)."""


GroupValues = tuple[str | None, ...]


@dataclass(frozen=True)
class BucketAggregation:
    """The usage of one bucket (a charge filter, or ``None`` for the default bucket) and group.

    ``units`` are the units to price (Lago's ``aggregation``). For a pay-in-advance sum or unique count
    they are the largest total reached in the period (what was billed in advance, event by event) while
    ``current_usage_units`` is the total now; otherwise the two are equal. Both are rounded per the metric
    and never negative for pay-in-advance charges.

    ``event_values`` (when asked for): the values of the events in time order (``1`` per event for a count,
    ``1`` per active value for a unique count), for percentage charges.
    ``precise_total_amount_cents``: Σ of the events' ``precise_total_amount_cents`` (dynamic charges).
    """

    filter_id: uuid.UUID | None
    grouped_by: dict[str, str | None]
    units: Decimal
    events_count: int
    current_usage_units: Decimal
    total_aggregated_units: Decimal
    event_values: tuple[Decimal, ...] = ()
    precise_total_amount_cents: Decimal = ZERO
    #: Prorated charges (``proration=``): ``units`` are then the prorated units and ``full_units`` the units
    #: without proration (what ``units`` would be otherwise); ``None`` when not prorated.
    full_units: Decimal | None = None
    #: Prorated charges: per event in time order, (full value, prorated value) (prorated graduated model).
    prorated_values: tuple[tuple[Decimal, Decimal], ...] = ()


@dataclass
class _Partial:
    """What the queries found for one (bucket, group) before rounding."""

    units: Decimal = ZERO
    events_count: int = 0
    total_aggregated_units: Decimal | None = None
    in_advance_units: Decimal | None = None
    event_values: list[Decimal] = field(default_factory=list)
    precise_total_amount_cents: Decimal = ZERO
    prorated_units: Decimal | None = None
    prorated_values: list[tuple[Decimal, Decimal]] = field(default_factory=list)


def apply_rounding(units: Decimal, function: str | None, precision: int | None) -> Decimal:
    """The metric's rounding (Lago's ``ApplyRoundingService``): ``round`` half-up, ``ceil``, ``floor`` to
    ``precision`` decimals (default 0; negative rounds to tens, hundreds...)."""
    if not function:
        return units
    quantum = ONE.scaleb(-(precision or 0))
    return units.quantize(quantum, rounding=ROUNDING_MODES[function], context=_QUANTIZE)


class _Layout:
    """The buckets of a charge and their grouping keys, as SQL expressions.

    Bucket numbers: 0 is the default bucket, ``i + 1`` the ``i``-th filter of ``specs``. Grouping keys:
    the union of every bucket's keys; a key some bucket does not group by is ``NULL`` in that bucket.
    """

    def __init__(
        self, dialect: MeteringDialect, specs: Sequence[ChargeFilterSpec], default_keys: Sequence[str]
    ) -> None:
        self.dialect = dialect
        self.specs = list(specs)
        self.keys_by_bucket: dict[int, list[str]] = {0: _unique(default_keys)}
        for index, spec in enumerate(self.specs):
            self.keys_by_bucket[index + 1] = _unique(spec.pricing_group_keys)
        self.keys = _unique(key for keys in self.keys_by_bucket.values() for key in keys)

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


def _unique(keys: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for key in keys:
        seen.setdefault(str(key), None)
    return list(seen)


class _Query:
    """The event scope of one aggregation."""

    def __init__(
        self,
        dialect: MeteringDialect,
        layout: _Layout,
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
            Event.external_subscription_id == self.external_subscription_id,
            Event.code == self.metric.code,
            Event.timestamp < to_datetime,
        ]
        if from_datetime is not None:
            conditions.append(Event.timestamp >= from_datetime)
        if self.metric.aggregation_type in NUMERIC_AGGREGATIONS:
            conditions.append(self.dialect.is_number(self.field))
        return conditions

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
) -> list[BucketAggregation]:
    """The usage of ``metric`` by one subscription over ``[from_datetime, to_datetime)``, per bucket and
    group (see the module documentation).

    ``period_duration_days``: the full charges period's length, the denominator of weighted sums (default:
    the window's length in days, rounded up).
    ``proration``: for a ``prorated`` charge, the charges window in local days; sums and unique counts are
    then prorated (:mod:`billow.metering.proration`), other types ignore it.
    """
    kind = metric.aggregation_type
    if kind not in AGGREGATION_TYPES:
        raise UnsupportedAggregation(f"aggregation type {kind!r} is not supported")
    dialect = metering_dialect(session.get_bind().dialect.name)
    dialect.prepare(session)
    layout = _Layout(dialect, filters, pricing_group_keys)
    query = _Query(
        dialect,
        layout,
        organization_id=organization_id,
        external_subscription_id=external_subscription_id,
        metric=metric,
    )
    lower: datetime | None = from_datetime
    if metric.recurring and kind in RECURRING_WITHOUT_LOWER_BOUND:
        lower = None

    partials: dict[tuple[int, GroupValues], _Partial] | None = None
    if not pay_in_advance and not with_event_values:
        from billow.metering import rollups  # imports this module

        partials = rollups.partials(session, query, lower, to_datetime)  # None: not answered by a rollup
    if partials is not None:
        pass  # the same results as the queries below, from pre-aggregated rows (PostgreSQL)
    elif kind == "count_agg":
        partials = _count(session, query, lower, to_datetime)
    elif kind == "sum_agg":
        partials = _sum(session, query, lower, to_datetime)
    elif kind == "max_agg":
        partials = _max(session, query, lower, to_datetime)
    elif kind == "latest_agg":
        partials = _latest(session, query, lower, to_datetime)
    elif kind == "unique_count_agg":
        partials = _unique_count(session, query, lower, to_datetime)
    else:
        days = period_duration_days or _ceil_days(to_datetime - from_datetime)
        partials = _weighted_sum(session, query, from_datetime, to_datetime, days)

    if pay_in_advance and kind == "sum_agg":
        _in_advance_sum(session, query, partials, from_datetime, to_datetime)
    elif pay_in_advance and kind == "unique_count_agg":
        _in_advance_unique_count(session, query, partials, lower, from_datetime, to_datetime)
    if with_event_values:
        _event_values(session, query, partials, lower, to_datetime)
    if proration is not None and kind in PRORATED_AGGREGATIONS:
        _prorate(
            session,
            query,
            partials,
            lower,
            from_datetime,
            to_datetime,
            proration,
            pay_in_advance=pay_in_advance,
        )

    return _results(metric, layout, partials, pay_in_advance=pay_in_advance)


def _ceil_days(span: timedelta) -> int:
    days = span.days + (1 if span.seconds or span.microseconds else 0)
    return max(days, 1)


# ------------------------------------------------------------------------------------------ per type


def _count(
    session: Session, query: _Query, lower: datetime | None, upper: datetime
) -> dict[tuple[int, GroupValues], _Partial]:
    inner = query.inner([], query.where(lower, upper))
    groups = query.layout.group_columns(inner)
    stmt = select(inner.c.b, *groups, func.count()).group_by(inner.c.b, *groups)
    return {
        (bucket, values): _Partial(units=Decimal(count), events_count=count)
        for bucket, values, (count,) in query.keyed_rows(session, stmt)
    }


def _sum(
    session: Session, query: _Query, lower: datetime | None, upper: datetime
) -> dict[tuple[int, GroupValues], _Partial]:
    dialect = query.dialect
    inner = query.inner(
        [dialect.number(query.field).label("v"), dialect.precise_amount().label("p")],
        query.where(lower, upper),
    )
    groups = query.layout.group_columns(inner)
    stmt = select(
        inner.c.b, *groups, func.count(), dialect.dsum(inner.c.v), dialect.dsum(inner.c.p)
    ).group_by(inner.c.b, *groups)
    partials: dict[tuple[int, GroupValues], _Partial] = {}
    for bucket, values, (count, total, precise) in query.keyed_rows(session, stmt):
        partials[(bucket, values)] = _Partial(
            units=to_decimal(total) or ZERO,
            events_count=count,
            precise_total_amount_cents=to_decimal(precise) or ZERO,
        )
    return partials


def _max(
    session: Session, query: _Query, lower: datetime | None, upper: datetime
) -> dict[tuple[int, GroupValues], _Partial]:
    dialect = query.dialect
    inner = query.inner([dialect.number(query.field).label("v")], query.where(lower, upper))
    groups = query.layout.group_columns(inner)
    stmt = select(inner.c.b, *groups, func.count(), dialect.dmax(inner.c.v)).group_by(inner.c.b, *groups)
    return {
        (bucket, values): _Partial(units=to_decimal(largest) or ZERO, events_count=count)
        for bucket, values, (count, largest) in query.keyed_rows(session, stmt)
    }


def _latest(
    session: Session, query: _Query, lower: datetime | None, upper: datetime
) -> dict[tuple[int, GroupValues], _Partial]:
    dialect = query.dialect
    inner = query.inner(
        [
            dialect.number(query.field).label("v"),
            Event.timestamp.label("ts"),
            Event.created_at.label("ca"),
            Event.id.label("id"),
        ],
        query.where(lower, upper),
    )
    groups = query.layout.group_columns(inner)
    partition = [inner.c.b, *groups]
    ranked_rows = select(
        inner.c.b,
        *groups,
        inner.c.v,
        func.row_number()
        .over(partition_by=partition, order_by=[inner.c.ts.desc(), inner.c.ca.desc(), inner.c.id.desc()])
        .label("rn"),
        func.count().over(partition_by=partition).label("n"),
    ).subquery("r")
    names = [f"g{i}" for i in range(len(query.layout.keys))]
    stmt = select(
        ranked_rows.c.b, *[ranked_rows.c[name] for name in names], ranked_rows.c.v, ranked_rows.c.n
    ).where(ranked_rows.c.rn == 1)
    partials: dict[tuple[int, GroupValues], _Partial] = {}
    for bucket, values, (value, count) in query.keyed_rows(session, stmt):
        latest = to_decimal(value) or ZERO
        partials[(bucket, values)] = _Partial(units=max(latest, ZERO), events_count=count)
    return partials


def _operation(dialect: MeteringDialect) -> ColumnElement[Any]:
    return func.coalesce(dialect.text("operation_type"), "add")


def _unique_count(
    session: Session, query: _Query, lower: datetime | None, upper: datetime
) -> dict[tuple[int, GroupValues], _Partial]:
    """Per value, the latest operation decides. One hash aggregation per value: the value is active when
    its latest add is later than its latest removal. When an add and a removal of one value share the
    latest timestamp (rare), :func:`_unique_count_ordered` decides with the reception order instead."""
    dialect = query.dialect
    value = dialect.text(query.field)
    inner = query.inner(
        [value.label("v"), _operation(dialect).label("op"), Event.timestamp.label("ts")],
        [*query.where(lower, upper), value.is_not(None)],
    )
    groups = query.layout.group_columns(inner)
    per_value = (
        select(
            inner.c.b,
            *groups,
            func.max(case((inner.c.op == "add", inner.c.ts), else_=None)).label("last_add"),
            func.max(case((inner.c.op != "add", inner.c.ts), else_=None)).label("last_remove"),
        )
        .group_by(inner.c.b, *groups, inner.c.v)
        .subquery("u")
    )
    group_names = [per_value.c[f"g{i}"] for i in range(len(query.layout.keys))]
    last_add, last_remove = per_value.c.last_add, per_value.c.last_remove
    active = case(
        (and_(last_add.is_not(None), or_(last_remove.is_(None), last_add > last_remove)), 1), else_=0
    )
    tied = case((last_add == last_remove, 1), else_=0)
    stmt = select(per_value.c.b, *group_names, func.sum(active), func.sum(tied)).group_by(
        per_value.c.b, *group_names
    )
    partials: dict[tuple[int, GroupValues], _Partial] = {}
    for bucket, values, (count, ties) in query.keyed_rows(session, stmt):
        if ties:
            return _unique_count_ordered(session, query, lower, upper)
        partials[(bucket, values)] = _Partial(units=Decimal(int(count or 0)), events_count=int(count or 0))
    return partials


def _unique_count_ordered(
    session: Session, query: _Query, lower: datetime | None, upper: datetime
) -> dict[tuple[int, GroupValues], _Partial]:
    """:func:`_unique_count` with a full ordering (timestamp, reception, id) of each value's events."""
    dialect = query.dialect
    value = dialect.text(query.field)
    inner = query.inner(
        [
            value.label("v"),
            _operation(dialect).label("op"),
            Event.timestamp.label("ts"),
            Event.created_at.label("ca"),
            Event.id.label("id"),
        ],
        [*query.where(lower, upper), value.is_not(None)],
    )
    groups = query.layout.group_columns(inner)
    last_operations = select(
        inner.c.b,
        *groups,
        inner.c.op,
        func.row_number()
        .over(
            partition_by=[inner.c.b, *groups, inner.c.v],
            order_by=[inner.c.ts.desc(), inner.c.ca.desc(), inner.c.id.desc()],
        )
        .label("rn"),
    ).subquery("r")
    group_names = [last_operations.c[f"g{i}"] for i in range(len(query.layout.keys))]
    active = func.sum(case((last_operations.c.op == "add", 1), else_=0))
    stmt = (
        select(last_operations.c.b, *group_names, active)
        .where(last_operations.c.rn == 1)
        .group_by(last_operations.c.b, *group_names)
    )
    partials: dict[tuple[int, GroupValues], _Partial] = {}
    for bucket, values, (count,) in query.keyed_rows(session, stmt):
        partials[(bucket, values)] = _Partial(units=Decimal(int(count or 0)), events_count=int(count or 0))
    return partials


def _weighted_sum(
    session: Session, query: _Query, from_datetime: datetime, to_datetime: datetime, period_days: int
) -> dict[tuple[int, GroupValues], _Partial]:
    """Σ(running total * seconds it held) / period seconds, the running total starting at the initial
    value at ``from_datetime`` and holding until ``to_datetime``."""
    initial: dict[tuple[int, GroupValues], Decimal] = {}
    if query.metric.recurring:
        initial = {key: partial.units for key, partial in _sum(session, query, None, from_datetime).items()}

    @dataclass
    class _State:
        running: Decimal
        since: datetime
        weighted: Decimal = ZERO  # Σ running * seconds
        variation: Decimal = ZERO
        count: int = 0

    states: dict[tuple[int, GroupValues], _State] = {
        key: _State(running=value, since=from_datetime) for key, value in initial.items()
    }
    rows = query.stream(session, [query.dialect.number(query.field).label("v")], from_datetime, to_datetime)
    for bucket, values, (raw, timestamp) in rows:
        key = (bucket, values)
        state = states.get(key)
        if state is None:
            state = states[key] = _State(running=ZERO, since=from_datetime)
        value = to_decimal(raw) or ZERO
        state.weighted = _EXACT.add(
            state.weighted, _EXACT.multiply(state.running, _seconds(timestamp - state.since))
        )
        state.running = _EXACT.add(state.running, value)
        state.variation = _EXACT.add(state.variation, value)
        state.since = timestamp
        state.count += 1

    period_seconds = Decimal(period_days * _SECONDS_PER_DAY)
    partials: dict[tuple[int, GroupValues], _Partial] = {}
    for key, state in states.items():
        weighted = _EXACT.add(
            state.weighted, _EXACT.multiply(state.running, _seconds(to_datetime - state.since))
        )
        units = _WEIGHTED_DIVISION.divide(weighted, period_seconds).quantize(
            _WEIGHTED_QUANTUM, rounding=ROUND_CEILING, context=_QUANTIZE
        )
        units = units.normalize(_QUANTIZE)
        total = state.variation
        if query.metric.recurring:
            total = _EXACT.add(total, initial.get(key, ZERO))
        partials[key] = _Partial(units=units, events_count=state.count, total_aggregated_units=total)
    return partials


def _seconds(span: timedelta) -> Decimal:
    """A duration in seconds, exactly (microseconds included)."""
    return Decimal(span.days * _SECONDS_PER_DAY + span.seconds) + Decimal(span.microseconds).scaleb(-6)


# ------------------------------------------------------------------------- pay in advance, event values


def _in_advance_sum(
    session: Session,
    query: _Query,
    partials: dict[tuple[int, GroupValues], _Partial],
    from_datetime: datetime,
    to_datetime: datetime,
) -> None:
    """Lago prices a pay-in-advance sum's current usage on ``total - period running total + its largest
    value``: the largest total the period reached, what was billed event by event."""
    running: dict[tuple[int, GroupValues], Decimal] = {}
    highest: dict[tuple[int, GroupValues], Decimal] = {}
    rows = query.stream(session, [query.dialect.number(query.field).label("v")], from_datetime, to_datetime)
    for bucket, values, (raw, _timestamp) in rows:
        key = (bucket, values)
        total = _EXACT.add(running.get(key, ZERO), to_decimal(raw) or ZERO)
        running[key] = total
        highest[key] = total if key not in highest else max(highest[key], total)
    for key, partial in partials.items():
        if key in running:
            partial.in_advance_units = _EXACT.add(_EXACT.subtract(partial.units, running[key]), highest[key])
        else:
            partial.in_advance_units = partial.units


def _in_advance_unique_count(
    session: Session,
    query: _Query,
    partials: dict[tuple[int, GroupValues], _Partial],
    lower: datetime | None,
    from_datetime: datetime,
    to_datetime: datetime,
) -> None:
    """As :func:`_in_advance_sum` with the period's activations (+1) and deactivations (-1) of values."""
    dialect = query.dialect
    value = dialect.text(query.field)
    active: set[tuple[int, GroupValues, str]] = set()
    running: dict[tuple[int, GroupValues], int] = {}
    highest: dict[tuple[int, GroupValues], int] = {}
    rows = query.stream(
        session,
        [value.label("v"), _operation(dialect).label("op")],
        lower,
        to_datetime,
        [value.is_not(None)],
    )
    for bucket, values, (item, operation, timestamp) in rows:
        key = (bucket, values)
        member = (bucket, values, item)
        was_active = member in active
        if operation == "add":
            active.add(member)
            delta = 0 if was_active else 1
        else:
            active.discard(member)
            delta = -1 if was_active else 0
        if timestamp < from_datetime:
            continue
        total = running.get(key, 0) + delta
        running[key] = total
        highest[key] = total if key not in highest else max(highest[key], total)
    for key, partial in partials.items():
        if key in running:
            partial.in_advance_units = partial.units - running[key] + highest[key]
        else:
            partial.in_advance_units = partial.units


def _event_values(
    session: Session,
    query: _Query,
    partials: dict[tuple[int, GroupValues], _Partial],
    lower: datetime | None,
    to_datetime: datetime,
) -> None:
    """Per-event values in time order, as Lago's aggregators hand them to the percentage model."""
    kind = query.metric.aggregation_type
    if kind in ("count_agg", "unique_count_agg"):
        for partial in partials.values():
            partial.event_values = [ONE] * int(partial.units)
        return
    if kind != "sum_agg":
        return
    rows = query.stream(session, [query.dialect.number(query.field).label("v")], lower, to_datetime)
    for bucket, values, (raw, _timestamp) in rows:
        found = partials.get((bucket, values))
        if found is not None:
            found.event_values.append(to_decimal(raw) or ZERO)


# ------------------------------------------------------------------------------------------- proration


def _prorate(
    session: Session,
    query: _Query,
    partials: dict[tuple[int, GroupValues], _Partial],
    lower: datetime | None,
    from_datetime: datetime,
    to_datetime: datetime,
    proration: Proration,
    *,
    pay_in_advance: bool,
) -> None:
    """Prorated units of a sum or unique count (:mod:`billow.metering.proration`). A sum reads the totals
    carried from before the window with one query and streams the window's events; a unique count streams
    every event (a value's activity needs its whole history)."""
    dialect = query.dialect
    accumulator: SumProration | UniqueCountProration
    if query.metric.aggregation_type == "sum_agg":
        accumulator = SumProration(proration)
        if lower is None:
            for key, carried in _sum(session, query, None, from_datetime).items():
                accumulator.carried(key, carried.units)
        rows = query.stream(session, [dialect.number(query.field).label("v")], from_datetime, to_datetime)
        for bucket, values, (raw, timestamp) in rows:
            accumulator.event((bucket, values), to_decimal(raw) or ZERO, timestamp)
    else:
        accumulator = UniqueCountProration(proration)
        value = dialect.text(query.field)
        rows = query.stream(
            session,
            [value.label("v"), _operation(dialect).label("op")],
            lower,
            to_datetime,
            [value.is_not(None)],
        )
        for bucket, values, (item, operation, timestamp) in rows:
            accumulator.event((bucket, values), item, operation == "add", timestamp)
        accumulator.finish()
    for raw_key, state in accumulator.keys.items():
        key = cast(tuple[int, GroupValues], raw_key)
        partial = partials.get(key)
        if partial is None:
            partial = partials[key] = _Partial()
        if pay_in_advance:
            carried_units = _EXACT.subtract(partial.units, state.running)
            partial.prorated_units = _EXACT.add(carried_units, state.billed)
        else:
            partial.prorated_units = proration.units(state.day_weighted)
        partial.prorated_values = state.values
    for partial in partials.values():
        if partial.prorated_units is None:
            partial.prorated_units = ZERO


# -------------------------------------------------------------------------------------------- results


def _results(
    metric: BillableMetric,
    layout: _Layout,
    partials: dict[tuple[int, GroupValues], _Partial],
    *,
    pay_in_advance: bool,
) -> list[BucketAggregation]:
    by_bucket: dict[int, list[tuple[GroupValues, _Partial]]] = defaultdict(list)
    for (bucket, values), partial in partials.items():
        by_bucket[bucket].append((values, partial))

    results = []
    for bucket in layout.buckets:
        found = sorted(by_bucket.get(bucket, []), key=lambda item: _group_sort_key(item[0]))
        if not found:
            found = [(layout.null_group(), _Partial())]
        for values, partial in found:
            results.append(_finish(metric, layout, bucket, values, partial, pay_in_advance=pay_in_advance))
    return results


def _group_sort_key(values: GroupValues) -> tuple[tuple[bool, str], ...]:
    return tuple((value is not None, value or "") for value in values)


def _finish(
    metric: BillableMetric,
    layout: _Layout,
    bucket: int,
    values: GroupValues,
    partial: _Partial,
    *,
    pay_in_advance: bool,
) -> BucketAggregation:
    def rounded(units: Decimal) -> Decimal:
        return apply_rounding(units, metric.rounding_function, metric.rounding_precision)

    current = rounded(partial.units)
    units = current
    if pay_in_advance:
        priced = partial.in_advance_units if partial.in_advance_units is not None else partial.units
        units = max(rounded(priced), ZERO)
        current = max(current, ZERO)
    events_count = partial.events_count
    full_units: Decimal | None = None
    if partial.prorated_units is not None:
        # Lago clamps both at 0; a unique count's events_count is its (prorated) units, truncated.
        current = max(current, ZERO)
        full_units = max(units, ZERO)
        units = max(rounded(partial.prorated_units), ZERO)
        if metric.aggregation_type == "unique_count_agg":
            events_count = int(units)
    total_aggregated = (
        partial.total_aggregated_units if partial.total_aggregated_units is not None else current
    )
    return BucketAggregation(
        filter_id=layout.filter_id(bucket),
        grouped_by=layout.grouped_by(bucket, values),
        units=units,
        events_count=events_count,
        current_usage_units=current,
        total_aggregated_units=total_aggregated,
        event_values=tuple(partial.event_values),
        precise_total_amount_cents=partial.precise_total_amount_cents,
        full_units=full_units,
        prorated_values=tuple(partial.prorated_values),
    )
