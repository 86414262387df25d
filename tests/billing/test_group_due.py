"""Grouping due periods into invoices (:func:`billow.billing.run.group_due`): pure, no database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from billow.billing.run import Pending, group_due
from billow.billing.schedule import DueInvoice, InvoicingReason

FEB = datetime(2024, 2, 1, tzinfo=UTC)
MAR = datetime(2024, 3, 1, tzinfo=UTC)
JAN = datetime(2024, 1, 1, tzinfo=UTC)


def due(
    subscription: uuid.UUID, at: datetime, reason: InvoicingReason = InvoicingReason.SUBSCRIPTION_PERIODIC
):
    return DueInvoice(subscription, reason, at, at, None, None, None)


def test_one_invoice_per_customer_and_instant_oldest_first() -> None:
    alice, bob = uuid.uuid4(), uuid.uuid4()
    a1, a2, b1 = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    work = [
        Pending(a1, alice, [due(a1, FEB), due(a1, MAR)]),
        Pending(b1, bob, [due(b1, FEB)]),
        Pending(a2, alice, [due(a2, MAR)]),
    ]
    groups = group_due(work)
    assert [(g.customer_id, g.due_at, [d.subscription_id for d in g.dues]) for g in groups] == [
        (alice, FEB, [a1]),
        (bob, FEB, [b1]),
        (alice, MAR, [a1, a2]),
    ]


def test_plan_changes_apart_from_periodic_periods_and_first() -> None:
    customer = uuid.uuid4()
    old, new, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    work = [
        Pending(other, customer, [due(other, FEB)]),
        Pending(old, customer, [due(old, FEB, InvoicingReason.SUBSCRIPTION_TERMINATING)]),
        Pending(new, customer, [due(new, FEB, InvoicingReason.SUBSCRIPTION_STARTING)]),
    ]
    assert [[d.subscription_id for d in g.dues] for g in group_due(work)] == [[old, new], [other]]


def test_purchase_orders_and_unconsolidated_subscriptions_apart() -> None:
    customer = uuid.uuid4()
    s1, s2, s3, s4 = (uuid.uuid4() for _ in range(4))
    work = [
        Pending(s1, customer, [due(s1, FEB)], ("PO-1", None)),
        Pending(s2, customer, [due(s2, FEB)], ("PO-2", None)),
        Pending(s3, customer, [due(s3, FEB)], ("PO-1", None)),
        Pending(s4, customer, [due(s4, FEB)], ("PO-1", "sub_4")),
    ]
    assert [[d.subscription_id for d in g.dues] for g in group_due(work)] == [[s1, s3], [s2], [s4]]


def test_two_periods_of_one_subscription_at_one_instant_are_two_invoices() -> None:
    customer, s1, s2 = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    work = [
        Pending(s1, customer, [due(s1, JAN), due(s1, JAN)]),
        Pending(s2, customer, [due(s2, JAN)]),
    ]
    assert [[d.subscription_id for d in g.dues] for g in group_due(work)] == [[s1, s2], [s1]]
