"""The usage fees of a subscription's charges over an explicit, closed window (what an invoice bills).

    window_fees(session, subscription=..., charges=[ChargeGraph...], window=UsageWindow(...),
                timezone=..., currency=...) -> [ChargeWindowFees]

For every charge given (the caller passes the non-pay-in-advance ones: pay-in-advance charges are billed
when their events arrive), the events of ``[window.from_datetime, window.to_datetime)`` are aggregated
per bucket (charge filter or default) and group, and each is priced by :mod:`billow.pricing` exactly as
current usage prices it (:meth:`billow.metering.usage.UsageService._fees`): prorated charges on their
prorated units (the proration of ``window`` inside ``window.period``), recurring sums and unique counts
over all history up to the window's end, weighted sums over ``window.period``'s days, percentage with
per-event values. Each fee carries its units, ``total_aggregated_units``, ``events_count``, the exact
amount (currency units), ``amount_cents`` (half-up to the currency's exponent, Lago §5.5), the unit
amount (Lago's ``precise_unit_amount``) and the charge model's ``amount_details`` as Lago's fee JSON has
them. As Lago, fees with no units, no amount and no events are kept only as the single zero fee of a
bucket (callers that persist fees drop them, ``should_persist_fee?``).

The window is closed, so the plain SQL aggregation answers (one scan of the window's events per charge,
served by ``ix_events_usage``); usage rollups (:mod:`billow.metering.rollups`) are not built for it:
a rollup pays off on a period that is queried again and again while it is open, not on one read of a
finished period, and building one per subscription would write rows for every subscription of a billing
run.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from billow.kit.money import precise_minor_units
from billow.metering import batch
from billow.metering.aggregation import PLAIN, BucketAggregation
from billow.metering.proration import Proration
from billow.metering.repository import usage_repository
from billow.metering.usage import FeeUsage, filter_specs, group_keys, usage_service
from billow.models.billable_metrics import BillableMetric
from billow.models.plans import Charge
from billow.models.subscriptions import Subscription
from billow.models.taxes import Tax
from billow.plans.repository import ChargeGraph, FilterGraph
from billow.subscriptions.periods import UsageWindow


@dataclass(frozen=True)
class WindowFee:
    """One priced bucket/group of a charge over the window."""

    filter: FilterGraph | None
    grouped_by: dict[str, str | None]
    units: Decimal
    total_aggregated_units: Decimal
    events_count: int
    #: The charge model's amount in currency units, unrounded.
    amount: Decimal
    #: ``amount`` * 10**exponent, unrounded (Lago's ``precise_amount_cents``).
    precise_amount_cents: Decimal
    #: ``amount`` rounded half-up to the currency's exponent, in minor units.
    amount_cents: int
    #: Lago's ``precise_unit_amount`` (currency units).
    unit_amount: Decimal
    amount_details: dict[str, Any] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        """No units, no amount, no events: Lago does not persist such a fee."""
        return self.units == 0 and self.amount_cents == 0 and self.events_count == 0


@dataclass(frozen=True)
class ChargeWindowFees:
    charge: Charge
    metric: BillableMetric
    #: The charge's own taxes (the caller falls back to the plan's, customer's, organization's).
    taxes: Sequence[Tax]
    fees: list[WindowFee]


def window_fees(
    session: Session,
    *,
    subscription: Subscription,
    charges: Sequence[ChargeGraph],
    window: UsageWindow,
    timezone: str,
    currency: str,
    metric_filters: Mapping[uuid.UUID, Mapping[str, Sequence[Any]]] | None = None,
) -> list[ChargeWindowFees]:
    """Price ``charges`` of ``subscription`` over ``[window.from_datetime, window.to_datetime)``.

    ``window.period`` is the charges period the window lies in (its days are the denominator of
    prorations and weighted sums); ``timezone`` the customer's applicable time zone (proration days).
    ``metric_filters`` (the metrics' declared filter values, by metric id) may be passed by a caller that
    prices many subscriptions of the same plans; they are loaded otherwise.
    """
    if window.to_datetime < window.from_datetime:
        raise ValueError("the window ends before it starts")
    if metric_filters is None:
        metric_filters = usage_repository.metric_filters(
            session, subscription.organization_id, list({g.metric.id for g in charges})
        )
    proration = Proration.of_window(window, timezone)
    result = []
    for graph in charges:
        usages = usage_service._fees(
            session,
            subscription,
            graph,
            metric_filters.get(graph.metric.id, {}),
            currency=currency,
            from_datetime=window.from_datetime,
            to_datetime=window.to_datetime,
            period_days=window.period.days,
            proration=proration if graph.charge.prorated else None,
            source=PLAIN,
        )
        result.append(
            ChargeWindowFees(
                graph.charge, graph.metric, graph.taxes, [_window_fee(u, currency) for u in usages]
            )
        )
    return result


def window_fees_many(
    session: Session,
    *,
    subscriptions: Sequence[Subscription],
    charges: Sequence[ChargeGraph],
    window: UsageWindow,
    timezone: str,
    currency: str,
    metric_filters: Mapping[uuid.UUID, Mapping[str, Sequence[Any]]] | None = None,
) -> dict[uuid.UUID, list[ChargeWindowFees]]:
    """:func:`window_fees` for many subscriptions of one plan over the same window, by subscription id.

    Count, sum, max, latest and unique-count charges are aggregated with one query per charge for all the
    subscriptions (:mod:`billow.metering.batch`); the others, per subscription. The subscriptions must
    have distinct external ids and belong to one organization.
    """
    if not subscriptions:
        return {}
    if len({s.external_id for s in subscriptions}) != len(subscriptions):
        raise ValueError("subscriptions of one batch must have distinct external ids")
    organization_id = subscriptions[0].organization_id
    if any(s.organization_id != organization_id for s in subscriptions):
        raise ValueError("subscriptions of one batch must belong to one organization")
    if metric_filters is None:
        metric_filters = usage_repository.metric_filters(
            session, organization_id, list({g.metric.id for g in charges})
        )
    proration = Proration.of_window(window, timezone)
    result: dict[uuid.UUID, list[ChargeWindowFees]] = {s.id: [] for s in subscriptions}
    for graph in charges:
        charge, metric = graph.charge, graph.metric
        filters = metric_filters.get(metric.id, {})
        buckets: dict[str, list[BucketAggregation]] | None = None
        if batch.supported(
            metric,
            with_event_values=usage_service.needs_event_values(graph),
            pay_in_advance=charge.pay_in_advance,
            prorated=charge.prorated,
        ):
            buckets = batch.aggregate_many(
                session,
                organization_id=organization_id,
                external_subscription_ids=[s.external_id for s in subscriptions],
                metric=metric,
                from_datetime=window.from_datetime,
                to_datetime=window.to_datetime,
                filters=filter_specs(graph, filters),
                pricing_group_keys=group_keys(charge.properties),
            )
        for subscription in subscriptions:
            usages = usage_service._fees(
                session,
                subscription,
                graph,
                filters,
                currency=currency,
                from_datetime=window.from_datetime,
                to_datetime=window.to_datetime,
                period_days=window.period.days,
                proration=proration if charge.prorated else None,
                buckets=buckets[subscription.external_id] if buckets is not None else None,
                source=PLAIN,
            )
            result[subscription.id].append(
                ChargeWindowFees(charge, metric, graph.taxes, [_window_fee(u, currency) for u in usages])
            )
    return result


def _window_fee(usage: FeeUsage, currency: str) -> WindowFee:
    return WindowFee(
        filter=usage.filter,
        grouped_by=dict(usage.grouped_by),
        units=usage.units,
        total_aggregated_units=usage.total_aggregated_units,
        events_count=usage.events_count,
        amount=usage.amount,
        precise_amount_cents=precise_minor_units(usage.amount, currency),
        amount_cents=usage.amount_cents,
        unit_amount=usage.unit_amount,
        amount_details=dict(usage.amount_details),
    )


__all__ = ["ChargeWindowFees", "WindowFee", "window_fees", "window_fees_many"]
