"""Invoice grouping in the billing run: a customer's calendar subscriptions fall due at the same local
midnight and are billed on ONE invoice (as Lago), with one fee set and one ``invoice_subscriptions`` row per
subscription; an anniversary subscription falls due at its own instant. Hand-computed amounts."""

from __future__ import annotations

from sqlalchemy import select

from billow.models.invoices import Fee, Invoice, InvoiceSubscription
from billow.models.subscriptions import Subscription
from tests.billing.scenarios.helpers import SECOND, run, world
from tests.fixtures import factories as f
from tests.fixtures.factories import at

NY = "America/New_York"


def invoices(factory) -> list[tuple[str, int, int, list[tuple[str, str, str, int]]]]:
    """Per invoice (by number): issuing date, fees, total, and ``(external subscription id, reason, fee
    type, amount)`` of each fee."""
    with factory() as session:
        result = []
        for invoice in session.scalars(select(Invoice).order_by(Invoice.organization_sequential_id)):
            links = {
                link.subscription_id: link
                for link in session.scalars(
                    select(InvoiceSubscription).where(InvoiceSubscription.invoice_id == invoice.id)
                )
            }
            fees = []
            for fee in session.scalars(select(Fee).where(Fee.invoice_id == invoice.id)):
                link = links[fee.subscription_id]
                external_id = session.get(Subscription, fee.subscription_id).external_id
                fees.append((external_id, link.invoicing_reason, fee.fee_type, fee.amount_cents))
            result.append(
                (
                    invoice.issuing_date.isoformat(),
                    invoice.fees_amount_cents,
                    invoice.total_amount_cents,
                    sorted(fees),
                )
            )
        return result


def test_calendar_subscriptions_of_a_customer_at_its_local_midnight(factory, session) -> None:
    # sub_1 from Jan 1 00:00 EST (05:00Z), 3100 + 1.00/unit; sub_2 (another plan, 6200) from Jan 11 EST.
    w = world(session, started_at="2024-01-01T05:00:00", amount_cents=3100, timezone=NY)
    plan = f.plan(session, w.org, interval="monthly", amount_cents=6200)
    f.subscription(
        session, w.org, w.customer, plan, external_id="sub_2", started_at=at("2024-01-11T05:00:00")
    )
    w.event(session, "2024-01-20T12:00:00", 4)
    session.commit()
    assert run(factory, at("2024-02-01T05:00:00") - SECOND) == 0  # Jan 31 23:59:59 EST
    assert run(factory, "2024-02-01T05:00:00") == 1
    # sub_1: 3100 + 400; sub_2 Jan 11-31 = 21/31 x 6200 = 4200. One invoice: 7700.
    assert invoices(factory) == [
        (
            "2024-02-01",
            7700,
            7700,
            [
                ("sub_1", "subscription_periodic", "charge", 400),
                ("sub_1", "subscription_periodic", "subscription", 3100),
                ("sub_2", "subscription_periodic", "subscription", 4200),
            ],
        )
    ]
    with factory() as check:
        spans = sorted(
            (link.from_datetime, link.to_datetime, link.charges_from_datetime, link.timestamp)
            for link in check.scalars(select(InvoiceSubscription))
        )
    assert spans == [
        (
            at("2024-01-01T05:00:00"),
            at("2024-02-01T05:00:00"),
            at("2024-01-01T05:00:00"),
            at("2024-02-01T05:00:00"),
        ),
        (
            at("2024-01-11T05:00:00"),
            at("2024-02-01T05:00:00"),
            at("2024-01-11T05:00:00"),
            at("2024-02-01T05:00:00"),
        ),
    ]
    assert run(factory, "2024-02-01T05:00:00") == 0


def test_an_anniversary_subscription_falls_due_at_its_own_instant(factory, session) -> None:
    # sub_1 calendar from Jan 1; sub_2 anniversary from Jan 11 (both UTC, 3100 and 6200, no usage).
    w = world(session, started_at="2024-01-01T00:00:00", amount_cents=3100, charge_model=None)
    plan = f.plan(session, w.org, interval="monthly", amount_cents=6200)
    f.subscription(
        session,
        w.org,
        w.customer,
        plan,
        external_id="sub_2",
        started_at=at("2024-01-11"),
        billing_time="anniversary",
    )
    session.commit()
    assert run(factory, "2024-02-11T00:00:00") == 2
    assert run(factory, "2024-03-01T00:00:00") == 1
    assert run(factory, "2024-03-11T00:00:00") == 1
    # Feb 1: sub_1 January 3100. Feb 11: sub_2 Jan 11 - Feb 10, 6200. Mar 1: sub_1. Mar 11: sub_2.
    assert [(date, fees, [e[0] for e in items]) for date, fees, _, items in invoices(factory)] == [
        ("2024-02-01", 3100, ["sub_1"]),
        ("2024-02-11", 6200, ["sub_2"]),
        ("2024-03-01", 3100, ["sub_1"]),
        ("2024-03-11", 6200, ["sub_2"]),
    ]
