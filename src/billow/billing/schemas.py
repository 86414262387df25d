"""Lifetime usage JSON (Lago's ``V1::LifetimeUsageSerializer``)."""

from __future__ import annotations

import uuid

from billow.kit.schemas import Input, JsonNumber, Output, Timestamp


class LifetimeUsageInput(Input):
    external_historical_usage_amount_cents: object | None = None


class LifetimeUsageRequest(Input):
    lifetime_usage: LifetimeUsageInput


class UsageThresholdProgressOut(Output):
    amount_cents: int
    completion_ratio: JsonNumber
    reached_at: str | None


class LifetimeUsageOut(Output):
    lago_id: uuid.UUID
    lago_subscription_id: uuid.UUID
    external_subscription_id: str
    external_historical_usage_amount_cents: int
    invoiced_usage_amount_cents: int
    current_usage_amount_cents: int
    from_datetime: Timestamp | None
    to_datetime: Timestamp | None
    usage_thresholds: list[UsageThresholdProgressOut]


class LifetimeUsageEnvelope(Output):
    lifetime_usage: LifetimeUsageOut
