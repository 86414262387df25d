"""The row locks of billing: the billing run's lock of an invoice's subscriptions
(:func:`lock_subscriptions`: one statement on PostgreSQL for one period, which also loads the columns an
invoice reads and tells whether the period is billed), and one subscription's lock for the pay-in-advance
fees and progressive billing (:func:`lock_subscription`). Both build on :mod:`billow.kit.locking`.
"""

from __future__ import annotations

import uuid
from collections.abc import Hashable, Sequence
from typing import Any

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.orm import Session, load_only

from billow.billing.repository import BilledKey, billed_exists, billing_repository
from billow.billing.schedule import DueInvoice
from billow.config import get_settings
from billow.kit.locking import lock_row, lock_rows
from billow.models.customers import Customer
from billow.models.invoices import InvoiceSubscription
from billow.models.subscriptions import Subscription

#: The one-period lock statement by invoicing reason and strictness (``BILLOW_STRICT_INVOICE_COLUMNS``),
#: built once (its parameters: ``subscription_id``, ``period_start``): building it for every invoice cost
#: more than running it.
_LOCK_ONE: dict[tuple[str, bool], Select[Any]] = {}
_CUSTOM_PLANS = func.set_config("plan_cache_mode", "force_custom_plan", True)

#: The columns of the subscription and the customer an invoice reads: the lock statement loads these, not
#: the ~70 of both rows (turning each column into an attribute cost more than the statement). Another
#: attribute read later is loaded then, one more query per invoice; the tests of ``tests/billing`` set
#: ``BILLOW_STRICT_INVOICE_COLUMNS`` (such a read raises) to check none is.
_SUBSCRIPTION_COLUMNS = (
    Subscription.id,
    Subscription.organization_id,
    Subscription.customer_id,
    Subscription.plan_id,
    Subscription.external_id,
    Subscription.status,
    Subscription.billing_time,
    Subscription.started_at,
    Subscription.subscription_at,
    Subscription.terminated_at,
    Subscription.progressive_billing_disabled,
    Subscription.previous_subscription_id,
)
_CUSTOMER_COLUMNS = (
    Customer.id,
    Customer.organization_id,
    Customer.external_id,  # the audit log's external_customer_id of the invoice (billow.audit.hooks)
    Customer.sequential_id,
    Customer.timezone,
    Customer.invoice_grace_period,
    Customer.net_payment_term,
    Customer.finalize_zero_amount_invoice,
    Customer.subscription_invoice_issuing_date_anchor,
    Customer.subscription_invoice_issuing_date_adjustment,
)


def _invoice_columns(strict: bool) -> tuple[Any, ...]:
    """Load only the columns an invoice reads; ``strict``: reading another one raises."""
    return (
        load_only(*_SUBSCRIPTION_COLUMNS, raiseload=strict),
        load_only(*_CUSTOMER_COLUMNS, raiseload=strict),
    )


def _lock_one_statement(reason: str, strict: bool) -> Select[Any]:
    statement = _LOCK_ONE.get((reason, strict))
    if statement is None:
        subscription_id = bindparam("subscription_id", type_=Subscription.id.type)
        billed = billed_exists(
            reason, subscription_id, bindparam("period_start", type_=InvoiceSubscription.period_start.type)
        )
        statement = (
            select(Subscription, Customer, billed, _CUSTOM_PLANS)
            .join(Customer, Customer.id == Subscription.customer_id)
            .where(Subscription.id == subscription_id)
            .with_for_update(of=Subscription)
            .options(*_invoice_columns(strict))
        )
        _LOCK_ONE[(reason, strict)] = statement
    return statement


def lock_subscriptions(
    session: Session, dues: Sequence[DueInvoice], *, fresh: bool = False
) -> tuple[dict[Hashable, tuple[Subscription, Customer | None]], set[BilledKey]]:
    """Lock the rows of the subscriptions of ``dues`` for this transaction (in id order, so two workers
    locking overlapping sets never deadlock) and tell which of ``dues`` are billed already (their keys).

    PostgreSQL, one period: one statement, which also loads the customer and plans the rest of the
    transaction's statements for their parameters and the tables' current size (``plan_cache_mode``,
    as metering does): psycopg prepares a statement after a few executions, and a generic plan made
    while ``fees`` or ``invoices`` were small (a new installation, the first run after a growth) keeps
    scanning them whole as they grow (measured: the 10,000th invoice of a run from empty tables cost 3x
    the first). That "billed" answer comes from the statement's snapshot: if the lock had to wait for
    another worker that has just billed the period, it says "not billed" and the invoice's insert then
    fails on the period's unique key (handled by :func:`billow.billing.run._bill_group`), so the answer
    is a shortcut, never the guard. Several periods, or ``fresh`` (and SQLite): the rows are locked
    (:func:`billow.kit.locking.lock_rows`), then loaded, and the keys read by a statement after the
    lock (a newer snapshot).
    """
    ids = sorted({due.subscription_id for due in dues}, key=str)
    strict = get_settings().strict_invoice_columns
    postgresql = session.get_bind().dialect.name == "postgresql"
    if postgresql and len(dues) == 1 and not fresh:
        [due] = dues
        row = session.execute(
            _lock_one_statement(due.reason.value, strict),
            {"subscription_id": due.subscription_id, "period_start": due.period_start},
        ).one()
        return {row[0].id: (row[0], row[1])}, {due.key} if row[2] else set()
    lock_rows(session, Subscription, ids)
    if postgresql:
        rows = session.execute(
            select(Subscription, Customer, _CUSTOM_PLANS)
            .join(Customer, Customer.id == Subscription.customer_id)
            .where(Subscription.id.in_(ids))
            .order_by(Subscription.id)
            .options(*_invoice_columns(strict))
        ).all()
        subscriptions = {row[0].id: (row[0], row[1]) for row in rows}
    else:
        subscriptions = {
            subscription.id: (subscription, None)
            for subscription in session.scalars(select(Subscription).where(Subscription.id.in_(ids)))
        }
    missing = set(ids) - set(subscriptions)
    if missing:
        raise LookupError(f"subscriptions {sorted(map(str, missing))} not found")
    return subscriptions, billing_repository.billed(session, dues)


def lock_subscription(session: Session, subscription_id: uuid.UUID) -> Subscription:
    """Lock one subscription's row for the transaction and reload it (pay-in-advance fees, progressive
    billing: :func:`billow.kit.locking.lock_row`)."""
    return lock_row(session, Subscription, subscription_id)
