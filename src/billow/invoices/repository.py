"""All SQL of the invoices API (every query filters on ``organization_id``)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, false, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from billow.kit.ids import parse_uuid
from billow.kit.locking import lock_row
from billow.models.add_ons import AddOn
from billow.models.billable_metrics import BillableMetric
from billow.models.coupons import AppliedCoupon, Coupon, InvoiceCoupon
from billow.models.credit_notes import CreditNote, InvoiceCreditNote
from billow.models.customers import Customer
from billow.models.events import Event
from billow.models.invoices import (
    VISIBLE_STATUSES,
    AppliedTax,
    Fee,
    Invoice,
    InvoiceMetadata,
    InvoiceStatus,
    InvoiceSubscription,
)
from billow.models.plans import Charge, ChargeFilter, ChargeFilterValue, Plan
from billow.models.subscriptions import Subscription


@dataclass(frozen=True)
class InvoiceFilters:
    """Lago's ``InvoicesQuery`` filters (validated by the service)."""

    external_customer_id: str | None = None
    customer_id: uuid.UUID | None = None
    statuses: tuple[str, ...] = ()
    payment_statuses: tuple[str, ...] = ()
    invoice_type: str | None = None
    issuing_date_from: date | None = None
    issuing_date_to: date | None = None
    currency: str | None = None
    payment_overdue: bool | None = None
    payment_dispute_lost: bool | None = None
    partially_paid: bool | None = None
    self_billed: bool | None = None
    amount_from: int | None = None
    amount_to: int | None = None
    search_term: str | None = None
    #: ``metadata[key]=value``: every pair must be present; an empty value means "no such key".
    metadata: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class FeeFilters:
    """Lago's ``FeesQuery`` filters (validated by the service)."""

    fee_type: str | None = None
    payment_status: str | None = None
    external_subscription_id: str | None = None
    external_customer_id: str | None = None
    billable_metric_code: str | None = None
    currency: str | None = None
    event_transaction_id: str | None = None
    created_at_from: datetime | None = None
    created_at_to: datetime | None = None
    succeeded_at_from: datetime | None = None
    succeeded_at_to: datetime | None = None
    failed_at_from: datetime | None = None
    failed_at_to: datetime | None = None
    refunded_at_from: datetime | None = None
    refunded_at_to: datetime | None = None


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
    #: Parent fee id → its true-up fee id (charge spending minimums).
    true_up_fees: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)
    #: The add-ons of ``add_on`` fees (deleted ones included).
    add_ons: dict[uuid.UUID, AddOn] = field(default_factory=dict)


def _by_id(session: Session, model: Any, ids: set[Any]) -> dict[Any, Any]:
    ids.discard(None)
    if not ids:
        return {}
    return {row.id: row for row in session.scalars(select(model).where(model.id.in_(ids)))}


def _like(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@dataclass(frozen=True)
class InvoiceCredit:
    """One entry of an invoice's ``credits``: what it took from a coupon or a credit note."""

    id: uuid.UUID
    amount_cents: int
    amount_currency: str
    before_taxes: bool
    item_id: uuid.UUID
    item_type: str
    item_code: str
    item_name: str


class InvoiceRepository:
    def get(
        self, session: Session, organization_id: uuid.UUID, invoice_id: uuid.UUID, *, visible: bool = True
    ) -> Invoice | None:
        """An invoice of the organization; invisible ones (closed, deleted) only with ``visible=False``."""
        stmt = select(Invoice).where(Invoice.organization_id == organization_id, Invoice.id == invoice_id)
        if visible:
            stmt = stmt.where(Invoice.status.in_(VISIBLE_STATUSES))
        return session.scalar(stmt)

    def by_ids(self, session: Session, organization_id: uuid.UUID, ids: Sequence[uuid.UUID]) -> list[Invoice]:
        """The organization's invoices among ``ids``, whatever their status."""
        if not ids:
            return []
        return list(
            session.scalars(
                select(Invoice).where(Invoice.organization_id == organization_id, Invoice.id.in_(set(ids)))
            )
        )

    def lock(self, session: Session, invoice: Invoice) -> Invoice:
        """Lock the invoice row for a status change and reload it (:func:`billow.kit.locking.lock_row`)."""
        return lock_row(session, Invoice, invoice.id)

    def drafts_to_finalize(self, session: Session, today: date) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """``(organization_id, invoice_id)`` of the drafts whose grace period is over."""
        rows = session.execute(
            select(Invoice.organization_id, Invoice.id)
            .where(
                Invoice.status == InvoiceStatus.DRAFT,
                Invoice.expected_finalization_date.is_not(None),
                Invoice.expected_finalization_date <= today,
            )
            .order_by(Invoice.expected_finalization_date, Invoice.created_at, Invoice.id)
        )
        return [(row[0], row[1]) for row in rows]

    def due_drafts_of(self, session: Session, organization_id: uuid.UUID, today: date) -> list[uuid.UUID]:
        """The organization's drafts whose ``expected_finalization_date`` has come, oldest first."""
        return list(
            session.scalars(
                select(Invoice.id)
                .where(
                    Invoice.organization_id == organization_id,
                    Invoice.status == InvoiceStatus.DRAFT,
                    Invoice.expected_finalization_date.is_not(None),
                    Invoice.expected_finalization_date <= today,
                )
                .order_by(Invoice.expected_finalization_date, Invoice.created_at, Invoice.id)
            )
        )

    def drafts_to_refresh(self, session: Session) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """Drafts that received events (timestamped in their charges window) since their last refresh."""
        refreshed_at = func.coalesce(Invoice.refreshed_at, Invoice.created_at)
        late_events = (
            select(Event.id)
            .join(Subscription, Subscription.external_id == Event.external_subscription_id)
            .where(
                Event.organization_id == Invoice.organization_id,
                Subscription.organization_id == Invoice.organization_id,
                Subscription.id == InvoiceSubscription.subscription_id,
                Event.created_at > refreshed_at,
                Event.timestamp >= InvoiceSubscription.charges_from_datetime,
                Event.timestamp < InvoiceSubscription.charges_to_datetime,
            )
            .exists()
        )
        rows = session.execute(
            select(Invoice.organization_id, Invoice.id)
            .join(InvoiceSubscription, InvoiceSubscription.invoice_id == Invoice.id)
            .where(Invoice.status == InvoiceStatus.DRAFT, late_events)
            .order_by(Invoice.created_at, Invoice.id)
        )
        return list(dict.fromkeys((row[0], row[1]) for row in rows))

    def list_stmt(self, organization_id: uuid.UUID, filters: InvoiceFilters) -> Select[Any]:
        stmt = select(Invoice).where(Invoice.organization_id == organization_id)
        stmt = stmt.where(Invoice.status.in_(filters.statuses or VISIBLE_STATUSES))
        if filters.external_customer_id is not None:
            stmt = stmt.where(
                Invoice.customer_id.in_(
                    select(Customer.id).where(
                        Customer.organization_id == organization_id,
                        Customer.external_id == filters.external_customer_id,
                    )
                )
            )
        if filters.customer_id is not None:
            stmt = stmt.where(Invoice.customer_id == filters.customer_id)
        if filters.payment_statuses:
            stmt = stmt.where(Invoice.payment_status.in_(filters.payment_statuses))
        if filters.invoice_type:
            stmt = stmt.where(Invoice.invoice_type == filters.invoice_type)
        if filters.issuing_date_from:
            stmt = stmt.where(Invoice.issuing_date >= filters.issuing_date_from)
        if filters.issuing_date_to:
            stmt = stmt.where(Invoice.issuing_date <= filters.issuing_date_to)
        if filters.currency:
            stmt = stmt.where(Invoice.currency == filters.currency)
        if filters.payment_overdue is not None:
            stmt = stmt.where(Invoice.payment_overdue.is_(filters.payment_overdue))
        if filters.payment_dispute_lost is not None:
            lost = Invoice.payment_dispute_lost_at.is_not(None)
            stmt = stmt.where(lost if filters.payment_dispute_lost else ~lost)
        if filters.self_billed:
            stmt = stmt.where(false())  # no self-billed invoices
        if filters.partially_paid is not None:
            partially = (Invoice.total_amount_cents > Invoice.total_paid_amount_cents) & (
                Invoice.total_paid_amount_cents > 0
            )
            stmt = stmt.where(partially if filters.partially_paid else ~partially)
        if filters.amount_from is not None:
            stmt = stmt.where(Invoice.total_amount_cents >= filters.amount_from)
        if filters.amount_to is not None:
            stmt = stmt.where(Invoice.total_amount_cents <= filters.amount_to)
        if filters.search_term:
            stmt = stmt.where(self._matching(organization_id, filters))
        for key, value in filters.metadata:
            has_key = select(InvoiceMetadata.id).where(
                InvoiceMetadata.invoice_id == Invoice.id, InvoiceMetadata.key == key
            )
            if value:
                stmt = stmt.where(has_key.where(InvoiceMetadata.value == value).exists())
            else:
                stmt = stmt.where(~has_key.exists())
        return stmt.order_by(Invoice.issuing_date.desc(), Invoice.created_at.desc(), Invoice.id)

    def _matching(self, organization_id: uuid.UUID, filters: InvoiceFilters) -> Any:
        """Lago's ``search_term``: the number, the id, or (without a customer filter) the customer's
        name, first name, last name, external id or email, case-insensitively."""
        assert filters.search_term is not None
        term = _like(filters.search_term)
        conditions: list[ColumnElement[bool]] = [Invoice.number.ilike(term, escape="\\")]
        invoice_id = parse_uuid(filters.search_term)
        if invoice_id is not None:
            conditions.append(Invoice.id == invoice_id)
        if filters.customer_id is None and filters.external_customer_id is None:
            columns = (
                Customer.name,
                Customer.firstname,
                Customer.lastname,
                Customer.external_id,
                Customer.email,
            )
            customers = select(Customer.id).where(
                Customer.organization_id == organization_id,
                or_(*(column.ilike(term, escape="\\") for column in columns)),
            )
            conditions.append(Invoice.customer_id.in_(customers))
        return or_(*conditions)

    def metadata_by_invoice(
        self, session: Session, invoice_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, list[InvoiceMetadata]]:
        result: dict[uuid.UUID, list[InvoiceMetadata]] = defaultdict(list)
        if invoice_ids:
            for row in session.scalars(
                select(InvoiceMetadata)
                .where(InvoiceMetadata.invoice_id.in_(invoice_ids))
                .order_by(InvoiceMetadata.created_at, InvoiceMetadata.id)
            ):
                result[row.invoice_id].append(row)
        return result

    def credit_note_offsets(self, session: Session, invoice_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
        """What the finalized credit notes of each invoice offset (Lago's
        ``total_offsetted_credit_note_amount_cents``)."""
        if not invoice_ids:
            return {}
        rows = session.execute(
            select(CreditNote.invoice_id, func.sum(CreditNote.offset_amount_cents))
            .where(CreditNote.invoice_id.in_(invoice_ids), CreditNote.status == "finalized")
            .group_by(CreditNote.invoice_id)
        )
        return {invoice_id: int(total or 0) for invoice_id, total in rows}

    def metadata_of(self, session: Session, invoice: Invoice) -> list[InvoiceMetadata]:
        return self.metadata_by_invoice(session, [invoice.id])[invoice.id]

    def set_fees_payment_status(self, session: Session, invoice: Invoice) -> None:
        session.execute(
            update(Fee)
            .where(Fee.organization_id == invoice.organization_id, Fee.invoice_id == invoice.id)
            .values(payment_status=invoice.payment_status)
        )

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
                select(InvoiceSubscription)
                .where(InvoiceSubscription.invoice_id.in_(invoice_ids))
                .order_by(InvoiceSubscription.created_at, InvoiceSubscription.id)  # as written
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

    def credits_by_invoice(
        self, session: Session, invoice_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, list[InvoiceCredit]]:
        """What each invoice took from coupons (before taxes), then from credit notes (after taxes), in
        the order it took them (Lago's ``credits``)."""
        result: dict[uuid.UUID, list[InvoiceCredit]] = defaultdict(list)
        if not invoice_ids:
            return result
        coupon_rows = session.execute(
            select(InvoiceCoupon, Coupon)
            .join(AppliedCoupon, AppliedCoupon.id == InvoiceCoupon.applied_coupon_id)
            .join(Coupon, Coupon.id == AppliedCoupon.coupon_id)
            .where(InvoiceCoupon.invoice_id.in_(invoice_ids))
            .order_by(InvoiceCoupon.created_at, InvoiceCoupon.id)
        )
        for taken, coupon in coupon_rows:
            result[taken.invoice_id].append(
                InvoiceCredit(
                    taken.id,
                    taken.amount_cents,
                    taken.amount_currency,
                    True,
                    coupon.id,
                    "coupon",
                    coupon.code,
                    coupon.name,
                )
            )
        credited = aliased(Invoice)
        note_rows = session.execute(
            select(InvoiceCreditNote, CreditNote, credited.number)
            .join(CreditNote, CreditNote.id == InvoiceCreditNote.credit_note_id)
            .join(credited, credited.id == CreditNote.invoice_id)
            .where(InvoiceCreditNote.invoice_id.in_(invoice_ids))
            .order_by(InvoiceCreditNote.created_at, InvoiceCreditNote.id)
        )
        for taken_note, note, invoice_number in note_rows:
            result[taken_note.invoice_id].append(
                InvoiceCredit(
                    taken_note.id,
                    taken_note.amount_cents,
                    taken_note.amount_currency,
                    False,
                    note.id,
                    "credit_note",
                    note.number,
                    invoice_number,
                )
            )
        return result

    def _visible_fees(self, organization_id: uuid.UUID) -> Select[Any]:
        """Fees not deleted, outside invoices or on visible ones (not closed or deleted invoices)."""
        visible_invoices = select(Invoice.id).where(
            Invoice.organization_id == organization_id, Invoice.status.in_(VISIBLE_STATUSES)
        )
        return select(Fee).where(
            Fee.organization_id == organization_id,
            Fee.deleted_at.is_(None),
            Fee.invoice_id.is_(None) | Fee.invoice_id.in_(visible_invoices),
        )

    def get_fee(self, session: Session, organization_id: uuid.UUID, fee_id: uuid.UUID) -> Fee | None:
        return session.scalar(self._visible_fees(organization_id).where(Fee.id == fee_id))

    def fees_stmt(self, organization_id: uuid.UUID, filters: FeeFilters) -> Select[Any]:
        stmt = self._visible_fees(organization_id)
        if filters.fee_type:
            stmt = stmt.where(Fee.fee_type == filters.fee_type)
        if filters.payment_status:
            stmt = stmt.where(Fee.payment_status == filters.payment_status)
        if filters.external_subscription_id is not None:
            stmt = stmt.where(
                Fee.subscription_id.in_(
                    select(Subscription.id).where(
                        Subscription.organization_id == organization_id,
                        Subscription.external_id == filters.external_subscription_id,
                    )
                )
            )
        if filters.external_customer_id is not None:
            stmt = stmt.where(
                Fee.customer_id.in_(
                    select(Customer.id).where(
                        Customer.organization_id == organization_id,
                        Customer.external_id == filters.external_customer_id,
                    )
                )
            )
        if filters.billable_metric_code is not None:
            stmt = stmt.where(
                Fee.charge_id.in_(
                    select(Charge.id)
                    .join(BillableMetric, BillableMetric.id == Charge.billable_metric_id)
                    .where(
                        BillableMetric.organization_id == organization_id,
                        BillableMetric.code == filters.billable_metric_code,
                    )
                )
            )
        if filters.currency:
            stmt = stmt.where(Fee.amount_currency == filters.currency.upper())
        if filters.event_transaction_id is not None:
            stmt = stmt.where(Fee.event_transaction_id == filters.event_transaction_id)
        for column, low, high in (
            (Fee.created_at, filters.created_at_from, filters.created_at_to),
            (Fee.succeeded_at, filters.succeeded_at_from, filters.succeeded_at_to),
            (Fee.failed_at, filters.failed_at_from, filters.failed_at_to),
            (Fee.refunded_at, filters.refunded_at_from, filters.refunded_at_to),
        ):
            if low is not None:
                stmt = stmt.where(column >= low)
            if high is not None:
                stmt = stmt.where(column <= high)
        return stmt.order_by(Fee.created_at, Fee.id)

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
        true_ups: dict[uuid.UUID, uuid.UUID] = {}
        parent_ids = [f.id for f in fees if f.charge_id is not None and f.true_up_parent_fee_id is None]
        if parent_ids:
            rows = session.execute(
                select(Fee.true_up_parent_fee_id, Fee.id).where(Fee.true_up_parent_fee_id.in_(parent_ids))
            )
            # The IN filter leaves no NULL parent; the test narrows the type.
            true_ups = {parent_id: fee_id for parent_id, fee_id in rows if parent_id is not None}
        add_ons = _by_id(session, AddOn, {f.add_on_id for f in fees})
        return FeeContext(
            subscriptions, customers, plans, charges, metrics, filters, values, true_ups, add_ons
        )

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


invoice_repository = InvoiceRepository()
