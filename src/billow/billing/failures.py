"""Failed invoices: a subscription period whose billing failed is **recorded**, as Lago records an
invoice whose generation failed, and retried until it succeeds (decided in issue 9).

When the billing of a period raises (its plan fee, its usage, its assembly — or the computation of the
subscription's periods itself), the run rolls that invoice back, goes on with every other subscription,
and writes in a transaction of its own a **failed invoice** (:attr:`InvoiceStatus.FAILED`) for the
subscription's oldest period due: no fees, amounts 0, no number consumed (``<prefix>-DRAFT``, as Lago's
invoices before finalization), and ``error_details`` ``[{lago_id, error_code: "invoice_generation_error",
details: {error, ...}}]`` (Lago's ``ErrorDetail`` of that code). Its ``invoice_subscriptions`` row carries
the period's key, so it shows in ``billing_periods``, but that key does not count as billed: every later
run tries the period again. A failure again updates the same record (one failed invoice per period,
``error_details`` replaced, their ``lago_id`` kept); a success writes the real invoice **under the failed
invoice's id** after deleting the failed record in the same transaction (:func:`discard_failed`): one
invoice per period in the end, and the id a client saw turns into the real invoice.
``POST /invoices/{id}/retry`` does the same at once for the invoice's subscription.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Hashable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from billow.billing.schedule import DueInvoice
from billow.db import utcnow
from billow.invoices import numbering
from billow.kit.time import local_date
from billow.models.customers import Customer
from billow.models.invoices import (
    Invoice,
    InvoiceMetadata,
    InvoiceStatus,
    InvoiceSubscription,
    InvoiceType,
    PaymentStatus,
)
from billow.models.organizations import Organization
from billow.models.plans import Plan
from billow.models.subscriptions import Subscription

#: Lago's ``ErrorDetail`` code of an invoice whose generation failed.
GENERATION_ERROR = "invoice_generation_error"
#: Longest error message kept in ``error_details`` (characters).
MAX_MESSAGE = 1000

Key = tuple[Hashable, str, datetime]


def describe(error: BaseException) -> str:
    """``ExceptionClass: message`` (truncated), what ``error_details`` and the run's summary show."""
    text = f"{type(error).__name__}: {error}".strip()
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def error_details(
    due: DueInvoice, error: str, previous: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Lago's ``error_details`` of a failed invoice (the ``lago_id`` of a previous detail of the same code
    is kept: the record is updated, not replaced)."""
    lago_id = next(
        (item.get("lago_id") for item in previous or [] if item.get("error_code") == GENERATION_ERROR),
        None,
    ) or str(uuid.uuid4())
    return [
        {
            "lago_id": lago_id,
            "error_code": GENERATION_ERROR,
            "details": {
                "error": error,
                "invoicing_reason": due.reason.value,
                "period_start": due.period_start.isoformat().replace("+00:00", "Z"),
                "failed_at": utcnow().isoformat(timespec="seconds").replace("+00:00", "Z"),
            },
        }
    ]


def failed_keys(session: Session, keys: Collection[Key]) -> dict[Key, uuid.UUID]:
    """Which of ``keys`` (``(subscription_id, reason, period_start)``) are held by a failed invoice, and
    its id."""
    if not keys:
        return {}
    wanted = set(keys)
    held = _failed(session, {key[0] for key in keys})
    return {key: invoice_id for key, invoice_id in held.items() if key in wanted}


def _failed(session: Session, subscription_ids: Collection[Hashable]) -> dict[Key, uuid.UUID]:
    """The keys held by failed invoices of ``subscription_ids``, and those invoices' ids."""
    rows = session.execute(
        select(
            InvoiceSubscription.subscription_id,
            InvoiceSubscription.invoicing_reason,
            InvoiceSubscription.period_start,
            InvoiceSubscription.invoice_id,
        )
        .join(Invoice, Invoice.id == InvoiceSubscription.invoice_id)
        .where(
            InvoiceSubscription.subscription_id.in_(list(subscription_ids)),
            Invoice.status == InvoiceStatus.FAILED,
        )
    )
    return {(row[0], row[1], row[2]): row[3] for row in rows}


def discard_failed(session: Session, keys: Collection[Key]) -> tuple[set[Key], uuid.UUID | None]:
    """Delete the failed invoices holding any of ``keys`` (in the caller's transaction, which then bills
    those periods): returns the keys they held and the id to give the real invoice (the oldest failed
    record's), ``None`` when none was failed."""
    held = failed_keys(session, keys)
    if not held:
        return set(), None
    ids = sorted(set(held.values()), key=str)
    session.execute(delete(InvoiceMetadata).where(InvoiceMetadata.invoice_id.in_(ids)))
    session.execute(delete(InvoiceSubscription).where(InvoiceSubscription.invoice_id.in_(ids)))
    session.execute(delete(Invoice).where(Invoice.id.in_(ids)))
    return set(held), ids[0]


def record_failure(session: Session, due: DueInvoice, error: str) -> uuid.UUID | None:
    """Record that billing ``due`` failed, in the caller's transaction (which has locked the
    subscription's row): update the failed invoice holding its key, or write one. ``None`` when the period
    is billed already (another worker billed it meanwhile)."""
    subscription_id = due.subscription_id
    existing = session.execute(
        select(InvoiceSubscription.invoice_id, Invoice.status)
        .join(Invoice, Invoice.id == InvoiceSubscription.invoice_id)
        .where(
            InvoiceSubscription.subscription_id == subscription_id,
            InvoiceSubscription.invoicing_reason == due.reason.value,
            InvoiceSubscription.period_start == due.period_start,
        )
    ).first()
    if existing is not None:
        invoice_id, status = existing
        if status != InvoiceStatus.FAILED:
            return None
        previous = session.scalar(select(Invoice.error_details).where(Invoice.id == invoice_id))
        session.execute(
            update(Invoice)
            .where(Invoice.id == invoice_id)
            .values(error_details=error_details(due, error, previous), updated_at=utcnow())
        )
        return invoice_id

    row = session.execute(
        select(Subscription, Plan, Customer, Organization)
        .join(Plan, Plan.id == Subscription.plan_id)
        .join(Customer, Customer.id == Subscription.customer_id)
        .join(Organization, Organization.id == Subscription.organization_id)
        .where(Subscription.id == subscription_id)
    ).one()
    subscription, plan, customer, organization = row
    timezone = customer.applicable_timezone(organization)
    try:
        issuing_date = local_date(due.due_at, timezone)
    except (OverflowError, ValueError):
        issuing_date = due.due_at.date()
    invoice = Invoice(
        id=uuid.uuid4(),
        organization_id=organization.id,
        customer_id=customer.id,
        number=numbering.draft_number(organization),
        invoice_type=InvoiceType.SUBSCRIPTION,
        status=InvoiceStatus.FAILED,
        payment_status=PaymentStatus.PENDING,
        currency=plan.amount_currency,
        issuing_date=issuing_date,
        payment_due_date=issuing_date,
        net_payment_term=0,
        error_details=error_details(due, error),
    )
    session.add(invoice)
    fee_from, fee_to = (
        (due.fee_period.start, due.fee_period.end)
        if due.fee_period is not None
        else (due.charges_from, due.charges_to)
    )
    session.add(
        InvoiceSubscription(
            organization_id=organization.id,
            invoice_id=invoice.id,
            subscription_id=subscription.id,
            invoicing_reason=due.reason.value,
            period_start=due.period_start,
            timestamp=due.due_at,
            from_datetime=fee_from,
            to_datetime=fee_to,
            charges_from_datetime=due.charges_from,
            charges_to_datetime=due.charges_to,
        )
    )
    session.flush()
    return invoice.id


def failed_subscription_keys(session: Session, subscription_ids: Collection[uuid.UUID]) -> set[Key]:
    """The keys held by failed invoices of ``subscription_ids`` (they do not count as billed)."""
    if not subscription_ids:
        return set()
    return set(_failed(session, subscription_ids))


__all__ = [
    "GENERATION_ERROR",
    "describe",
    "discard_failed",
    "error_details",
    "failed_keys",
    "failed_subscription_keys",
    "record_failure",
]
