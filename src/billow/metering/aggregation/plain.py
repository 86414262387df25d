"""The plain aggregation: SQL over the events table, one function per aggregation type
(:class:`PlainSource`), and the passes that stream the events (pay in advance, per-event values,
proration). See :mod:`billow.metering.aggregation` for what each type computes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, Decimal
from typing import cast

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from billow.kit.money import EXACT, QUANTIZE, USAGE_DIVISION
from billow.metering.aggregation.query import (
    ONE,
    SECONDS_PER_DAY,
    WEIGHTED_QUANTUM,
    ZERO,
    GroupValues,
    Key,
    Partial,
    Partials,
    Query,
    Span,
    operation_of,
)
from billow.metering.proration import Proration, SumProration, UniqueCountProration
from billow.metering.sql import to_decimal
from billow.models.billable_metrics import AggregationType
from billow.models.events import Event


class PlainSource:
    """The plain SQL aggregation (every database)."""

    def partials(self, session: Session, query: Query, span: Span) -> Partials:
        kind = AggregationType(query.metric.aggregation_type)
        if kind == AggregationType.WEIGHTED_SUM:
            return weighted_sum_partials(
                session, query, span.from_datetime, span.to_datetime, span.period_days
            )
        return PER_TYPE[kind](session, query, span.lower, span.to_datetime)


PLAIN = PlainSource()


def count_partials(session: Session, query: Query, lower: datetime | None, upper: datetime) -> Partials:
    inner = query.inner([], query.where(lower, upper))
    groups = query.layout.group_columns(inner)
    stmt = select(inner.c.b, *groups, func.count()).group_by(inner.c.b, *groups)
    return {
        (bucket, values): Partial(units=Decimal(count), events_count=count)
        for bucket, values, (count,) in query.keyed_rows(session, stmt)
    }


def sum_partials(session: Session, query: Query, lower: datetime | None, upper: datetime) -> Partials:
    dialect = query.dialect
    inner = query.inner(
        [dialect.number(query.field).label("v"), dialect.precise_amount().label("p")],
        query.where(lower, upper),
    )
    groups = query.layout.group_columns(inner)
    stmt = select(
        inner.c.b, *groups, func.count(), dialect.dsum(inner.c.v), dialect.dsum(inner.c.p)
    ).group_by(inner.c.b, *groups)
    partials: Partials = {}
    for bucket, values, (count, total, precise) in query.keyed_rows(session, stmt):
        partials[(bucket, values)] = Partial(
            units=to_decimal(total) or ZERO,
            events_count=count,
            precise_total_amount_cents=to_decimal(precise) or ZERO,
        )
    return partials


def max_partials(session: Session, query: Query, lower: datetime | None, upper: datetime) -> Partials:
    dialect = query.dialect
    inner = query.inner([dialect.number(query.field).label("v")], query.where(lower, upper))
    groups = query.layout.group_columns(inner)
    stmt = select(inner.c.b, *groups, func.count(), dialect.dmax(inner.c.v)).group_by(inner.c.b, *groups)
    return {
        (bucket, values): Partial(units=to_decimal(largest) or ZERO, events_count=count)
        for bucket, values, (count, largest) in query.keyed_rows(session, stmt)
    }


def latest_partials(session: Session, query: Query, lower: datetime | None, upper: datetime) -> Partials:
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
    partials: Partials = {}
    for bucket, values, (value, count) in query.keyed_rows(session, stmt):
        latest = to_decimal(value) or ZERO
        partials[(bucket, values)] = Partial(units=max(latest, ZERO), events_count=count)
    return partials


def unique_count_partials(
    session: Session, query: Query, lower: datetime | None, upper: datetime
) -> Partials:
    """Per value, the latest operation decides. One hash aggregation per value: the value is active when
    its latest add is later than its latest removal. When an add and a removal of one value share the
    latest timestamp (rare), :func:`unique_count_ordered_partials` decides with the reception order
    instead."""
    dialect = query.dialect
    value = dialect.text(query.field)
    inner = query.inner(
        [value.label("v"), operation_of(dialect).label("op"), Event.timestamp.label("ts")],
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
    partials: Partials = {}
    for bucket, values, (count, ties) in query.keyed_rows(session, stmt):
        if ties:
            return unique_count_ordered_partials(session, query, lower, upper)
        partials[(bucket, values)] = Partial(units=Decimal(int(count or 0)), events_count=int(count or 0))
    return partials


def unique_count_ordered_partials(
    session: Session, query: Query, lower: datetime | None, upper: datetime
) -> Partials:
    """:func:`unique_count_partials` with a full ordering (timestamp, reception, id) of each value's
    events."""
    dialect = query.dialect
    value = dialect.text(query.field)
    inner = query.inner(
        [
            value.label("v"),
            operation_of(dialect).label("op"),
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
    partials: Partials = {}
    for bucket, values, (count,) in query.keyed_rows(session, stmt):
        partials[(bucket, values)] = Partial(units=Decimal(int(count or 0)), events_count=int(count or 0))
    return partials


def weighted_sum_partials(
    session: Session, query: Query, from_datetime: datetime, to_datetime: datetime, period_days: int
) -> Partials:
    """Σ(running total * seconds it held) / period seconds, the running total starting at the initial
    value at ``from_datetime`` and holding until ``to_datetime``."""
    initial: dict[Key, Decimal] = {}
    if query.metric.recurring:
        initial = {
            key: partial.units for key, partial in sum_partials(session, query, None, from_datetime).items()
        }

    @dataclass
    class _State:
        running: Decimal
        since: datetime
        weighted: Decimal = ZERO  # Σ running * seconds
        variation: Decimal = ZERO
        count: int = 0

    states: dict[Key, _State] = {
        key: _State(running=value, since=from_datetime) for key, value in initial.items()
    }
    rows = query.stream(session, [query.dialect.number(query.field).label("v")], from_datetime, to_datetime)
    for bucket, values, (raw, timestamp) in rows:
        key = (bucket, values)
        state = states.get(key)
        if state is None:
            state = states[key] = _State(running=ZERO, since=from_datetime)
        value = to_decimal(raw) or ZERO
        state.weighted = EXACT.add(
            state.weighted, EXACT.multiply(state.running, _seconds(timestamp - state.since))
        )
        state.running = EXACT.add(state.running, value)
        state.variation = EXACT.add(state.variation, value)
        state.since = timestamp
        state.count += 1

    period_seconds = Decimal(period_days * SECONDS_PER_DAY)
    partials: Partials = {}
    for key, state in states.items():
        weighted = EXACT.add(
            state.weighted, EXACT.multiply(state.running, _seconds(to_datetime - state.since))
        )
        units = USAGE_DIVISION.divide(weighted, period_seconds).quantize(
            WEIGHTED_QUANTUM, rounding=ROUND_CEILING, context=QUANTIZE
        )
        units = units.normalize(QUANTIZE)
        total = state.variation
        if query.metric.recurring:
            total = EXACT.add(total, initial.get(key, ZERO))
        partials[key] = Partial(units=units, events_count=state.count, total_aggregated_units=total)
    return partials


def _seconds(span: timedelta) -> Decimal:
    """A duration in seconds, exactly (microseconds included)."""
    return Decimal(span.days * SECONDS_PER_DAY + span.seconds) + Decimal(span.microseconds).scaleb(-6)


#: The aggregations one grouped query answers (all but the weighted sum).
PER_TYPE = {
    AggregationType.COUNT: count_partials,
    AggregationType.SUM: sum_partials,
    AggregationType.MAX: max_partials,
    AggregationType.LATEST: latest_partials,
    AggregationType.UNIQUE_COUNT: unique_count_partials,
}


# ------------------------------------------------------------------------- pay in advance, event values


def in_advance_sum(
    session: Session,
    query: Query,
    partials: Partials,
    from_datetime: datetime,
    to_datetime: datetime,
) -> None:
    """Lago prices a pay-in-advance sum's current usage on ``total - period running total + its largest
    value``: the largest total the period reached, what was billed event by event."""
    running: dict[Key, Decimal] = {}
    highest: dict[Key, Decimal] = {}
    rows = query.stream(session, [query.dialect.number(query.field).label("v")], from_datetime, to_datetime)
    for bucket, values, (raw, _timestamp) in rows:
        key = (bucket, values)
        total = EXACT.add(running.get(key, ZERO), to_decimal(raw) or ZERO)
        running[key] = total
        highest[key] = total if key not in highest else max(highest[key], total)
    for key, partial in partials.items():
        if key in running:
            partial.in_advance_units = EXACT.add(EXACT.subtract(partial.units, running[key]), highest[key])
        else:
            partial.in_advance_units = partial.units


def in_advance_unique_count(
    session: Session,
    query: Query,
    partials: Partials,
    lower: datetime | None,
    from_datetime: datetime,
    to_datetime: datetime,
) -> None:
    """As :func:`in_advance_sum` with the period's activations (+1) and deactivations (-1) of values."""
    dialect = query.dialect
    value = dialect.text(query.field)
    active: set[tuple[int, GroupValues, str]] = set()
    running: dict[Key, int] = {}
    highest: dict[Key, int] = {}
    rows = query.stream(
        session,
        [value.label("v"), operation_of(dialect).label("op")],
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


def event_values(
    session: Session,
    query: Query,
    partials: Partials,
    lower: datetime | None,
    to_datetime: datetime,
) -> None:
    """Per-event values in time order, as Lago's aggregators hand them to the percentage model."""
    kind = query.metric.aggregation_type
    if kind in (AggregationType.COUNT, AggregationType.UNIQUE_COUNT):
        for partial in partials.values():
            partial.event_values = [ONE] * int(partial.units)
        return
    if kind != AggregationType.SUM:
        return
    rows = query.stream(session, [query.dialect.number(query.field).label("v")], lower, to_datetime)
    for bucket, values, (raw, _timestamp) in rows:
        found = partials.get((bucket, values))
        if found is not None:
            found.event_values.append(to_decimal(raw) or ZERO)


# ------------------------------------------------------------------------------------------- proration


def prorate(
    session: Session,
    query: Query,
    partials: Partials,
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
    if query.metric.aggregation_type == AggregationType.SUM:
        accumulator = SumProration(proration)
        if lower is None:
            for key, carried in sum_partials(session, query, None, from_datetime).items():
                accumulator.carried(key, carried.units)
        rows = query.stream(session, [dialect.number(query.field).label("v")], from_datetime, to_datetime)
        for bucket, values, (raw, timestamp) in rows:
            accumulator.event((bucket, values), to_decimal(raw) or ZERO, timestamp)
    else:
        accumulator = UniqueCountProration(proration)
        value = dialect.text(query.field)
        rows = query.stream(
            session,
            [value.label("v"), operation_of(dialect).label("op")],
            lower,
            to_datetime,
            [value.is_not(None)],
        )
        for bucket, values, (item, operation, timestamp) in rows:
            accumulator.event((bucket, values), item, operation == "add", timestamp)
        accumulator.finish()
    for raw_key, state in accumulator.keys.items():
        key = cast(Key, raw_key)
        partial = partials.get(key)
        if partial is None:
            partial = partials[key] = Partial()
        if pay_in_advance:
            carried_units = EXACT.subtract(partial.units, state.running)
            partial.prorated_units = EXACT.add(carried_units, state.billed)
        else:
            partial.prorated_units = proration.units(state.day_weighted)
        partial.prorated_values = state.values
    for partial in partials.values():
        if partial.prorated_units is None:
            partial.prorated_units = ZERO
