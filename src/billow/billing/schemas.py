"""Lifetime usage JSON (Lago's ``V1::LifetimeUsageSerializer``) and the one-off invoice request
(``POST /invoices``, Lago's ``InvoiceOneOffCreateInput``)."""

from __future__ import annotations

import uuid

from pydantic import Field, StrictFloat, StrictInt, StrictStr

from billow.kit.limits import AmountCents
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
