"""What every fee of a subscription invoice needs to know (:class:`InvoiceContext`) and a fee being drafted
(:class:`FeeDraft`). The bottom of the billing use cases: the writer, the assembly of a subscription
invoice, the true-up fees and the progressive credits build on it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from billow.billing.run_context import BillingRun, cached
from billow.billing.schedule import DueInvoice
from billow.customers.repository import customer_repository
from billow.models.customers import Customer
from billow.models.invoices import Fee
from billow.models.organizations import Organization
from billow.models.plans import Plan, plan_taxes
from billow.models.subscriptions import Subscription
from billow.models.taxes import Tax
from billow.plans.repository import plan_repository
from billow.taxes.repository import tax_repository
from billow.taxes.rules import applicable_charge_taxes


@dataclass
class FeeDraft:
    fee: Fee
    taxes: Sequence[Tax]
    #: What the period's progressive-billing invoices already billed of this fee (deducted before taxes).
    progressive_credit_cents: int = 0
    #: Its share of the invoice's coupons (:mod:`billow.billing.coupon_credits`; deducted before taxes).
    coupon_cents: int = 0


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
    #: ``False`` while the invoice is a draft (Lago applies coupons, credit notes and wallets only when
    #: finalizing).
    finalizing: bool = True
    #: The billing run writing the invoice (its catalog cache, prefetched usage, absence hints); ``None``
    #: outside a run (a draft's refresh).
    run: BillingRun | None = None

    def taxes_for(self, own_taxes: Sequence[Tax] = ()) -> Sequence[Tax]:
        """A fee's taxes: its own (charge) taxes, else the plan's, the customer's, the organization's."""
        return applicable_charge_taxes(
            charge_taxes=own_taxes,
            plan_taxes=self.plan_taxes,
            customer_taxes=self.customer_taxes,
            organization_taxes=self.organization_taxes,
        )


def invoice_context(
    session: Session,
    subscription: Subscription,
    due: DueInvoice,
    *,
    invoice_id: uuid.UUID | None = None,
    run: BillingRun | None = None,
) -> InvoiceContext:
    # Plan, organization and their taxes: once per billing run (billow.billing.run_context).
    plan = cached(
        run, session, ("plan", subscription.plan_id), lambda: session.get(Plan, subscription.plan_id)
    )
    customer = session.get(Customer, subscription.customer_id)
    organization = cached(
        run,
        session,
        ("organization", subscription.organization_id),
        lambda: session.get(Organization, subscription.organization_id),
    )
    assert plan is not None and customer is not None and organization is not None
    return InvoiceContext(
        session=session,
        organization=organization,
        customer=customer,
        subscription=subscription,
        plan=plan,
        due=due,
        invoice_id=invoice_id or uuid.uuid4(),
        timezone=customer.applicable_timezone(organization),
        currency=plan.amount_currency,
        plan_taxes=cached(
            run,
            session,
            ("plan_taxes", plan.id),
            lambda: plan_repository.taxes_of(session, plan_taxes, [plan.id])[plan.id],
        ),
        customer_taxes=cached(
            run,
            session,
            ("customer_taxes", customer.id),
            lambda: customer_repository.taxes_by_customer(session, [customer.id])[customer.id],
        ),
        run=run,
        organization_taxes=cached(
            run,
            session,
            ("organization_taxes", organization.id),
            lambda: tax_repository.organization_default_taxes(session, organization.id),
        ),
    )
