"""Alerts on wallets and subscriptions, their thresholds and the alerts they triggered (Lago's
``usage_monitoring_alerts``, ``usage_monitoring_alert_thresholds``, ``usage_monitoring_triggered_alerts``).

An alert watches one target: a wallet (``wallet_id``, the wallet types, direction ``decreasing``) or a
subscription (``subscription_external_id``, as Lago: the alert follows the external id across a plan
change; the subscription types, direction ``increasing``). ``previous_value`` is the value seen when the
alert was last evaluated: a threshold is crossed once, between that value and the next one.

Live alerts (``deleted_at IS NULL``) have a code unique per target and, as Lago, at most one alert of a
type per target (per billable metric for the metric types); an alert has at most one recurring threshold.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from billow.db import Base, SoftDeleteMixin, TenantMixin
from billow.kit.db_types import ExactDecimal, UTCDateTime


class AlertType(StrEnum):
    CURRENT_USAGE_AMOUNT = "current_usage_amount"
    BILLABLE_METRIC_CURRENT_USAGE_AMOUNT = "billable_metric_current_usage_amount"
    BILLABLE_METRIC_CURRENT_USAGE_UNITS = "billable_metric_current_usage_units"
    LIFETIME_USAGE_AMOUNT = "lifetime_usage_amount"
    BILLABLE_METRIC_LIFETIME_USAGE_UNITS = "billable_metric_lifetime_usage_units"
    WALLET_BALANCE_AMOUNT = "wallet_balance_amount"
    WALLET_CREDITS_BALANCE = "wallet_credits_balance"
    WALLET_ONGOING_BALANCE_AMOUNT = "wallet_ongoing_balance_amount"
    WALLET_CREDITS_ONGOING_BALANCE = "wallet_credits_ongoing_balance"


WALLET_TYPES = frozenset(
    {
        AlertType.WALLET_BALANCE_AMOUNT,
        AlertType.WALLET_CREDITS_BALANCE,
        AlertType.WALLET_ONGOING_BALANCE_AMOUNT,
        AlertType.WALLET_CREDITS_ONGOING_BALANCE,
    }
)
SUBSCRIPTION_TYPES = frozenset(set(AlertType) - WALLET_TYPES)
BILLABLE_METRIC_TYPES = frozenset(
    {
        AlertType.BILLABLE_METRIC_CURRENT_USAGE_AMOUNT,
        AlertType.BILLABLE_METRIC_CURRENT_USAGE_UNITS,
        AlertType.BILLABLE_METRIC_LIFETIME_USAGE_UNITS,
    }
)

#: The subscription types whose value is the current charges period's usage: evaluated on usage
#: (:mod:`billow.billing.usage_alerts`), their ``previous_value`` starting again from 0 in a new period.
CURRENT_USAGE_TYPES = frozenset(
    {
        AlertType.CURRENT_USAGE_AMOUNT,
        AlertType.BILLABLE_METRIC_CURRENT_USAGE_AMOUNT,
        AlertType.BILLABLE_METRIC_CURRENT_USAGE_UNITS,
    }
)
#: Every subscription type evaluated on usage (Lago answers ``feature_not_available`` for the others).
USAGE_EVALUATED_TYPES = CURRENT_USAGE_TYPES | {AlertType.LIFETIME_USAGE_AMOUNT}


class Direction(StrEnum):
    INCREASING = "increasing"
    DECREASING = "decreasing"


_LIVE = "deleted_at IS NULL"
_LIVE_NO_METRIC = "deleted_at IS NULL AND billable_metric_id IS NULL"
_LIVE_METRIC = "deleted_at IS NULL AND billable_metric_id IS NOT NULL"


def _partial(name: str, *columns: str, where: str) -> Index:
    return Index(name, *columns, unique=True, sqlite_where=text(where), postgresql_where=text(where))


class Alert(TenantMixin, SoftDeleteMixin, Base):
    __tablename__ = "alerts"
    __table_args__ = (
        # NULL targets never collide: the subscription indexes hold subscription alerts, the wallet
        # ones wallet alerts.
        _partial(
            "uq_alerts_code_per_subscription",
            "organization_id",
            "subscription_external_id",
            "code",
            where=_LIVE,
        ),
        _partial("uq_alerts_code_per_wallet", "organization_id", "wallet_id", "code", where=_LIVE),
        _partial(
            "uq_alerts_type_per_subscription",
            "organization_id",
            "subscription_external_id",
            "alert_type",
            where=_LIVE_NO_METRIC,
        ),
        _partial(
            "uq_alerts_type_metric_per_subscription",
            "organization_id",
            "subscription_external_id",
            "alert_type",
            "billable_metric_id",
            where=_LIVE_METRIC,
        ),
        _partial(
            "uq_alerts_type_per_wallet", "organization_id", "wallet_id", "alert_type", where=_LIVE_NO_METRIC
        ),
        Index("ix_alerts_wallet_id", "wallet_id"),
    )

    alert_type: Mapped[str] = mapped_column(String(64))
    code: Mapped[str] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(255))
    direction: Mapped[str] = mapped_column(String(16), default=Direction.INCREASING)
    #: The subscription's external id (subscription alerts), as Lago.
    subscription_external_id: Mapped[str | None] = mapped_column(String(255))
    wallet_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("wallets.id"))
    billable_metric_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("billable_metrics.id"))
    previous_value: Mapped[Decimal] = mapped_column(ExactDecimal(), default=Decimal(0))
    last_processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AlertThreshold(TenantMixin, Base):
    __tablename__ = "alert_thresholds"
    __table_args__ = (
        Index("ix_alert_thresholds_alert_id", "alert_id"),
        # At most one recurring threshold per alert (Lago's partial unique index).
        Index(
            "uq_alert_thresholds_one_recurring",
            "alert_id",
            unique=True,
            sqlite_where=text("recurring"),
            postgresql_where=text("recurring"),
        ),
    )

    alert_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("alerts.id"))
    code: Mapped[str | None] = mapped_column(String(255))
    value: Mapped[Decimal] = mapped_column(ExactDecimal())
    recurring: Mapped[bool] = mapped_column(default=False)
    #: The order the thresholds were given in (Lago lists them in insertion order).
    position: Mapped[int] = mapped_column(Integer, default=0)


class TriggeredAlert(TenantMixin, Base):
    """One evaluation that crossed thresholds: the value reached, the previous one, what was crossed
    (``[{"code", "value" (a decimal string), "recurring"}]``, Lago's ``crossed_thresholds``)."""

    __tablename__ = "triggered_alerts"
    __table_args__ = (Index("ix_triggered_alerts_alert_id", "alert_id"),)

    alert_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("alerts.id"))
    subscription_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("subscriptions.id"))
    wallet_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("wallets.id"))
    current_value: Mapped[Decimal] = mapped_column(ExactDecimal())
    previous_value: Mapped[Decimal] = mapped_column(ExactDecimal())
    crossed_thresholds: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    triggered_at: Mapped[datetime] = mapped_column(UTCDateTime())
