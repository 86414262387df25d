"""Invoices grouped as Lago groups them: every subscription of a customer billed at the same instant is on
ONE invoice (one fee set and one ``invoice_subscriptions`` row per subscription, one number), and a plan
change's closing of the old subscription and start of the new one is one invoice (Lago's ``upgrading``).
Driven through the API with a frozen request clock, billed by :func:`billow.billing.run.bill_due`.
Every amount is hand-computed next to it."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from billow.billing import run as billing_run
from billow.billing.repository import billing_repository
from billow.billing.run import bill_due, bill_subscriptions
from billow.models.invoices import Fee, Invoice, InvoiceSubscription
from billow.models.subscriptions import Subscription
from tests.conftest import Api, Clock

# The scenarios run on a frozen past clock: their periods are all before the subscriptions' creation.
pytestmark = pytest.mark.usefixtures("bill_backdated_periods")


def at(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


def ok(response: Any) -> dict:
    assert response.status_code == 200, response.text
    return response.json()


def catalog(api: Api) -> None:
    """A ``calls`` metric (sum of ``value``); plans in EUR: ``basic`` 10.00 + calls at 1.00 in arrears,
    ``pro`` 31.00 in arrears, ``a``/``b``/``c`` 10.00/31.00/62.00 paid in advance; a 10% tax ``vat``."""
    metric = {"name": "Calls", "code": "calls", "aggregation_type": "sum_agg", "field_name": "value"}
    metric_id = ok(api.post("/billable_metrics", json={"billable_metric": metric}))["billable_metric"][
        "lago_id"
    ]
    calls = [{"billable_metric_id": metric_id, "charge_model": "standard", "properties": {"amount": "1"}}]
    for code, amount, in_advance, charges in (
        ("basic", 1000, False, calls),
        ("pro", 3100, False, []),
        ("a", 1000, True, []),
        ("b", 3100, True, []),
        ("c", 6200, True, []),
    ):
        plan = {"name": code, "code": code, "interval": "monthly", "amount_cents": amount}
        plan |= {"amount_currency": "EUR", "pay_in_advance": in_advance, "charges": charges}
        ok(api.post("/plans", json={"plan": plan}))
    ok(api.post("/taxes", json={"tax": {"name": "VAT", "code": "vat", "rate": "10"}}))


def customer(api: Api, external_id: str = "cus_1", **fields: Any) -> None:
    body = {"external_id": external_id, "name": external_id, "tax_codes": ["vat"], **fields}
    ok(api.post("/customers", json={"customer": body}))


def subscribe(api: Api, external_id: str, plan_code: str, customer_id: str = "cus_1", **fields: Any) -> dict:
    body = {"external_customer_id": customer_id, "external_id": external_id, "plan_code": plan_code, **fields}
    return ok(api.post("/subscriptions", json={"subscription": body}))["subscription"]


def event(api: Api, external_subscription_id: str, timestamp: str, value: int, tx: str) -> None:
    body = {
        "transaction_id": tx,
        "external_subscription_id": external_subscription_id,
        "code": "calls",
        "timestamp": int(at(timestamp).timestamp()),
        "properties": {"value": value},
    }
    ok(api.post("/events", json={"event": body}))


def bill(app: FastAPI, as_of: str) -> int:
    summary = bill_due(app.state.sessionmaker, at(as_of))
    assert summary.failed == []
    return summary.invoices_created


def listed(api: Api) -> list[dict]:
    """Every visible invoice as ``GET /invoices/{id}`` renders it, oldest number first."""
    invoices = ok(api.get("/invoices", params={"per_page": 100}))["invoices"]
    full = [ok(api.get(f"/invoices/{invoice['lago_id']}"))["invoice"] for invoice in invoices]
    return sorted(
        full, key=lambda invoice: (invoice["issuing_date"], invoice["created_at"], invoice["number"])
    )


def fees_by_subscription(invoice: dict) -> dict[str, list[tuple[str, int]]]:
    result: dict[str, list[tuple[str, int]]] = {}
    for fee in invoice["fees"]:
        result.setdefault(fee["external_subscription_id"], []).append(
            (fee["item"]["type"], fee["amount_cents"])
        )
    return {key: sorted(value, reverse=True) for key, value in result.items()}


def periods(invoice: dict) -> list[tuple[str, str, str, str, str, str]]:
    return sorted(
        (
            period["external_subscription_id"],
            period["invoicing_reason"],
            period["subscription_from_datetime"],
            period["subscription_to_datetime"],
            period["charges_from_datetime"],
            period["charges_to_datetime"],
        )
        for period in invoice["billing_periods"]
    )


def amounts(invoice: dict) -> tuple[int, int, int, int]:
    return (
        invoice["fees_amount_cents"],
        invoice["credit_notes_amount_cents"],
        invoice["taxes_amount_cents"],
        invoice["total_amount_cents"],
    )


def counts(app: FastAPI) -> tuple[int, int, int]:
    """(invoices, invoice_subscriptions rows, fees) in the database."""
    with app.state.sessionmaker() as session:
        return (
            session.scalar(select(func.count()).select_from(Invoice)) or 0,
            session.scalar(select(func.count()).select_from(InvoiceSubscription)) or 0,
            session.scalar(select(func.count()).select_from(Fee)) or 0,
        )


def two_subscriptions(api: Api, clock: Clock, **customer_fields: Any) -> None:
    """cus_1: ``sub_a`` on basic from Jan 1 (7 calls on Jan 20), ``sub_b`` on pro from Jan 16."""
    catalog(api)
    customer(api, **customer_fields)
    subscribe(api, "sub_a", "basic")
    clock.set("2024-01-16T00:00:00Z")
    subscribe(api, "sub_b", "pro")
    event(api, "sub_a", "2024-01-20T00:00:00Z", 7, "tx_1")


# Jan: sub_a 1000 + 7 calls x 100 = 1700; sub_b Jan 16-31 = 16/31 x 3100 = 1600.
# Fees 3300, VAT 10% = 330 (170 + 160 per fee set), total 3630.
JANUARY_FEES = {"sub_a": [("subscription", 1000), ("charge", 700)], "sub_b": [("subscription", 1600)]}
JANUARY_PERIODS = [
    (
        "sub_a",
        "subscription_periodic",
        "2024-01-01T00:00:00Z",
        "2024-01-31T23:59:59Z",
        "2024-01-01T00:00:00Z",
        "2024-01-31T23:59:59Z",
    ),
    (
        "sub_b",
        "subscription_periodic",
        "2024-01-16T00:00:00Z",
        "2024-01-31T23:59:59Z",
        "2024-01-16T00:00:00Z",
        "2024-01-31T23:59:59Z",
    ),
]


class TestOneCustomer:
    def test_calendar_subscriptions_due_together_are_one_invoice(
        self, api: Api, app: FastAPI, clock: Clock
    ) -> None:
        two_subscriptions(api, clock)
        assert bill(app, "2024-01-31T23:59:59Z") == 0
        assert bill(app, "2024-02-01T00:00:00Z") == 1
        [invoice] = listed(api)
        assert invoice["number"].endswith("-001") and invoice["sequential_id"] == 1
        assert (invoice["status"], invoice["issuing_date"]) == ("finalized", "2024-02-01")
        assert amounts(invoice) == (3300, 0, 330, 3630)
        assert fees_by_subscription(invoice) == JANUARY_FEES
        assert sorted(s["external_id"] for s in invoice["subscriptions"]) == ["sub_a", "sub_b"]
        assert periods(invoice) == JANUARY_PERIODS
        assert [(t["tax_code"], t["amount_cents"]) for t in invoice["applied_taxes"]] == [("vat", 330)]
        # Nothing more due; February: 1000 + 3100 = 4100 + 410 VAT on one invoice again.
        assert bill(app, "2024-02-01T00:00:00Z") == 0
        assert bill(app, "2024-03-01T00:00:00Z") == 1
        second = listed(api)[1]
        assert second["number"].endswith("-002")
        assert amounts(second) == (4100, 0, 410, 4510)
        assert fees_by_subscription(second) == {
            "sub_a": [("subscription", 1000)],
            "sub_b": [("subscription", 3100)],
        }

    def test_two_customers_two_invoices(self, api: Api, app: FastAPI, clock: Clock) -> None:
        catalog(api)
        customer(api, "cus_1")
        customer(api, "cus_2")
        subscribe(api, "sub_1", "pro", "cus_1")
        subscribe(api, "sub_2", "pro", "cus_2")
        assert bill(app, "2024-02-01T00:00:00Z") == 2
        invoices = listed(api)
        # 3100 + 310 VAT each, each customer's first number.
        assert sorted((i["customer"]["external_id"], amounts(i), i["sequential_id"]) for i in invoices) == [
            ("cus_1", (3100, 0, 310, 3410), 1),
            ("cus_2", (3100, 0, 310, 3410), 1),
        ]
        assert [[s["external_id"] for s in i["subscriptions"]] for i in invoices] in (
            [["sub_1"], ["sub_2"]],
            [["sub_2"], ["sub_1"]],
        )

    def test_catch_up_keeps_each_subscriptions_periods(self, api: Api, app: FastAPI, clock: Clock) -> None:
        """A late run: sub_a's January is billed alone (sub_b started later), then both on one invoice."""
        catalog(api)
        customer(api)
        subscribe(api, "sub_a", "pro")
        clock.set("2024-02-10T00:00:00Z")
        subscribe(api, "sub_b", "pro")
        assert bill(app, "2024-03-01T00:00:00Z") == 2
        first, second = listed(api)
        # January: sub_a 3100 (+310). February: sub_a 3100 + sub_b Feb 10-29 = 20/29 x 3100 = 2137.93
        # -> 2138, fees 5238, VAT 310 + 213.79 = 523.79 -> 524.
        assert (first["issuing_date"], amounts(first)) == ("2024-02-01", (3100, 0, 310, 3410))
        assert [s["external_id"] for s in first["subscriptions"]] == ["sub_a"]
        assert (second["issuing_date"], amounts(second)) == ("2024-03-01", (5238, 0, 524, 5762))
        assert fees_by_subscription(second) == {
            "sub_a": [("subscription", 3100)],
            "sub_b": [("subscription", 2138)],
        }

    def test_purchase_order_numbers_and_consolidate_invoice_split(
        self, api: Api, app: FastAPI, clock: Clock
    ) -> None:
        """As Lago: one invoice per purchase order number; ``consolidate_invoice: false`` bills alone."""
        catalog(api)
        customer(api)
        subscribe(api, "sub_1", "pro", purchase_order_number="PO-1")
        subscribe(api, "sub_2", "pro", purchase_order_number="PO-1")
        subscribe(api, "sub_3", "pro", purchase_order_number="PO-2")
        subscribe(api, "sub_4", "pro", purchase_order_number="PO-1", consolidate_invoice=False)
        assert bill(app, "2024-02-01T00:00:00Z") == 3
        grouped = sorted(sorted(s["external_id"] for s in i["subscriptions"]) for i in listed(api))
        assert grouped == [["sub_1", "sub_2"], ["sub_3"], ["sub_4"]]

    def test_a_termination_at_the_period_end_is_not_on_the_periodic_invoice(
        self, api: Api, app: FastAPI, clock: Clock
    ) -> None:
        """As Lago (a termination is billed by its own job): sub_a ends at Feb 1 00:00 (``ending_at``),
        sub_b renews then: two invoices at the same instant."""
        catalog(api)
        customer(api)
        subscribe(api, "sub_a", "pro", ending_at="2024-02-01T00:00:00Z")
        subscribe(api, "sub_b", "pro")
        assert bill(app, "2024-02-01T00:00:00Z") == 2
        invoices = listed(api)
        # Both bill January whole: 3100 + 310 VAT each.
        kinds = sorted(([p["invoicing_reason"] for p in i["billing_periods"]], amounts(i)) for i in invoices)
        assert kinds == [
            (["subscription_periodic"], (3100, 0, 310, 3410)),
            (["subscription_terminating"], (3100, 0, 310, 3410)),
        ]


class TestPlanChanges:
    def test_upgrade_is_one_invoice(self, api: Api, app: FastAPI, clock: Clock) -> None:
        catalog(api)
        customer(api)
        subscribe(api, "sub_1", "basic")
        event(api, "sub_1", "2024-01-05T00:00:00Z", 7, "tx_1")
        clock.set("2024-01-10T12:00:00Z")
        subscribe(api, "sub_1", "c")  # 62.00 paid in advance: an upgrade
        # Billed right after the upgrade's commit (billow.billing.immediate): a run then finds nothing.
        assert bill(app, "2024-01-10T12:00:00Z") == 0
        [invoice] = listed(api)
        # Old (basic, in arrears): Jan 1-9 = 9/31 x 1000 = 290.32 -> 290, calls 7 x 100 = 700.
        # New (c, in advance): Jan 10-31 = 22/31 x 6200 = 4400. Fees 5390, VAT 539, total 5929.
        assert amounts(invoice) == (5390, 0, 539, 5929)
        plan_of = {s["lago_id"]: s["plan_code"] for s in invoice["subscriptions"]}
        assert sorted(plan_of.values()) == ["basic", "c"]
        fees = sorted(
            (plan_of[f["lago_subscription_id"]], f["item"]["type"], f["amount_cents"])
            for f in invoice["fees"]
        )
        assert fees == [("basic", "charge", 700), ("basic", "subscription", 290), ("c", "subscription", 4400)]
        assert sorted((p["invoicing_reason"]) for p in invoice["billing_periods"]) == [
            "subscription_starting",
            "subscription_terminating",
        ]
        assert counts(app) == (1, 2, 3)
        assert bill(app, "2024-01-11T00:00:00Z") == 0

    def test_a_downgrade_at_the_period_end_is_one_invoice_apart_from_the_periodic_one(
        self, api: Api, app: FastAPI, clock: Clock
    ) -> None:
        """sub_1 moves from c to a (paid in advance) at Feb 1; sub_2 renews then. Lago: the plan change's
        invoice (old final period + new first) and the periodic invoice."""
        catalog(api)
        customer(api)
        subscribe(api, "sub_1", "c")
        subscribe(api, "sub_2", "pro")
        # c in advance: 6200 + 620, billed right after the subscription's commit.
        assert len(listed(api)) == 1 and bill(app, "2024-01-01T00:00:00Z") == 0
        clock.set("2024-01-10T00:00:00Z")
        subscribe(api, "sub_1", "a")  # a downgrade: pending until Feb 1
        assert bill(app, "2024-02-01T00:00:00Z") == 2
        _, change, renewal = listed(api)
        plan_of = {s["lago_id"]: s["plan_code"] for s in change["subscriptions"]}
        reasons = sorted(
            (p["invoicing_reason"], plan_of[p["lago_subscription_id"]]) for p in change["billing_periods"]
        )
        assert reasons == [("subscription_starting", "a"), ("subscription_terminating", "c")]
        # c was paid in advance (nothing more); a's February in advance: 1000 + 100.
        assert amounts(change) == (1000, 0, 100, 1100)
        # sub_2's January in arrears: 3100 + 310.
        assert [p["external_subscription_id"] for p in renewal["billing_periods"]] == ["sub_2"]
        assert amounts(renewal) == (3100, 0, 310, 3410)

    def test_two_upgrades_the_same_day_make_three_invoices(
        self, api: Api, app: FastAPI, clock: Clock
    ) -> None:
        catalog(api)
        customer(api)
        # Each invoice is written right after the API call's commit; the runs in between find nothing.
        subscribe(api, "sub_1", "a")
        assert len(listed(api)) == 1 and bill(app, "2024-01-01T00:00:00Z") == 0
        clock.set("2024-01-10T12:00:00Z")
        subscribe(api, "sub_1", "b")
        assert len(listed(api)) == 2 and bill(app, "2024-01-10T12:00:00Z") == 0
        clock.set("2024-01-10T18:00:00Z")
        subscribe(api, "sub_1", "c")
        assert len(listed(api)) == 3 and bill(app, "2024-01-10T18:00:00Z") == 0
        invoices = listed(api)
        assert len(invoices) == 3 and counts(app)[0] == 3
        assert [i["sequential_id"] for i in invoices] == [1, 2, 3]
        first, second, third = invoices
        # 1. a from Jan 1: the whole month in advance, 1000 + 100 VAT.
        assert amounts(first) == (1000, 0, 100, 1100)
        # 2. a ends (paid in advance: nothing more) + b from Jan 10: 22/31 x 3100 = 2200; a's unused
        #    days Jan 10-31 credited: 22/31 x 1000 = 709.68 + 10% = 780.65 -> 781 (credit note), consumed
        #    after taxes: 2200 + 220 = 2420 - 781 = 1639.
        assert amounts(second) == (2200, 781, 220, 1639)
        # 3. b ends + c from Jan 10: 22/31 x 6200 = 4400 + 440; b's unused days (all 22) credited
        #    2200 + 220 = 2420: 4840 - 2420 = 2420.
        assert amounts(third) == (4400, 2420, 440, 2420)
        for invoice, (old, new) in ((second, ("a", "b")), (third, ("b", "c"))):
            plan_of = {s["lago_id"]: s["plan_code"] for s in invoice["subscriptions"]}
            reasons = {
                p["invoicing_reason"]: plan_of[p["lago_subscription_id"]] for p in invoice["billing_periods"]
            }
            assert reasons == {"subscription_terminating": old, "subscription_starting": new}


class TestConcurrency:
    def test_repeated_and_concurrent_runs_bill_once(self, api: Api, app: FastAPI, clock: Clock) -> None:
        two_subscriptions(api, clock)
        factory = app.state.sessionmaker
        with factory() as session:
            ids = list(session.scalars(select(Subscription.id)))
        created: list[int] = []
        errors: list[BaseException] = []

        def work(kind: int) -> None:
            try:
                as_of = at("2024-02-01T00:00:00Z")
                if kind % 2:
                    summary = bill_subscriptions(factory, ids[kind % len(ids) :][:1], as_of)
                else:
                    summary = bill_due(factory, as_of)
                assert summary.failed == []
                created.append(summary.invoices_created)
            except BaseException as error:  # pragma: no cover - reported below
                errors.append(error)

        threads = [threading.Thread(target=work, args=(kind,)) for kind in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert sum(created) == 1
        assert counts(app) == (1, 2, 3)
        assert bill(app, "2024-02-01T00:00:00Z") == 0
        [invoice] = listed(api)
        assert amounts(invoice) == (3300, 0, 330, 3630)

    def test_a_period_billed_meanwhile_is_left_out_whole(
        self, api: Api, app: FastAPI, clock: Clock, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Another worker bills sub_a's period between our check and our insert: our invoice's insert
        fails on the period's unique key, nothing of it is kept, and sub_b is billed on its own."""
        two_subscriptions(api, clock)
        factory = app.state.sessionmaker
        with factory() as session:
            work = billing_run.pending_work(session, at("2024-02-01T00:00:00Z"), None)
        [group] = billing_run.group_due(work)
        due_a = next(d for d in group.dues if d.subscription_id == work[0].subscription_id)
        # The other worker: sub_a alone.
        invoice_id, billed = billing_run._bill_group(factory, [due_a])
        assert invoice_id is not None and billed == 0
        # Our check comes from a snapshot older than that commit: it answers "not billed" once.
        real = billing_repository.billed
        stale = iter([set()])
        monkeypatch.setattr(
            billing_repository, "billed", lambda session, dues: next(stale, None) or real(session, dues)
        )
        invoice_id, billed = billing_run._bill_group(factory, list(group.dues))
        assert invoice_id is not None and billed == 1
        assert counts(app) == (2, 2, 3)
        by_number = listed(api)
        # sub_a: 1700 + 170; sub_b: 1600 + 160 — no fee of sub_a on the second invoice.
        assert [(amounts(i), list(fees_by_subscription(i))) for i in by_number] == [
            ((1700, 0, 170, 1870), ["sub_a"]),
            ((1600, 0, 160, 1760), ["sub_b"]),
        ]


class TestEntryPoints:
    """``bill_subscriptions`` (called after an API commit, and by the worker's batches) bills the whole
    customer, so the subscriptions due at one instant are on one invoice whichever id it was given."""

    def test_one_subscription_id_bills_the_customers_others_due_then(
        self, api: Api, app: FastAPI, clock: Clock
    ) -> None:
        two_subscriptions(api, clock)
        sub_b = uuid.UUID(ok(api.get("/subscriptions/sub_b"))["subscription"]["lago_id"])
        summary = bill_subscriptions(app.state.sessionmaker, [sub_b], at("2024-02-01T00:00:00Z"))
        assert (summary.invoices_created, summary.failed) == (1, [])
        [invoice] = listed(api)
        assert amounts(invoice) == (3300, 0, 330, 3630)
        assert fees_by_subscription(invoice) == JANUARY_FEES

    def test_an_upgrades_two_ids_make_one_invoice(
        self, api: Api, app: FastAPI, clock: Clock, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # The entry point itself, not the API call's own billing (which calls it the same way).
        monkeypatch.setattr(app.state.dispatcher, "mode", "off")
        catalog(api)
        customer(api)
        old = uuid.UUID(subscribe(api, "sub_1", "basic")["lago_id"])
        clock.set("2024-01-10T12:00:00Z")
        new = uuid.UUID(subscribe(api, "sub_1", "c")["lago_id"])
        summary = bill_subscriptions(app.state.sessionmaker, [old, new], at("2024-01-10T12:00:00Z"))
        assert (summary.invoices_created, summary.failed) == (1, [])
        [invoice] = listed(api)
        # basic Jan 1-9 = 290; c Jan 10-31 = 4400. Fees 4690, VAT 469.
        assert amounts(invoice) == (4690, 0, 469, 5159)
        assert sorted(s["lago_id"] for s in invoice["subscriptions"]) == sorted([str(old), str(new)])


class TestFailures:
    def test_a_failing_subscription_is_left_out_the_others_billed(
        self, api: Api, app: FastAPI, clock: Clock, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from billow.billing import assembly

        two_subscriptions(api, clock)
        real = assembly.usage_fee_drafts

        def broken(ctx: Any) -> Any:
            if ctx.subscription.external_id == "sub_a":
                raise RuntimeError("pricing failed")
            return real(ctx)

        monkeypatch.setattr(assembly, "usage_fee_drafts", broken)
        summary = bill_due(app.state.sessionmaker, at("2024-03-01T00:00:00Z"))
        # sub_a's January fails: its February waits (periods in order); sub_b's January and February are
        # billed without it.
        assert summary.invoices_created == 2
        assert len(summary.failed) == 1 and "pricing failed" in summary.failed[0]
        billed = [i for i in listed(api) if i["status"] != "failed"]
        assert [list(fees_by_subscription(i)) for i in billed] == [["sub_b"], ["sub_b"]]
        # sub_a's January is recorded as a failed invoice of its own (no fee, no number).
        [failed] = [i for i in listed(api) if i["status"] == "failed"]
        assert [s["external_id"] for s in failed["subscriptions"]] == ["sub_a"]
        assert (failed["fees"], failed["sequential_id"]) == ([], None)
        assert "pricing failed" in failed["error_details"][0]["details"]["error"]
        assert counts(app) == (3, 3, 2)
        monkeypatch.setattr(assembly, "usage_fee_drafts", real)
        # Repaired: sub_a's January, then its February (1000), each on its own invoice.
        assert bill(app, "2024-03-01T00:00:00Z") == 2
        invoices = listed(api)
        assert sorted(amounts(i)[0] for i in invoices) == [1000, 1600, 1700, 3100]
        assert failed["lago_id"] in {i["lago_id"] for i in invoices}  # the failed one became the real one
        assert counts(app)[:2] == (4, 4)
        assert [i["sequential_id"] for i in invoices if "sub_a" in fees_by_subscription(i)] == [3, 4]


class TestDrafts:
    def test_a_draft_with_two_subscriptions_is_refreshed_and_finalized(
        self, api: Api, app: FastAPI, clock: Clock
    ) -> None:
        two_subscriptions(api, clock, billing_configuration={"invoice_grace_period": 3})
        assert bill(app, "2024-02-01T00:00:00Z") == 1
        [draft] = listed(api)
        assert (draft["status"], draft["number"].endswith("-DRAFT")) == ("draft", True)
        assert amounts(draft) == (3300, 0, 330, 3630)
        assert fees_by_subscription(draft) == JANUARY_FEES
        # A late event of January for sub_a: 3 more calls (+300). The refresh rebuilds both fee sets.
        event(api, "sub_a", "2024-01-31T12:00:00Z", 3, "tx_late")
        refreshed = ok(api.put(f"/invoices/{draft['lago_id']}/refresh"))["invoice"]
        assert amounts(refreshed) == (3600, 0, 360, 3960)
        assert fees_by_subscription(refreshed) == {
            "sub_a": [("subscription", 1000), ("charge", 1000)],
            "sub_b": [("subscription", 1600)],
        }
        assert periods(refreshed) == JANUARY_PERIODS
        clock.set("2024-02-02T00:00:00Z")
        final = ok(api.put(f"/invoices/{draft['lago_id']}/finalize"))["invoice"]
        assert (final["status"], final["sequential_id"]) == ("finalized", 1)
        assert final["number"].endswith("-001")
        assert amounts(final) == (3600, 0, 360, 3960)
        assert fees_by_subscription(final) == fees_by_subscription(refreshed)
        assert counts(app) == (1, 2, 3)
