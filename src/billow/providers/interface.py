"""The contract between Billow and a provider (payment, accounting, CRM).

Everything here is plain data or an abstract method: a provider imports this module and its provider's
SDK, nothing else of Billow. Amounts are integer minor units of ``currency`` (``*_cents``, as Lago), or
``Decimal`` where a quantity is not money; instants are aware UTC ``datetime``.

Who calls what:

* :mod:`billow.integrations` builds the snapshots from its rows, runs each provider call as a job (outside
  any database transaction, retried with backoff while :attr:`ProviderError.retryable`), records every
  attempt, and hands results back to the domains through the in-transaction hooks named below.
* :mod:`billow.payments` reacts to :data:`PAYMENT_RESULT_HOOK` and :data:`PAYMENT_EVENT_HOOK` (a payment
  row created or moved, the invoice's ``payment_status`` and paid/due amounts updated) and announces
  :data:`PAYABLE_CREATED_HOOK` when a payment request needs collecting.

Idempotency is everyone's: Billow passes an ``idempotency_key`` on each call that creates something at
the provider (stable across retries of one job), providers send it the way their API takes it (Stripe's
``Idempotency-Key`` header, PayPal's ``PayPal-Request-Id``...), and inbound events carry the provider's
own unique ``event_id`` so that a replayed webhook is applied once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar

# ----------------------------------------------------------------------------------------- hook names
#: ``run_hooks(session, PAYMENT_RESULT_HOOK, organization_id=, integration_code=, provider=, payable=,
#: result=)``: a provider answered a payment creation (``payable``: :class:`PayableData`, ``result``:
#: :class:`PaymentResult`). Run by :mod:`billow.integrations` in the transaction that records the job's end.
PAYMENT_RESULT_HOOK = "providers.payment_result"
#: ``run_hooks(session, PAYMENT_EVENT_HOOK, organization_id=, integration_code=, provider=, event=)``: a
#: verified inbound webhook event (:class:`InboundEvent`) not applied before.
PAYMENT_EVENT_HOOK = "providers.payment_event"
#: ``run_hooks(session, PAYMENT_FAILED_HOOK, organization_id=, integration_code=, provider=, payable=,
#: error=)``: a payment creation failed for good (``error``: :class:`ProviderError`).
PAYMENT_FAILED_HOOK = "providers.payment_failed"
#: ``run_hooks(session, PAYABLE_CREATED_HOOK, organization_id=, customer_id=, payable=)``: something must
#: be collected now (a payment request; ``payable``: :class:`PayableData`). Invoices are announced by
#: ``invoices.finalized`` instead.
PAYABLE_CREATED_HOOK = "providers.payable_created"


class ProviderKind(StrEnum):
    PAYMENT = "payment"
    ACCOUNTING = "accounting"
    CRM = "crm"


# -------------------------------------------------------------------------------------------- errors
class ProviderError(Exception):
    """A provider call that did not succeed.

    ``retryable``: the same call may succeed later (HTTP 5xx, 429, a timeout, a connection error); a
    refusal (a declined card, a validation error, bad credentials) is not retried. ``code`` is the
    provider's own error code when it gives one (``card_declined``), else a short Billow code
    (``http_500``, ``timeout``)."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "provider_error",
        retryable: bool = False,
        http_status: int | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.retryable = retryable
        self.http_status = http_status
        self.details = dict(details or {})


class WebhookSignatureInvalid(Exception):
    """An inbound webhook whose signature (or timestamp) does not verify: answered 400, nothing applied."""


# ------------------------------------------------------------------------------------------ context
@dataclass
class ProviderContext:
    """One integration of one organization, as a provider call sees it."""

    organization_id: str
    integration_code: str
    #: Non-secret settings as configured through ``/api/v1/integrations`` (validated by the provider).
    settings: Mapping[str, Any]
    #: The opened secrets (API keys, webhook secrets, OAuth tokens). Never log them.
    secrets: Mapping[str, str]
    #: Billow's public URL (``BILLOW_PUBLIC_URL``): success/return URLs, this integration's webhook URL.
    public_url: str
    #: The address of this integration's inbound webhook route at Billow.
    webhook_url: str
    #: The provider API's base URL when the integration overrides it (a sandbox, a proxy, a test
    #: stand-in); ``None``: the SDK's default.
    api_base_url: str | None = None
    #: Seconds before a provider call is abandoned (a retryable :class:`ProviderError` ``timeout``).
    timeout: float = 30.0
    #: Secrets the provider changed during the call (an OAuth access/refresh token pair it refreshed):
    #: the framework seals and stores them after the call, whatever its outcome.
    secret_updates: dict[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------- snapshots
@dataclass(frozen=True)
class CustomerData:
    id: str  #: Billow's ``lago_id``
    external_id: str
    name: str | None
    firstname: str | None = None
    lastname: str | None = None
    legal_name: str | None = None
    email: str | None = None  #: may hold several addresses separated by commas (Lago)
    phone: str | None = None
    address_line1: str | None = None
    address_line2: str | None = None
    city: str | None = None
    state: str | None = None
    zipcode: str | None = None
    country: str | None = None  #: ISO 3166 alpha-2
    currency: str | None = None
    tax_identification_number: str | None = None
    customer_type: str | None = None  #: ``company`` / ``individual`` / ``None``
    #: This integration's id of the customer when already known (``provider_customer_id`` for a payment
    #: provider, the ``integration_customers`` external id for accounting/CRM), else ``None``: create it.
    provider_customer_id: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ItemMapping:
    """Where a Billow object lands in an accounting/CRM tool (configured per integration)."""

    external_id: str  #: the item / product id (QuickBooks Item, Xero item code, HubSpot product)
    external_account_code: str | None = None  #: the ledger account (Xero ``AccountCode``...)
    external_name: str | None = None


@dataclass(frozen=True)
class InvoiceLine:
    id: str  #: the fee's ``lago_id``
    #: ``subscription``, ``charge``, ``fixed_charge``, ``add_on``, ``credit`` (wallet top-up), ``commitment``
    fee_type: str
    item_code: str  #: plan / metric / add-on / fixed charge code
    item_name: str
    description: str
    units: Decimal
    unit_amount_cents: Decimal  #: may hold sub-cent precision
    amount_cents: int  #: before taxes, after nothing else
    taxes_amount_cents: int
    taxes_rate: Decimal  #: the sum of the fee's tax rates, in percent (``20`` for 20 %)
    #: Billow ids this line belongs to: ``plan_id``, ``billable_metric_id``, ``add_on_id``,
    #: ``subscription_id``...
    refs: Mapping[str, str] = field(default_factory=dict)
    #: The mapping the integration has for this line (its add-on, metric or plan, else the fallback item).
    mapping: ItemMapping | None = None
    period_start: datetime | None = None
    period_end: datetime | None = None


@dataclass(frozen=True)
class InvoiceData:
    id: str
    number: str
    invoice_type: str  #: ``subscription``, ``add_on``, ``credit``, ``one_off``, ``progressive_billing``
    status: str
    payment_status: str
    currency: str
    issuing_date: date
    payment_due_date: date
    customer: CustomerData
    lines: tuple[InvoiceLine, ...]
    fees_amount_cents: int
    coupons_amount_cents: int
    credit_notes_amount_cents: int
    prepaid_credit_amount_cents: int
    sub_total_excluding_taxes_amount_cents: int
    taxes_amount_cents: int
    total_amount_cents: int
    total_paid_amount_cents: int = 0
    total_due_amount_cents: int = 0
    file_url: str | None = None
    #: This integration's id of the invoice when it was synced before (update it, don't create another).
    provider_invoice_id: str | None = None
    #: Default mappings of the integration by Lago's mapping type: ``fallback_item``, ``coupon``,
    #: ``credit_note``, ``tax``, ``prepaid_credit``, ``minimum_commitment``, ``subscription_fee``,
    #: ``account``.
    mappings: Mapping[str, ItemMapping] = field(default_factory=dict)


@dataclass(frozen=True)
class CreditNoteLine:
    id: str
    invoice_line_id: str  #: the fee credited
    item_code: str
    item_name: str
    amount_cents: int
    mapping: ItemMapping | None = None


@dataclass(frozen=True)
class CreditNoteData:
    id: str
    number: str
    invoice_id: str
    invoice_number: str
    currency: str
    issuing_date: date
    reason: str
    customer: CustomerData
    lines: tuple[CreditNoteLine, ...]
    sub_total_excluding_taxes_amount_cents: int
    taxes_amount_cents: int
    total_amount_cents: int
    credit_amount_cents: int
    refund_amount_cents: int
    #: The share of the invoice's coupons that the credited lines carried, taken back:
    #: ``sub_total_excluding_taxes = sum(lines) - coupons_adjustment``.
    coupons_adjustment_amount_cents: int = 0
    #: The part deducted from what was still due on the credited invoice (``credit_amount_cents`` is
    #: the customer's credit, consumed by later invoices; ``refund_amount_cents`` is paid back).
    offset_amount_cents: int = 0
    #: The integration's id of the credited invoice, when synced.
    provider_invoice_id: str | None = None
    provider_credit_note_id: str | None = None
    mappings: Mapping[str, ItemMapping] = field(default_factory=dict)


@dataclass(frozen=True)
class PaymentData:
    """A payment Billow recorded (manual or through a payment provider), for accounting/CRM."""

    id: str
    amount_cents: int
    currency: str
    paid_at: datetime
    reference: str | None
    customer: CustomerData
    #: The invoices it pays, Billow's ids → the integration's ids of them (``None`` when not synced).
    invoices: Mapping[str, str | None]
    provider_payment_id: str | None = None  #: this integration's id of the payment, when synced before
    mappings: Mapping[str, ItemMapping] = field(default_factory=dict)
    #: What it applied to each invoice: Billow's invoice id → cents (a payment request's payment is spread
    #: over its invoices; empty when unknown, e.g. a job queued before this was recorded).
    invoice_amounts: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class SubscriptionData:
    id: str
    external_id: str
    name: str | None
    plan_code: str
    plan_name: str
    plan_amount_cents: int
    currency: str
    interval: str
    status: str
    started_at: datetime | None
    ending_at: datetime | None
    terminated_at: datetime | None
    customer: CustomerData
    provider_subscription_id: str | None = None


@dataclass(frozen=True)
class PayableData:
    """What a payment collects: one invoice, or a payment request grouping several."""

    type: str  #: ``invoice`` or ``payment_request``
    id: str
    #: What the customer reads on a statement or checkout page (an invoice number, ``Payment request of
    #: 2026-12-07``).
    description: str
    amount_cents: int
    currency: str
    customer: CustomerData
    invoice_ids: tuple[str, ...]
    #: The customer's payment methods to try off-session (the provider's ids), in order; empty: the
    #: customer's default.
    payment_method_ids: tuple[str, ...] = ()


class PaymentStatus(StrEnum):
    """A payment's status at its provider, mapped by the provider to these."""

    PENDING = "pending"  #: created, no outcome yet (a SEPA debit takes days)
    PROCESSING = "processing"
    REQUIRES_ACTION = "requires_action"  #: 3-D Secure and the like: ``next_action_url``
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


@dataclass(frozen=True)
class PaymentResult:
    provider_payment_id: str
    status: PaymentStatus
    amount_cents: int
    currency: str
    #: The provider's own status string (``requires_payment_method``, ``pending_submission``...).
    provider_status: str | None = None
    next_action_url: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    #: Card brand/last4, mandate id... as the provider reports the method used.
    payment_method: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class PaymentMethodData:
    provider_method_id: str
    method_type: str  #: ``card``, ``sepa_debit``, ``paypal``, ``bacs_debit``...
    is_default: bool = False
    details: Mapping[str, Any] = field(default_factory=dict)  #: brand, last4, expiry... never a full number


@dataclass(frozen=True)
class RefundResult:
    provider_refund_id: str
    status: str  #: ``pending``, ``succeeded``, ``failed``
    amount_cents: int
    currency: str


@dataclass(frozen=True)
class SyncResult:
    """A customer/invoice/credit note/payment/subscription written at the provider."""

    external_id: str
    external_url: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DisputeData:
    """A payment's dispute (chargeback) as the provider reports it."""

    provider_dispute_id: str
    provider_payment_id: str  #: the disputed payment (the id :class:`PaymentResult` gave it)
    status: str  #: the provider's own status (``lost``, ``won``...)
    reason: str | None = None  #: the provider's reason (``fraudulent``...)
    amount_cents: int | None = None
    currency: str | None = None


class InboundEventType(StrEnum):
    PAYMENT_UPDATED = "payment.updated"  #: a payment's status changed (``payment`` set)
    REFUND_UPDATED = "refund.updated"  #: a refund's status changed (``refund`` set)
    #: a customer's method added or changed (``payment_method`` set)
    PAYMENT_METHOD_UPDATED = "payment_method.updated"
    CUSTOMER_UPDATED = "customer.updated"  #: e.g. a mandate became active; ``provider_customer_id`` set
    #: a payment's dispute closed lost (``dispute`` set): its invoices' ``payment_dispute_lost_at``
    DISPUTE_LOST = "dispute.lost"
    IGNORED = "ignored"  #: verified, of no interest to Billow (answered 200, recorded, not applied)


@dataclass(frozen=True)
class InboundEvent:
    """One verified event of a provider's webhook."""

    event_id: str  #: the provider's unique id of the event (the replay key)
    type: InboundEventType
    provider_event_type: str  #: ``payment_intent.succeeded``, ``PAYMENT.CAPTURE.COMPLETED``...
    occurred_at: datetime | None = None
    provider_customer_id: str | None = None
    payment: PaymentResult | None = None
    refund: RefundResult | None = None
    payment_method: PaymentMethodData | None = None
    dispute: DisputeData | None = None
    #: What Billow attached to the object when it created it (``billow_payable_type``,
    #: ``billow_payable_id``, ``billow_organization_id``, ``billow_customer_id``...), as the provider
    #: echoes it back (Stripe ``metadata``, PayPal ``custom_id``...).
    metadata: Mapping[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------- providers
class Provider(ABC):
    """A provider type. Stateless: one instance serves every organization (state is in the context)."""

    #: The name of the integration ``type`` in the API and of the entry point (``stripe``).
    name: ClassVar[str]
    kind: ClassVar[ProviderKind]
    #: Secrets the integration takes (write-only in the API): name → required?
    secret_fields: ClassVar[Mapping[str, bool]] = {}
    #: Non-secret settings: name → required?
    settings_fields: ClassVar[Mapping[str, bool]] = {}

    def validate(self, settings: Mapping[str, Any], secrets: Mapping[str, str]) -> dict[str, list[str]]:
        """Errors of a configuration, per field, with Lago's codes (``value_is_mandatory``,
        ``value_is_invalid``); the framework already checked the required fields. No network call."""
        return {}

    def sync_customer(self, ctx: ProviderContext, customer: CustomerData) -> SyncResult:
        """Create the customer at the provider (``customer.provider_customer_id`` is ``None``) or
        update it."""
        raise NotImplementedError


class PaymentProvider(Provider):
    kind = ProviderKind.PAYMENT

    @abstractmethod
    def create_payment(
        self, ctx: ProviderContext, payable: PayableData, idempotency_key: str
    ) -> PaymentResult:
        """Collect ``payable`` off-session with the customer's saved method. A refusal is a
        :class:`PaymentResult` with ``status=FAILED`` when the provider created a payment object, else a
        non-retryable :class:`ProviderError`."""

    @abstractmethod
    def payment_url(self, ctx: ProviderContext, payable: PayableData) -> str:
        """A hosted page where the customer pays ``payable`` (checkout session, PayPal approval link...)."""

    def checkout_url(self, ctx: ProviderContext, customer: CustomerData) -> str:
        """A hosted page where the customer saves a payment method (or signs a mandate)."""
        raise NotImplementedError

    def payment_methods(self, ctx: ProviderContext, customer: CustomerData) -> list[PaymentMethodData]:
        raise NotImplementedError

    def refund(
        self,
        ctx: ProviderContext,
        provider_payment_id: str,
        amount_cents: int,
        currency: str,
        idempotency_key: str,
        metadata: Mapping[str, str],
    ) -> RefundResult:
        raise NotImplementedError

    @abstractmethod
    def parse_webhook(
        self, ctx: ProviderContext, headers: Mapping[str, str], body: bytes
    ) -> list[InboundEvent]:
        """Verify an inbound webhook (raise :class:`WebhookSignatureInvalid`) and translate it. ``headers``
        have lower-case names. May call the provider (PayPal verifies signatures by an API call)."""


class AccountingProvider(Provider):
    kind = ProviderKind.ACCOUNTING

    @abstractmethod
    def sync_customer(self, ctx: ProviderContext, customer: CustomerData) -> SyncResult: ...

    @abstractmethod
    def sync_invoice(self, ctx: ProviderContext, invoice: InvoiceData) -> SyncResult:
        """Create the invoice (``provider_invoice_id`` is ``None``) or update it: never a second copy."""

    @abstractmethod
    def sync_credit_note(self, ctx: ProviderContext, credit_note: CreditNoteData) -> SyncResult: ...

    @abstractmethod
    def sync_payment(self, ctx: ProviderContext, payment: PaymentData) -> SyncResult: ...


class CrmProvider(Provider):
    kind = ProviderKind.CRM

    @abstractmethod
    def sync_customer(self, ctx: ProviderContext, customer: CustomerData) -> SyncResult: ...

    @abstractmethod
    def sync_subscription(self, ctx: ProviderContext, subscription: SubscriptionData) -> SyncResult: ...

    @abstractmethod
    def sync_invoice(self, ctx: ProviderContext, invoice: InvoiceData) -> SyncResult: ...
