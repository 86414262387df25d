"""Assembling one subscription invoice: its fees, amounts (:mod:`billow.billing.totals`), number and rows.

An invoice bills one or several subscription periods of one customer due at the same instant (as Lago:
every subscription billed at once is on one invoice; an upgrade's closing and starting subscriptions too).
:func:`write_subscription_invoice` runs inside the billing run's per-invoice transaction
(:mod:`billow.billing.run`), after the subscriptions' rows are locked, and writes the invoice's rows with
Core inserts (one per table: cheaper than the ORM's unit of work; draft refreshes and immediate invoices
keep the ORM). The ``invoice_subscriptions`` rows are inserted right after the invoice, before the fees,
so a second worker billing one of the periods fails on its unique key first and nothing of the invoice is
written.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Connection, Insert, delete, insert
from sqlalchemy.orm import Session

from billow.billing import termination_credits
from billow.billing.amounts import compute_amounts, set_amounts
from billow.billing.charge_fees import charge_fees
from billow.billing.context import FeeDraft, InvoiceContext, invoice_context
from billow.billing.deductions import Deductions, finalized_amounts, record_deductions
from billow.billing.fixed_charge_fees import fixed_charge_fee_drafts
from billow.billing.minimum_fees import charge_true_up_fees, commitment_fees
from billow.billing.progressive_credits import apply_period_credits
from billow.billing.proration import subscription_fee
from billow.billing.run_context import BillingRun
from billow.billing.schedule import DueInvoice
from billow.billing.totals import InvoiceAmounts
from billow.billing.writer import applied_tax_rows, write_fees
from billow.customers.settings import grace_period_days
from billow.db import utcnow
from billow.invoices import finalization, numbering
from billow.kit.money import from_minor_units
from billow.kit.time import local_date
from billow.models.invoices import (
    AppliedTax,
    Fee,
    FeeType,
    Invoice,
    InvoiceStatus,
    InvoiceSubscription,
    InvoiceType,
    PaymentStatus,
)
from billow.models.subscriptions import Subscription
from billow.subscriptions.calendar import trial_end
from billow.subscriptions.service import subscription_service
from billow.worker.dispatch import run_hooks


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
        # A plan change's switch day is paid by the next plan.
        terminated_at=subscription_service.plan_fee_end(ctx.session, subscription, ctx.timezone),
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
        # Set as on a charge fee (their defaults), so the invoice's fees are inserted in one batch.
        charge_id=None,
        charge_filter_id=None,
        grouped_by={},
        invoiceable=True,
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
    # Recurring-metric charges the next plan also has are not billed at a plan change (Lago).
    carried_over = subscription_service.charges_carried_over(ctx.session, ctx.subscription)
    drafts = [
        FeeDraft(fee, ctx.taxes_for(charge_taxes))
        for fee, charge_taxes in charge_fees(
            ctx.session,
            ctx.organization,
            ctx.customer,
            ctx.subscription,
            ctx.plan,
            due,
            invoice_id=ctx.invoice_id,
            run=ctx.run,
        )
        if fee.charge_id not in carried_over
    ]
    apply_period_credits(ctx, drafts)
    return drafts


def build_fee_drafts(ctx: InvoiceContext) -> tuple[list[FeeDraft], datetime | None, datetime | None]:
    """Every fee of the invoice, and the plan fee's span. Used to write the invoice and to refresh a draft
    (:func:`rebuild_subscription_invoice`)."""
    drafts: list[FeeDraft] = []
    subscription_draft, fee_from, fee_to = subscription_fee_draft(ctx)
    if subscription_draft is not None:
        drafts.append(subscription_draft)
    drafts.extend(usage_fee_drafts(ctx))
    drafts.extend(fixed_charge_fee_drafts(ctx))
    # Spending minimums, then the plan's minimum commitment (which counts the true-ups).
    drafts.extend(FeeDraft(fee, taxes) for fee, taxes in charge_true_up_fees(ctx, drafts))
    drafts.extend(FeeDraft(fee, taxes) for fee, taxes in commitment_fees(ctx, drafts))
    return drafts, fee_from, fee_to


def invoicing_reason(reasons: Iterable[str]) -> str:
    """The reason of an invoice as a whole (Lago's ``invoicing_reason`` argument, not stored): periodic when
    every period it bills is periodic (the issuing-date settings of periodic invoices then apply), the one
    reason its periods share, else ``upgrading`` (a plan change: one subscription ends, the next starts)."""
    distinct = set(reasons)
    if len(distinct) == 1:
        return distinct.pop()
    return "upgrading"


def _members_in_order(
    members: Sequence[tuple[Subscription, DueInvoice]],
) -> list[tuple[Subscription, DueInvoice]]:
    if not members:
        raise ValueError("an invoice bills at least one subscription period")
    if len({subscription.customer_id for subscription, _ in members}) != 1:
        raise ValueError("an invoice bills the subscriptions of one customer")
    if len({subscription.id for subscription, _ in members}) != len(members):
        raise ValueError("an invoice bills one period per subscription")
    return list(members)


def _contexts(
    session: Session,
    members: Sequence[tuple[Subscription, DueInvoice]],
    invoice_id: uuid.UUID,
    *,
    finalizing: bool,
    run: BillingRun | None = None,
) -> list[InvoiceContext]:
    contexts = [
        invoice_context(session, subscription, due, invoice_id=invoice_id, run=run)
        for subscription, due in members
    ]
    if len({ctx.currency for ctx in contexts}) != 1:  # a customer bills in one currency (subscriptions)
        raise ValueError("the subscriptions of one invoice have plans in different currencies")
    for ctx in contexts:
        ctx.finalizing = finalizing
    return contexts


#: Announced in its transaction for every invoice the billing run writes with Core inserts (no ORM
#: event sees them): ``invoice``, the transient object holding the values written. The audit log
#: (:mod:`billow.audit.hooks`) logs its creation there.
INVOICE_WRITTEN_HOOK = "billing.invoice_written"


def write_subscription_invoice(
    session: Session,
    members: Sequence[tuple[Subscription, DueInvoice]],
    *,
    invoice_id: uuid.UUID | None = None,
    run: BillingRun | None = None,
) -> Invoice:
    """Write ONE invoice billing every ``(subscription, due period)`` of ``members`` — the subscriptions of
    one customer due at the same instant (Lago's ``BillSubscriptionJob`` with several subscriptions, an
    upgrade's old and new subscription): one fee set per subscription, one ``invoice_subscriptions`` row per
    period, totals, taxes and credit-note consumption over the whole invoice, one number. Finalized at once,
    or a ``draft`` when a grace period applies (:mod:`billow.invoices.finalization`; drafts are refreshed
    and finalized by :mod:`billow.billing.drafts`). ``invoice_id``: the id of the failed invoice it
    replaces (:mod:`billow.billing.failures`); ``run``: the billing run writing it. Returns the invoice as
    written, a transient object (not in the session: load it to work with it)."""
    members = _members_in_order(members)
    fresh = termination_credits.credit_owed(session, members)  # unused days, before any fee (0005)
    invoice_id = invoice_id or uuid.uuid4()
    contexts = _contexts(session, members, invoice_id, finalizing=True, run=run)
    first = contexts[0]
    organization, customer = first.organization, first.customer
    grace = grace_period_days(customer, organization)
    for ctx in contexts:
        ctx.finalizing = grace == 0

    drafts: list[FeeDraft] = []
    spans: list[tuple[datetime | None, datetime | None]] = []
    for ctx in contexts:
        ctx_drafts, fee_from, fee_to = build_fee_drafts(ctx)
        drafts.extend(ctx_drafts)
        spans.append((fee_from, fee_to))
    deductions, amounts = _amounts(contexts, drafts, finalizing=grace == 0, credited=fresh)

    dues = [due for _, due in members]
    due_at = max(due.due_at for due in dues)  # one instant (the run groups by it)
    due_date = local_date(due_at, first.timezone)
    invoice = Invoice(  # transient: its row is written with Core (below), the object returned as a record
        id=invoice_id,
        organization_id=organization.id,
        customer_id=customer.id,
        number=numbering.draft_number(organization),
        invoice_type=InvoiceType.SUBSCRIPTION,
        status=InvoiceStatus.DRAFT,
        payment_status=PaymentStatus.PENDING,
        currency=first.currency,
        expected_finalization_date=due_date + timedelta(days=grace) if grace > 0 else None,
        refreshed_at=utcnow(),
    )
    reason = invoicing_reason(due.reason.value for due in dues)
    shift = finalization.issuing_date_shift(customer, grace, invoicing_reason=reason)
    finalization.set_issuing_date(invoice, due_date + timedelta(days=shift), customer, organization)
    set_amounts(invoice, amounts)
    finalizing_now = grace == 0
    # Known before anything is written: the invoice and its fees are inserted with their final status;
    # only the number is written last (the counters' row locks are held for the shortest time).
    numbered = finalizing_now and finalization.set_final_status(invoice, organization, customer, at=due_at)
    now = utcnow()
    invoice.created_at = invoice.updated_at = now
    connection = session.connection()
    # Core inserts, one statement per table (the ORM's unit of work cost more than the statements). The
    # periods come right after the invoice: their unique keys fail there if another worker billed one.
    connection.execute(_INSERT_INVOICE, _row(_INVOICE_COLUMNS, invoice))
    connection.execute(
        _INSERT_PERIOD,
        [
            {
                "id": uuid.uuid4(),
                "created_at": now,
                "updated_at": now,
                "organization_id": organization.id,
                "invoice_id": invoice_id,
                "subscription_id": subscription.id,
                "invoicing_reason": due.reason.value,
                "period_start": due.period_start,
                "timestamp": due.due_at,
                # Without a plan fee, the billed span is the usage window (Lago always fills both).
                "from_datetime": fee_from or due.charges_from,
                "to_datetime": fee_to or due.charges_to,
                "charges_from_datetime": due.charges_from,
                "charges_to_datetime": due.charges_to,
            }
            for (subscription, due), (fee_from, fee_to) in zip(members, spans, strict=True)
        ],
    )
    if drafts:
        fee_rows = []
        for draft in drafts:
            row = _row(_FEE_COLUMNS, draft.fee)
            row["invoice_id"] = invoice_id
            row["payment_status"] = invoice.payment_status
            row["created_at"] = row["updated_at"] = now
            if row["id"] is None:  # set when a true-up fee points at it
                row["id"] = uuid.uuid4()
            fee_rows.append(row)
        _insert_many(connection, _INSERT_FEE, fee_rows)
    tax_rows = applied_tax_rows(invoice, drafts, amounts, now)
    if tax_rows:
        connection.execute(_INSERT_APPLIED_TAX, tax_rows)
    if finalizing_now:
        record_deductions(session, invoice, deductions, amounts, now=now)
    if numbered:
        number = numbering.number_invoice(session, invoice_id, organization, customer, invoice.issuing_date)
        invoice.number = number.number
        invoice.sequential_id = number.sequential_id
        invoice.organization_sequential_id = number.organization_sequential_id
        finalization.announce_finalized(session, invoice, organization)
    finalization.announce(session, invoice)
    run_hooks(session, INVOICE_WRITTEN_HOOK, invoice=invoice)
    return invoice


_Columns = list[tuple[str, Callable[[], object], bool]]


def _insert_columns(model: type) -> _Columns:
    """The columns of ``model``'s table with the value an unset attribute takes (its column's default:
    the ORM's, so that the rows written with Core are the rows the ORM would write), and whether it is a
    JSON column."""
    columns: _Columns = []
    for column in model.__table__.columns:  # type: ignore[attr-defined]
        default = column.default
        is_json = isinstance(column.type, JSON)
        if default is None:
            columns.append((column.key, _constant(None), is_json))
        elif default.is_callable:
            columns.append((column.key, _calling(default.arg), is_json))
        else:
            columns.append((column.key, _constant(default.arg), is_json))
    return columns


def _constant(value: object) -> Callable[[], object]:
    return lambda: value


def _calling(function: Callable[[Any], object]) -> Callable[[], object]:
    """A column default's callable (SQLAlchemy passes it the execution context; the ORM's defaults here
    ignore it)."""
    return lambda: function(None)


def _row(columns: _Columns, record: object) -> dict[str, object]:
    """The row of a transient ORM object: every column, from the attributes set on it, else defaults. A
    JSON column whose value is ``None`` is left out (SQL ``NULL``, as the ORM writes it; a ``None``
    parameter would be the JSON ``null``)."""
    values = record.__dict__
    row = {}
    for key, default, is_json in columns:
        value = values[key] if key in values else default()
        if value is None and is_json:
            continue
        row[key] = value
    return row


def _insert_many(connection: Connection, statement: Insert, rows: list[dict[str, object]]) -> None:
    """``statement`` for ``rows``: one execution per set of columns (in practice one)."""
    if len({frozenset(row) for row in rows}) == 1:
        connection.execute(statement, rows)
        return
    for row in rows:  # different columns (a JSON column left out): one at a time, in order
        connection.execute(statement, row)


_INVOICE_COLUMNS = _insert_columns(Invoice)
_FEE_COLUMNS = _insert_columns(Fee)
_INSERT_INVOICE = insert(Invoice.__table__)
_INSERT_PERIOD = insert(InvoiceSubscription.__table__)
_INSERT_FEE = insert(Fee.__table__)
_INSERT_APPLIED_TAX = insert(AppliedTax.__table__)


def rebuild_subscription_invoice(
    session: Session,
    invoice: Invoice,
    members: Sequence[tuple[Subscription, DueInvoice]],
    *,
    finalizing: bool,
) -> None:
    """Rebuild a draft's fees, taxes and amounts from current data (late events included) inside the same
    invoice, for every subscription period it bills: its ``invoice_subscriptions`` rows, the periods' keys,
    are kept."""
    members = _members_in_order(members)
    session.execute(delete(Fee).where(Fee.invoice_id == invoice.id))
    session.execute(delete(AppliedTax).where(AppliedTax.invoice_id == invoice.id))
    contexts = _contexts(session, members, invoice.id, finalizing=finalizing)
    drafts: list[FeeDraft] = []
    for ctx in contexts:
        drafts.extend(build_fee_drafts(ctx)[0])
    for draft in drafts:
        draft.fee.created_at = invoice.created_at  # as Lago: a refresh does not move the fees in time
    deductions, amounts = _amounts(contexts, drafts, finalizing=finalizing)
    set_amounts(invoice, amounts)
    write_fees(session, invoice, drafts, amounts)
    if finalizing:
        session.flush()  # the fees, before what references the invoice's totals
        record_deductions(session, invoice, deductions, amounts, now=utcnow())


def _amounts(
    contexts: Sequence[InvoiceContext], drafts: list[FeeDraft], *, finalizing: bool, credited: bool = False
) -> tuple[Deductions, InvoiceAmounts]:
    """The invoice's amounts: with the customer's coupons, credit notes and wallets when it is finalized
    (:mod:`billow.billing.deductions`), without them while it is a draft (Lago). ``credited``: the unused
    days of a subscription were just credited (the run's absence hint is stale)."""
    if not finalizing:
        return Deductions(), compute_amounts(drafts)
    first = contexts[0]
    plans = {ctx.subscription.id: ctx.plan.id for ctx in contexts}
    return finalized_amounts(
        first.session, first.customer, drafts, plans, first.currency, run=first.run, credited=credited
    )
