"""Assembling one subscription invoice: its fees, amounts (:mod:`billow.billing.totals`), number and rows.

:func:`write_subscription_invoice` runs inside the billing run's per-invoice transaction
(:mod:`billow.billing.run`), after the subscription row is locked. The ``invoice_subscriptions`` row is
flushed before the fees, so a second worker billing the same period fails on its unique key first.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from billow.billing.charge_fees import charge_fees
from billow.billing.proration import local_date, subscription_fee, trial_end
from billow.billing.schedule import DueInvoice
from billow.billing.taxes import applicable_charge_taxes
from billow.billing.totals import FeeLine, InvoiceAmounts, invoice_amounts
from billow.customers.models import Customer
from billow.customers.repository import customer_repository
from billow.invoices import numbering
from billow.invoices.models import (
    AppliedTax,
    Fee,
    FeeType,
    Invoice,
    InvoiceStatus,
    InvoiceSubscription,
    PaymentStatus,
)
from billow.kit.money import from_minor_units
from billow.metering.repository import usage_repository
from billow.organizations.models import Organization
from billow.plans.models import Plan, plan_taxes
from billow.plans.repository import plan_repository
from billow.subscriptions.models import Subscription
from billow.taxes.models import Tax


@dataclass
class FeeDraft:
    fee: Fee
    taxes: Sequence[Tax]


@dataclass
class InvoiceContext:
    """What every fee of a subscription invoice needs to know."""

    session: Session
    organization: Organization
    customer: Customer
    subscription: Subscription
    plan: Plan
    due: DueInvoice
    invoice_id: uuid.UUID
    timezone: str
    currency: str
    plan_taxes: Sequence[Tax]
    customer_taxes: Sequence[Tax]
    organization_taxes: Sequence[Tax]

    def taxes_for(self, own_taxes: Sequence[Tax] = ()) -> Sequence[Tax]:
        """A fee's taxes: its own (charge) taxes, else the plan's, the customer's, the organization's."""
        return applicable_charge_taxes(
            charge_taxes=own_taxes,
            plan_taxes=self.plan_taxes,
            customer_taxes=self.customer_taxes,
            organization_taxes=self.organization_taxes,
        )


def invoice_context(session: Session, subscription: Subscription, due: DueInvoice) -> InvoiceContext:
    plan = session.get(Plan, subscription.plan_id)
    customer = session.get(Customer, subscription.customer_id)
    organization = session.get(Organization, subscription.organization_id)
    assert plan is not None and customer is not None and organization is not None
    return InvoiceContext(
        session=session,
        organization=organization,
        customer=customer,
        subscription=subscription,
        plan=plan,
        due=due,
        invoice_id=uuid.uuid4(),
        timezone=customer.applicable_timezone(organization),
        currency=plan.amount_currency,
        plan_taxes=plan_repository.taxes_of(session, plan_taxes, [plan.id])[plan.id],
        customer_taxes=customer_repository.taxes_by_customer(session, [customer.id])[customer.id],
        organization_taxes=usage_repository.organization_default_taxes(session, organization.id),
    )


def subscription_fee_draft(ctx: InvoiceContext) -> tuple[FeeDraft | None, datetime | None, datetime | None]:
    """The plan fee of the invoice (``None`` when it carries none or no day is owed) and its span."""
    due, subscription, plan = ctx.due, ctx.subscription, ctx.plan
    if due.fee_period is None:
        return None, None, None
    assert subscription.started_at is not None
    owed = subscription_fee(
        amount_cents=plan.amount_cents,
        period=due.fee_period,
        timezone=ctx.timezone,
        started_at=subscription.started_at,
        terminated_at=subscription.terminated_at,
        trial_ended_at=trial_end(subscription.started_at, plan.trial_period),
    )
    if owed.days <= 0:
        return None, owed.from_datetime, owed.to_datetime
    fee = Fee(
        organization_id=subscription.organization_id,
        invoice_id=ctx.invoice_id,
        customer_id=ctx.customer.id,
        subscription_id=subscription.id,
        fee_type=FeeType.SUBSCRIPTION,
        units=Decimal(1),
        total_aggregated_units=Decimal(1),
        events_count=0,
        amount_cents=owed.amount_cents,
        precise_amount_cents=owed.precise_amount_cents,
        amount_currency=ctx.currency,
        unit_amount=from_minor_units(owed.amount_cents, ctx.currency),
        amount_details={},
        invoice_display_name=plan.invoice_display_name,
        pay_in_advance=plan.pay_in_advance,
        from_datetime=owed.from_datetime,
        to_datetime=owed.to_datetime,
    )
    return FeeDraft(fee, ctx.taxes_for(())), owed.from_datetime, owed.to_datetime


def usage_fee_drafts(ctx: InvoiceContext) -> list[FeeDraft]:
    """The charge fees of the invoice's charges window."""
    due = ctx.due
    if due.charges_from is None or due.charges_to is None or due.charges_to <= due.charges_from:
        return []
    return [
        FeeDraft(fee, ctx.taxes_for(charge_taxes))
        for fee, charge_taxes in charge_fees(
            ctx.session,
            ctx.organization,
            ctx.customer,
            ctx.subscription,
            ctx.plan,
            due,
            invoice_id=ctx.invoice_id,
        )
    ]


def compute_amounts(drafts: Sequence[FeeDraft]) -> InvoiceAmounts:
    """Amounts of the invoice, writing each fee's taxes onto it (deductions: hooks for later issues)."""
    lines = [FeeLine(key=id(d.fee), amount_cents=d.fee.amount_cents, taxes=d.taxes) for d in drafts]
    amounts = invoice_amounts(lines)
    for draft in drafts:
        fee_taxes = amounts.fee_taxes[id(draft.fee)]
        draft.fee.taxes_precise_amount_cents = fee_taxes.taxes_precise_amount_cents
        draft.fee.taxes_amount_cents = fee_taxes.taxes_amount_cents
        draft.fee.taxes_rate = fee_taxes.taxes_rate
    return amounts


def write_subscription_invoice(session: Session, subscription: Subscription, due: DueInvoice) -> Invoice:
    ctx = invoice_context(session, subscription, due)
    organization, customer = ctx.organization, ctx.customer

    drafts: list[FeeDraft] = []
    subscription_draft, fee_from, fee_to = subscription_fee_draft(ctx)
    if subscription_draft is not None:
        drafts.append(subscription_draft)
    drafts.extend(usage_fee_drafts(ctx))
    amounts = compute_amounts(drafts)

    issuing_date = local_date(due.due_at, ctx.timezone)
    net_payment_term = (
        customer.net_payment_term if customer.net_payment_term is not None else organization.net_payment_term
    )
    number = numbering.allocate(session, organization, customer, issuing_date)
    total = amounts.total_amount_cents
    invoice = Invoice(
        id=ctx.invoice_id,
        organization_id=organization.id,
        customer_id=customer.id,
        number=number.number,
        sequential_id=number.sequential_id,
        organization_sequential_id=number.organization_sequential_id,
        invoice_type="subscription",
        status=InvoiceStatus.FINALIZED,
        payment_status=PaymentStatus.PENDING if total > 0 else PaymentStatus.SUCCEEDED,
        currency=ctx.currency,
        issuing_date=issuing_date,
        payment_due_date=issuing_date + timedelta(days=net_payment_term),
        net_payment_term=net_payment_term,
        fees_amount_cents=amounts.fees_amount_cents,
        taxes_amount_cents=amounts.taxes_amount_cents,
        progressive_billing_credit_amount_cents=amounts.progressive_billing_credit_amount_cents,
        coupons_amount_cents=amounts.coupons_amount_cents,
        credit_notes_amount_cents=amounts.credit_notes_amount_cents,
        prepaid_credit_amount_cents=amounts.prepaid_credit_amount_cents,
        sub_total_excluding_taxes_amount_cents=amounts.sub_total_excluding_taxes_amount_cents,
        sub_total_including_taxes_amount_cents=amounts.sub_total_including_taxes_amount_cents,
        total_amount_cents=total,
        finalized_at=due.due_at,
    )
    session.add(invoice)
    session.flush()
    session.add(
        InvoiceSubscription(
            organization_id=organization.id,
            invoice_id=invoice.id,
            subscription_id=subscription.id,
            invoicing_reason=due.reason.value,
            period_start=due.period_start,
            timestamp=due.due_at,
            # Without a plan fee, the billed span is the usage window (Lago always fills both).
            from_datetime=fee_from or due.charges_from,
            to_datetime=fee_to or due.charges_to,
            charges_from_datetime=due.charges_from,
            charges_to_datetime=due.charges_to,
        )
    )
    session.flush()  # the unique key: fails here if another worker billed this period
    for draft in drafts:
        draft.fee.payment_status = invoice.payment_status
        session.add(draft.fee)
    write_applied_taxes(session, invoice, drafts, amounts)
    return invoice


def write_applied_taxes(
    session: Session, invoice: Invoice, drafts: Sequence[FeeDraft], amounts: InvoiceAmounts
) -> None:
    taxes_by_id = {t.id: t for d in drafts for t in d.taxes}
    for tax_id, amount_cents in amounts.taxes_by_id.items():
        tax = taxes_by_id[tax_id]
        session.add(
            AppliedTax(
                organization_id=invoice.organization_id,
                invoice_id=invoice.id,
                tax_id=tax.id,
                tax_code=tax.code,
                tax_name=tax.name,
                tax_description=tax.description,
                tax_rate=tax.rate,
                amount_cents=amount_cents,
                amount_currency=invoice.currency,
                fees_amount_cents=amounts.tax_bases_by_id[tax_id],
            )
        )
