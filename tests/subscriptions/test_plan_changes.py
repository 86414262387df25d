"""Plan changes: a second ``POST /subscriptions`` with the same external id and another plan (Lago's
upgrade and downgrade), their invoices (billing run) and credit notes. Vectors computed by hand."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from lago_python_client.models.subscription import SubscriptionResponse
from lago_python_client.services.response import prepare_object_response
from sqlalchemy import select

from billow.billing.run import bill_due
from billow.models.credit_notes import CreditNote, InvoiceCreditNote
from billow.models.invoices import Fee, Invoice, InvoiceSubscription
from billow.models.plans import Plan
from billow.models.subscriptions import Subscription
from tests.conftest import Api, Clock

# These tests subscribe in the past and bill the periods since (off by default, as Lago).
pytestmark = pytest.mark.usefixtures("bill_backdated_periods")


def at(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


def create_plan(api: Api, code: str, amount_cents: int, **overrides: Any) -> dict:
    body = {
        "name": code.title(),
        "code": code,
        "interval": "monthly",
        "amount_cents": amount_cents,
        "amount_currency": "EUR",
        **overrides,
    }
    response = api.post("/plans", json={"plan": body})
    assert response.status_code == 200, response.text
    return response.json()["plan"]


def subscribe(api: Api, plan_code: str, **fields: Any) -> dict:
    body = {"external_customer_id": "cus_1", "external_id": "sub_1", "plan_code": plan_code, **fields}
    response = api.post("/subscriptions", json={"subscription": body})
    assert response.status_code == 200, response.text
    return response.json()["subscription"]


def get_subscription(api: Api, status: str | None = None) -> dict:
    response = api.get("/subscriptions/sub_1", params={"status": status} if status else None)
    assert response.status_code == 200, response.text
    return response.json()["subscription"]


def invoices(app: FastAPI) -> list[tuple[str, str, str, int, int, list[tuple[str, int]]]]:
    """(plan code, reason, due date, invoice fees, invoice total, [(fee type, amount)] of this subscription)
    of every billed period, oldest first (the periods billed at one instant share one invoice, as Lago)."""
    with app.state.sessionmaker() as session:
        rows = session.execute(
            select(Invoice, InvoiceSubscription, Subscription)
            .join(InvoiceSubscription, InvoiceSubscription.invoice_id == Invoice.id)
            .join(Subscription, Subscription.id == InvoiceSubscription.subscription_id)
            .order_by(InvoiceSubscription.timestamp, Subscription.started_at)
        ).all()
        result = []
        for invoice, link, subscription in rows:
            fees = session.scalars(
                select(Fee)
                .where(Fee.invoice_id == invoice.id, Fee.subscription_id == subscription.id)
                .order_by(Fee.fee_type.desc())
            ).all()
            plan = session.get(Plan, subscription.plan_id)
            assert plan is not None
            result.append(
                (
                    plan.code,
                    link.invoicing_reason,
                    link.timestamp.isoformat(),
                    invoice.fees_amount_cents,
                    invoice.total_amount_cents,
                    [(fee.fee_type, fee.amount_cents) for fee in fees],
                )
            )
        return result


def invoice_count(app: FastAPI) -> int:
    with app.state.sessionmaker() as session:
        return len(session.scalars(select(Invoice.id)).all())


def credit_notes(app: FastAPI) -> list[CreditNote]:
    with app.state.sessionmaker() as session:
        notes = list(session.scalars(select(CreditNote).order_by(CreditNote.created_at)))
        session.expunge_all()
        return notes


# --------------------------------------------------------------------------------------------- upgrade


class TestUpgrade:
    def test_in_arrears(self, api: Api, app: FastAPI, clock: Clock) -> None:
        create_plan(api, "basic", 3100)
        create_plan(api, "pro", 6200)
        old = subscribe(api, "basic")
        clock.set("2024-01-10T12:00:00Z")
        new = subscribe(api, "pro", name="Pro")
        assert new["lago_id"] != old["lago_id"]
        assert {k: new[k] for k in ("plan_code", "status", "started_at", "previous_plan_code", "name")} == {
            "plan_code": "pro",
            "status": "active",
            "started_at": "2024-01-10T12:00:00.000Z",
            "previous_plan_code": "basic",
            "name": "Pro",
        }
        # Lago keeps the first subscription date on the new subscription.
        assert new["subscription_at"] == old["subscription_at"]
        assert (new["next_plan_code"], new["downgrade_plan_date"]) == (None, None)
        terminated = get_subscription(api, "terminated")
        assert {k: terminated[k] for k in ("lago_id", "terminated_at", "next_plan_code")} == {
            "lago_id": old["lago_id"],
            "terminated_at": "2024-01-10T12:00:00Z",
            "next_plan_code": "pro",
        }
        assert get_subscription(api)["lago_id"] == new["lago_id"]

        summary = bill_due(app.state.sessionmaker, at("2024-02-01T00:00:00Z"))
        assert summary.failed == []
        assert invoices(app) == [
            # Old plan, Jan 1-9 (the switch day is the new plan's): 9/31 x 3100.
            (
                "basic",
                "subscription_terminating",
                "2024-01-10T12:00:00+00:00",
                900,
                900,
                [("subscription", 900)],
            ),
            # New plan, Jan 10-31: 22/31 x 6200.
            (
                "pro",
                "subscription_periodic",
                "2024-02-01T00:00:00+00:00",
                4400,
                4400,
                [("subscription", 4400)],
            ),
        ]
        assert credit_notes(app) == []  # nothing was paid in advance

    def test_in_advance_credits_unused_days(self, api: Api, app: FastAPI, clock: Clock) -> None:
        create_plan(api, "basic", 3100, pay_in_advance=True)
        create_plan(api, "pro", 6200, pay_in_advance=True)
        subscribe(api, "basic")
        bill_due(app.state.sessionmaker, at("2024-01-01T00:00:00Z"))
        clock.set("2024-01-10T12:00:00Z")
        subscribe(api, "pro")
        # Upgraded on Jan 10: Jan 10-31 unused (the switch day included), 22/31 x 3100, credited; the new
        # plan's first invoice, billed right after the upgrade's commit, consumed the credit at once.
        [note] = credit_notes(app)
        assert (
            note.reason,
            note.total_amount_cents,
            note.credit_amount_cents,
            note.balance_amount_cents,
            note.credit_status,
            note.refund_amount_cents,
        ) == ("order_change", 2200, 2200, 0, "consumed", 0)

        summary = bill_due(app.state.sessionmaker, at("2024-01-10T12:00:00Z"))
        assert (summary.failed, summary.invoices_created) == ([], 0)  # nothing was left to the run
        rows = invoices(app)
        assert rows[0] == (
            "basic",
            "subscription_starting",
            "2024-01-01T00:00:00+00:00",
            3100,
            3100,
            [("subscription", 3100)],
        )
        # The new plan's first fee, Jan 10-31: 22/31 x 6200 = 4400, less the 2200 credit.
        assert ("pro", "subscription_starting", "2024-01-10T12:00:00+00:00", 4400, 2200) in [
            r[:5] for r in rows
        ]
        [note] = credit_notes(app)
        assert (note.balance_amount_cents, note.credit_status) == (0, "consumed")
        with app.state.sessionmaker() as session:
            [consumed] = session.scalars(select(InvoiceCreditNote)).all()
            invoice = session.get(Invoice, consumed.invoice_id)
            assert invoice is not None
            assert (consumed.amount_cents, invoice.credit_notes_amount_cents, invoice.total_amount_cents) == (
                2200,
                2200,
                2200,
            )

    def test_cancels_a_pending_downgrade(self, api: Api, clock: Clock) -> None:
        create_plan(api, "basic", 3100)
        create_plan(api, "pro", 6200)
        create_plan(api, "max", 9300)
        subscribe(api, "pro")
        clock.set("2024-01-10T12:00:00Z")
        subscribe(api, "basic")  # downgrade, pending
        subscribe(api, "max")  # upgrade
        assert get_subscription(api)["plan_code"] == "max"
        assert get_subscription(api, "canceled")["plan_code"] == "basic"
        assert api.get("/subscriptions/sub_1", params={"status": "pending"}).status_code == 404

    def test_yearly_amount_decides(self, api: Api, clock: Clock) -> None:
        """A yearly plan of 30 000 is an upgrade from a monthly one of 2 500 (30 000 ≥ 12 x 2 500)."""
        create_plan(api, "monthly", 2500)
        create_plan(api, "yearly", 30000, interval="yearly")
        subscribe(api, "monthly")
        clock.set("2024-01-10T12:00:00Z")
        assert subscribe(api, "yearly")["plan_code"] == "yearly"

    def test_client_parses(self, api: Api, clock: Clock) -> None:
        create_plan(api, "basic", 3100)
        create_plan(api, "pro", 6200)
        subscribe(api, "basic")
        clock.set("2024-01-10T12:00:00Z")
        body = subscribe(api, "pro")
        parsed = prepare_object_response(response_model=SubscriptionResponse, data=body)
        assert parsed.previous_plan_code == "basic"


# ------------------------------------------------------------------------------------------- downgrade


class TestDowngrade:
    def test_pending_until_period_end(self, api: Api, app: FastAPI, clock: Clock) -> None:
        create_plan(api, "basic", 3100)
        create_plan(api, "pro", 6200)
        current = subscribe(api, "pro")
        clock.set("2024-01-10T12:00:00Z")
        answered = subscribe(api, "basic")
        assert {
            k: answered[k] for k in ("lago_id", "plan_code", "next_plan_code", "downgrade_plan_date")
        } == {
            "lago_id": current["lago_id"],
            "plan_code": "pro",
            "next_plan_code": "basic",
            "downgrade_plan_date": "2024-02-01",
        }
        pending = get_subscription(api, "pending")
        assert {k: pending[k] for k in ("plan_code", "status", "started_at", "previous_plan_code")} == {
            "plan_code": "basic",
            "status": "pending",
            "started_at": None,
            "previous_plan_code": "pro",
        }
        clock.set("2024-01-31T23:59:59Z")
        assert get_subscription(api)["plan_code"] == "pro"

        clock.set("2024-02-01T00:00:00Z")
        active = get_subscription(api)
        assert {k: active[k] for k in ("lago_id", "plan_code", "started_at", "previous_plan_code")} == {
            "lago_id": pending["lago_id"],
            "plan_code": "basic",
            "started_at": "2024-02-01T00:00:00.000Z",
            "previous_plan_code": "pro",
        }
        old = get_subscription(api, "terminated")
        assert (old["lago_id"], old["terminated_at"], old["next_plan_code"]) == (
            current["lago_id"],
            "2024-02-01T00:00:00Z",
            "basic",
        )
        assert old["downgrade_plan_date"] is None

        bill_due(app.state.sessionmaker, at("2024-03-01T00:00:00Z"))
        # January once, in full, on the old plan's final invoice; February on the new plan.
        assert invoices(app) == [
            (
                "pro",
                "subscription_terminating",
                "2024-02-01T00:00:00+00:00",
                6200,
                6200,
                [("subscription", 6200)],
            ),
            (
                "basic",
                "subscription_periodic",
                "2024-03-01T00:00:00+00:00",
                3100,
                3100,
                [("subscription", 3100)],
            ),
        ]
        assert credit_notes(app) == []

    def test_billing_run_applies_it(self, api: Api, app: FastAPI, clock: Clock) -> None:
        """The scheduler (not a read) makes the switch; a late run bills both sides once."""
        create_plan(api, "basic", 3100, pay_in_advance=True)
        create_plan(api, "pro", 6200, pay_in_advance=True)
        subscribe(api, "pro")
        clock.set("2024-01-10T12:00:00Z")
        subscribe(api, "basic")
        summary = bill_due(app.state.sessionmaker, at("2024-02-05T00:00:00Z"))
        assert summary.failed == []
        assert (summary.activated, summary.terminated) == (1, 1)
        assert invoices(app) == [
            (
                "pro",
                "subscription_starting",
                "2024-01-01T00:00:00+00:00",
                6200,
                6200,
                [("subscription", 6200)],
            ),
            # One invoice at the switch (Lago's `upgrading` invoice): the old plan's final period (nothing
            # owed: paid in advance) and the new plan's first fee.
            ("pro", "subscription_terminating", "2024-02-01T00:00:00+00:00", 3100, 3100, []),
            (
                "basic",
                "subscription_starting",
                "2024-02-01T00:00:00+00:00",
                3100,
                3100,
                [("subscription", 3100)],
            ),
        ]
        assert invoice_count(app) == 2
        # A downgrade at the period end leaves no unused day: no credit note.
        assert credit_notes(app) == []

    def test_replaced_by_another_downgrade(self, api: Api, clock: Clock) -> None:
        create_plan(api, "mini", 1000)
        create_plan(api, "basic", 3100)
        create_plan(api, "pro", 6200)
        subscribe(api, "pro")
        clock.set("2024-01-10T12:00:00Z")
        first = subscribe(api, "basic")
        second = subscribe(api, "mini")
        assert first["lago_id"] == second["lago_id"]
        assert second["next_plan_code"] == "mini"
        assert get_subscription(api, "pending")["plan_code"] == "mini"
        assert get_subscription(api, "canceled")["plan_code"] == "basic"

    def test_same_plan_keeps_the_downgrade(self, api: Api, clock: Clock) -> None:
        create_plan(api, "basic", 3100)
        create_plan(api, "pro", 6200)
        subscribe(api, "pro")
        clock.set("2024-01-10T12:00:00Z")
        subscribe(api, "basic")
        assert subscribe(api, "pro")["next_plan_code"] == "basic"

    def test_cancel_the_pending_downgrade(self, api: Api, clock: Clock) -> None:
        create_plan(api, "basic", 3100)
        create_plan(api, "pro", 6200)
        subscribe(api, "pro")
        clock.set("2024-01-10T12:00:00Z")
        subscribe(api, "basic")
        response = api.delete("/subscriptions/sub_1", params={"status": "pending"})
        assert response.status_code == 200, response.text
        assert (response.json()["subscription"]["status"], response.json()["subscription"]["plan_code"]) == (
            "canceled",
            "basic",
        )
        active = get_subscription(api)
        assert (active["plan_code"], active["next_plan_code"], active["downgrade_plan_date"]) == (
            "pro",
            None,
            None,
        )
        clock.set("2024-02-01T00:00:00Z")
        assert get_subscription(api)["plan_code"] == "pro"

    def test_terminating_cancels_the_downgrade(self, api: Api, clock: Clock) -> None:
        create_plan(api, "basic", 3100)
        create_plan(api, "pro", 6200)
        subscribe(api, "pro")
        clock.set("2024-01-10T12:00:00Z")
        subscribe(api, "basic")
        assert api.delete("/subscriptions/sub_1").status_code == 200
        assert get_subscription(api, "canceled")["plan_code"] == "basic"
        clock.set("2024-02-01T00:00:00Z")
        assert api.get("/subscriptions/sub_1").status_code == 404

    def test_ending_before_the_switch_cancels_it(self, api: Api, clock: Clock) -> None:
        create_plan(api, "basic", 3100)
        create_plan(api, "pro", 6200)
        subscribe(api, "pro", ending_at="2024-01-20T00:00:00Z")
        clock.set("2024-01-10T12:00:00Z")
        subscribe(api, "basic")
        clock.set("2024-02-02T00:00:00Z")
        assert get_subscription(api, "terminated")["terminated_at"] == "2024-01-20T00:00:00Z"
        assert get_subscription(api, "canceled")["plan_code"] == "basic"
        assert api.get("/subscriptions/sub_1").status_code == 404

    def test_in_customer_timezone(self, api: Api, clock: Clock) -> None:
        """Periods end at the customer's local midnight."""
        api.post("/customers", json={"customer": {"external_id": "cus_1", "timezone": "America/New_York"}})
        create_plan(api, "basic", 3100)
        create_plan(api, "pro", 6200)
        subscribe(api, "pro")
        clock.set("2024-01-10T12:00:00Z")
        assert subscribe(api, "basic")["downgrade_plan_date"] == "2024-02-01"
        clock.set("2024-02-01T04:59:59Z")
        assert get_subscription(api)["plan_code"] == "pro"
        clock.set("2024-02-01T05:00:00Z")
        assert get_subscription(api)["plan_code"] == "basic"


class TestPendingSubscription:
    def test_takes_the_new_plan(self, api: Api, app: FastAPI, clock: Clock) -> None:
        create_plan(api, "basic", 3100)
        create_plan(api, "pro", 6200)
        first = subscribe(api, "pro", subscription_at="2024-03-01T00:00:00Z")
        changed = subscribe(api, "basic", subscription_at="2024-03-01T00:00:00Z")
        assert (changed["lago_id"], changed["plan_code"], changed["status"]) == (
            first["lago_id"],
            "basic",
            "pending",
        )
        with app.state.sessionmaker() as session:
            assert len(session.scalars(select(Subscription)).all()) == 1


class TestTenancy:
    def test_other_organization_does_not_see_the_change(self, api: Api, other_api: Api, clock: Clock) -> None:
        create_plan(api, "basic", 3100)
        create_plan(api, "pro", 6200)
        subscribe(api, "pro")
        clock.set("2024-01-10T12:00:00Z")
        subscribe(api, "basic")
        assert other_api.get("/subscriptions/sub_1", params={"status": "pending"}).status_code == 404


class TestRecurringCharges:
    def test_not_billed_at_the_switch_when_the_next_plan_has_them(
        self, api: Api, app: FastAPI, clock: Clock
    ) -> None:
        """A recurring metric charged by both plans is left to the new subscription; a non-recurring
        one is billed on the old plan's final invoice (Lago's ``included_in_next_subscription?``)."""
        metric_ids = {}
        for code, recurring in (("seats", True), ("calls", False)):
            metric = {"name": code, "code": code, "aggregation_type": "sum_agg", "field_name": "value"}
            response = api.post(
                "/billable_metrics", json={"billable_metric": {**metric, "recurring": recurring}}
            )
            assert response.status_code == 200, response.text
            metric_ids[code] = response.json()["billable_metric"]["lago_id"]
        charges = [
            {
                "billable_metric_id": metric_ids[code],
                "charge_model": "standard",
                "properties": {"amount": "1"},
            }
            for code in ("seats", "calls")
        ]
        for code, amount in (("basic", 3100), ("pro", 6200)):
            plan = {"name": code, "code": code, "interval": "monthly", "amount_cents": amount}
            plan |= {"amount_currency": "EUR", "charges": charges}
            response = api.post("/plans", json={"plan": plan})
            assert response.status_code == 200, response.text
        subscribe(api, "basic")
        for code, value in (("seats", 3), ("calls", 7)):
            event = {
                "transaction_id": f"tx_{code}",
                "external_subscription_id": "sub_1",
                "code": code,
                "timestamp": int(at("2024-01-05T00:00:00Z").timestamp()),
                "properties": {"value": value},
            }
            response = api.post("/events", json={"event": event})
            assert response.status_code == 200, response.text
        clock.set("2024-01-10T12:00:00Z")
        subscribe(api, "pro")
        bill_due(app.state.sessionmaker, at("2024-01-10T12:00:00Z"))
        [final] = invoices(app)
        # 9/31 x 3100 = 900, calls 7 x 1.00; seats left to the new plan.
        assert final == (
            "basic",
            "subscription_terminating",
            "2024-01-10T12:00:00+00:00",
            1600,
            1600,
            [("subscription", 900), ("charge", 700)],
        )
