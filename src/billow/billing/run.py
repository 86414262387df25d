"""The billing run: bill every subscription invoice that is due (:func:`bill_due`).

For each subscription that may owe something, :func:`billow.billing.schedule.due_invoices` lists the
invoices due at ``as_of`` (catching up every missed period, oldest first); those whose key is already in
``invoice_subscriptions`` are skipped. Each remaining invoice is built and written in its **own**
transaction, after locking the subscription row (``SELECT ... FOR UPDATE`` on PostgreSQL, a no-op write
that takes SQLite's write lock there) and re-checking the key under the lock. The unique key on
``invoice_subscriptions`` is the backstop: a violation means another worker billed the period first; that
transaction is rolled back and the run goes on. A failure while billing one invoice rolls back that
invoice only; the subscription's later invoices wait for the next run so periods are billed in order.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billow.billing.proration import local_date, subscription_fee, trial_end
from billow.billing.schedule import DueInvoice, SubscriptionFacts, due_invoices
from billow.billing.taxes import applicable_charge_taxes, fee_tax_amounts, taxes_of_fees
from billow.customers.models import Customer
from billow.customers.repository import customer_repository
from billow.invoices.models import (
    AppliedTax,
    Fee,
    FeeType,
    Invoice,
    InvoiceSequence,
    InvoiceStatus,
    InvoiceSubscription,
    PaymentStatus,
)
from billow.kit.money import from_minor_units
from billow.metering.aggregation import AGGREGATION_TYPES
from billow.metering.repository import usage_repository
from billow.metering.usage import usage_service
from billow.organizations.models import Organization
from billow.plans.models import Plan, plan_taxes
from billow.plans.repository import plan_repository
from billow.subscriptions.models import Subscription, SubscriptionStatus
from billow.subscriptions.service import subscription_service
from billow.taxes.models import Tax

log = logging.getLogger(__name__)

_EPSILON = timedelta(microseconds=1)
_HUNDRED = Decimal(100)


@dataclass
class BillingSummary:
    as_of: datetime
    activated: int = 0
    terminated: int = 0
    invoices_created: int = 0
    already_billed: int = 0
    failed: list[str] = field(default_factory=list)
    invoice_ids: list[uuid.UUID] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"as of {self.as_of.isoformat()}: {self.invoices_created} invoice(s) created, "
            f"{self.already_billed} already billed, {len(self.failed)} failed; "
            f"{self.activated} subscription(s) activated, {self.terminated} terminated"
        )


def bill_due(
    session_factory: Callable[[], Session], as_of: datetime, *, organization_id: uuid.UUID | None = None
) -> BillingSummary:
    """Bill every subscription invoice due at or before ``as_of``. Idempotent; safe to run concurrently."""
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    summary = BillingSummary(as_of)
    with session_factory() as session, session.begin():
        transitions = subscription_service.apply_due_transitions(session, as_of, organization_id)
        summary.activated, summary.terminated = len(transitions.activated), len(transitions.terminated)

    with session_factory() as session:
        work = _pending_work(session, as_of, organization_id)

    # Oldest first across subscriptions, so numbers follow issuing dates.
    queue = sorted(
        (
            (due, position, subscription_id)
            for position, (subscription_id, dues) in enumerate(work)
            for due in dues
        ),
        key=lambda item: (item[0].due_at, item[1]),
    )
    failed_subscriptions: set[uuid.UUID] = set()
    for due, _, subscription_id in queue:
        if subscription_id in failed_subscriptions:
            continue  # keep this subscription's periods in order: the rest waits for the next run
        try:
            outcome = _bill_one(session_factory, subscription_id, due)
        except Exception as error:  # one invoice fails; the others go on
            log.exception("billing %s failed", due.key)
            summary.failed.append(f"{due.key}: {error!r}")
            failed_subscriptions.add(subscription_id)
            continue
        if outcome is None:
            summary.already_billed += 1
        else:
            summary.invoices_created += 1
            summary.invoice_ids.append(outcome)
    return summary


# ------------------------------------------------------------------------------------------ finding work


def _facts(subscription: Subscription, plan: Plan, timezone: str) -> SubscriptionFacts:
    assert subscription.started_at is not None
    return SubscriptionFacts(
        id=subscription.id,
        started_at=subscription.started_at,
        interval=plan.interval,
        billing_time=subscription.billing_time,
        timezone=timezone,
        pay_in_advance=plan.pay_in_advance,
        bill_charges_monthly=plan.bill_charges_monthly,
        terminated_at=subscription.terminated_at,
        trial_ended_at=trial_end(subscription.started_at, plan.trial_period),
    )


def _pending_work(
    session: Session, as_of: datetime, organization_id: uuid.UUID | None
) -> list[tuple[uuid.UUID, list[DueInvoice]]]:
    """Subscriptions that may owe an invoice (active ones; terminated ones not finally billed)."""
    final_billed = select(InvoiceSubscription.subscription_id).where(
        InvoiceSubscription.invoicing_reason == "subscription_terminating"
    )
    query = (
        select(Subscription, Plan, Customer, Organization)
        .join(Plan, Plan.id == Subscription.plan_id)
        .join(Customer, Customer.id == Subscription.customer_id)
        .join(Organization, Organization.id == Subscription.organization_id)
        .where(
            Subscription.started_at.is_not(None),
            Subscription.started_at <= as_of,
            (Subscription.status == SubscriptionStatus.ACTIVE)
            | (
                (Subscription.status == SubscriptionStatus.TERMINATED)
                & (Subscription.on_termination_invoice != "skip")
                & Subscription.id.not_in(final_billed)
            ),
        )
        .order_by(Subscription.started_at, Subscription.id)
    )
    if organization_id is not None:
        query = query.where(Subscription.organization_id == organization_id)
    work = []
    for subscription, plan, customer, organization in session.execute(query).all():
        facts = _facts(subscription, plan, customer.applicable_timezone(organization))
        billed = {
            (row.invoicing_reason, row.period_start)
            for row in session.execute(
                select(InvoiceSubscription.invoicing_reason, InvoiceSubscription.period_start).where(
                    InvoiceSubscription.subscription_id == subscription.id
                )
            )
        }
        due = [d for d in due_invoices(facts, as_of) if (d.reason.value, d.period_start) not in billed]
        if due:
            work.append((subscription.id, due))
    return work


# ------------------------------------------------------------------------------------------ one invoice


def _bill_one(
    session_factory: Callable[[], Session], subscription_id: uuid.UUID, due: DueInvoice
) -> uuid.UUID | None:
    """Write the invoice for ``due`` in its own transaction; ``None`` if it was billed already."""
    session = session_factory()
    try:
        with session.begin():
            subscription = _lock_subscription(session, subscription_id)
            if _already_billed(session, due):
                return None
            invoice = _write_invoice(session, subscription, due)
            session.flush()
            return invoice.id
    except IntegrityError:
        # Another worker billed this period between our check and our insert.
        if _already_billed_in_new_session(session_factory, due):
            return None
        raise
    finally:
        session.close()


def _lock_subscription(session: Session, subscription_id: uuid.UUID) -> Subscription:
    if session.get_bind().dialect.name == "postgresql":
        return session.execute(
            select(Subscription).where(Subscription.id == subscription_id).with_for_update()
        ).scalar_one()
    # SQLite: take the database write lock now (a no-op write), so concurrent runs queue here.
    table = Subscription.__table__
    session.execute(update(table).where(table.c.id == subscription_id).values(updated_at=table.c.updated_at))
    return session.execute(select(Subscription).where(Subscription.id == subscription_id)).scalar_one()


def _already_billed(session: Session, due: DueInvoice) -> bool:
    return (
        session.execute(
            select(InvoiceSubscription.id).where(
                InvoiceSubscription.subscription_id == due.subscription_id,
                InvoiceSubscription.invoicing_reason == due.reason.value,
                InvoiceSubscription.period_start == due.period_start,
            )
        ).first()
        is not None
    )


def _already_billed_in_new_session(session_factory: Callable[[], Session], due: DueInvoice) -> bool:
    with session_factory() as session:
        return _already_billed(session, due)


@dataclass
class _FeeDraft:
    fee: Fee
    taxes: Sequence[Tax]


def _write_invoice(session: Session, subscription: Subscription, due: DueInvoice) -> Invoice:
    plan = session.get(Plan, subscription.plan_id)
    customer = session.get(Customer, subscription.customer_id)
    organization = session.get(Organization, subscription.organization_id)
    assert plan is not None and customer is not None and organization is not None
    timezone = customer.applicable_timezone(organization)
    currency = plan.amount_currency
    invoice_id = uuid.uuid4()

    plan_tax_list = plan_repository.taxes_of(session, plan_taxes, [plan.id])[plan.id]
    customer_tax_list = customer_repository.taxes_by_customer(session, [customer.id])[customer.id]
    organization_tax_list = usage_repository.organization_default_taxes(session, organization.id)

    def taxes_for(charge_taxes: Sequence[Tax]) -> Sequence[Tax]:
        return applicable_charge_taxes(
            charge_taxes=charge_taxes,
            plan_taxes=plan_tax_list,
            customer_taxes=customer_tax_list,
            organization_taxes=organization_tax_list,
        )

    drafts: list[_FeeDraft] = []
    fee_from = fee_to = None
    if due.fee_period is not None:
        assert subscription.started_at is not None
        owed = subscription_fee(
            amount_cents=plan.amount_cents,
            period=due.fee_period,
            timezone=timezone,
            started_at=subscription.started_at,
            terminated_at=subscription.terminated_at,
            trial_ended_at=trial_end(subscription.started_at, plan.trial_period),
        )
        fee_from, fee_to = owed.from_datetime, owed.to_datetime
        if owed.days > 0:
            fee = Fee(
                organization_id=subscription.organization_id,
                invoice_id=invoice_id,
                customer_id=customer.id,
                subscription_id=subscription.id,
                fee_type=FeeType.SUBSCRIPTION,
                units=Decimal(1),
                total_aggregated_units=Decimal(1),
                events_count=0,
                amount_cents=owed.amount_cents,
                precise_amount_cents=owed.precise_amount_cents,
                amount_currency=currency,
                unit_amount=from_minor_units(owed.amount_cents, currency),
                amount_details={},
                invoice_display_name=plan.invoice_display_name,
                pay_in_advance=plan.pay_in_advance,
                from_datetime=owed.from_datetime,
                to_datetime=owed.to_datetime,
            )
            drafts.append(_FeeDraft(fee, taxes_for(())))

    if due.charges_from is not None and due.charges_to is not None and due.charges_to > due.charges_from:
        drafts.extend(
            _FeeDraft(fee, taxes_for(charge_taxes))
            for fee, charge_taxes in _charge_fees(
                session, organization, customer, subscription, plan, due, invoice_id=invoice_id
            )
        )

    # Taxes (§5.4): per fee rounded; per tax and in total rounded once over the exact sums.
    for draft in drafts:
        exact = fee_tax_amounts(draft.fee.amount_cents, draft.taxes)
        precise = sum(exact.values(), Decimal(0))
        draft.fee.taxes_precise_amount_cents = precise
        draft.fee.taxes_amount_cents = int(precise.to_integral_value(rounding=ROUND_HALF_UP))
        draft.fee.taxes_rate = sum((Decimal(t.rate) for t in draft.taxes), Decimal(0))
    totals = taxes_of_fees((d.fee.amount_cents, d.taxes) for d in drafts)
    fees_amount_cents = sum(d.fee.amount_cents for d in drafts)
    total = fees_amount_cents + totals.taxes_amount_cents

    issuing_date = local_date(due.due_at, timezone)
    net_payment_term = (
        customer.net_payment_term if customer.net_payment_term is not None else organization.net_payment_term
    )
    organization_seq = _next_value(session, organization.id, "organization")
    customer_seq = _next_value(session, organization.id, f"customer:{customer.id}")
    prefix = organization.document_number_prefix
    if organization.document_numbering == "per_organization":
        number = f"{prefix}-{issuing_date:%Y%m}-{organization_seq:03d}"
    else:
        number = f"{prefix}-{customer.sequential_id:03d}-{customer_seq:03d}"

    invoice = Invoice(
        id=invoice_id,
        organization_id=organization.id,
        customer_id=customer.id,
        number=number,
        sequential_id=customer_seq,
        organization_sequential_id=organization_seq,
        invoice_type="subscription",
        status=InvoiceStatus.FINALIZED,
        payment_status=PaymentStatus.PENDING if total > 0 else PaymentStatus.SUCCEEDED,
        currency=currency,
        issuing_date=issuing_date,
        payment_due_date=issuing_date + timedelta(days=net_payment_term),
        net_payment_term=net_payment_term,
        fees_amount_cents=fees_amount_cents,
        taxes_amount_cents=totals.taxes_amount_cents,
        sub_total_excluding_taxes_amount_cents=fees_amount_cents,
        sub_total_including_taxes_amount_cents=total,
        total_amount_cents=total,
        finalized_at=due.due_at,
    )
    session.add(invoice)
    session.flush()
    session.add(
        InvoiceSubscription(
            organization_id=organization.id,
            invoice_id=invoice_id,
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
    taxes_by_id = {t.id: t for d in drafts for t in d.taxes}
    bases: dict[Any, int] = {}
    for draft in drafts:
        for tax in draft.taxes:
            bases[tax.id] = bases.get(tax.id, 0) + draft.fee.amount_cents
    for tax_id, amount_cents in totals.by_tax.items():
        tax = taxes_by_id[tax_id]
        session.add(
            AppliedTax(
                organization_id=organization.id,
                invoice_id=invoice_id,
                tax_id=tax.id,
                tax_code=tax.code,
                tax_name=tax.name,
                tax_description=tax.description,
                tax_rate=tax.rate,
                amount_cents=amount_cents,
                amount_currency=currency,
                fees_amount_cents=bases[tax_id],
            )
        )
    return invoice


def _charge_fees(
    session: Session,
    organization: Organization,
    customer: Customer,
    subscription: Subscription,
    plan: Plan,
    due: DueInvoice,
    *,
    invoice_id: uuid.UUID,
) -> list[tuple[Fee, Sequence[Tax]]]:
    """The usage fees of the invoice's charges window, through the metering engine.

    ``usage_service.compute`` prices the charges period containing an instant, clipped to the
    subscription's life; asked at the window's last instant it prices exactly ``[charges_from,
    charges_to)`` (checked). Pay-in-advance charges are billed when their events arrive, not here.
    """
    assert due.charges_from is not None and due.charges_to is not None
    graphs = [
        graph
        for graph in plan_repository.load_charges(session, plan_repository.charges_of(session, plan))
        if graph.metric.aggregation_type in AGGREGATION_TYPES and not graph.charge.pay_in_advance
    ]
    if not graphs:
        return []
    usage = usage_service.compute(
        session,
        organization,
        customer=customer,
        subscription=subscription,
        plan=plan,
        charges=graphs,
        now=due.charges_to - _EPSILON,
        apply_taxes=False,
    )
    if usage.from_datetime != due.charges_from:
        raise RuntimeError(
            f"usage window {usage.from_datetime} differs from the invoice's {due.charges_from}"
        )
    by_charge = {graph.charge.id: graph for graph in graphs}
    fees: list[tuple[Fee, Sequence[Tax]]] = []
    for charge_usage in usage.charges:
        charge = charge_usage.charge
        graph = by_charge[charge.id]
        for item in charge_usage.fees:
            if item.units == 0 and item.amount_cents == 0 and item.events_count == 0:
                continue  # Lago does not persist empty fees
            display_name = charge.invoice_display_name
            if item.filter is not None and item.filter.filter.invoice_display_name:
                display_name = item.filter.filter.invoice_display_name
            amount = from_minor_units(item.amount_cents, usage.currency)
            fee = Fee(
                organization_id=subscription.organization_id,
                invoice_id=invoice_id,
                customer_id=customer.id,
                subscription_id=subscription.id,
                charge_id=charge.id,
                charge_filter_id=item.filter.filter.id if item.filter is not None else None,
                fee_type=FeeType.CHARGE,
                grouped_by=dict(item.grouped_by),
                units=item.units,
                total_aggregated_units=item.total_aggregated_units,
                events_count=item.events_count,
                amount_cents=item.amount_cents,
                precise_amount_cents=Decimal(item.amount_cents),
                amount_currency=usage.currency,
                unit_amount=amount / item.units if item.units else Decimal(0),
                amount_details={},
                invoice_display_name=display_name,
                pay_in_advance=False,
                invoiceable=charge.invoiceable,
                from_datetime=due.charges_from,
                to_datetime=due.charges_to,
            )
            fees.append((fee, graph.taxes))
    return fees


def _next_value(session: Session, organization_id: uuid.UUID, scope: str) -> int:
    """Increment and return the invoice counter of ``scope``; concurrent callers queue on the row."""
    table = InvoiceSequence.__table__
    dialect_insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    session.execute(
        dialect_insert(table)
        .values(organization_id=organization_id, scope=scope, last_value=0)
        .on_conflict_do_nothing(index_elements=[table.c.organization_id, table.c.scope])
    )
    return session.execute(
        update(table)
        .where(table.c.organization_id == organization_id, table.c.scope == scope)
        .values(last_value=table.c.last_value + 1)
        .returning(table.c.last_value)
    ).scalar_one()


__all__ = ["BillingSummary", "bill_due"]
