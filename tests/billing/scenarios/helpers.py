"""Building a subscription, billing it at frozen instants and reading back what was invoiced."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from billow.billing.run import bill_due
from billow.models.billable_metrics import BillableMetric
from billow.models.customers import Customer
from billow.models.invoices import AppliedTax, Fee, Invoice, InvoiceSubscription
from billow.models.organizations import Organization
from billow.models.plans import Charge, Plan
from billow.models.subscriptions import Subscription
from tests.fixtures import factories as f
from tests.fixtures.factories import at

SECOND = timedelta(seconds=1)


@dataclass
class World:
    org: Organization
    metric: BillableMetric
    plan: Plan
    charge: Charge | None
    customer: Customer
    subscription: Subscription

    def event(self, session: Session, timestamp: str | datetime, value: int | str) -> None:
        f.event(
            session,
            self.org,
            self.metric.code,
            timestamp,
            {"value": value},
            external_subscription_id=self.subscription.external_id,
        )


def world(
    session: Session,
    *,
    started_at: datetime | str,
    interval: str = "monthly",
    billing_time: str = "calendar",
    amount_cents: int = 1000,
    timezone: str | None = None,
    org_timezone: str = "UTC",
    pay_in_advance: bool = False,
    trial_period: Decimal | int | None = None,
    bill_charges_monthly: bool | None = None,
    charge_model: str | None = "standard",
    properties: dict[str, Any] | None = None,
    terminated_at: datetime | str | None = None,
    org: Organization | None = None,
    external_id: str = "sub_1",
) -> World:
    """One organization (unless given), a ``sum_agg`` metric on ``value``, a plan with one charge
    (``standard`` at 1.00 per unit by default: a value of N bills N x 100 cents) and a subscription."""
    if isinstance(started_at, str):
        started_at = at(started_at)
    if isinstance(terminated_at, str):
        terminated_at = at(terminated_at)
    org = org or f.organization(session, document_number_prefix="SCN", timezone=org_timezone)
    metric = f.metric(session, org, "sum_agg", code=f"calls_{external_id}")
    plan = f.plan(
        session,
        org,
        interval=interval,
        amount_cents=amount_cents,
        pay_in_advance=pay_in_advance,
        trial_period=None if trial_period is None else Decimal(trial_period),
        bill_charges_monthly=bill_charges_monthly,
    )
    charge = None
    if charge_model is not None:
        charge = f.charge(session, org, plan, metric, charge_model, properties or {"amount": "1"})
    customer = f.customer(session, org, external_id=f"cus_{external_id}", timezone=timezone)
    subscription = f.subscription(
        session,
        org,
        customer,
        plan,
        external_id=external_id,
        started_at=started_at,
        billing_time=billing_time,
        status="active" if terminated_at is None else "terminated",
        terminated_at=terminated_at,
    )
    return World(org, metric, plan, charge, customer, subscription)


def run(factory: sessionmaker[Session], as_of: datetime | str) -> int:
    """Bill at ``as_of``; the number of invoices created (no failure allowed)."""
    if isinstance(as_of, str):
        as_of = at(as_of)
    summary = bill_due(factory, as_of)
    assert summary.failed == []
    return summary.invoices_created


def step(factory: sessionmaker[Session], due: datetime | str, count: int = 1) -> None:
    """Nothing is due a second before ``due``; ``count`` invoices are due at ``due``."""
    if isinstance(due, str):
        due = at(due)
    assert run(factory, due - SECOND) == 0, f"invoice before {due}"
    assert run(factory, due) == count, f"expected {count} invoice(s) at {due}"


class Row(NamedTuple):
    issuing_date: str
    reason: str
    fees: list[tuple[str, int]]
    """``(fee_type, amount_cents)``, the subscription fee first."""
    fees_amount_cents: int
    taxes_amount_cents: int
    total_amount_cents: int


class Span(NamedTuple):
    from_datetime: datetime
    to_datetime: datetime
    charges_from_datetime: datetime | None
    charges_to_datetime: datetime | None


def _invoices(session: Session) -> list[tuple[Invoice, InvoiceSubscription]]:
    return [
        (invoice, link)
        for invoice, link in session.execute(
            select(Invoice, InvoiceSubscription)
            .join(InvoiceSubscription, InvoiceSubscription.invoice_id == Invoice.id)
            .order_by(InvoiceSubscription.timestamp, Invoice.organization_sequential_id)
        )
    ]


def rows(factory: sessionmaker[Session], subscription: Subscription | None = None) -> list[Row]:
    """Every invoice (of ``subscription`` if given), in issuing order."""
    with factory() as session:
        result = []
        for invoice, link in _invoices(session):
            if subscription is not None and link.subscription_id != subscription.id:
                continue
            fees = session.scalars(
                select(Fee)
                .where(Fee.invoice_id == invoice.id)
                .order_by(Fee.fee_type.desc(), Fee.amount_cents)
            ).all()
            result.append(
                Row(
                    invoice.issuing_date.isoformat(),
                    link.invoicing_reason,
                    [(fee.fee_type, fee.amount_cents) for fee in fees],
                    invoice.fees_amount_cents,
                    invoice.taxes_amount_cents,
                    invoice.total_amount_cents,
                )
            )
        return result


def spans(factory: sessionmaker[Session]) -> list[Span]:
    with factory() as session:
        return [
            Span(link.from_datetime, link.to_datetime, link.charges_from_datetime, link.charges_to_datetime)
            for _, link in _invoices(session)
        ]


def fee_taxes(factory: sessionmaker[Session]) -> list[list[tuple[str, int, int]]]:
    """Per invoice: ``(fee_type, amount_cents, taxes_amount_cents)`` of each fee."""
    with factory() as session:
        return [
            [
                (fee.fee_type, fee.amount_cents, fee.taxes_amount_cents)
                for fee in session.scalars(
                    select(Fee)
                    .where(Fee.invoice_id == invoice.id)
                    .order_by(Fee.fee_type.desc(), Fee.amount_cents)
                )
            ]
            for invoice, _ in _invoices(session)
        ]


def applied_taxes(factory: sessionmaker[Session]) -> list[list[tuple[str, int, int]]]:
    """Per invoice: ``(tax_code, amount_cents, fees_amount_cents)`` of each applied tax, by code."""
    with factory() as session:
        return [
            [
                (tax.tax_code, tax.amount_cents, tax.fees_amount_cents)
                for tax in session.scalars(
                    select(AppliedTax)
                    .where(AppliedTax.invoice_id == invoice.id)
                    .order_by(AppliedTax.tax_code)
                )
            ]
            for invoice, _ in _invoices(session)
        ]


def sub(amount: int) -> tuple[str, int]:
    return ("subscription", amount)


def usage(amount: int) -> tuple[str, int]:
    return ("charge", amount)


def periodic(issuing_date: str, *fees: tuple[str, int], taxes: int = 0) -> Row:
    """A periodic invoice without deductions: fees sum to ``fees_amount_cents``."""
    total = sum(amount for _, amount in fees)
    return Row(issuing_date, "subscription_periodic", list(fees), total, taxes, total + taxes)


def starting(issuing_date: str, *fees: tuple[str, int], taxes: int = 0) -> Row:
    return periodic(issuing_date, *fees, taxes=taxes)._replace(reason="subscription_starting")


def terminating(issuing_date: str, *fees: tuple[str, int], taxes: int = 0) -> Row:
    return periodic(issuing_date, *fees, taxes=taxes)._replace(reason="subscription_terminating")
