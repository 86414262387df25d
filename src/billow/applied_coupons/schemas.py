from __future__ import annotations

import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from pydantic import Field

from billow.kit.limits import AmountCents, Periods
from billow.kit.pagination import PageMeta
from billow.kit.schemas import DecimalString, Input, Output, Timestamp
from billow.models.coupons import AppliedCoupon, Coupon, InvoiceCoupon
from billow.models.customers import Customer
from billow.models.invoices import Invoice


class AppliedCouponInput(Input):
    """What to apply: the coupon's terms unless a field overrides them."""

    external_customer_id: str | None = Field(default=None, max_length=255)
    coupon_code: str | None = Field(default=None, max_length=255)
    amount_cents: AmountCents | None = None
    amount_currency: str | None = None
    percentage_rate: Decimal | None = None
    frequency: str | None = None
    frequency_duration: Periods | None = None


class AppliedCouponRequest(Input):
    applied_coupon: AppliedCouponInput


class AppliedCouponOut(Output):
    lago_id: uuid.UUID
    lago_coupon_id: uuid.UUID
    coupon_code: str
    coupon_name: str
    coupon_status: str
    coupon_deleted_at: Timestamp | None
    lago_customer_id: uuid.UUID
    external_customer_id: str
    status: str
    amount_cents: int | None
    amount_cents_remaining: int | None
    amount_currency: str | None
    percentage_rate: DecimalString | None
    frequency: str
    frequency_duration: int | None
    frequency_duration_remaining: int | None
    expiration_at: Timestamp | None
    created_at: Timestamp
    terminated_at: Timestamp | None


class CouponCreditItemOut(Output):
    lago_item_id: uuid.UUID
    type: str
    code: str
    name: str


class CouponCreditInvoiceOut(Output):
    lago_id: uuid.UUID
    payment_status: str


class CouponCreditOut(Output):
    """What one invoice took from the applied coupon (an invoice's ``credits`` entry, Lago's shape)."""

    lago_id: uuid.UUID
    amount_cents: int
    amount_currency: str
    before_taxes: bool
    item: CouponCreditItemOut
    invoice: CouponCreditInvoiceOut


class AppliedCouponListItem(AppliedCouponOut):
    #: The credits invoices took from it, oldest first.
    credits: list[CouponCreditOut]


class AppliedCouponEnvelope(Output):
    applied_coupon: AppliedCouponOut


class AppliedCouponList(Output):
    applied_coupons: list[AppliedCouponListItem]
    meta: PageMeta


def _fields(applied: AppliedCoupon, coupon: Coupon, customer: Customer) -> dict[str, Any]:
    return {
        "lago_id": applied.id,
        "lago_coupon_id": coupon.id,
        "coupon_code": coupon.code,
        "coupon_name": coupon.name,
        "coupon_status": coupon.status,
        "coupon_deleted_at": coupon.deleted_at,
        "lago_customer_id": customer.id,
        "external_customer_id": customer.external_id,
        "status": applied.status,
        "amount_cents": applied.amount_cents,
        "amount_cents_remaining": applied.amount_cents_remaining,
        "amount_currency": applied.amount_currency,
        "percentage_rate": applied.percentage_rate,
        "frequency": applied.frequency,
        "frequency_duration": applied.frequency_duration,
        "frequency_duration_remaining": applied.frequency_duration_remaining,
        "expiration_at": coupon.expiration_at,
        "created_at": applied.created_at,
        "terminated_at": applied.terminated_at,
    }


def applied_coupon_out(applied: AppliedCoupon, coupon: Coupon, customer: Customer) -> AppliedCouponOut:
    return AppliedCouponOut(**_fields(applied, coupon, customer))


def applied_coupon_list_item(
    applied: AppliedCoupon,
    coupon: Coupon,
    customer: Customer,
    credits: Sequence[tuple[InvoiceCoupon, Invoice]] = (),
) -> AppliedCouponListItem:
    return AppliedCouponListItem(
        **_fields(applied, coupon, customer),
        credits=[
            CouponCreditOut(
                lago_id=credit.id,
                amount_cents=credit.amount_cents,
                amount_currency=credit.amount_currency,
                before_taxes=True,
                item=CouponCreditItemOut(
                    lago_item_id=coupon.id, type="coupon", code=coupon.code, name=coupon.name
                ),
                invoice=CouponCreditInvoiceOut(lago_id=invoice.id, payment_status=invoice.payment_status),
            )
            for credit, invoice in credits
        ],
    )
