"""The provider's view of Billow's rows (:mod:`billow.providers.interface` snapshots), built in one short
transaction before a provider call, with this integration's mappings and the ids it already knows."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from billow.customers.snapshots import customer_data as snapshot_of
from billow.integrations.repository import integration_repository as repository
from billow.invoices.repository import invoice_repository
from billow.models.add_ons import AddOn
from billow.models.billable_metrics import BillableMetric
from billow.models.credit_notes import CreditNote, CreditNoteItem
from billow.models.customers import Customer, CustomerMetadata
from billow.models.integrations import Integration, IntegrationMapping
from billow.models.invoices import Fee, Invoice
from billow.models.plans import Charge, FixedCharge, Plan
from billow.models.subscriptions import Subscription
from billow.payment_methods.service import payment_method_service
from billow.providers.interface import (
    CreditNoteData,
    CreditNoteLine,
    CustomerData,
    InvoiceData,
    InvoiceLine,
    ItemMapping,
    PayableData,
    PaymentData,
    ProviderKind,
    SubscriptionData,
)


class Gone(Exception):
    """The job's object no longer exists (or is not this organization's)."""


def _row(session: Session, model: Any, organization_id: uuid.UUID, object_id: uuid.UUID) -> Any:
    row = session.get(model, object_id)
    if row is None or row.organization_id != organization_id:
        raise Gone(f"{model.__tablename__} {object_id}")
    return row


def known_customer_id(session: Session, integration: Integration, customer: Customer) -> str | None:
    """This integration's id of the customer, when known."""
    is_payment = integration.kind == ProviderKind.PAYMENT
    if is_payment and customer.payment_provider_code == integration.code and customer.provider_customer_id:
        return customer.provider_customer_id
    link = repository.customer_link(session, integration, customer.id)
    return link.external_customer_id if link is not None else None


def customer_data(session: Session, integration: Integration, customer: Customer) -> CustomerData:
    metadata = session.scalars(
        select(CustomerMetadata).where(
            CustomerMetadata.organization_id == customer.organization_id,
            CustomerMetadata.customer_id == customer.id,
        )
    )
    return snapshot_of(
        customer,
        provider_customer_id=known_customer_id(session, integration, customer),
        metadata={m.key: m.value for m in metadata},
    )


def customer_snapshot(session: Session, integration: Integration, customer_id: uuid.UUID) -> CustomerData:
    customer: Customer = _row(session, Customer, integration.organization_id, customer_id)
    return customer_data(session, integration, customer)


def _mappings(
    session: Session, integration: Integration
) -> tuple[dict[str, ItemMapping], dict[tuple[str, uuid.UUID], ItemMapping]]:
    defaults: dict[str, ItemMapping] = {}
    objects: dict[tuple[str, uuid.UUID], ItemMapping] = {}
    for row in repository.mappings(session, integration):
        item = _item(row)
        if row.mapping_type is not None:
            defaults[row.mapping_type] = item
        elif row.mappable_type is not None and row.mappable_id is not None:
            objects[(row.mappable_type, row.mappable_id)] = item
    return defaults, objects


def _item(row: IntegrationMapping) -> ItemMapping:
    return ItemMapping(
        external_id=row.external_id,
        external_account_code=row.external_account_code,
        external_name=row.external_name,
    )


def _fee_line(
    session: Session,
    fee: Fee,
    defaults: Mapping[str, ItemMapping],
    objects: Mapping[tuple[str, uuid.UUID], ItemMapping],
) -> InvoiceLine:
    refs: dict[str, str] = {}
    code = name = fee.fee_type
    mapping: ItemMapping | None = None
    subscription = session.get(Subscription, fee.subscription_id) if fee.subscription_id else None
    plan = session.get(Plan, subscription.plan_id) if subscription is not None else None
    if subscription is not None:
        refs["subscription_id"] = str(subscription.id)
    if plan is not None:
        refs["plan_id"] = str(plan.id)
    if fee.charge_id is not None:
        charge = session.get(Charge, fee.charge_id)
        metric = session.get(BillableMetric, charge.billable_metric_id) if charge is not None else None
        if metric is not None:
            refs["billable_metric_id"] = str(metric.id)
            code, name = metric.code, metric.name
            mapping = objects.get(("billable_metric", metric.id))
    elif fee.add_on_id is not None:
        add_on = session.get(AddOn, fee.add_on_id)
        if add_on is not None:
            refs["add_on_id"] = str(add_on.id)
            code, name = add_on.code, add_on.name
            mapping = objects.get(("add_on", add_on.id))
    elif fee.fixed_charge_id is not None:
        fixed = session.get(FixedCharge, fee.fixed_charge_id)
        if fixed is not None:
            refs["fixed_charge_id"] = str(fixed.id)
            code, name = fixed.code, fixed.invoice_display_name or fixed.code
            mapping = objects.get(("fixed_charge", fixed.id)) or objects.get(("add_on", fixed.add_on_id))
    elif plan is not None:
        code, name = plan.code, plan.invoice_display_name or plan.name
        mapping = objects.get(("plan", plan.id)) or defaults.get("subscription_fee")
    if fee.fee_type == "credit":
        mapping = mapping or defaults.get("prepaid_credit")
    if fee.fee_type == "commitment":
        mapping = mapping or defaults.get("minimum_commitment")
    return InvoiceLine(
        id=str(fee.id),
        fee_type=fee.fee_type,
        item_code=code,
        item_name=fee.invoice_display_name or name,
        description=fee.description or "",
        units=fee.units,
        unit_amount_cents=unit_amount_cents(fee.precise_amount_cents, fee.units),
        amount_cents=fee.amount_cents,
        taxes_amount_cents=fee.taxes_amount_cents,
        taxes_rate=fee.taxes_rate,
        refs=refs,
        mapping=mapping or defaults.get("fallback_item"),
        period_start=fee.from_datetime,
        period_end=fee.to_datetime,
    )


def invoice_data(session: Session, integration: Integration, invoice_id: uuid.UUID) -> InvoiceData:
    invoice: Invoice = _row(session, Invoice, integration.organization_id, invoice_id)
    customer: Customer = _row(session, Customer, integration.organization_id, invoice.customer_id)
    defaults, objects = _mappings(session, integration)
    fees = session.scalars(
        select(Fee)
        .where(Fee.organization_id == invoice.organization_id, Fee.invoice_id == invoice.id)
        .order_by(Fee.created_at, Fee.id)
    )
    known = repository.resource(session, integration, "invoice", invoice.id)
    return InvoiceData(
        id=str(invoice.id),
        number=invoice.number,
        invoice_type=invoice.invoice_type,
        status=invoice.status,
        payment_status=invoice.payment_status,
        currency=invoice.currency,
        issuing_date=invoice.issuing_date,
        payment_due_date=invoice.payment_due_date,
        customer=customer_data(session, integration, customer),
        lines=tuple(_fee_line(session, fee, defaults, objects) for fee in fees),
        fees_amount_cents=invoice.fees_amount_cents,
        coupons_amount_cents=invoice.coupons_amount_cents,
        credit_notes_amount_cents=invoice.credit_notes_amount_cents,
        prepaid_credit_amount_cents=invoice.prepaid_credit_amount_cents,
        sub_total_excluding_taxes_amount_cents=invoice.sub_total_excluding_taxes_amount_cents,
        taxes_amount_cents=invoice.taxes_amount_cents,
        total_amount_cents=invoice.total_amount_cents,
        total_paid_amount_cents=invoice.total_paid_amount_cents,
        total_due_amount_cents=invoice_due_cents(session, invoice),
        provider_invoice_id=known.external_id if known is not None else None,
        mappings=defaults,
    )


def unit_amount_cents(precise_amount_cents: Decimal, units: Decimal) -> Decimal:
    """A line's price per unit in minor units, sub-cent precision kept: 1000 cents / 3 units →
    333.333...; no units: the amount itself."""
    return precise_amount_cents / units if units else precise_amount_cents


def due_cents(invoice: Invoice, offset_cents: int = 0) -> int:
    """What is left to pay: total - paid - what credit notes offset, never below 0 (1000 - 250 = 750;
    1000 - 250 - 300 = 450; 1000 - 1200 → 0)."""
    # The billing run writes its invoice with Core inserts: a column left to its default is None on the
    # object its hooks get (nothing paid yet).
    return max((invoice.total_amount_cents or 0) - (invoice.total_paid_amount_cents or 0) - offset_cents, 0)


def invoice_due_cents(session: Session, invoice: Invoice) -> int:
    """What the invoice still owes as ``GET /invoices`` shows it: its credit notes' offsets deducted."""
    offsets = invoice_repository.credit_note_offsets(session, [invoice.id])
    return due_cents(invoice, offsets.get(invoice.id, 0))


def credit_note_data(session: Session, integration: Integration, note_id: uuid.UUID) -> CreditNoteData:
    note: CreditNote = _row(session, CreditNote, integration.organization_id, note_id)
    invoice: Invoice = _row(session, Invoice, integration.organization_id, note.invoice_id)
    customer: Customer = _row(session, Customer, integration.organization_id, note.customer_id)
    defaults, objects = _mappings(session, integration)
    lines = []
    items = session.scalars(
        select(CreditNoteItem)
        .where(
            CreditNoteItem.organization_id == note.organization_id, CreditNoteItem.credit_note_id == note.id
        )
        .order_by(CreditNoteItem.created_at, CreditNoteItem.id)
    )
    for item in items:
        fee = session.get(Fee, item.fee_id)
        line = _fee_line(session, fee, defaults, objects) if fee is not None else None
        lines.append(
            CreditNoteLine(
                id=str(item.id),
                invoice_line_id=str(item.fee_id),
                item_code=line.item_code if line else "",
                item_name=line.item_name if line else "",
                amount_cents=item.amount_cents,
                mapping=defaults.get("credit_note") or (line.mapping if line else None),
            )
        )
    known_invoice = repository.resource(session, integration, "invoice", invoice.id)
    known_note = repository.resource(session, integration, "credit_note", note.id)
    return CreditNoteData(
        id=str(note.id),
        number=note.number,
        invoice_id=str(invoice.id),
        invoice_number=invoice.number,
        currency=note.currency,
        issuing_date=note.issuing_date,
        reason=note.reason,
        customer=customer_data(session, integration, customer),
        lines=tuple(lines),
        sub_total_excluding_taxes_amount_cents=note.sub_total_excluding_taxes_amount_cents,
        taxes_amount_cents=note.taxes_amount_cents,
        total_amount_cents=note.total_amount_cents,
        credit_amount_cents=note.credit_amount_cents,
        refund_amount_cents=note.refund_amount_cents,
        coupons_adjustment_amount_cents=note.coupons_adjustment_amount_cents or 0,
        offset_amount_cents=note.offset_amount_cents or 0,
        provider_invoice_id=known_invoice.external_id if known_invoice else None,
        provider_credit_note_id=known_note.external_id if known_note else None,
        mappings=defaults,
    )


def subscription_data(
    session: Session, integration: Integration, subscription_id: uuid.UUID
) -> SubscriptionData:
    subscription: Subscription = _row(session, Subscription, integration.organization_id, subscription_id)
    plan: Plan = _row(session, Plan, integration.organization_id, subscription.plan_id)
    customer: Customer = _row(session, Customer, integration.organization_id, subscription.customer_id)
    known = repository.resource(session, integration, "subscription", subscription.id)
    return SubscriptionData(
        id=str(subscription.id),
        external_id=subscription.external_id,
        name=subscription.name,
        plan_code=plan.code,
        plan_name=plan.name,
        plan_amount_cents=plan.amount_cents,
        currency=plan.amount_currency,
        interval=plan.interval,
        status=subscription.status,
        started_at=subscription.started_at,
        ending_at=subscription.ending_at,
        terminated_at=subscription.terminated_at,
        customer=customer_data(session, integration, customer),
        provider_subscription_id=known.external_id if known else None,
    )


def invoice_payable(
    session: Session, integration: Integration, invoice: Invoice, customer: Customer
) -> PayableData:
    return PayableData(
        type="invoice",
        id=str(invoice.id),
        description=invoice.number,
        amount_cents=invoice_due_cents(session, invoice),
        currency=invoice.currency,
        customer=customer_data(session, integration, customer),
        invoice_ids=(str(invoice.id),),
        payment_method_ids=payment_method_service.provider_method_ids(session, integration, customer.id),
    )


# ------------------------------------------------------------------------------ payable as job input
def invoice_payable_json(invoice: Invoice, amount_cents: int | None = None) -> dict[str, Any]:
    """An invoice's payable as a job's input: ``amount_cents``, else what is due now from the invoice's own
    columns (a just finalized invoice has no credit note)."""
    return {
        "type": "invoice",
        "id": str(invoice.id),
        "description": invoice.number,
        "amount_cents": due_cents(invoice) if amount_cents is None else amount_cents,
        "currency": invoice.currency,
        "customer_id": str(invoice.customer_id),
        "invoice_ids": [str(invoice.id)],
        "payment_method_ids": [],
    }


def payable_to_json(payable: PayableData) -> dict[str, Any]:
    return {
        "type": payable.type,
        "id": payable.id,
        "description": payable.description,
        "amount_cents": payable.amount_cents,
        "currency": payable.currency,
        "customer_id": payable.customer.id,
        "invoice_ids": list(payable.invoice_ids),
        "payment_method_ids": list(payable.payment_method_ids),
    }


def payment_to_json(payment: PaymentData, customer_id: str) -> dict[str, Any]:
    """A recorded payment as a job's input (the payments table is another domain's)."""
    return {
        "id": payment.id,
        "amount_cents": payment.amount_cents,
        "currency": payment.currency,
        "paid_at": payment.paid_at.isoformat(),
        "reference": payment.reference,
        "customer_id": customer_id,
        "invoice_ids": list(payment.invoices),
    }


def payment_from_json(session: Session, integration: Integration, data: Mapping[str, Any]) -> PaymentData:
    """The payment of a job's input, with this integration's ids of its invoices and of itself."""
    customer: Customer = _row(session, Customer, integration.organization_id, uuid.UUID(data["customer_id"]))
    invoice_ids = [uuid.UUID(i) for i in data.get("invoice_ids") or ()]
    known = repository.resources_of(session, integration, "invoice", invoice_ids)
    synced = repository.resource(session, integration, "payment", uuid.UUID(data["id"]))
    defaults, _ = _mappings(session, integration)
    return PaymentData(
        id=str(data["id"]),
        amount_cents=int(data["amount_cents"]),
        currency=str(data["currency"]),
        paid_at=datetime.fromisoformat(data["paid_at"]),
        reference=data.get("reference"),
        customer=customer_data(session, integration, customer),
        invoices={str(i): (known[i].external_id if i in known else None) for i in invoice_ids},
        provider_payment_id=synced.external_id if synced is not None else None,
        mappings=defaults,
        invoice_amounts={str(i): int(c) for i, c in (data.get("invoice_amounts") or {}).items()},
    )


def payable_from_json(session: Session, integration: Integration, data: Mapping[str, Any]) -> PayableData:
    """The payable of a job's input, with the customer as it is now (its provider id may be new)."""
    customer: Customer = _row(session, Customer, integration.organization_id, uuid.UUID(data["customer_id"]))
    return PayableData(
        type=str(data["type"]),
        id=str(data["id"]),
        description=str(data["description"]),
        amount_cents=int(data["amount_cents"]),
        currency=str(data["currency"]),
        customer=customer_data(session, integration, customer),
        invoice_ids=tuple(data.get("invoice_ids") or ()),
        # The methods chosen for this payable, else the customer's stored ones now: the default first.
        payment_method_ids=tuple(data.get("payment_method_ids") or ())
        or payment_method_service.provider_method_ids(session, integration, customer.id),
    )
