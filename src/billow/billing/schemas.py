"""Lifetime usage JSON (Lago's ``V1::LifetimeUsageSerializer``), the one-off invoice request
(``POST /invoices``, Lago's ``InvoiceOneOffCreateInput``) and the invoice preview
(``POST /invoices/preview``: Lago's ``InvoicePreviewInput`` and the unsaved invoice it answers)."""

from __future__ import annotations

import uuid

from pydantic import Field, StrictFloat, StrictInt, StrictStr

from billow.customers.schemas import CustomerOut
from billow.invoices.schemas import (
    AppliedTaxOut,
    BillingPeriodOut,
    CreditItemOut,
    FeeItemOut,
    FeeOut,
    InvoiceHeadOut,
)
from billow.kit.limits import AmountCents
from billow.kit.schemas import Input, JsonNumber, Output, Timestamp
from billow.subscriptions.schemas import SubscriptionOut


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


# ------------------------------------------------------------------------------------ one-off invoices


class OneOffFeeInput(Input):
    """One line of a one-off invoice: an add-on, its units (default 1; Lago's spec sends a string, its
    Python client a number), its unit price (default the add-on's), taxes (default the add-on's, the
    customer's, the organization's)."""

    add_on_code: str | None = None
    unit_amount_cents: AmountCents | None = None
    units: StrictStr | StrictInt | StrictFloat | None = Field(default=None, union_mode="left_to_right")
    description: str | None = Field(default=None, max_length=2048)
    invoice_display_name: str | None = None
    from_datetime: str | None = None
    to_datetime: str | None = None
    tax_codes: list[str] | None = None


class OneOffInvoiceInput(Input):
    external_customer_id: str | None = None
    currency: str | None = None
    fees: list[OneOffFeeInput] | None = None


class OneOffInvoiceRequest(Input):
    invoice: OneOffInvoiceInput


# ------------------------------------------------------------------------------------ invoice preview


class PreviewAddressInput(Input):
    address_line1: str | None = None
    address_line2: str | None = None
    city: str | None = None
    zipcode: str | None = None
    state: str | None = None
    country: str | None = None


class PreviewCustomerInput(Input):
    """The customer of a preview: an existing one (``external_id``), or one described inline (Lago's
    ``InvoicePreviewInput.customer``; the official client sends every field of its ``Customer``)."""

    external_id: str | None = None
    name: str | None = None
    currency: str | None = None
    timezone: str | None = None
    tax_identification_number: str | None = None
    address_line1: str | None = None
    address_line2: str | None = None
    city: str | None = None
    zipcode: str | None = None
    state: str | None = None
    country: str | None = None
    shipping_address: PreviewAddressInput | None = None


class PreviewCouponInput(Input):
    """A coupon of a preview: a stored coupon (``code`` of one) or terms given inline. The official
    client sends ``percentage_rate`` as a number, Lago's spec as a string."""

    code: str | None = None
    name: str | None = None
    coupon_type: str | None = None
    amount_cents: AmountCents | None = None
    amount_currency: str | None = None
    percentage_rate: StrictStr | StrictInt | StrictFloat | None = Field(
        default=None, union_mode="left_to_right"
    )
    frequency: str | None = None
    frequency_duration: AmountCents | None = None


class PreviewSubscriptionsInput(Input):
    external_ids: list[str] | None = None
    plan_code: str | None = None
    terminated_at: str | None = None


class InvoicePreviewRequest(Input):
    """``POST /invoices/preview`` (no root key: Lago's ``InvoicePreviewInput``)."""

    customer: PreviewCustomerInput | None = None
    plan_code: str | None = None
    billing_time: str | None = None
    subscription_at: str | None = None
    coupons: list[PreviewCouponInput] | None = None
    subscriptions: PreviewSubscriptionsInput | None = None
    billing_entity_code: str | None = None


# What is not stored has no id or external id: the preview's models allow ``null`` where the stored
# invoice's do not (``type: ignore[assignment]``: mypy refuses a field's type widened in a subclass).


class PreviewFeeItemOut(FeeItemOut):
    lago_item_id: uuid.UUID | None  # type: ignore[assignment]


class PreviewFeeOut(FeeOut):
    """A fee of a preview: not stored, so no id (Lago answers ``null``)."""

    lago_id: uuid.UUID | None  # type: ignore[assignment]
    lago_customer_id: uuid.UUID | None  # type: ignore[assignment]
    external_customer_id: str | None  # type: ignore[assignment]
    item: PreviewFeeItemOut


class PreviewBillingPeriodOut(BillingPeriodOut):
    lago_subscription_id: uuid.UUID | None  # type: ignore[assignment]
    external_subscription_id: str | None  # type: ignore[assignment]


class PreviewAppliedTaxOut(AppliedTaxOut):
    lago_id: uuid.UUID | None  # type: ignore[assignment]
    lago_invoice_id: uuid.UUID | None  # type: ignore[assignment]


class PreviewCreditItemOut(CreditItemOut):
    lago_item_id: uuid.UUID | None  # type: ignore[assignment]
    code: str | None  # type: ignore[assignment]
    name: str | None  # type: ignore[assignment]


class PreviewCreditInvoiceOut(Output):
    lago_id: uuid.UUID | None
    payment_status: str


class PreviewCreditOut(Output):
    lago_id: uuid.UUID | None
    amount_cents: int
    amount_currency: str
    before_taxes: bool
    item: PreviewCreditItemOut
    invoice: PreviewCreditInvoiceOut


class PreviewCustomerOut(CustomerOut):
    external_id: str | None  # type: ignore[assignment]
    sequential_id: int | None  # type: ignore[assignment]
    slug: str | None  # type: ignore[assignment]


class PreviewSubscriptionOut(SubscriptionOut):
    external_id: str | None  # type: ignore[assignment]
    lago_customer_id: uuid.UUID | None  # type: ignore[assignment]
    external_customer_id: str | None  # type: ignore[assignment]


class PreviewInvoiceOut(InvoiceHeadOut):
    """The invoice a preview computes (Lago's ``V1::InvoiceSerializer`` of an unsaved invoice; ids:
    :mod:`billow.billing.preview_views`)."""

    voided_at: Timestamp | None = None
    customer: PreviewCustomerOut
    subscriptions: list[PreviewSubscriptionOut]
    billing_periods: list[PreviewBillingPeriodOut]
    fees: list[PreviewFeeOut]
    credits: list[PreviewCreditOut]
    applied_taxes: list[PreviewAppliedTaxOut]


class PreviewInvoiceEnvelope(Output):
    invoice: PreviewInvoiceOut
