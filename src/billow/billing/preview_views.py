"""The invoice preview in Lago's shape (:class:`~billow.billing.schemas.PreviewInvoiceOut`): the invoice
JSON of :mod:`billow.invoices.schemas`, with ``null`` for the ids of its fees, taxes and credits (not
stored) and for the external ids of a subscription or customer that do not exist, as Lago.

Where Lago also answers ``null`` but lago-python-client 1.55 requires a string (it then cannot read Lago's
own answer), Billow gives ids that are never stored: the invoice's ``lago_id`` (a fresh uuid; ``GET
/invoices/{id}`` answers 404) and ``number`` (the organization's draft number, as a draft's), the ``lago_id``
of a subscription or customer that does not exist. ``billing_periods`` (which Lago's preview omits) lists
the stored subscriptions' periods."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy import inspect
from sqlalchemy.orm import Session

from billow.billing.preview import InvoicePreview, PreviewPeriod, subscription_copy
from billow.billing.schemas import (
    PreviewAppliedTaxOut,
    PreviewBillingPeriodOut,
    PreviewCreditInvoiceOut,
    PreviewCreditItemOut,
    PreviewCreditOut,
    PreviewCustomerOut,
    PreviewFeeItemOut,
    PreviewFeeOut,
    PreviewInvoiceEnvelope,
    PreviewInvoiceOut,
    PreviewSubscriptionOut,
)
from billow.billing.writer import applied_tax_values
from billow.customers.repository import customer_repository
from billow.customers.schemas import customer_out
from billow.invoices import numbering
from billow.invoices.repository import invoice_repository
from billow.invoices.schemas import fee_out
from billow.models.customers import Customer
from billow.models.invoices import INVOICE_VERSION, Invoice, InvoiceType
from billow.models.subscriptions import Subscription
from billow.subscriptions.schemas import subscription_out

_SECOND = timedelta(seconds=1)


def _fields(model: Any) -> dict[str, Any]:
    return {name: getattr(model, name) for name in type(model).model_fields}


def _billing_period(period: PreviewPeriod) -> PreviewBillingPeriodOut:
    """As an invoice's ``billing_periods`` (:func:`billow.invoices.schemas.billing_period_out`)."""
    due = period.due
    start = period.fee_from or due.charges_from or due.due_at
    end = period.fee_to or due.charges_to or due.due_at
    charges_from = due.charges_from or start
    charges_to = due.charges_to or end
    return PreviewBillingPeriodOut(
        lago_subscription_id=period.subscription.id,
        external_subscription_id=period.subscription.external_id,
        lago_plan_id=period.plan.id,
        subscription_from_datetime=start,
        subscription_to_datetime=end - _SECOND if end > start else end,
        charges_from_datetime=charges_from,
        charges_to_datetime=charges_to - _SECOND if charges_to > charges_from else charges_to,
        invoicing_reason=due.reason.value,
    )


def _shown(period: PreviewPeriod) -> Subscription:
    if period.stored:
        return period.subscription
    return subscription_copy(period.subscription, external_id=period.subscription.external_id or "")


def _shown_customer(customer: Customer) -> Customer:
    """A customer described inline, with what the customer JSON needs of a stored one."""
    shown = Customer(**{attr.key: getattr(customer, attr.key) for attr in inspect(Customer).column_attrs})
    shown.external_id = ""
    shown.sequential_id = 0
    shown.slug = ""
    return shown


def preview_envelope(session: Session, preview: InvoicePreview, now: datetime) -> PreviewInvoiceEnvelope:
    """The preview's JSON (reads the fees' charges, metrics and filters, and the customer's metadata)."""
    organization, customer = preview.organization, preview.customer
    timezone = customer.applicable_timezone(organization)
    fees = [draft.fee for draft in preview.drafts]
    context = invoice_repository.fee_context(session, fees)
    # What is not stored has no external id: rendered with "" (the models want a string), answered null.
    context.customers[customer.id] = cast(
        Customer, SimpleNamespace(id=customer.id, external_id=customer.external_id or "")
    )
    shown = {p.subscription.id: _shown(p) for p in preview.periods}
    for period in preview.periods:
        context.subscriptions[period.subscription.id] = shown[period.subscription.id]
        context.plans[period.plan.id] = period.plan
    context.true_up_fees = {}
    fee_rows = []
    for fee in fees:
        if fee.id is None:  # fee_out wants one; the answer's is null
            fee.id = uuid.uuid4()
        out = fee_out(fee, context)
        values = _fields(out)
        external_subscription_id = next(
            (p.subscription.external_id for p in preview.periods if p.subscription.id == fee.subscription_id),
            None,
        )
        values.update(
            lago_id=None,
            lago_invoice_id=None,
            lago_true_up_parent_fee_id=None,
            external_customer_id=customer.external_id,
            external_subscription_id=external_subscription_id,
            item=PreviewFeeItemOut(**_fields(out.item)),
        )
        fee_rows.append(PreviewFeeOut(**values))

    metadata = (
        customer_repository.metadata_by_customer(session, [customer.id]) if preview.customer_stored else {}
    )
    shown_customer = customer if preview.customer_stored else _shown_customer(customer)
    customer_json = _fields(
        customer_out(shown_customer, organization, metadata.get(customer.id, []), preview.customer_taxes)
    )
    if not preview.customer_stored:
        customer_json.update(external_id=None, sequential_id=None, slug=None)
    subscriptions = []
    for period in preview.periods:
        values = _fields(
            subscription_out(
                shown[period.subscription.id], shown_customer, period.plan, timezone=timezone, now=now
            )
        )
        if not period.stored:
            values["external_id"] = period.subscription.external_id
        if not preview.customer_stored:
            values.update(lago_customer_id=None, external_customer_id=None)
        subscriptions.append(PreviewSubscriptionOut(**values))

    amounts = preview.amounts
    record = Invoice(id=None, organization_id=organization.id, currency=preview.currency)
    taxes = [
        PreviewAppliedTaxOut(
            lago_id=None,
            lago_invoice_id=None,
            lago_tax_id=values["tax_id"],
            tax_name=values["tax_name"],
            tax_code=values["tax_code"],
            tax_rate=values["tax_rate"],
            tax_description=values["tax_description"],
            amount_cents=values["amount_cents"],
            amount_currency=values["amount_currency"],
            fees_amount_cents=values["fees_amount_cents"],
            created_at=now,
        )
        for values in applied_tax_values(record, preview.drafts, amounts)
    ]
    invoice_ref = PreviewCreditInvoiceOut(lago_id=preview.invoice_id, payment_status="pending")
    credits = [
        PreviewCreditOut(
            lago_id=None,
            amount_cents=line.amount_cents,
            amount_currency=preview.currency,
            before_taxes=True,
            item=PreviewCreditItemOut(
                lago_item_id=line.coupon_id, type="coupon", code=line.code, name=line.name
            ),
            invoice=invoice_ref,
        )
        for line in preview.coupon_credits
    ] + [
        PreviewCreditOut(
            lago_id=None,
            amount_cents=line.amount_cents,
            amount_currency=preview.currency,
            before_taxes=False,
            item=PreviewCreditItemOut(
                lago_item_id=line.credit_note_id,
                type="credit_note",
                code=line.number,
                name=line.invoice_number,
            ),
            invoice=invoice_ref,
        )
        for line in preview.credit_note_credits
    ]
    invoice = PreviewInvoiceOut(
        lago_id=preview.invoice_id,
        sequential_id=None,
        number=numbering.draft_number(organization),
        purchase_order_number=next(
            (
                p.subscription.purchase_order_number
                for p in preview.periods
                if p.subscription.purchase_order_number
            ),
            None,
        ),
        issuing_date=preview.issuing_date,
        payment_due_date=preview.payment_due_date,
        net_payment_term=preview.net_payment_term,
        invoice_type=InvoiceType.SUBSCRIPTION,
        status="draft",
        payment_status="pending",
        payment_overdue=False,
        currency=preview.currency,
        fees_amount_cents=amounts.fees_amount_cents,
        taxes_amount_cents=amounts.taxes_amount_cents,
        progressive_billing_credit_amount_cents=amounts.progressive_billing_credit_amount_cents,
        coupons_amount_cents=amounts.coupons_amount_cents,
        credit_notes_amount_cents=amounts.credit_notes_amount_cents,
        sub_total_excluding_taxes_amount_cents=amounts.sub_total_excluding_taxes_amount_cents,
        sub_total_including_taxes_amount_cents=amounts.sub_total_including_taxes_amount_cents,
        total_amount_cents=amounts.total_amount_cents,
        total_due_amount_cents=max(amounts.total_amount_cents, 0),
        total_paid_amount_cents=0,
        prepaid_credit_amount_cents=amounts.prepaid_credit_amount_cents,
        version_number=INVOICE_VERSION,
        created_at=now,
        updated_at=now,
        customer=PreviewCustomerOut(**customer_json),
        subscriptions=subscriptions,
        billing_periods=[_billing_period(period) for period in preview.periods if period.stored],
        fees=fee_rows,
        credits=credits,
        applied_taxes=taxes,
    )
    return PreviewInvoiceEnvelope(invoice=invoice)
