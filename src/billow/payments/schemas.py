"""Request and response bodies of payments, payment requests and payment receipts (Lago's shapes)."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import Field

from billow.customers.schemas import CustomerOut
from billow.invoices.schemas import InvoiceHeadOut
from billow.kit.limits import AmountCents
from billow.kit.pagination import PageMeta
from billow.kit.schemas import Input, Output, Timestamp


class PaymentInput(Input):
    invoice_id: str | None = None
    amount_cents: AmountCents | None = None
    reference: str | None = None
    #: A date (``2025-02-20``: its midnight UTC) or an ISO-8601 instant.
    paid_at: str | None = None


class PaymentRequestBody(Input):
    payment: PaymentInput


class PaymentRequestInput(Input):
    external_customer_id: str | None = None
    email: str | None = Field(default=None, max_length=1024)
    lago_invoice_ids: list[str] | None = None


class PaymentRequestRequest(Input):
    payment_request: PaymentRequestInput


class PaymentOut(Output):
    lago_id: uuid.UUID
    lago_customer_id: uuid.UUID
    external_customer_id: str
    invoice_ids: list[uuid.UUID]
    invoice_numbers: list[str]
    lago_payable_id: uuid.UUID
    #: ``Invoice`` or ``PaymentRequest`` (Lago's class names).
    payable_type: str
    amount_cents: int
    amount_currency: str
    #: The provider's own status (``succeeded`` for a manual payment).
    status: str
    #: Billow's normalized status: ``pending``, ``processing``, ``requires_action``, ``succeeded``,
    #: ``failed``, ``canceled``.
    payment_status: str
    #: ``manual`` or ``provider``.
    type: str
    #: Empty for a provider payment (a string always: Lago's document and lago-python-client require one).
    reference: str
    payment_provider_code: str | None = None
    payment_provider_type: str | None = None
    external_payment_id: str | None = None
    provider_payment_id: str | None = None
    provider_customer_id: str | None = None
    payment_method_id: uuid.UUID | None = None
    next_action: dict[str, Any] = {}
    created_at: Timestamp


class PaymentEnvelope(Output):
    payment: PaymentOut


class PaymentList(Output):
    payments: list[PaymentOut]
    meta: PageMeta


class PaymentReceiptOut(Output):
    lago_id: uuid.UUID
    number: str
    payment: PaymentOut
    file_url: str | None = None
    created_at: Timestamp


class PaymentReceiptEnvelope(Output):
    payment_receipt: PaymentReceiptOut


class PaymentReceiptList(Output):
    payment_receipts: list[PaymentReceiptOut]
    meta: PageMeta


class PaymentRequestOut(Output):
    lago_id: uuid.UUID
    email: str
    amount_cents: int
    amount_currency: str
    payment_status: str
    created_at: Timestamp
    customer: CustomerOut
    invoices: list[InvoiceHeadOut]


class PaymentRequestEnvelope(Output):
    payment_request: PaymentRequestOut


class PaymentRequestList(Output):
    payment_requests: list[PaymentRequestOut]
    meta: PageMeta
