"""Invoice and fee JSON (Lago's ``V1::InvoiceSerializer`` and ``V1::FeeSerializer``)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import ConfigDict

from billow.customers.schemas import CustomerOut
from billow.invoices.repository import FeeContext, InvoiceCredit
from billow.kit.limits import AmountCents
from billow.kit.money import from_minor_units, round_minor_units
from billow.kit.pagination import PageMeta
from billow.kit.schemas import Date, DecimalString, Input, JsonNumber, Output, Timestamp
from billow.models.invoices import AppliedTax, Fee, Invoice, InvoiceMetadata, InvoiceSubscription
from billow.subscriptions.schemas import SubscriptionOut

_SECOND = timedelta(seconds=1)


class FeeItemOut(Output):
    type: str
    code: str
    name: str
    description: str | None
    invoice_display_name: str
    filters: dict[str, list[str]] | None
    filter_invoice_display_name: str | None
    lago_item_id: uuid.UUID
    item_type: str
    grouped_by: dict[str, Any]


class FeeOut(Output):
    lago_id: uuid.UUID
    lago_charge_id: uuid.UUID | None
    lago_charge_filter_id: uuid.UUID | None
    lago_fixed_charge_id: uuid.UUID | None = None
    lago_invoice_id: uuid.UUID | None
    lago_true_up_fee_id: uuid.UUID | None = None
    lago_true_up_parent_fee_id: uuid.UUID | None = None
    lago_original_fee_id: None = None
    lago_subscription_id: uuid.UUID | None
    external_subscription_id: str | None
    lago_customer_id: uuid.UUID
    external_customer_id: str
    item: FeeItemOut
    pay_in_advance: bool
    invoiceable: bool
    amount_cents: int
    amount_currency: str
    # JSON numbers, as Lago's ``fdiv`` (display only: the ``*_cents`` fields are exact).
    precise_amount: JsonNumber
    precise_total_amount: JsonNumber
    taxes_amount_cents: int
    taxes_precise_amount: JsonNumber
    taxes_rate: JsonNumber
    total_aggregated_units: DecimalString
    total_amount_cents: int
    total_amount_currency: str
    units: DecimalString
    description: str | None = None
    precise_unit_amount: DecimalString
    precise_coupons_amount_cents: DecimalString
    sub_total_excluding_taxes_amount_cents: int
    sub_total_excluding_taxes_precise_amount_cents: DecimalString
    events_count: int | None
    payment_status: str
    created_at: Timestamp
    succeeded_at: Timestamp | None = None
    failed_at: Timestamp | None = None
    refunded_at: Timestamp | None = None
    amount_details: dict[str, Any]
    self_billed: bool = False
    pricing_unit_details: None = None
    presentation_breakdowns: list[Any] = []
    from_date: Timestamp | None
    to_date: Timestamp | None
    event_transaction_id: str | None = None
    applied_taxes: list[Any] = []


class FeeEnvelope(Output):
    fee: FeeOut


class FeeList(Output):
    fees: list[FeeOut]
    meta: PageMeta


class BillingPeriodOut(Output):
    lago_subscription_id: uuid.UUID
    external_subscription_id: str
    lago_plan_id: uuid.UUID
    subscription_from_datetime: Timestamp
    subscription_to_datetime: Timestamp
    charges_from_datetime: Timestamp
    charges_to_datetime: Timestamp
    invoicing_reason: str


class AppliedTaxOut(Output):
    lago_id: uuid.UUID
    lago_invoice_id: uuid.UUID
    lago_tax_id: uuid.UUID | None
    tax_name: str
    tax_code: str
    tax_rate: JsonNumber
    tax_description: str | None
    amount_cents: int
    amount_currency: str
    fees_amount_cents: int
    created_at: Timestamp


class CreditItemOut(Output):
    lago_item_id: uuid.UUID
    type: str
    code: str
    name: str


class CreditInvoiceOut(Output):
    lago_id: uuid.UUID
    payment_status: str


class CreditOut(Output):
    """What an invoice took from a coupon (before taxes) or a credit note (after taxes)."""

    lago_id: uuid.UUID
    amount_cents: int
    amount_currency: str
    before_taxes: bool
    item: CreditItemOut
    invoice: CreditInvoiceOut


def credit_out(credit: InvoiceCredit, invoice: Invoice) -> CreditOut:
    return CreditOut(
        lago_id=credit.id,
        amount_cents=credit.amount_cents,
        amount_currency=credit.amount_currency,
        before_taxes=credit.before_taxes,
        item=CreditItemOut(
            lago_item_id=credit.item_id, type=credit.item_type, code=credit.item_code, name=credit.item_name
        ),
        invoice=CreditInvoiceOut(lago_id=invoice.id, payment_status=invoice.payment_status),
    )


class InvoiceMetadataOut(Output):
    lago_id: uuid.UUID
    key: str
    value: str
    created_at: Timestamp


class InvoiceHeadOut(Output):
    """An invoice's own fields, in Lago's order, without what it includes (customer, fees...): shared by
    a stored invoice (:class:`InvoiceOut`) and a preview's (:mod:`billow.billing.schemas`)."""

    lago_id: uuid.UUID
    billing_entity_code: str | None = None
    #: ``None`` on drafts (no number consumed yet).
    sequential_id: int | None
    number: str
    purchase_order_number: str | None
    issuing_date: Date
    payment_due_date: Date
    net_payment_term: int
    invoice_type: str
    status: str
    payment_status: str
    payment_dispute_lost_at: Timestamp | None = None
    payment_overdue: bool
    currency: str
    fees_amount_cents: int
    taxes_amount_cents: int
    progressive_billing_credit_amount_cents: int
    coupons_amount_cents: int
    credit_notes_amount_cents: int
    sub_total_excluding_taxes_amount_cents: int
    sub_total_including_taxes_amount_cents: int
    total_amount_cents: int
    total_due_amount_cents: int
    total_paid_amount_cents: int
    total_offsetted_credit_note_amount_cents: int = 0
    prepaid_credit_amount_cents: int
    prepaid_granted_credit_amount_cents: int = 0
    prepaid_purchased_credit_amount_cents: int = 0
    file_url: str | None = None
    xml_url: str | None = None
    web_url: str | None = None
    version_number: int
    self_billed: bool = False
    created_at: Timestamp
    updated_at: Timestamp


class InvoiceOut(InvoiceHeadOut):
    voided_at: Timestamp | None
    customer: CustomerOut
    subscriptions: list[SubscriptionOut]
    billing_periods: list[BillingPeriodOut]
    fees: list[FeeOut]
    credits: list[CreditOut] = []
    metadata: list[InvoiceMetadataOut] = []
    applied_taxes: list[AppliedTaxOut]
    applied_usage_thresholds: list[Any] = []
    applied_invoice_custom_sections: list[Any] = []
    error_details: list[Any] = []


class InvoiceEnvelope(Output):
    invoice: InvoiceOut


class InvoiceList(Output):
    invoices: list[InvoiceOut]
    meta: PageMeta


def _lago_end(instant: datetime) -> datetime:
    """Lago shows an exclusive end as the last second before it."""
    return instant - _SECOND


def _fee_end(fee: Fee) -> datetime | None:
    """Lago shows no dates on commitment fees; an add-on fee's ``to_datetime`` is shown as given (the
    other fees' windows end exclusively)."""
    if fee.to_datetime is None or fee.fee_type == "commitment":
        return None
    if fee.fee_type == "add_on":
        return fee.to_datetime
    return _lago_end(fee.to_datetime)


def fee_out(fee: Fee, context: FeeContext) -> FeeOut:
    subscription = context.subscriptions.get(fee.subscription_id) if fee.subscription_id else None
    customer = context.customers[fee.customer_id]
    if fee.charge_id is not None:
        charge = context.charges[fee.charge_id]
        metric = context.metrics[charge.billable_metric_id]
        charge_filter = context.filters.get(fee.charge_filter_id) if fee.charge_filter_id else None
        item = FeeItemOut(
            type="charge",
            code=metric.code,
            name=metric.name,
            description=metric.description,
            invoice_display_name=charge.invoice_display_name or metric.name,
            filters=context.filter_values.get(charge_filter.id, {}) if charge_filter else None,
            filter_invoice_display_name=charge_filter.invoice_display_name if charge_filter else None,
            lago_item_id=metric.id,
            item_type="BillableMetric",
            grouped_by=dict(fee.grouped_by or {}),
        )
    elif fee.fee_type == "fixed_charge":  # a plan's fixed charge: the item is its add-on (Lago's Fee#item_*)
        assert fee.add_on_id is not None
        add_on = context.add_ons[fee.add_on_id]
        item = FeeItemOut(
            type="fixed_charge",
            code=add_on.code,
            name=add_on.name,
            description=add_on.description,
            invoice_display_name=fee.invoice_display_name or add_on.invoice_display_name or add_on.name,
            filters=None,
            filter_invoice_display_name=None,
            lago_item_id=add_on.id,
            item_type="AddOn",
            grouped_by={},
        )
    elif fee.add_on_id is not None:
        add_on = context.add_ons[fee.add_on_id]
        item = FeeItemOut(
            type="add_on",
            code=add_on.code,
            name=add_on.name,
            description=add_on.description,
            invoice_display_name=fee.invoice_display_name or add_on.invoice_display_name or add_on.name,
            filters=None,
            filter_invoice_display_name=None,
            lago_item_id=add_on.id,
            item_type="AddOn",
            grouped_by={},
        )
    elif fee.fee_type == "credit":  # a wallet top-up: the item is the wallet transaction
        name = fee.invoice_display_name or "credit"
        item = FeeItemOut(
            type="credit",
            code="credit",
            name=name,
            description="credit",
            invoice_display_name=name,
            filters=None,
            filter_invoice_display_name=None,
            lago_item_id=fee.invoiceable_id or fee.id,
            item_type="WalletTransaction",
            grouped_by={},
        )
    elif fee.fee_type == "commitment":
        assert subscription is not None
        plan = context.plans[subscription.plan_id]
        item = FeeItemOut(
            type="commitment",
            code=plan.code,
            name=plan.name,
            description=plan.description,
            invoice_display_name=fee.invoice_display_name or "Minimum commitment",
            filters=None,
            filter_invoice_display_name=None,
            lago_item_id=subscription.id,
            item_type="Subscription",
            grouped_by={},
        )
    else:
        assert subscription is not None
        plan = context.plans[subscription.plan_id]
        item = FeeItemOut(
            type="subscription",
            code=plan.code,
            name=plan.name,
            description=plan.description,
            invoice_display_name=plan.invoice_display_name or plan.name,
            filters=None,
            filter_invoice_display_name=None,
            lago_item_id=subscription.id,
            item_type="Subscription",
            grouped_by={},
        )
    currency = fee.amount_currency
    total = fee.amount_cents + fee.taxes_amount_cents
    precise_total = fee.precise_amount_cents + fee.taxes_precise_amount_cents
    return FeeOut(
        lago_id=fee.id,
        lago_charge_id=fee.charge_id,
        lago_charge_filter_id=fee.charge_filter_id,
        lago_fixed_charge_id=fee.fixed_charge_id,
        lago_invoice_id=fee.invoice_id,
        lago_true_up_fee_id=context.true_up_fees.get(fee.id),
        lago_true_up_parent_fee_id=fee.true_up_parent_fee_id,
        lago_subscription_id=fee.subscription_id,
        external_subscription_id=subscription.external_id if subscription else None,
        lago_customer_id=customer.id,
        external_customer_id=customer.external_id,
        item=item,
        pay_in_advance=fee.pay_in_advance,
        invoiceable=fee.invoiceable,
        amount_cents=fee.amount_cents,
        amount_currency=currency,
        precise_amount=from_minor_units(fee.precise_amount_cents, currency),
        precise_total_amount=from_minor_units(precise_total, currency),
        taxes_amount_cents=fee.taxes_amount_cents,
        taxes_precise_amount=from_minor_units(fee.taxes_precise_amount_cents, currency),
        taxes_rate=fee.taxes_rate,
        total_aggregated_units=fee.total_aggregated_units,
        total_amount_cents=total,
        total_amount_currency=currency,
        units=fee.units,
        precise_unit_amount=fee.unit_amount,
        precise_coupons_amount_cents=fee.precise_coupons_amount_cents,
        # The fee net of its coupons (Lago: amount - precise coupons, rounded; whole cents here).
        sub_total_excluding_taxes_amount_cents=round_minor_units(
            Decimal(fee.amount_cents) - fee.precise_coupons_amount_cents
        ),
        sub_total_excluding_taxes_precise_amount_cents=fee.precise_amount_cents
        - fee.precise_coupons_amount_cents,
        events_count=fee.events_count,
        payment_status=fee.payment_status,
        created_at=fee.created_at,
        succeeded_at=fee.succeeded_at,
        failed_at=fee.failed_at,
        refunded_at=fee.refunded_at,
        amount_details=dict(fee.amount_details or {}),
        description=fee.description,
        from_date=fee.from_datetime if fee.fee_type != "commitment" else None,
        to_date=_fee_end(fee),
        event_transaction_id=fee.event_transaction_id,
    )


def billing_period_out(link: InvoiceSubscription, context: FeeContext) -> BillingPeriodOut:
    subscription = context.subscriptions[link.subscription_id]
    start = link.from_datetime or link.charges_from_datetime or link.timestamp
    end = link.to_datetime or link.charges_to_datetime or link.timestamp
    charges_from = link.charges_from_datetime or start
    charges_to = link.charges_to_datetime or end
    return BillingPeriodOut(
        lago_subscription_id=subscription.id,
        external_subscription_id=subscription.external_id,
        lago_plan_id=subscription.plan_id,
        subscription_from_datetime=start,
        subscription_to_datetime=_lago_end(end) if end > start else end,
        charges_from_datetime=charges_from,
        charges_to_datetime=_lago_end(charges_to) if charges_to > charges_from else charges_to,
        invoicing_reason=link.invoicing_reason,
    )


def applied_tax_out(tax: AppliedTax) -> AppliedTaxOut:
    return AppliedTaxOut(
        lago_id=tax.id,
        lago_invoice_id=tax.invoice_id,
        lago_tax_id=tax.tax_id,
        tax_name=tax.tax_name,
        tax_code=tax.tax_code,
        tax_rate=tax.tax_rate,
        tax_description=tax.tax_description,
        amount_cents=tax.amount_cents,
        amount_currency=tax.amount_currency,
        fees_amount_cents=tax.fees_amount_cents,
        created_at=tax.created_at,
    )


def invoice_out(
    invoice: Invoice,
    *,
    customer: CustomerOut,
    subscriptions: list[SubscriptionOut],
    links: list[InvoiceSubscription],
    fees: list[Fee],
    taxes: list[AppliedTax],
    context: FeeContext,
    purchase_order_number: str | None,
    metadata: list[InvoiceMetadata] | None = None,
    credits: list[InvoiceCredit] | None = None,
    offset_cents: int = 0,
) -> InvoiceOut:
    """``offset_cents``: what the invoice's credit notes offset (deducted from what is due)."""
    total_due = (
        0
        if invoice.status == "voided"
        else invoice.total_amount_cents - invoice.total_paid_amount_cents - offset_cents
    )
    return InvoiceOut(
        lago_id=invoice.id,
        sequential_id=invoice.sequential_id,
        number=invoice.number,
        purchase_order_number=purchase_order_number,
        issuing_date=invoice.issuing_date,
        payment_due_date=invoice.payment_due_date,
        net_payment_term=invoice.net_payment_term,
        invoice_type=invoice.invoice_type,
        status=invoice.status,
        payment_status=invoice.payment_status,
        payment_dispute_lost_at=invoice.payment_dispute_lost_at,
        payment_overdue=invoice.payment_overdue,
        currency=invoice.currency,
        fees_amount_cents=invoice.fees_amount_cents,
        taxes_amount_cents=invoice.taxes_amount_cents,
        progressive_billing_credit_amount_cents=invoice.progressive_billing_credit_amount_cents,
        coupons_amount_cents=invoice.coupons_amount_cents,
        credit_notes_amount_cents=invoice.credit_notes_amount_cents,
        sub_total_excluding_taxes_amount_cents=invoice.sub_total_excluding_taxes_amount_cents,
        sub_total_including_taxes_amount_cents=invoice.sub_total_including_taxes_amount_cents,
        total_amount_cents=invoice.total_amount_cents,
        total_due_amount_cents=max(total_due, 0),
        total_paid_amount_cents=invoice.total_paid_amount_cents,
        total_offsetted_credit_note_amount_cents=offset_cents,
        prepaid_credit_amount_cents=invoice.prepaid_credit_amount_cents,
        version_number=invoice.version_number,
        created_at=invoice.created_at,
        updated_at=invoice.updated_at,
        voided_at=invoice.voided_at,
        customer=customer,
        subscriptions=subscriptions,
        billing_periods=[billing_period_out(link, context) for link in links],
        fees=[fee_out(fee, context) for fee in fees],
        applied_taxes=[applied_tax_out(tax) for tax in taxes],
        metadata=[
            InvoiceMetadataOut(lago_id=row.id, key=row.key, value=row.value, created_at=row.created_at)
            for row in metadata or []
        ],
        credits=[credit_out(credit, invoice) for credit in credits or []],
        applied_usage_thresholds=list(invoice.applied_usage_thresholds or []),
        error_details=list(invoice.error_details or []),
    )


# ------------------------------------------------------------------------------------------ requests


class InvoiceMetadataInput(Input):
    # The service checks the lengths (Lago's: key 20, value 140), naming ``key`` and ``value``.
    model_config = ConfigDict(str_max_length=None)

    #: ``lago_id`` of an existing entry to update; unknown ids create a new entry (as Lago).
    id: str | None = None
    key: str | None = None
    value: str | None = None


class InvoiceUpdateInput(Input):
    payment_status: str | None = None
    metadata: list[InvoiceMetadataInput] | None = None


class InvoiceUpdateRequest(Input):
    invoice: InvoiceUpdateInput


class InvoiceVoidInput(Input):
    """``POST /invoices/{id}/void`` body (no root key); credit notes on void are not supported yet."""

    generate_credit_note: bool | None = None
    refund_amount: AmountCents | None = None
    credit_amount: AmountCents | None = None


class FeeUpdateInput(Input):
    payment_status: str | None = None


class FeeUpdateRequest(Input):
    fee: FeeUpdateInput
