"""Request and response bodies of wallets and wallet transactions (Lago's ``WalletCreateInput``,
``WalletUpdateInput``, ``WalletTransactionCreateInput``, ``WalletObject``, ``WalletTransactionObject``,
``WalletRecurringTransactionRule``)."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import Field

from billow.kit.limits import AmountCents, BigInt
from billow.kit.pagination import PageMeta
from billow.kit.schemas import DecimalString, Input, Output, Timestamp
from billow.models.customers import Customer
from billow.models.wallets import RecurringTransactionRule, Wallet, WalletTransaction


class KeyValueInput(Input):
    """One ``{key, value}`` of a transaction's metadata."""

    key: str | None = None
    value: str | None = None


class AppliesToInput(Input):
    fee_types: list[str] | None = None
    billable_metric_codes: list[str] | None = None


class PaymentMethodInput(Input):
    payment_method_type: str | None = None
    payment_method_id: str | None = None


class RecurringRuleInput(Input):
    lago_id: str | None = None
    trigger: str | None = None
    method: str | None = None
    interval: str | None = None
    threshold_credits: str | None = None
    paid_credits: str | None = None
    granted_credits: str | None = None
    target_ongoing_balance: str | None = None
    grants_target_top_up: bool | None = None
    started_at: str | None = None
    expiration_at: str | None = None
    invoice_requires_successful_payment: bool | None = None
    ignore_paid_top_up_limits: bool | None = None
    transaction_metadata: list[KeyValueInput] | None = None
    transaction_name: str | None = None
    purchase_order_number: str | None = None
    payment_method: PaymentMethodInput | None = None
    invoice_custom_section: dict[str, Any] | None = None


class WalletInput(Input):
    """Creation (``POST /wallets``, ``POST /customers/{id}/wallets``) and update (``PUT``): an update
    ignores the creation-only fields (rate, currency, credits, customer)."""

    external_customer_id: str | None = None
    rate_amount: str | None = None
    currency: str | None = None
    name: str | None = None
    code: str | None = None
    priority: BigInt | None = None
    paid_credits: str | None = None
    granted_credits: str | None = None
    expiration_at: str | None = None
    invoice_requires_successful_payment: bool | None = None
    paid_top_up_min_amount_cents: AmountCents | None = None
    paid_top_up_max_amount_cents: AmountCents | None = None
    ignore_paid_top_up_limits_on_creation: bool | None = None
    transaction_name: str | None = None
    transaction_metadata: list[KeyValueInput] | None = None
    transaction_priority: BigInt | None = None
    purchase_order_number: str | None = None
    billing_entity_code: str | None = None
    metadata: dict[str, str | None] | None = None
    recurring_transaction_rules: list[RecurringRuleInput] | None = None
    applies_to: AppliesToInput | None = None
    payment_method: PaymentMethodInput | None = None
    invoice_custom_section: dict[str, Any] | None = None


class WalletRequest(Input):
    wallet: WalletInput


class MetadataRequest(Input):
    metadata: dict[str, str | None]


class WalletTransactionInput(Input):
    wallet_id: str | None = Field(default=None, max_length=255)
    paid_credits: str | None = None
    granted_credits: str | None = None
    voided_credits: str | None = None
    voided_transaction_id: str | None = None
    invoice_requires_successful_payment: bool | None = None
    ignore_paid_top_up_limits: bool | None = None
    name: str | None = None
    priority: BigInt | None = None
    purchase_order_number: str | None = None
    metadata: list[KeyValueInput] | None = None
    payment_method: PaymentMethodInput | None = None
    invoice_custom_section: dict[str, Any] | None = None


class WalletTransactionRequest(Input):
    wallet_transaction: WalletTransactionInput


# ---------------------------------------------------------------------------------------------- output


class PaymentMethodOut(Output):
    payment_method_id: uuid.UUID | None = None
    payment_method_type: str = "provider"


class AppliesToOut(Output):
    fee_types: list[str]
    billable_metric_codes: list[str]


class RecurringRuleOut(Output):
    lago_id: uuid.UUID
    trigger: str
    method: str
    interval: str | None
    status: str
    threshold_credits: DecimalString
    paid_credits: DecimalString
    granted_credits: DecimalString
    target_ongoing_balance: DecimalString | None
    grants_target_top_up: bool
    started_at: Timestamp | None
    expiration_at: Timestamp | None
    created_at: Timestamp
    invoice_requires_successful_payment: bool
    ignore_paid_top_up_limits: bool
    transaction_metadata: list[dict[str, str]]
    transaction_name: str | None
    purchase_order_number: str | None
    payment_method: PaymentMethodOut
    applied_invoice_custom_sections: list[dict[str, Any]]


class WalletOut(Output):
    lago_id: uuid.UUID
    lago_customer_id: uuid.UUID
    external_customer_id: str
    #: Billing entities are not modelled yet: always null.
    billing_entity_code: str | None = None
    status: str
    currency: str
    name: str | None
    code: str | None
    priority: int
    purchase_order_number: str | None
    rate_amount: DecimalString
    credits_balance: DecimalString
    credits_ongoing_balance: DecimalString
    credits_ongoing_usage_balance: DecimalString
    balance_cents: int
    ongoing_balance_cents: int
    ongoing_usage_balance_cents: int
    consumed_credits: DecimalString
    created_at: Timestamp
    expiration_at: Timestamp | None
    last_balance_sync_at: Timestamp | None
    last_consumed_credit_at: Timestamp | None
    terminated_at: Timestamp | None
    invoice_requires_successful_payment: bool
    paid_top_up_min_amount_cents: int | None
    paid_top_up_max_amount_cents: int | None
    recurring_transaction_rules: list[RecurringRuleOut]
    applies_to: AppliesToOut
    applied_invoice_custom_sections: list[dict[str, Any]]
    payment_method: PaymentMethodOut
    metadata: dict[str, str | None] | None = None


class WalletEnvelope(Output):
    wallet: WalletOut


class WalletList(Output):
    wallets: list[WalletOut]
    meta: PageMeta


class MetadataEnvelope(Output):
    metadata: dict[str, str | None] | None


class WalletTransactionOut(Output):
    lago_id: uuid.UUID
    lago_wallet_id: uuid.UUID
    lago_invoice_id: uuid.UUID | None
    lago_credit_note_id: uuid.UUID | None
    lago_voided_invoice_id: uuid.UUID | None
    billing_entity_code: str | None = None
    status: str
    source: str
    transaction_status: str
    transaction_type: str
    amount: DecimalString
    credit_amount: DecimalString
    remaining_amount_cents: int | None
    remaining_credit_amount: DecimalString | None
    priority: int
    purchase_order_number: str | None
    settled_at: Timestamp | None
    failed_at: Timestamp | None
    created_at: Timestamp
    invoice_requires_successful_payment: bool
    metadata: list[dict[str, str]]
    name: str | None
    payment_method: PaymentMethodOut
    applied_invoice_custom_sections: list[dict[str, Any]]


class WalletTransactionEnvelope(Output):
    wallet_transaction: WalletTransactionOut


class WalletTransactionCollection(Output):
    wallet_transactions: list[WalletTransactionOut]


class WalletTransactionList(Output):
    wallet_transactions: list[WalletTransactionOut]
    meta: PageMeta


class PaymentDetailsOut(Output):
    lago_customer_id: uuid.UUID
    lago_wallet_transaction_id: uuid.UUID
    external_customer_id: str
    payment_provider: str
    payment_url: str


class PaymentDetailsEnvelope(Output):
    wallet_transaction_payment_details: PaymentDetailsOut


class ConsumptionOut(Output):
    lago_id: uuid.UUID
    amount_cents: int
    credit_amount: DecimalString
    created_at: Timestamp
    wallet_transaction: WalletTransactionOut


class ConsumptionList(Output):
    wallet_transaction_consumptions: list[ConsumptionOut]
    meta: PageMeta


class FundingList(Output):
    wallet_transaction_fundings: list[ConsumptionOut]
    meta: PageMeta


def rule_out(rule: RecurringTransactionRule) -> RecurringRuleOut:
    return RecurringRuleOut(
        lago_id=rule.id,
        trigger=rule.trigger,
        method=rule.method,
        interval=rule.interval,
        status=rule.status,
        threshold_credits=rule.threshold_credits,
        paid_credits=rule.paid_credits,
        granted_credits=rule.granted_credits,
        target_ongoing_balance=rule.target_ongoing_balance,
        grants_target_top_up=bool(rule.grants_target_top_up),
        started_at=rule.started_at,
        expiration_at=rule.expiration_at,
        created_at=rule.created_at,
        invoice_requires_successful_payment=rule.invoice_requires_successful_payment,
        ignore_paid_top_up_limits=rule.ignore_paid_top_up_limits,
        transaction_metadata=list(rule.transaction_metadata or []),
        transaction_name=rule.transaction_name,
        purchase_order_number=rule.purchase_order_number,
        payment_method=PaymentMethodOut(),
        applied_invoice_custom_sections=[],
    )


def wallet_out(wallet: Wallet, customer: Customer, rules: list[RecurringTransactionRule]) -> WalletOut:
    return WalletOut(
        lago_id=wallet.id,
        lago_customer_id=customer.id,
        external_customer_id=customer.external_id,
        status=wallet.status,
        currency=wallet.currency,
        name=wallet.name,
        code=wallet.code,
        priority=wallet.priority,
        purchase_order_number=wallet.purchase_order_number,
        rate_amount=wallet.rate_amount,
        credits_balance=wallet.credits_balance,
        credits_ongoing_balance=wallet.credits_ongoing_balance,
        credits_ongoing_usage_balance=wallet.credits_ongoing_usage_balance,
        balance_cents=wallet.balance_cents,
        ongoing_balance_cents=wallet.ongoing_balance_cents,
        ongoing_usage_balance_cents=wallet.ongoing_usage_balance_cents,
        consumed_credits=wallet.consumed_credits,
        created_at=wallet.created_at,
        expiration_at=wallet.expiration_at,
        last_balance_sync_at=wallet.last_balance_sync_at,
        last_consumed_credit_at=wallet.last_consumed_credit_at,
        terminated_at=wallet.terminated_at,
        invoice_requires_successful_payment=wallet.invoice_requires_successful_payment,
        paid_top_up_min_amount_cents=wallet.paid_top_up_min_amount_cents,
        paid_top_up_max_amount_cents=wallet.paid_top_up_max_amount_cents,
        recurring_transaction_rules=[rule_out(r) for r in rules if r.status == "active"],
        applies_to=AppliesToOut(
            fee_types=list(wallet.allowed_fee_types or []),
            billable_metric_codes=list(wallet.billable_metric_codes or []),
        ),
        applied_invoice_custom_sections=[],
        payment_method=PaymentMethodOut(),
        metadata=wallet.metadata_,
    )


def transaction_out(transaction: WalletTransaction) -> WalletTransactionOut:
    return WalletTransactionOut(
        lago_id=transaction.id,
        lago_wallet_id=transaction.wallet_id,
        lago_invoice_id=transaction.invoice_id,
        lago_credit_note_id=None,
        lago_voided_invoice_id=None,
        status=transaction.status,
        source=transaction.source,
        transaction_status=transaction.transaction_status,
        transaction_type=transaction.transaction_type,
        amount=transaction.amount,
        credit_amount=transaction.credit_amount,
        remaining_amount_cents=None,
        remaining_credit_amount=None,
        priority=transaction.priority,
        purchase_order_number=transaction.purchase_order_number,
        settled_at=transaction.settled_at,
        failed_at=transaction.failed_at,
        created_at=transaction.created_at,
        invoice_requires_successful_payment=transaction.invoice_requires_successful_payment,
        metadata=list(transaction.metadata_ or []),
        name=transaction.name,
        payment_method=PaymentMethodOut(),
        applied_invoice_custom_sections=[],
    )
