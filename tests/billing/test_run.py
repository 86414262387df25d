"""The billing run against a real database (SQLite and PostgreSQL), with an injected ``as_of``."""

from __future__ import annotations

import functools
import threading
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from billow.billing import assembly
from billow.billing.run import bill_due
from billow.models.invoices import AppliedTax, Fee, Invoice, InvoiceSubscription
from tests.fixtures import factories as f
from tests.fixtures.catalogs import setup_catalog
from tests.fixtures.factories import at


def invoices(factory: sessionmaker[Session]) -> list[tuple[Invoice, list[Fee], InvoiceSubscription]]:
    with factory() as session:
        rows = session.scalars(select(Invoice).order_by(Invoice.organization_sequential_id)).all()
        result = []
        for invoice in rows:
            fees = session.scalars(
                select(Fee).where(Fee.invoice_id == invoice.id).order_by(Fee.fee_type.desc())
            ).all()
            link = session.scalars(
                select(InvoiceSubscription).where(InvoiceSubscription.invoice_id == invoice.id)
            ).one()
            result.append((invoice, list(fees), link))
        session.expunge_all()
        return result


def totals(rows) -> list[tuple[str, int, int, int, list[tuple[str, int]]]]:
    return [
        (
            i.issuing_date.isoformat(),
            i.fees_amount_cents,
            i.taxes_amount_cents,
            i.total_amount_cents,
            [(fee.fee_type, fee.amount_cents) for fee in fees],
        )
        for i, fees, _ in rows
    ]


EXPECTED = [
    # Jan 15-31: 17/31 x 1000 = 548; usage 3 x 2.00; tax 20 % of 1148 = 229.6.
    ("2024-02-01", 1148, 230, 1378, [("subscription", 548), ("charge", 600)]),
    ("2024-03-01", 2000, 400, 2400, [("subscription", 1000), ("charge", 1000)]),
    # No usage in March: the empty charge fee is not persisted.
    ("2024-04-01", 1000, 200, 1200, [("subscription", 1000)]),
]


class TestBackdatedMonthly:
    def test_one_invoice_per_past_period(self, factory, session: Session) -> None:
        _, customer, _ = setup_catalog(session)
        session.commit()
        summary = bill_due(factory, at("2024-04-10T00:00:00"))
        assert (summary.invoices_created, summary.failed) == (3, [])
        rows = invoices(factory)
        assert totals(rows) == EXPECTED
        first, fees, link = rows[0]
        assert first.number == f"ACM-{customer.sequential_id:03d}-001"
        assert [r[0].number for r in rows][1:] == [
            f"ACM-{customer.sequential_id:03d}-002",
            f"ACM-{customer.sequential_id:03d}-003",
        ]
        assert (first.status, first.payment_status, first.invoice_type, first.currency) == (
            "finalized",
            "pending",
            "subscription",
            "USD",
        )
        assert first.payment_due_date == date(2024, 2, 1)
        assert link.invoicing_reason == "subscription_periodic"
        assert (link.charges_from_datetime, link.charges_to_datetime) == (at("2024-01-15"), at("2024-02-01"))
        assert (link.from_datetime, link.to_datetime) == (at("2024-01-15"), at("2024-02-01"))
        charge_fee = fees[1]
        assert (charge_fee.units, charge_fee.events_count, charge_fee.taxes_amount_cents) == (
            Decimal(3),
            1,
            120,
        )
        with factory() as s:
            applied = s.scalars(select(AppliedTax).where(AppliedTax.invoice_id == first.id)).one()
            assert (applied.tax_rate, applied.amount_cents, applied.fees_amount_cents) == (
                Decimal(20),
                230,
                1148,
            )

    def test_twice_gives_the_same_invoices(self, factory, session: Session) -> None:
        setup_catalog(session)
        session.commit()
        bill_due(factory, at("2024-03-10T00:00:00"))
        again = bill_due(factory, at("2024-03-10T00:00:00"))
        assert again.invoices_created == 0
        later = bill_due(factory, at("2024-04-10T00:00:00"))
        assert later.invoices_created == 1
        assert totals(invoices(factory)) == EXPECTED

    def test_concurrent_runs_bill_each_period_once(self, factory, session: Session) -> None:
        setup_catalog(session)
        session.commit()
        created: list[int] = []
        errors: list[BaseException] = []

        def work() -> None:
            try:
                created.append(bill_due(factory, at("2024-04-10T00:00:00")).invoices_created)
            except BaseException as error:  # pragma: no cover - reported below
                errors.append(error)

        threads = [threading.Thread(target=work) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert sum(created) == 3
        rows = invoices(factory)
        assert totals(rows) == EXPECTED
        assert sorted(r[0].sequential_id for r in rows) == [1, 2, 3]

    def test_crash_mid_run_leaves_nothing_partial(self, factory, session: Session, monkeypatch) -> None:
        org, _, crashing = setup_catalog(session, external_id="sub_a")
        setup_catalog(session, external_id="sub_b", org=org)
        session.commit()
        original = assembly.charge_fees

        def explode(session, organization, customer, subscription, *args, **kwargs):
            if subscription.id == crashing.id:
                raise RuntimeError("boom")
            return original(session, organization, customer, subscription, *args, **kwargs)

        monkeypatch.setattr(assembly, "charge_fees", explode)
        summary = bill_due(factory, at("2024-04-10T00:00:00"))
        assert summary.invoices_created == 3 and len(summary.failed) == 1
        with factory() as s:
            # Nothing of the crashed invoice; its period recorded as a failed invoice (no fees, no number).
            [link] = s.scalars(
                select(InvoiceSubscription).where(InvoiceSubscription.subscription_id == crashing.id)
            ).all()
            failed = s.get(Invoice, link.invoice_id)
            assert failed is not None
            assert (failed.status, failed.sequential_id, link.period_start) == (
                "failed",
                None,
                at("2024-01-01"),
            )
            assert "RuntimeError: boom" in failed.error_details[0]["details"]["error"]
            assert len(s.scalars(select(Fee)).all()) == 5
        monkeypatch.setattr(assembly, "charge_fees", original)
        summary = bill_due(factory, at("2024-04-10T00:00:00"))
        assert (summary.invoices_created, summary.failed) == (3, [])
        assert len(invoices(factory)) == 6


class TestTermination:
    def test_final_invoice(self, factory, session: Session) -> None:
        _, _, subscription = setup_catalog(session)
        subscription.status = "terminated"
        subscription.terminated_at = at("2024-02-10T12:00:00")
        session.commit()
        assert bill_due(factory, at("2024-02-10T11:00:00")).invoices_created == 1
        assert bill_due(factory, at("2024-05-01T00:00:00")).invoices_created == 1
        rows = invoices(factory)
        _, _, link = rows[-1]
        assert link.invoicing_reason == "subscription_terminating"
        assert (link.charges_from_datetime, link.charges_to_datetime) == (
            at("2024-02-01"),
            at("2024-02-10T12:00:00"),
        )
        # Feb 1-10 inclusive: 10/29 x 1000 = 344.8; usage 5 x 2.00; 20 % tax of 1345 = 269.
        assert totals(rows)[-1] == ("2024-02-10", 1345, 269, 1614, [("subscription", 345), ("charge", 1000)])
        assert bill_due(factory, at("2024-06-01T00:00:00")).invoices_created == 0

    def test_ending_at_terminates_and_bills(self, factory, session: Session) -> None:
        _, _, subscription = setup_catalog(session)
        subscription.ending_at = at("2024-02-10T12:00:00")
        session.commit()
        summary = bill_due(factory, at("2024-03-01T00:00:00"))
        assert (summary.terminated, summary.invoices_created) == (1, 2)


class TestNumbering:
    def test_per_organization(self, factory, session: Session) -> None:
        org, _, _ = setup_catalog(session, numbering="per_organization", external_id="sub_a")
        setup_catalog(session, external_id="sub_b", org=org)
        session.commit()
        bill_due(factory, at("2024-03-10T00:00:00"))
        numbers = sorted(r[0].number for r in invoices(factory))
        assert numbers == ["ACM-202402-001", "ACM-202402-002", "ACM-202403-003", "ACM-202403-004"]

    def test_zero_total_is_succeeded(self, factory, session: Session) -> None:
        org = f.organization(session, document_number_prefix="ZER")
        plan = f.plan(session, org, amount_cents=0)
        customer = f.customer(session, org, net_payment_term=15)
        f.subscription(session, org, customer, plan, started_at=at("2024-01-01"))
        session.commit()
        bill_due(factory, at("2024-02-01T00:00:00"))
        [(invoice, fees, _)] = invoices(factory)
        assert (invoice.total_amount_cents, invoice.payment_status) == (0, "succeeded")
        assert invoice.payment_due_date == date(2024, 2, 16)
        assert [fee.amount_cents for fee in fees] == [0]


class TestCli:
    def test_bill_prints_the_summary(self, engine: Engine, factory, session: Session, monkeypatch) -> None:
        from typer.testing import CliRunner

        from billow import cli

        setup_catalog(session)
        session.commit()
        # The migration for the invoice tables is generated by the lead; the test database has them.
        monkeypatch.setattr(
            cli, "_prepare_database", lambda: engine.url.render_as_string(hide_password=False)
        )
        result = CliRunner().invoke(cli.app, ["bill", "--as-of", "2024-03-10T00:00:00Z"])
        assert result.exit_code == 0, result.output
        assert "2 invoice(s) created" in result.output
        result = CliRunner().invoke(cli.app, ["bill", "--as-of", "2024-03-10"])
        assert "0 invoice(s) created, 0 already billed" in result.output
        assert CliRunner().invoke(cli.app, ["bill", "--as-of", "yesterday"]).exit_code == 2


class TestInAdvance:
    def test_first_invoice_then_fee_ahead_and_usage_behind(self, factory, session: Session) -> None:
        # Lago vector 16: 5000 cents in advance from 2023-01-08, 20 % tax: first invoice 3871 + 774 = 4645.
        org = f.organization(session, document_number_prefix="ADV")
        metric = f.metric(session, org, "sum_agg", code="calls")
        plan = f.plan(session, org, amount_cents=5000, pay_in_advance=True)
        f.charge(session, org, plan, metric, "standard", {"amount": "1"})
        f.link_plan_tax(session, plan, f.tax(session, org, "vat", "20"))
        customer = f.customer(session, org)
        f.subscription(session, org, customer, plan, started_at=at("2023-01-08"))
        f.event(session, org, "calls", "2023-01-20T00:00:00", {"value": 7})
        session.commit()
        assert bill_due(factory, at("2023-01-08T00:00:00")).invoices_created == 1
        assert bill_due(factory, at("2023-02-01T00:00:00")).invoices_created == 1
        rows = invoices(factory)
        assert totals(rows) == [
            ("2023-01-08", 3871, 774, 4645, [("subscription", 3871)]),
            ("2023-02-01", 5700, 1140, 6840, [("subscription", 5000), ("charge", 700)]),
        ]
        first, second = (link for _, _, link in rows)
        assert first.invoicing_reason == "subscription_starting"
        assert (second.from_datetime, second.to_datetime) == (at("2023-02-01"), at("2023-03-01"))
        assert (second.charges_from_datetime, second.charges_to_datetime) == (
            at("2023-01-08"),
            at("2023-02-01"),
        )

    def test_trial_billed_at_trial_end(self, factory, session: Session) -> None:
        # Lago vector 13: 3500 cents in advance, 7-day trial from 2024-03-04T21:00Z: 21/31 x 3500 = 2371.
        org = f.organization(session, document_number_prefix="TRI")
        plan = f.plan(session, org, amount_cents=3500, pay_in_advance=True, trial_period=Decimal(7))
        customer = f.customer(session, org)
        f.subscription(session, org, customer, plan, started_at=at("2024-03-04T21:00:00"))
        session.commit()
        assert bill_due(factory, at("2024-03-11T20:59:59")).invoices_created == 0
        assert bill_due(factory, at("2024-03-11T21:00:00")).invoices_created == 1
        assert totals(invoices(factory)) == [("2024-03-11", 2371, 0, 2371, [("subscription", 2371)])]


class TestBatches:
    """The scan of due subscriptions and the batch entry point of workers (bill_subscriptions)."""

    def test_scan_costs_two_queries_whatever_the_number_of_subscriptions(
        self, engine: Engine, factory, session: Session
    ) -> None:
        from sqlalchemy import event

        from billow.billing.run import due_subscription_ids

        org, _, first = setup_catalog(session, external_id="sub_a")
        others = [setup_catalog(session, external_id=f"sub_{i}", org=org)[2] for i in range(4)]
        session.commit()
        statements: list[str] = []

        def count(_conn, _cursor, statement, *_args) -> None:
            statements.append(statement)

        event.listen(engine, "before_cursor_execute", count)
        try:
            ids = due_subscription_ids(factory, at("2024-03-10T00:00:00"))
        finally:
            event.remove(engine, "before_cursor_execute", count)
        assert sorted(ids) == sorted([first.id, *(s.id for s in others)])
        # Plus, on PostgreSQL, the fixed cost of the planner statistics check (billow.billing.statistics):
        # one query, and an ANALYZE of each stale table.
        refresh = [
            s for s in statements if "pg_stat_user_tables" in s or "lock_timeout" in s or "ANALYZE" in s
        ]
        assert len([s for s in refresh if "pg_stat_user_tables" in s]) == (
            1 if engine.dialect.name == "postgresql" else 0
        )
        scan = [s for s in statements if s not in refresh]
        assert len([s for s in scan if s.lstrip().upper().startswith("SELECT")]) == 2

    def test_bill_subscriptions_bills_each_due_period_once(self, factory, session: Session) -> None:
        from billow.billing.run import bill_subscription, bill_subscriptions, due_subscription_ids

        org, _, first = setup_catalog(session, external_id="sub_a")
        _, _, second = setup_catalog(session, external_id="sub_b", org=org)
        session.commit()
        # The first is billed for February by a single job; the batch then bills what is left.
        assert bill_subscription(factory, first.id, at("2024-02-10T00:00:00")).invoices_created == 1
        summary = bill_subscriptions(factory, [first.id, second.id, first.id], at("2024-03-10T00:00:00"))
        assert (summary.invoices_created, summary.failed) == (3, [])
        assert due_subscription_ids(factory, at("2024-03-10T00:00:00")) == []
        assert (
            bill_subscriptions(factory, [first.id, second.id], at("2024-03-10T00:00:00")).invoices_created
            == 0
        )
        by_subscription: dict[object, list] = {}
        for invoice, fees, link in invoices(factory):
            by_subscription.setdefault(link.subscription_id, []).append((invoice, fees, link))
        for rows in by_subscription.values():
            assert totals(rows) == EXPECTED[:2]

    def test_concurrent_batches_bill_each_period_once(self, factory, session: Session) -> None:
        from billow.billing.run import bill_subscriptions

        org, _, first = setup_catalog(session, external_id="sub_a")
        ids = [first.id] + [setup_catalog(session, external_id=f"sub_{i}", org=org)[2].id for i in range(3)]
        session.commit()
        created: list[int] = []
        errors: list[BaseException] = []

        def work(order: list) -> None:
            try:
                created.append(bill_subscriptions(factory, order, at("2024-04-10T00:00:00")).invoices_created)
            except BaseException as error:  # pragma: no cover - reported below
                errors.append(error)

        threads = [threading.Thread(target=work, args=(order,)) for order in (ids, ids[::-1], ids)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert sum(created) == 12
        assert len(invoices(factory)) == 12


class TestBillingRun:
    def test_cached_rows_survive_a_rolled_back_invoice(self, factory, session: Session) -> None:
        from billow.billing.run_context import BillingRun, cached
        from billow.models.plans import Plan

        _, _, subscription = setup_catalog(session)
        session.commit()
        run = BillingRun()
        with factory() as first:
            plan = cached(
                run, first, ("plan", subscription.plan_id), lambda: first.get(Plan, subscription.plan_id)
            )
            first.rollback()  # would expire an attached row
        with factory() as second:
            again = cached(run, second, ("plan", subscription.plan_id), lambda: None)
        assert again is plan and plan.amount_cents == 1000
        with factory() as third:  # outside a run: loaded every time
            assert cached(None, third, ("plan", subscription.plan_id), lambda: "loaded") == "loaded"

    def test_catalog_is_loaded_once_per_run(self, engine: Engine, factory, session: Session) -> None:
        from sqlalchemy import event

        org, _, _ = setup_catalog(session, external_id="sub_a")
        for i in range(3):
            setup_catalog(session, external_id=f"sub_{i}", org=org)
        session.commit()
        plans: list[str] = []

        def count(_conn, _cursor, statement, *_args) -> None:
            if statement.lstrip().startswith("SELECT") and "FROM plans" in statement:
                plans.append(statement)

        event.listen(engine, "before_cursor_execute", count)
        try:
            summary = bill_due(factory, at("2024-03-10T00:00:00"))
        finally:
            event.remove(engine, "before_cursor_execute", count)
        assert summary.invoices_created == 8
        # Each of the 4 plans is loaded once for its 2 invoices.
        assert len(plans) == 4

    def test_statements_and_connections_per_invoice(self, engine: Engine, factory, session: Session) -> None:
        """Each invoice writes its fees in one batch and takes its two numbers in one statement; on
        PostgreSQL a chunk's invoices share one connection (no pool checkout and ping per invoice)."""
        from sqlalchemy import event

        org, _, _ = setup_catalog(session, external_id="sub_a")
        for i in range(3):
            setup_catalog(session, external_id=f"sub_{i}", org=org)
        session.commit()
        statements: list[str] = []
        checkouts: list[object] = []
        #: Pool checkouts so far, at each invoice's insert.
        at_invoice: list[int] = []

        def count(_conn, _cursor, statement, *_args) -> None:
            statements.append(statement.lstrip())
            if statements[-1].startswith("INSERT INTO invoices"):
                at_invoice.append(len(checkouts))

        def checkout(*args) -> None:
            checkouts.append(args)

        event.listen(engine, "before_cursor_execute", count)
        event.listen(engine.pool, "checkout", checkout)
        try:
            summary = bill_due(factory, at("2024-03-10T00:00:00"))
        finally:
            event.remove(engine, "before_cursor_execute", count)
            event.remove(engine.pool, "checkout", checkout)
        assert (summary.invoices_created, summary.failed) == (8, [])
        # Every invoice has a plan fee and a charge fee: one INSERT for both.
        assert sum(s.startswith("INSERT INTO fees") for s in statements) == 8
        # Both counters in one statement; on PostgreSQL the same statement numbers the invoice's row.
        counters = [s for s in statements if "INSERT INTO invoice_sequences" in s]
        assert len(counters) == 8
        if engine.dialect.name == "postgresql":
            assert all(s.startswith("WITH") and "UPDATE invoices" in s for s in counters)
            assert not [s for s in statements if s.startswith("UPDATE invoices")]
        assert len(at_invoice) == 8
        if engine.dialect.name == "postgresql":  # one chunk: one connection for its 8 invoices
            assert len(set(at_invoice)) == 1
        rows = invoices(factory)
        assert [(i.sequential_id, i.organization_sequential_id) for i, _, _ in rows] == [
            (n // 4 + 1, n + 1) for n in range(8)
        ]
        assert all(len(fees) == 2 for _, fees, _ in rows)

    def test_fee_insert_converted_once_by_psycopg(
        self, engine: Engine, factory, session: Session, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """PostgreSQL: an invoice's fee insert is converted to PostgreSQL's placeholders once, then served
        from psycopg's cache (``billow.db._cache_psycopg_queries`` raises its limits for larger
        statements), not parsed again in Python for every invoice."""
        if engine.dialect.name != "postgresql":
            pytest.skip("psycopg only")
        from psycopg import _queries

        org, _, _ = setup_catalog(session, external_id="sub_a")
        for i in range(3):
            setup_catalog(session, external_id=f"sub_{i}", org=org)
        session.commit()
        parsed: list[bytes] = []
        uncached = _queries._query2pg_nocache

        def counting(query: bytes, encoding: str):  # type: ignore[no-untyped-def]
            parsed.append(query)
            return uncached(query, encoding)

        monkeypatch.setattr(_queries, "_query2pg_nocache", counting)
        monkeypatch.setattr(_queries, "_query2pg", functools.lru_cache(counting))
        summary = bill_due(factory, at("2024-03-10T00:00:00"))
        assert (summary.invoices_created, summary.failed) == (8, [])
        fee_inserts = [query for query in parsed if query.lstrip().startswith(b"INSERT INTO fees")]
        assert len(fee_inserts) == 1  # 8 invoices, each with a plan fee and a charge fee

    def test_customer_taxes_prefetched_for_a_batch(self, factory, session: Session) -> None:
        org = f.organization(session, document_number_prefix="CTX")
        metric = f.metric(session, org, "count_agg", code="calls")
        plan = f.plan(session, org, amount_cents=1000)
        f.charge(session, org, plan, metric, "standard", {"amount": "1"})
        taxed = f.customer(session, org, external_id="cus_taxed")
        f.link_customer_tax(session, taxed, f.tax(session, org, "gst", "10"))
        untaxed = f.customer(session, org, external_id="cus_free")
        for customer, external_id in ((taxed, "sub_taxed"), (untaxed, "sub_free")):
            f.subscription(session, org, customer, plan, external_id=external_id, started_at=at("2024-01-01"))
            f.event(session, org, "calls", "2024-01-05T00:00:00", external_subscription_id=external_id)
        session.commit()
        assert bill_due(factory, at("2024-02-01T00:00:00")).invoices_created == 2
        by_customer = {invoice.customer_id: invoice for invoice, _, _ in invoices(factory)}
        # 1000 + 100: 10 % for the taxed customer only.
        assert (by_customer[taxed.id].taxes_amount_cents, by_customer[untaxed.id].taxes_amount_cents) == (
            110,
            0,
        )

    def test_usage_priced_in_batch(self, engine: Engine, factory, session: Session) -> None:
        from sqlalchemy import event

        org = f.organization(session, document_number_prefix="BAT")
        metric = f.metric(session, org, "sum_agg", code="storage")
        plan = f.plan(session, org, amount_cents=0)
        f.charge(session, org, plan, metric, "standard", {"amount": "2"})
        for index in range(4):
            customer = f.customer(session, org, external_id=f"cus_{index}")
            external_id = f"sub_{index}"
            f.subscription(session, org, customer, plan, external_id=external_id, started_at=at("2024-01-01"))
            f.event(
                session,
                org,
                "storage",
                "2024-01-05T00:00:00",
                {"value": index + 1},
                external_subscription_id=external_id,
            )
        session.commit()
        scans: list[str] = []

        def count(_conn, _cursor, statement, *_args) -> None:
            if "FROM events" in statement:
                scans.append(statement)

        event.listen(engine, "before_cursor_execute", count)
        try:
            assert bill_due(factory, at("2024-02-01T00:00:00")).invoices_created == 4
        finally:
            event.remove(engine, "before_cursor_execute", count)
        assert len(scans) == 1  # one aggregation query for the 4 subscriptions
        assert sorted(invoice.fees_amount_cents for invoice, _, _ in invoices(factory)) == [
            200,
            400,
            600,
            800,
        ]
