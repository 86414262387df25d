"""The answers of a refreshed rollup state (:mod:`billow.metering.rollups`): the aggregation's partial
results per bucket and group, read from the state's hour rows (count, sum, max, latest) or per-value
rows (unique count)."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.orm import Session

from billow.metering.aggregation.query import ZERO, GroupValues, Partial, Partials
from billow.metering.sql import to_decimal
from billow.models.billable_metrics import AggregationType
from billow.models.metering import UsageRollupHour, UsageRollupValue

HOURS = UsageRollupHour.__table__
VALUES = UsageRollupValue.__table__


def read(session: Session, kind: str, state_id: uuid.UUID) -> Partials:
    """The partial results of the aggregation ``kind`` from the rows of its refreshed state: a few hundred
    hour rows, or one row per distinct value (unique count)."""
    partials: Partials = {}
    if kind == AggregationType.UNIQUE_COUNT:
        v = VALUES.c
        rows = session.execute(
            select(v.bucket, v.grp, func.count().filter(v.is_add))
            .where(v.state_id == state_id)
            .group_by(v.bucket, v.grp)
        )
        for bucket, grp, count in rows:
            partials[(bucket, group_of(grp))] = Partial(units=Decimal(int(count)), events_count=int(count))
        return partials
    h = HOURS.c
    if kind == AggregationType.LATEST:
        rows = session.execute(
            select(
                h.bucket,
                h.grp,
                h.latest_value,
                func.sum(h.events_count).over(partition_by=[h.bucket, h.grp]),
            )
            .where(h.state_id == state_id)
            .ext(distinct_on(h.bucket, h.grp))
            .order_by(
                h.bucket,
                h.grp,
                h.latest_timestamp.desc(),
                h.latest_created_at.desc(),
                h.latest_event_id.desc(),
            )
        )
        for bucket, grp, value, count in rows:
            latest = to_decimal(value) or ZERO
            partials[(bucket, group_of(grp))] = Partial(units=max(latest, ZERO), events_count=int(count))
        return partials
    rows = session.execute(
        select(
            h.bucket,
            h.grp,
            func.sum(h.events_count),
            func.sum(h.total),
            func.sum(h.precise_total),
            func.max(h.largest),
        )
        .where(h.state_id == state_id)
        .group_by(h.bucket, h.grp)
    )
    for bucket, grp, count, total, precise, largest in rows:
        events = int(count)
        if kind == AggregationType.COUNT:
            partial = Partial(units=Decimal(events), events_count=events)
        elif kind == AggregationType.SUM:
            partial = Partial(
                units=to_decimal(total) or ZERO,
                events_count=events,
                precise_total_amount_cents=to_decimal(precise) or ZERO,
            )
        else:
            partial = Partial(units=to_decimal(largest) or ZERO, events_count=events)
        partials[(bucket, group_of(grp))] = partial
    return partials


def group_of(grp: str) -> GroupValues:
    """A stored group (the JSON array of its grouping keys' values) as the aggregation's group values."""
    return tuple(json.loads(grp))
