"""All SQL of the analytics routes: one query per route, always filtered by organization.

Months are grouped with ``extract`` (``EXTRACT`` on PostgreSQL, ``strftime`` on SQLite, both through
SQLAlchemy) on dates that are already the customer's calendar dates (``issuing_date``,
``payment_due_date``), so no time zone arithmetic happens in SQL.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVarTuple

from sqlalchemy import ColumnElement, Integer, Select, cast, extract, func, select
from sqlalchemy.orm import Session

from billow.models.billable_metrics import BillableMetric
from billow.models.customers import Customer
from billow.models.invoices import Fee, FeeType, Invoice, InvoiceStatus
from billow.models.plans import Charge, Plan
from billow.models.subscriptions import Subscription

#: The row types of a select statement (kept through the filters).
Row = TypeVarTuple("Row")


@dataclass(frozen=True)
class Filters:
    organization_id: uuid.UUID
    currency: str | None = None
    external_customer_id: str | None = None
    since: date | None = None


def _year(column: Any) -> ColumnElement[int]:
    return cast(extract("year", column), Integer)


def _month(column: Any) -> ColumnElement[int]:
    return cast(extract("month", column), Integer)


def _finalized(stmt: Select[*Row], filters: Filters, day: Any) -> Select[*Row]:
    """Finalized invoices of the organization, narrowed by the request's filters."""
    stmt = stmt.where(
        Invoice.organization_id == filters.organization_id, Invoice.status == InvoiceStatus.FINALIZED
    )
    if filters.currency is not None:
        stmt = stmt.where(Invoice.currency == filters.currency)
    if filters.since is not None:
        stmt = stmt.where(day >= filters.since)
    if filters.external_customer_id is not None:
        stmt = stmt.join(Customer, Customer.id == Invoice.customer_id).where(
            Customer.organization_id == filters.organization_id,
            Customer.external_id == filters.external_customer_id,
        )
    return stmt


def gross_revenues(session: Session, filters: Filters) -> list[Any]:
    year, month = _year(Invoice.issuing_date), _month(Invoice.issuing_date)
    stmt = select(
        year.label("year"),
        month.label("month"),
        Invoice.currency,
        func.sum(Invoice.total_amount_cents).label("amount_cents"),
        func.count(Invoice.id).label("invoices_count"),
    )
    stmt = _finalized(stmt, filters, Invoice.issuing_date)
    stmt = stmt.group_by(year, month, Invoice.currency).order_by(year, month, Invoice.currency)
    return list(session.execute(stmt))


def invoice_collections(session: Session, filters: Filters) -> list[Any]:
    year, month = _year(Invoice.issuing_date), _month(Invoice.issuing_date)
    stmt = select(
        year.label("year"),
        month.label("month"),
        Invoice.payment_status,
        Invoice.currency,
        func.sum(Invoice.total_amount_cents).label("amount_cents"),
        func.count(Invoice.id).label("invoices_count"),
    )
    stmt = _finalized(stmt, filters, Invoice.issuing_date)
    keys = (year, month, Invoice.currency, Invoice.payment_status)
    return list(session.execute(stmt.group_by(*keys).order_by(*keys)))


def invoiced_usages(session: Session, filters: Filters) -> list[Any]:
    year, month = _year(Invoice.issuing_date), _month(Invoice.issuing_date)
    stmt = (
        select(
            year.label("year"),
            month.label("month"),
            BillableMetric.code,
            Invoice.currency,
            func.sum(Fee.amount_cents).label("amount_cents"),
        )
        .select_from(Fee)
        .join(Invoice, Invoice.id == Fee.invoice_id)
        .join(Charge, Charge.id == Fee.charge_id)
        .join(BillableMetric, BillableMetric.id == Charge.billable_metric_id)
        .where(Fee.organization_id == filters.organization_id, Fee.fee_type == FeeType.CHARGE)
    )
    stmt = _finalized(stmt, filters, Invoice.issuing_date)
    keys = (year, month, Invoice.currency, BillableMetric.code)
    return list(session.execute(stmt.group_by(*keys).order_by(*keys)))


def overdue_invoices(session: Session, filters: Filters) -> list[Any]:
    """Overdue invoices (one row each; the service groups them, as it lists their ids)."""
    due = Invoice.payment_due_date
    stmt = select(
        _year(due).label("year"),
        _month(due).label("month"),
        Invoice.currency,
        Invoice.id,
        (Invoice.total_amount_cents - Invoice.total_paid_amount_cents).label("due_cents"),
    ).where(Invoice.payment_overdue.is_(True))
    stmt = _finalized(stmt, filters, due)
    return list(session.execute(stmt.order_by(due, Invoice.currency, Invoice.id)))


@dataclass(frozen=True)
class SubscriptionFee:
    subscription_id: uuid.UUID
    interval: str
    currency: str
    amount: Decimal
    issuing_date: date
    from_datetime: datetime | None


def subscription_fees(session: Session, filters: Filters) -> list[SubscriptionFee]:
    """Subscription fees of finalized invoices, net of their discounts (the MRR's input)."""
    stmt = (
        select(
            Fee.subscription_id,
            Plan.interval,
            Invoice.currency,
            Fee.amount_cents,
            Fee.precise_coupons_amount_cents,
            Invoice.issuing_date,
            Fee.from_datetime,
        )
        .select_from(Fee)
        .join(Invoice, Invoice.id == Fee.invoice_id)
        .join(Subscription, Subscription.id == Fee.subscription_id)
        .join(Plan, Plan.id == Subscription.plan_id)
        .where(Fee.organization_id == filters.organization_id, Fee.fee_type == FeeType.SUBSCRIPTION)
    )
    # The months window is applied after spreading (a yearly fee issued before it still counts in it).
    stmt = _finalized(
        stmt, Filters(filters.organization_id, filters.currency, filters.external_customer_id), None
    )
    return [
        SubscriptionFee(
            subscription_id=row.subscription_id,
            interval=row.interval,
            currency=row.currency,
            amount=Decimal(row.amount_cents) - row.precise_coupons_amount_cents,
            issuing_date=row.issuing_date,
            from_datetime=row.from_datetime,
        )
        for row in session.execute(stmt.order_by(Invoice.issuing_date, Fee.id))
    ]


@dataclass(frozen=True)
class UsageFilters:
    """``GET /analytics/usage``'s filters beyond the currency (every one optional)."""

    from_date: date | None = None
    to_date: date | None = None
    customer_type: str | None = None
    external_customer_id: str | None = None
    customer_country: str | None = None
    external_subscription_id: str | None = None
    is_billable_metric_recurring: bool | None = None
    plan_code: str | None = None
    billable_metric_code: str | None = None


def usages(session: Session, filters: Filters, usage: UsageFilters) -> list[Any]:
    """Charge fees of finalized invoices (one row each: units are exact decimals, stored as text on
    SQLite, so the service sums them)."""
    deleted = BillableMetric.deleted_at.is_not(None)
    stmt = (
        select(
            Invoice.issuing_date,
            BillableMetric.code,
            deleted.label("deleted"),
            Invoice.currency,
            Fee.units,
            Fee.amount_cents,
        )
        .select_from(Fee)
        .join(Invoice, Invoice.id == Fee.invoice_id)
        .join(Charge, Charge.id == Fee.charge_id)
        .join(BillableMetric, BillableMetric.id == Charge.billable_metric_id)
        .join(Customer, Customer.id == Fee.customer_id)
        .where(Fee.organization_id == filters.organization_id, Fee.fee_type == FeeType.CHARGE)
    )
    stmt = _finalized(stmt, Filters(filters.organization_id, filters.currency), None)
    conditions: list[ColumnElement[bool]] = []
    if usage.from_date is not None:
        conditions.append(Invoice.issuing_date >= usage.from_date)
    if usage.to_date is not None:
        conditions.append(Invoice.issuing_date <= usage.to_date)
    if usage.customer_type is not None:
        conditions.append(Customer.customer_type == usage.customer_type)
    if usage.external_customer_id is not None:
        conditions.append(Customer.external_id == usage.external_customer_id)
    if usage.customer_country is not None:
        conditions.append(Customer.country == usage.customer_country)
    if usage.is_billable_metric_recurring is not None:
        conditions.append(BillableMetric.recurring.is_(usage.is_billable_metric_recurring))
    if usage.billable_metric_code is not None:
        conditions.append(BillableMetric.code == usage.billable_metric_code)
    if usage.external_subscription_id is not None or usage.plan_code is not None:
        stmt = stmt.join(Subscription, Subscription.id == Fee.subscription_id)
        if usage.external_subscription_id is not None:
            conditions.append(Subscription.external_id == usage.external_subscription_id)
        if usage.plan_code is not None:
            stmt = stmt.join(Plan, Plan.id == Subscription.plan_id)
            conditions.append(Plan.code == usage.plan_code)
    keys = (Invoice.issuing_date, Invoice.currency, BillableMetric.code, Fee.id)
    return list(session.execute(stmt.where(*conditions).order_by(*keys)))
