"""Catalog reads of the usage computations (the events themselves are read by
:mod:`billow.metering.aggregation`, except one unique-count value's history for fee estimates)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from billow.metering.sql import metering_dialect
from billow.models.billable_metrics import BillableMetricFilter
from billow.models.customers import Customer
from billow.models.events import Event
from billow.models.plans import Plan
from billow.models.subscriptions import Subscription, SubscriptionStatus
from billow.models.taxes import Tax


class UsageRepository:
    def active_subscription(
        self, session: Session, customer: Customer, external_id: str
    ) -> Subscription | None:
        """The customer's active subscription with this external id."""
        return session.scalars(
            select(Subscription).where(
                Subscription.organization_id == customer.organization_id,
                Subscription.customer_id == customer.id,
                Subscription.external_id == external_id,
                Subscription.status == SubscriptionStatus.ACTIVE,
            )
        ).first()

    def plan(self, session: Session, organization_id: uuid.UUID, plan_id: uuid.UUID) -> Plan | None:
        return session.scalars(
            select(Plan).where(Plan.organization_id == organization_id, Plan.id == plan_id)
        ).first()

    def metric_filters(
        self, session: Session, organization_id: uuid.UUID, metric_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, dict[str, list[Any]]]:
        """Each metric's filters: values by key."""
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

    def events_with_value(
        self,
        session: Session,
        *,
        organization_id: uuid.UUID,
        external_subscription_id: str,
        code: str,
        field_name: str,
        value: str,
        from_datetime: datetime | None,
        to_datetime: datetime,
    ) -> list[tuple[dict[str, Any], datetime]]:
        """``(properties, timestamp)`` of the events whose ``properties[field_name]`` is ``value`` (as text),
        latest first (timestamp, then reception, then id): a unique count's history of one value."""
        dialect = metering_dialect(session.get_bind().dialect.name)
        stmt = select(Event.properties, Event.timestamp).where(
            Event.organization_id == organization_id,
            Event.external_subscription_id == external_subscription_id,
            Event.code == code,
            Event.timestamp < to_datetime,
            dialect.text(field_name) == value,
        )
        if from_datetime is not None:
            stmt = stmt.where(Event.timestamp >= from_datetime)
        rows = session.execute(
            stmt.order_by(Event.timestamp.desc(), Event.created_at.desc(), Event.id.desc())
        )
        return [(row.properties or {}, row.timestamp) for row in rows]

    def organization_default_taxes(self, session: Session, organization_id: uuid.UUID) -> list[Tax]:
        return list(
            session.scalars(
                select(Tax)
                .where(Tax.organization_id == organization_id, Tax.applied_to_organization.is_(True))
                .order_by(Tax.code)
            )
        )


usage_repository = UsageRepository()
