"""Pay-in-advance charges: the scan bills each event once (fee, and an invoice when invoiceable)."""

from __future__ import annotations

import threading

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from billow.billing import tasks as billing_tasks
from billow.billing.pay_in_advance import create_pay_in_advance_fees
from billow.billing.run import bill_due
from billow.models.invoices import AppliedTax, Fee, Invoice, InvoiceSubscription
from billow.organizations.service import organization_service
from billow.worker.scans import SCANS
from tests.fixtures import factories as f
from tests.fixtures.factories import at

NOW = at("2024-01-15T12:00:00")


def setup(session: Session):
    org = f.organization(session, document_number_prefix="ACM", document_numbering="per_customer")
    api = f.metric(session, org, "sum_agg", code="api")
    calls = f.metric(session, org, "count_agg", code="calls")
    plan = f.plan(session, org, amount_cents=1000, interval="monthly")
    # Graduated: the first 10 units at 1.00, the next at 0.50.
    f.charge(
        session,
        org,
        plan,
        api,
        "graduated",
        {
            "graduated_ranges": [
                {"from_value": 0, "to_value": 10, "per_unit_amount": "1", "flat_amount": "0"},
                {"from_value": 11, "to_value": None, "per_unit_amount": "0.5", "flat_amount": "0"},
            ]
        },
        pay_in_advance=True,
        invoiceable=True,
    )
    f.charge(
        session, org, plan, calls, "standard", {"amount": "0.25"}, pay_in_advance=True, invoiceable=False
    )
    tax = f.tax(session, org, "vat", "20")
    f.link_plan_tax(session, plan, tax)
    customer = f.customer(session, org, external_id="cus_1")
    subscription = f.subscription(
        session, org, customer, plan, external_id="sub_1", started_at=at("2024-01-01")
    )
    f.event(session, org, "api", "2024-01-10T00:00:00", {"value": 6}, transaction_id="t1")
    # Two events with the same timestamp: reception order decides (6 then 3).
    f.event(session, org, "api", "2024-01-11T00:00:00", {"value": 6}, transaction_id="t2")
    f.event(session, org, "api", "2024-01-11T00:00:00", {"value": 3}, transaction_id="t3")
    f.event(session, org, "calls", "2024-01-12T00:00:00", {}, transaction_id="c1")
    f.event(session, org, "calls", "2024-01-13T00:00:00", {}, transaction_id="c2")
    # Not yet billable (after now), another subscription's event, before the subscription started.
    f.event(session, org, "api", "2024-01-20T00:00:00", {"value": 1}, transaction_id="later")
    f.event(session, org, "api", "2024-01-10T00:00:00", {"value": 1}, external_subscription_id="other")
    session.commit()
    return org, customer, subscription


def all_fees(factory) -> list[Fee]:
    with factory() as session:
        fees = list(session.scalars(select(Fee).order_by(Fee.event_transaction_id)))
        session.expunge_all()
        return fees


def all_invoices(factory) -> list[Invoice]:
    with factory() as session:
        rows = list(session.scalars(select(Invoice).order_by(Invoice.sequential_id)))
        session.expunge_all()
        return rows


EXPECTED_FEES = [
    # (transaction, amount, taxes, units, invoiced)
    ("c1", 25, 5, "1", False),
    ("c2", 25, 5, "1", False),
    ("t1", 600, 120, "6", True),  # 6 x 1.00
    ("t2", 500, 100, "6", True),  # 6 -> 12: 4 x 1.00 + 2 x 0.50
    ("t3", 150, 30, "3", True),  # 12 -> 15: 3 x 0.50
]


def fee_rows(fees: list[Fee]) -> list[tuple[str | None, int, int, str, bool]]:
    return [
        (
            fee.event_transaction_id,
            fee.amount_cents,
            fee.taxes_amount_cents,
            str(fee.units.normalize()),
            fee.invoice_id is not None,
        )
        for fee in fees
    ]


class TestScan:
    def test_one_fee_per_event_and_one_invoice_per_invoiceable_fee(self, factory, session: Session) -> None:
        _, customer, subscription = setup(session)
        summary = create_pay_in_advance_fees(factory, NOW)
        assert (summary.fees_created, summary.invoices_created, summary.failed) == (5, 3, [])
        fees = all_fees(factory)
        assert fee_rows(fees) == EXPECTED_FEES
        assert all(fee.pay_in_advance and fee.fee_type == "charge" for fee in fees)
        assert {(fee.from_datetime, fee.to_datetime) for fee in fees} == {
            (at("2024-01-01"), at("2024-02-01"))
        }
        assert [fee.invoiceable for fee in fees] == [False, False, True, True, True]

        invoices = all_invoices(factory)
        number = f"ACM-{customer.sequential_id:03d}"
        assert [
            (
                i.number,
                i.invoice_type,
                i.status,
                i.payment_status,
                i.fees_amount_cents,
                i.taxes_amount_cents,
                i.total_amount_cents,
                i.issuing_date.isoformat(),
            )
            for i in invoices
        ] == [
            (f"{number}-001", "subscription", "finalized", "pending", 600, 120, 720, "2024-01-15"),
            (f"{number}-002", "subscription", "finalized", "pending", 500, 100, 600, "2024-01-15"),
            (f"{number}-003", "subscription", "finalized", "pending", 150, 30, 180, "2024-01-15"),
        ]
        with factory() as check:
            links = check.scalars(select(InvoiceSubscription)).all()
            assert {(link.invoicing_reason, link.subscription_id) for link in links} == {
                ("in_advance_charge", subscription.id)
            }
            taxes = check.scalars(select(AppliedTax).order_by(AppliedTax.amount_cents)).all()
            assert [(t.tax_code, t.amount_cents, t.fees_amount_cents) for t in taxes] == [
                ("vat", 30, 150),
                ("vat", 100, 500),
                ("vat", 120, 600),
            ]

    def test_restricted_to_some_subscriptions(self, factory, session: Session) -> None:
        """The task queued after an ingestion (billow.billing.immediate) bills its events' subscriptions."""
        org, _, _ = setup(session)
        other = create_pay_in_advance_fees(
            factory, NOW, organization_id=org.id, external_subscription_ids=["x"]
        )
        assert (other.fees_created, all_fees(factory)) == (0, [])
        mine = create_pay_in_advance_fees(
            factory, NOW, organization_id=org.id, external_subscription_ids=["sub_1"]
        )
        assert (mine.fees_created, mine.invoices_created) == (5, 3)

    def test_billow_bill_runs_the_reconcile_pass(
        self, engine: Engine, factory, session: Session, monkeypatch
    ) -> None:
        from typer.testing import CliRunner

        from billow import cli

        setup(session)
        monkeypatch.setattr(
            cli, "_prepare_database", lambda: engine.url.render_as_string(hide_password=False)
        )
        result = CliRunner().invoke(cli.app, ["bill", "--as-of", NOW.isoformat()])
        assert result.exit_code == 0, result.output
        assert "pay-in-advance charges: 5 fee(s), 3 invoice(s) created, 0 failed" in result.output
        assert fee_rows(all_fees(factory)) == EXPECTED_FEES

    def test_idempotent(self, factory, session: Session) -> None:
        setup(session)
        create_pay_in_advance_fees(factory, NOW)
        again = create_pay_in_advance_fees(factory, NOW)
        assert (again.fees_created, again.invoices_created) == (0, 0)
        assert fee_rows(all_fees(factory)) == EXPECTED_FEES
        assert len(all_invoices(factory)) == 3

    def test_new_event_billed_on_next_scan(self, factory, session: Session) -> None:
        setup(session)
        create_pay_in_advance_fees(factory, NOW)
        create_pay_in_advance_fees(factory, at("2024-01-20T00:00:00"))
        # 15 -> 16: 0.50.
        amounts = {fee.event_transaction_id: fee.amount_cents for fee in all_fees(factory)}
        assert amounts["later"] == 50

    def test_fast_scan_looks_at_recent_timestamps_only(self, factory, session: Session) -> None:
        setup(session)
        assert SCANS["pay_in_advance_fees"].run is billing_tasks.scan_recent
        assert billing_tasks.scan_recent(factory, NOW).fees_created == 0
        recent = billing_tasks.scan_recent(factory, at("2024-01-20T00:30:00"))
        assert recent.fees_created == 1
        assert billing_tasks.scan_all(factory, NOW).fees_created == 5

    def test_concurrent_scans_bill_each_event_once(self, factory, session: Session) -> None:
        setup(session)
        created: list[int] = []
        errors: list[BaseException] = []

        def work() -> None:
            try:
                summary = create_pay_in_advance_fees(factory, NOW)
                created.append(summary.fees_created)
                errors.extend(RuntimeError(message) for message in summary.failed)
            except BaseException as error:  # pragma: no cover - reported below
                errors.append(error)

        threads = [threading.Thread(target=work) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert sum(created) == 5
        assert fee_rows(all_fees(factory)) == EXPECTED_FEES
        assert sorted(i.sequential_id for i in all_invoices(factory)) == [1, 2, 3]

    def test_terminated_subscription_is_not_billed(self, factory, session: Session) -> None:
        _, _, subscription = setup(session)
        subscription.status = "terminated"
        subscription.terminated_at = at("2024-01-14")
        session.commit()
        assert create_pay_in_advance_fees(factory, NOW).fees_created == 0


class TestPeriodInvoice:
    def test_subscription_invoice_does_not_bill_them_again(self, factory, session: Session) -> None:
        setup(session)
        create_pay_in_advance_fees(factory, at("2024-01-31T00:00:00"))
        bill_due(factory, at("2024-02-01T01:00:00"))
        with factory() as check:
            periodic = check.scalars(select(Invoice).where(Invoice.fees_amount_cents == 1000)).one()
            fees = check.scalars(select(Fee).where(Fee.invoice_id == periodic.id)).all()
            assert [(fee.fee_type, fee.amount_cents) for fee in fees] == [("subscription", 1000)]
            assert (
                check.scalars(select(Fee).where(Fee.event_transaction_id.is_not(None))).all().__len__() == 6
            )


class TestApi:
    def test_fees_and_invoices_json(self, factory, session: Session, client: TestClient) -> None:
        org, _, _ = setup(session)
        organization_service.add_key(session, org, "pia_key")
        session.commit()
        create_pay_in_advance_fees(factory, NOW)
        headers = {"Authorization": "Bearer pia_key"}
        fees = client.get("/api/v1/fees", headers=headers).json()["fees"]
        by_transaction = {fee["event_transaction_id"]: fee for fee in fees}
        assert set(by_transaction) == {"c1", "c2", "t1", "t2", "t3"}
        standalone = by_transaction["c1"]
        assert (standalone["lago_invoice_id"], standalone["pay_in_advance"], standalone["invoiceable"]) == (
            None,
            True,
            False,
        )
        assert (standalone["amount_cents"], standalone["taxes_amount_cents"], standalone["units"]) == (
            25,
            5,
            "1.0",
        )
        invoiced = by_transaction["t2"]
        invoice = client.get(f"/api/v1/invoices/{invoiced['lago_invoice_id']}", headers=headers).json()[
            "invoice"
        ]
        assert invoice["billing_periods"][0]["invoicing_reason"] == "in_advance_charge"
        assert [fee["event_transaction_id"] for fee in invoice["fees"]] == ["t2"]
        assert invoice["fees"][0]["amount_details"] != {} or invoice["fees"][0]["amount_cents"] == 500
        assert invoice["total_amount_cents"] == 600


class TestFiltersAndGroups:
    def test_fee_per_bucket(self, factory, session: Session) -> None:
        org = f.organization(session)
        metric = f.metric(session, org, "count_agg", code="calls", filters={"region": ["us", "eu"]})
        plan = f.plan(session, org, amount_cents=0, interval="monthly")
        charge = f.charge(session, org, plan, metric, "standard", {"amount": "1"}, pay_in_advance=True)
        us = f.charge_filter(
            session, org, charge, {"region": ["us"]}, {"amount": "2"}, invoice_display_name="US"
        )
        customer = f.customer(session, org)
        f.subscription(session, org, customer, plan, started_at=at("2024-01-01"))
        f.event(session, org, "calls", "2024-01-02T00:00:00", {"region": "us"}, transaction_id="a")
        f.event(session, org, "calls", "2024-01-03T00:00:00", {"region": "eu"}, transaction_id="b")
        f.event(session, org, "calls", "2024-01-04T00:00:00", {}, transaction_id="c")
        session.commit()
        assert create_pay_in_advance_fees(factory, NOW).fees_created == 3
        rows = [
            (fee.event_transaction_id, fee.amount_cents, fee.charge_filter_id, fee.invoice_display_name)
            for fee in all_fees(factory)
        ]
        assert rows == [("a", 200, us.id, "US"), ("b", 100, None, None), ("c", 100, None, None)]
