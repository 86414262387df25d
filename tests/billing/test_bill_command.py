"""``billow bill``: refusing a future ``--as-of``, ``--dry-run``, whole seconds read as the end of the
second, and the billing run's log line."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from billow import cli
from billow.models.invoices import Invoice, InvoiceSubscription
from billow.models.subscriptions import Subscription
from tests.fixtures import factories as f
from tests.fixtures.factories import at


def invoice_count(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        return session.scalar(select(func.count()).select_from(Invoice)) or 0


def catalog(session: Session, **plan):
    org = f.organization(session, document_number_prefix="CLI")
    metric = f.metric(session, org, "sum_agg", code="calls")
    plan_row = f.plan(session, org, amount_cents=1000, interval="monthly", **plan)
    f.charge(session, org, plan_row, metric, "standard", {"amount": "1"})
    customer = f.customer(session, org, external_id="cus_1")
    return org, plan_row, customer


class TestFuture:
    def test_refused_without_allow_future(self, billow, factory, session: Session) -> None:
        org, plan, customer = catalog(session)
        f.subscription(session, org, customer, plan, started_at=at("2024-01-15"))
        session.commit()
        future = (datetime.now(UTC) + timedelta(days=40)).strftime("%Y-%m-%dT%H:%M:%SZ")
        result = billow("bill", "--as-of", future)
        assert result.exit_code == 2, result.output
        assert "in the future" in result.output and "--allow-future" in result.output
        assert invoice_count(factory) == 0
        result = billow("bill", "--as-of", future, "--allow-future")
        assert result.exit_code == 0, result.output
        assert invoice_count(factory) > 0

    def test_the_current_second_is_not_the_future(self, billow, factory, session: Session) -> None:
        # ``date -u +%FT%TZ`` run now names the second in progress: its end is a few ms ahead.
        result = billow("bill", "--as-of", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        assert result.exit_code == 0, result.output


class TestDryRun:
    def test_prints_what_would_be_billed_and_writes_nothing(self, billow, factory, session: Session) -> None:
        org, plan, customer = catalog(session, pay_in_advance=True)
        f.subscription(session, org, customer, plan, external_id="sub_live", started_at=at("2024-01-15"))
        other = f.customer(session, org, external_id="cus_2")
        pending = f.subscription(
            session,
            org,
            other,
            plan,
            external_id="sub_pending",
            subscription_at=at("2024-02-20"),
            status="pending",
        )
        session.commit()
        result = billow("bill", "--as-of", "2024-03-01T00:00:00Z", "--dry-run")
        assert result.exit_code == 0, result.output
        lines = result.output.splitlines()
        assert lines[0] == "dry run as of 2024-03-01T00:00:00.999999+00:00: 5 invoice(s) would be created"
        # One line per invoice (due instant, customer), then one per subscription period on it.
        assert lines[1:] == [
            "due 2024-01-15T00:00:00Z  customer cus_1",
            "  subscription sub_live  subscription_starting  period 2024-01-01T00:00:00Z  no usage  "
            "plan fee 2024-01-01T00:00:00Z .. 2024-02-01T00:00:00Z",
            "due 2024-02-01T00:00:00Z  customer cus_1",
            "  subscription sub_live  subscription_periodic  period 2024-01-01T00:00:00Z  "
            "usage 2024-01-15T00:00:00Z .. 2024-02-01T00:00:00Z  "
            "plan fee 2024-02-01T00:00:00Z .. 2024-03-01T00:00:00Z",
            "due 2024-02-20T00:00:00Z  customer cus_2",
            "  subscription sub_pending  subscription_starting  period 2024-02-01T00:00:00Z  no usage  "
            "plan fee 2024-02-01T00:00:00Z .. 2024-03-01T00:00:00Z",
            "due 2024-03-01T00:00:00Z  customer cus_1",
            "  subscription sub_live  subscription_periodic  period 2024-02-01T00:00:00Z  "
            "usage 2024-02-01T00:00:00Z .. 2024-03-01T00:00:00Z  "
            "plan fee 2024-03-01T00:00:00Z .. 2024-04-01T00:00:00Z",
            "due 2024-03-01T00:00:00Z  customer cus_2",
            "  subscription sub_pending  subscription_periodic  period 2024-02-01T00:00:00Z  "
            "usage 2024-02-20T00:00:00Z .. 2024-03-01T00:00:00Z  "
            "plan fee 2024-03-01T00:00:00Z .. 2024-04-01T00:00:00Z",
        ]
        assert invoice_count(factory) == 0
        with factory() as check:
            row = check.get(Subscription, pending.id)
            assert row is not None and row.status == "pending"  # the activation was rolled back
        # The real run bills what the dry run listed (the pending subscription's start is due too).
        result = billow("bill", "--as-of", "2024-03-01T00:00:00Z")
        assert "5 invoice(s) created" in result.output, result.output


class TestWholeSeconds:
    def test_an_instant_without_fraction_is_the_end_of_that_second(
        self, billow, factory, session: Session
    ) -> None:
        org, plan, customer = catalog(session)
        ended = at("2024-02-10T12:00:00.500000")
        f.subscription(
            session,
            org,
            customer,
            plan,
            started_at=at("2024-02-01"),
            status="terminated",
            terminated_at=ended,
        )
        session.commit()
        assert "0 invoice(s) created" in billow("bill", "--as-of", "2024-02-10T12:00:00.4Z").output
        result = billow("bill", "--as-of", "2024-02-10T12:00:00Z")
        assert "1 invoice(s) created" in result.output, result.output
        with factory() as check:
            assert check.scalar(select(InvoiceSubscription.timestamp)) == ended

    def test_help_documents_it(self, billow) -> None:
        output = " ".join(billow("bill", "--help").output.replace("│", " ").split())
        assert "without a fraction of a second means the end of that second" in output
        assert "--dry-run" in output and "--allow-future" in output

    def test_parse(self) -> None:
        assert cli._parse_as_of("2024-02-01T00:00:00Z") == datetime(2024, 2, 1, 0, 0, 0, 999_999, tzinfo=UTC)
        assert cli._parse_as_of("2024-02-01T00:00:00.25Z") == datetime(
            2024, 2, 1, 0, 0, 0, 250_000, tzinfo=UTC
        )
        assert cli._parse_as_of("2024-02-01T00:00:00,5+01:00") == datetime(
            2024, 1, 31, 23, 0, 0, 500_000, tzinfo=UTC
        )
        assert cli._parse_as_of("2024-02-01") == datetime(2024, 2, 1, 0, 0, 0, 999_999, tzinfo=UTC)


class TestRunLog:
    def test_one_info_line_per_run_with_its_periods(self, factory, session: Session, caplog) -> None:
        from billow.billing.run import bill_due

        org, plan, customer = catalog(session)
        f.subscription(session, org, customer, plan, external_id="a", started_at=at("2024-01-15"))
        f.subscription(
            session,
            org,
            f.customer(session, org, external_id="b"),
            plan,
            external_id="b",
            started_at=at("2024-01-20"),
        )
        session.commit()
        with caplog.at_level(logging.INFO, logger="billow.billing.run"):
            bill_due(factory, at("2024-03-01"))
            bill_due(factory, at("2024-03-02"))  # nothing due: no line
        [record] = [r for r in caplog.records if r.name == "billow.billing.run"]
        assert record.levelno == logging.INFO
        message = record.getMessage()
        assert "4 invoice(s) created" in message
        assert "subscription_periodic 2024-01-01T00:00:00Z x2" in message
        assert "subscription_periodic 2024-02-01T00:00:00Z x2" in message
