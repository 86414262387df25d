from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from pydantic import Field

from billow.kit.limits import AmountCents, Periods
from billow.kit.pagination import PageMeta
from billow.kit.schemas import DecimalString, Input, Output, Timestamp
from billow.kit.strings import DESCRIPTION_MAX_LENGTH
from billow.models.coupons import Coupon


class CouponAppliesTo(Input):
    plan_codes: list[str | None] | None = None
    billable_metric_codes: list[str | None] | None = None


class CouponInput(Input):
    name: str | None = Field(default=None, max_length=255)
    code: str | None = Field(default=None, max_length=255)
    description: str | None = Field(default=None, max_length=DESCRIPTION_MAX_LENGTH)
    coupon_type: str | None = None
    amount_cents: AmountCents | None = None
    amount_currency: str | None = None
    percentage_rate: Decimal | None = None
    frequency: str | None = None
    frequency_duration: Periods | None = None
    expiration: str | None = None
    # Any JSON: the service parses it (ISO-8601) and answers ``invalid_date``, as Lago.
    expiration_at: Any = None
    reusable: bool | None = None
    applies_to: CouponAppliesTo | None = None


class CouponRequest(Input):
    coupon: CouponInput


class CouponOut(Output):
    lago_id: uuid.UUID
    name: str
    code: str
    description: str | None
    coupon_type: str
    amount_cents: int | None
    amount_currency: str | None
    percentage_rate: DecimalString | None
    frequency: str
    frequency_duration: int | None
    reusable: bool
    limited_plans: bool
    limited_billable_metrics: bool
    plan_codes: list[str]
    billable_metric_codes: list[str]
    created_at: Timestamp
    expiration: str
    expiration_at: Timestamp | None
    terminated_at: Timestamp | None


class CouponEnvelope(Output):
    coupon: CouponOut


class CouponList(Output):
    coupons: list[CouponOut]
    meta: PageMeta


def coupon_out(coupon: Coupon, plan_codes: list[str], billable_metric_codes: list[str]) -> CouponOut:
    return CouponOut(
        lago_id=coupon.id,
        name=coupon.name,
        code=coupon.code,
        description=coupon.description,
        coupon_type=coupon.coupon_type,
        amount_cents=coupon.amount_cents,
        amount_currency=coupon.amount_currency,
        percentage_rate=coupon.percentage_rate,
        frequency=coupon.frequency,
        frequency_duration=coupon.frequency_duration,
        reusable=coupon.reusable,
        limited_plans=coupon.limited_plans,
        limited_billable_metrics=coupon.limited_billable_metrics,
        plan_codes=plan_codes,
        billable_metric_codes=billable_metric_codes,
        created_at=coupon.created_at,
        expiration=coupon.expiration,
        expiration_at=coupon.expiration_at,
        terminated_at=coupon.terminated_at,
    )
