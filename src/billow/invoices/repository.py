"""All SQL of the invoices API (every query filters on ``organization_id``)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from billow.billable_metrics.models import BillableMetric
from billow.customers.models import Customer
from billow.invoices.models import AppliedTax, Fee, Invoice, InvoiceSubscription
from billow.plans.models import Charge, ChargeFilter, ChargeFilterValue, Plan
from billow.subscriptions.models import Subscription


@dataclass(frozen=True)
class InvoiceFilters:
    external_customer_id: str | None = None
    customer_id: uuid.UUID | None = None
    status: str | None = None
    payment_status: str | None = None
    invoice_type: str | None = None
    issuing_date_from: date | None = None
    issuing_date_to: date | None = None


@dataclass(frozen=True)
class FeeFilters:
    fee_type: str | None = None
    external_subscription_id: str | None = None
    external_customer_id: str | None = None


@dataclass
class FeeContext:
    """What a fee's JSON names besides the fee: its subscription, customer, plan, charge, metric, filter."""

    subscriptions: dict[uuid.UUID, Subscription]
    customers: dict[uuid.UUID, Customer]
    plans: dict[uuid.UUID, Plan]
    charges: dict[uuid.UUID, Charge]
    metrics: dict[uuid.UUID, BillableMetric]
    filters: dict[uuid.UUID, ChargeFilter]
    filter_values: dict[uuid.UUID, dict[str, list[str]]]


def _by_id(session: Session, model: Any, ids: set[Any]) -> dict[Any, Any]:
    ids.discard(None)
    if not ids:
        return {}
    return {row.id: row for row in session.scalars(select(model).where(model.id.in_(ids)))}


class InvoiceRepository:
    def get(self, session: Session, organization_id: uuid.UUID, invoice_id: uuid.UUID) -> Invoice | None:
        return session.scalar(
            select(Invoice).where(Invoice.organization_id == organization_id, Invoice.id == invoice_id)
        )

    def list_stmt(self, organization_id: uuid.UUID, filters: InvoiceFilters) -> Select[Any]:
        stmt = select(Invoice).where(Invoice.organization_id == organization_id)
        if filters.external_customer_id is not None:
            stmt = stmt.join(Customer, Customer.id == Invoice.customer_id).where(
                Customer.external_id == filters.external_customer_id
            )
        if filters.customer_id is not None:
            stmt = stmt.where(Invoice.customer_id == filters.customer_id)
        if filters.status:
            stmt = stmt.where(Invoice.status == filters.status)
        if filters.payment_status:
            stmt = stmt.where(Invoice.payment_status == filters.payment_status)
        if filters.invoice_type:
            stmt = stmt.where(Invoice.invoice_type == filters.invoice_type)
        if filters.issuing_date_from:
            stmt = stmt.where(Invoice.issuing_date >= filters.issuing_date_from)
        if filters.issuing_date_to:
            stmt = stmt.where(Invoice.issuing_date <= filters.issuing_date_to)
        return stmt.order_by(Invoice.created_at.desc(), Invoice.id)

    def fees_by_invoice(
        self, session: Session, invoice_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, list[Fee]]:
        result: dict[uuid.UUID, list[Fee]] = defaultdict(list)
        if invoice_ids:
            for fee in session.scalars(
                select(Fee).where(Fee.invoice_id.in_(invoice_ids)).order_by(Fee.created_at, Fee.id)
            ):
                assert fee.invoice_id is not None
                result[fee.invoice_id].append(fee)
        return result

    def links_by_invoice(
        self, session: Session, invoice_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, list[InvoiceSubscription]]:
        result: dict[uuid.UUID, list[InvoiceSubscription]] = defaultdict(list)
        if invoice_ids:
            for link in session.scalars(
                select(InvoiceSubscription).where(InvoiceSubscription.invoice_id.in_(invoice_ids))
            ):
                result[link.invoice_id].append(link)
        return result

    def taxes_by_invoice(
        self, session: Session, invoice_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, list[AppliedTax]]:
        result: dict[uuid.UUID, list[AppliedTax]] = defaultdict(list)
        if invoice_ids:
            for tax in session.scalars(
                select(AppliedTax).where(AppliedTax.invoice_id.in_(invoice_ids)).order_by(AppliedTax.tax_code)
            ):
                result[tax.invoice_id].append(tax)
        return result

    def get_fee(self, session: Session, organization_id: uuid.UUID, fee_id: uuid.UUID) -> Fee | None:
        return session.scalar(select(Fee).where(Fee.organization_id == organization_id, Fee.id == fee_id))

    def fees_stmt(self, organization_id: uuid.UUID, filters: FeeFilters) -> Select[Any]:
        stmt = select(Fee).where(Fee.organization_id == organization_id)
        if filters.fee_type:
            stmt = stmt.where(Fee.fee_type == filters.fee_type)
        if filters.external_subscription_id is not None:
            stmt = stmt.join(Subscription, Subscription.id == Fee.subscription_id).where(
                Subscription.external_id == filters.external_subscription_id
            )
        if filters.external_customer_id is not None:
            stmt = stmt.join(Customer, Customer.id == Fee.customer_id).where(
                Customer.external_id == filters.external_customer_id
            )
        return stmt.order_by(Fee.created_at.desc(), Fee.id)

    def fee_context(self, session: Session, fees: Sequence[Fee]) -> FeeContext:
        subscriptions = _by_id(session, Subscription, {f.subscription_id for f in fees})
        customers = _by_id(session, Customer, {f.customer_id for f in fees})
        plans = _by_id(session, Plan, {s.plan_id for s in subscriptions.values()})
        charges = _by_id(session, Charge, {f.charge_id for f in fees})
        metrics = _by_id(session, BillableMetric, {c.billable_metric_id for c in charges.values()})
        filters = _by_id(session, ChargeFilter, {f.charge_filter_id for f in fees})
        values: dict[uuid.UUID, dict[str, list[str]]] = defaultdict(dict)
        if filters:
            for row in session.scalars(
                select(ChargeFilterValue).where(ChargeFilterValue.charge_filter_id.in_(list(filters)))
            ):
                values[row.charge_filter_id][row.key] = list(row.values)
        return FeeContext(subscriptions, customers, plans, charges, metrics, filters, values)

    def subscriptions_by_id(
        self, session: Session, organization_id: uuid.UUID, ids: set[uuid.UUID]
    ) -> dict[uuid.UUID, Subscription]:
        if not ids:
            return {}
        query = select(Subscription).where(
            Subscription.organization_id == organization_id, Subscription.id.in_(ids)
        )
        return {row.id: row for row in session.scalars(query)}

    def customers_by_id(
        self, session: Session, organization_id: uuid.UUID, ids: set[uuid.UUID]
    ) -> dict[uuid.UUID, Customer]:
        """Deleted customers included: their invoices stay readable."""
        if not ids:
            return {}
        query = select(Customer).where(Customer.organization_id == organization_id, Customer.id.in_(ids))
        return {row.id: row for row in session.scalars(query)}

    def customer_by_external_id(
        self, session: Session, organization_id: uuid.UUID, external_id: str
    ) -> Customer | None:
        return session.scalar(
            select(Customer).where(
                Customer.organization_id == organization_id,
                Customer.external_id == external_id,
                Customer.deleted_at.is_(None),
            )
        )


invoice_repository = InvoiceRepository()
