"""Progressive billing: usage thresholds, progressive invoices, the period-end credit, lifetime usage."""

from __future__ import annotations

import threading
import uuid
from decimal import Decimal

import pytest
from lago_python_client.models.invoice import InvoiceResponse
from lago_python_client.models.lifetime_usage import LifetimeUsageResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from billow.billing.progressive import Applied, Threshold, bill_thresholds, newly_reached, threshold_progress
from billow.billing.run import bill_due
from billow.models.invoices import Fee, Invoice, InvoiceSubscription
from billow.models.organizations import Organization
from billow.models.plans import UsageThreshold
from billow.worker.scans import SCANS
from tests.fixtures import factories as f
from tests.fixtures.factories import at


def threshold(session: Session, org, plan, amount_cents: int, recurring: bool = False) -> None:
    session.add(
        UsageThreshold(
            organization_id=org.id, plan_id=plan.id, amount_cents=amount_cents, recurring=recurring
        )
    )
    session.flush()


def setup(session: Session, *, org=None, tax_rate: str | None = None, external_id: str = "sub_1"):
    """Lago's scenario: plan 31.00 monthly in arrears, thresholds 200.00 and 500.00, usage at 1.00/unit."""
    org = org or f.organization(session, document_number_prefix="ACM", document_numbering="per_customer")
    metric = f.metric(session, org, "sum_agg", code=f"api_{external_id}")
    plan = f.plan(session, org, amount_cents=3100, interval="monthly")
    f.charge(session, org, plan, metric, "standard", {"amount": "1"})
    threshold(session, org, plan, 20_000)
    threshold(session, org, plan, 50_000)
    if tax_rate is not None:
        tax = f.tax(session, org, f"vat_{external_id}", tax_rate)
        f.link_plan_tax(session, plan, tax)
    customer = f.customer(session, org, external_id=f"cus_{external_id}")
    subscription = f.subscription(
        session, org, customer, plan, external_id=external_id, started_at=at("2024-03-01")
    )
    session.commit()
    return org, customer, subscription, metric


def usage(session: Session, org, metric, timestamp: str, units: int, external_id: str = "sub_1") -> None:
    f.event(session, org, metric.code, timestamp, {"value": units}, external_subscription_id=external_id)
    session.commit()


def invoices(factory, invoice_type: str | None = None) -> list[Invoice]:
    with factory() as session:
        query = select(Invoice).order_by(Invoice.sequential_id)
        if invoice_type:
            query = query.where(Invoice.invoice_type == invoice_type)
        rows = list(session.scalars(query))
        session.expunge_all()
        return rows


def fees_of(factory, invoice: Invoice) -> list[tuple[str, int, int]]:
    with factory() as session:
        fees = session.scalars(select(Fee).where(Fee.invoice_id == invoice.id).order_by(Fee.fee_type.desc()))
        return [(fee.fee_type, fee.amount_cents, fee.taxes_amount_cents) for fee in fees]


class TestScenario:
    def test_lago_vector(self, factory, session: Session) -> None:
        org, customer, _, metric = setup(session)
        usage(session, org, metric, "2024-03-05T00:00:00", 100)
        assert bill_thresholds(factory, at("2024-03-06T00:00:00")).invoices_created == 0  # 100.00 < 200.00

        usage(session, org, metric, "2024-03-10T00:00:00", 100)
        summary = bill_thresholds(factory, at("2024-03-10T12:00:00"))
        assert (summary.invoices_created, summary.failed) == (1, [])
        [progressive] = invoices(factory, "progressive_billing")
        assert (
            progressive.fees_amount_cents,
            progressive.taxes_amount_cents,
            progressive.total_amount_cents,
            progressive.status,
            progressive.number,
            progressive.issuing_date.isoformat(),
        ) == (20_000, 0, 20_000, "finalized", f"ACM-{customer.sequential_id:03d}-001", "2024-03-10")
        assert fees_of(factory, progressive) == [("charge", 20_000, 0)]
        [applied] = progressive.applied_usage_thresholds or []
        assert applied["lifetime_usage_amount_cents"] == 20_000
        assert applied["created_at"] == "2024-03-10T12:00:00Z"
        assert (applied["usage_threshold"]["amount_cents"], applied["usage_threshold"]["recurring"]) == (
            20_000,
            False,
        )
        with factory() as check:
            link = check.scalars(
                select(InvoiceSubscription).where(InvoiceSubscription.invoice_id == progressive.id)
            ).one()
            assert (link.invoicing_reason, link.charges_from_datetime, link.charges_to_datetime) == (
                "progressive_billing",
                at("2024-03-01"),
                at("2024-04-01"),
            )

        # Scanning again bills nothing; nor does usage below the next threshold.
        assert bill_thresholds(factory, at("2024-03-10T12:05:00")).invoices_created == 0
        usage(session, org, metric, "2024-03-20T00:00:00", 200)
        assert bill_thresholds(factory, at("2024-03-21T00:00:00")).invoices_created == 0

        # Month end: fees 3 100 + 40 000, progressive credit 20 000, total 23 100.
        bill_due(factory, at("2024-04-01T01:00:00"))
        [periodic] = invoices(factory, "subscription")
        assert (
            periodic.fees_amount_cents,
            periodic.progressive_billing_credit_amount_cents,
            periodic.sub_total_excluding_taxes_amount_cents,
            periodic.taxes_amount_cents,
            periodic.total_amount_cents,
        ) == (43_100, 20_000, 23_100, 0, 23_100)
        assert fees_of(factory, periodic) == [("subscription", 3_100, 0), ("charge", 40_000, 0)]

        # Lifetime usage is 400.00: 100.00 more in April reaches 500.00 (a threshold is applied once).
        usage(session, org, metric, "2024-04-05T00:00:00", 100)
        summary = bill_thresholds(factory, at("2024-04-05T12:00:00"))
        assert summary.invoices_created == 1
        second = invoices(factory, "progressive_billing")[-1]
        assert second.fees_amount_cents == 10_000
        assert [a["usage_threshold"]["amount_cents"] for a in second.applied_usage_thresholds or []] == [
            50_000
        ]
        assert bill_thresholds(factory, at("2024-04-05T12:10:00")).invoices_created == 0

    def test_deducted_in_a_batch_run_after_the_thresholds_are_gone(self, factory, session: Session) -> None:
        # Two subscriptions billed in one run (the run then skips the deduction query for subscriptions
        # it knows have no progressive billing: this one has an invoice, though its plan lost its
        # thresholds after it).
        org, _, _, metric = setup(session)
        setup(session, org=org, external_id="sub_2")
        usage(session, org, metric, "2024-03-10T00:00:00", 200)
        assert bill_thresholds(factory, at("2024-03-10T12:00:00")).invoices_created == 1
        for row in session.scalars(select(UsageThreshold)):
            session.delete(row)
        session.commit()
        summary = bill_due(factory, at("2024-04-01T01:00:00"))
        assert (summary.invoices_created, summary.failed) == (2, [])
        periodic = sorted(
            (i.fees_amount_cents, i.progressive_billing_credit_amount_cents, i.total_amount_cents)
            for i in invoices(factory, "subscription")
        )
        # sub_1: 3 100 + 20 000 usage, 20 000 already billed; sub_2: the plan fee only.
        assert periodic == [(3_100, 0, 3_100), (23_100, 20_000, 3_100)]

    def test_taxes_apply_on_what_remains(self, factory, session: Session) -> None:
        org, _, _, metric = setup(session, tax_rate="10")
        usage(session, org, metric, "2024-03-10T00:00:00", 250)
        bill_thresholds(factory, at("2024-03-10T12:00:00"))
        [progressive] = invoices(factory, "progressive_billing")
        # 250 units: 25 000 + 10 % = 27 500.
        assert (
            progressive.fees_amount_cents,
            progressive.taxes_amount_cents,
            progressive.total_amount_cents,
        ) == (
            25_000,
            2_500,
            27_500,
        )
        usage(session, org, metric, "2024-03-20T00:00:00", 50)
        bill_due(factory, at("2024-04-01T01:00:00"))
        [periodic] = invoices(factory, "subscription")
        # Fees 3 100 + 30 000; credit 25 000; taxes 10 % of (3 100 + 5 000) = 810.
        assert (
            periodic.fees_amount_cents,
            periodic.progressive_billing_credit_amount_cents,
            periodic.sub_total_excluding_taxes_amount_cents,
            periodic.taxes_amount_cents,
            periodic.total_amount_cents,
        ) == (33_100, 25_000, 8_100, 810, 8_910)
        assert fees_of(factory, periodic) == [("subscription", 3_100, 310), ("charge", 30_000, 500)]

    def test_second_crossing_in_a_period_bills_the_difference(self, factory, session: Session) -> None:
        org, _, _, metric = setup(session)
        usage(session, org, metric, "2024-03-05T00:00:00", 210)
        bill_thresholds(factory, at("2024-03-06T00:00:00"))
        usage(session, org, metric, "2024-03-10T00:00:00", 300)
        bill_thresholds(factory, at("2024-03-11T00:00:00"))
        assert [i.fees_amount_cents for i in invoices(factory, "progressive_billing")] == [21_000, 30_000]
        bill_due(factory, at("2024-04-01T01:00:00"))
        [periodic] = invoices(factory, "subscription")
        assert (periodic.progressive_billing_credit_amount_cents, periodic.total_amount_cents) == (
            51_000,
            3_100,
        )

    def test_disabled_subscription_is_not_billed(self, factory, session: Session) -> None:
        org, _, subscription, metric = setup(session)
        subscription.progressive_billing_disabled = True
        session.commit()
        usage(session, org, metric, "2024-03-05T00:00:00", 300)
        assert bill_thresholds(factory, at("2024-03-06T00:00:00")).invoices_created == 0

    def test_historical_usage_counts_toward_thresholds(self, factory, session: Session) -> None:
        from billow.billing.progressive import set_historical_usage

        org, _, subscription, metric = setup(session)
        set_historical_usage(session, subscription, 15_000)
        session.commit()
        usage(session, org, metric, "2024-03-05T00:00:00", 50)
        assert bill_thresholds(factory, at("2024-03-06T00:00:00")).invoices_created == 1
        [progressive] = invoices(factory, "progressive_billing")
        # 15 000 historical + 5 000 of usage reach 20 000; the invoice bills the period's usage only.
        assert progressive.fees_amount_cents == 5_000
        assert (progressive.applied_usage_thresholds or [])[0]["lifetime_usage_amount_cents"] == 20_000

    def test_registered_scan(self) -> None:
        assert SCANS["progressive_billing"].run.__name__ == "scan_thresholds"

    def test_concurrent_scans_issue_one_invoice(self, factory, session: Session) -> None:
        org, _, _, metric = setup(session)
        usage(session, org, metric, "2024-03-05T00:00:00", 210)
        created: list[int] = []
        errors: list[BaseException] = []

        def work() -> None:
            try:
                summary = bill_thresholds(factory, at("2024-03-06T00:00:00"))
                created.append(summary.invoices_created)
                errors.extend(RuntimeError(message) for message in summary.failed)
            except BaseException as error:  # pragma: no cover - reported below
                errors.append(error)

        threads = [threading.Thread(target=work) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert sum(created) == 1
        assert len(invoices(factory, "progressive_billing")) == 1


def t(amount: int, recurring: bool = False) -> Threshold:
    return Threshold(uuid.uuid4(), amount, recurring)


class TestThresholdRules:
    def test_fixed_thresholds_once(self) -> None:
        thresholds = [t(20_000), t(50_000)]
        assert [x.amount_cents for x in newly_reached(thresholds, [], 19_999)] == []
        assert [x.amount_cents for x in newly_reached(thresholds, [], 60_000)] == [20_000, 50_000]
        applied = [Applied(20_000, False, 25_000)]
        assert [x.amount_cents for x in newly_reached(thresholds, applied, 49_999)] == []

    def test_recurring_after_the_largest_fixed(self) -> None:
        thresholds = [t(10_000), t(5_000, recurring=True)]
        # 10 000 + k x 5 000: reached at 15 000, 20 000...
        assert [
            x.amount_cents for x in newly_reached(thresholds, [Applied(10_000, False, 10_000)], 14_999)
        ] == []
        reached = newly_reached(thresholds, [Applied(10_000, False, 10_000)], 15_000)
        assert [(x.amount_cents, x.recurring) for x in reached] == [(5_000, True)]
        applied = [Applied(10_000, False, 10_000), Applied(5_000, True, 16_000)]
        assert newly_reached(thresholds, applied, 19_999) == []
        assert len(newly_reached(thresholds, applied, 20_000)) == 1

    def test_recurring_alone(self) -> None:
        thresholds = [t(1_000, recurring=True)]
        assert newly_reached(thresholds, [], 999) == []
        assert len(newly_reached(thresholds, [], 2_500)) == 1
        assert newly_reached(thresholds, [Applied(1_000, True, 2_500)], 2_999) == []

    def test_progress(self) -> None:
        thresholds = [t(20_000), t(50_000)]
        progress = threshold_progress(
            thresholds, [Applied(20_000, False, 20_000, "2024-03-10T12:00:00Z")], 40_000
        )
        assert [(p.amount_cents, p.completion_ratio, p.reached_at) for p in progress] == [
            (20_000, Decimal(1), "2024-03-10T12:00:00Z"),
            (50_000, Decimal(20_000) / Decimal(30_000), None),
        ]
        recurring = threshold_progress([t(1_000, recurring=True)], [], 1_500)
        assert [(p.amount_cents, p.completion_ratio) for p in recurring] == [
            (1_000, Decimal(1)),
            (2_000, Decimal("0.5")),
        ]


class TestLifetimeUsageApi:
    def test_show_and_update(self, factory, session: Session, api, other_api) -> None:
        org = session.get(Organization, api.organization.id)
        _, _, subscription, metric = setup(session, org=org)
        usage(session, org, metric, "2024-03-10T00:00:00", 250)
        bill_thresholds(factory, at("2024-03-10T12:00:00"))
        bill_due(factory, at("2024-04-01T01:00:00"))

        body = api.get("/subscriptions/sub_1/lifetime_usage").json()["lifetime_usage"]
        LifetimeUsageResponse.parse_obj(body)
        assert body["lago_subscription_id"] == str(subscription.id)
        assert body["external_subscription_id"] == "sub_1"
        assert (
            body["external_historical_usage_amount_cents"],
            body["invoiced_usage_amount_cents"],
            body["current_usage_amount_cents"],
        ) == (0, 25_000, 0)
        assert body["from_datetime"] == "2024-03-01T00:00:00Z"
        assert body["usage_thresholds"] == [
            {"amount_cents": 20_000, "completion_ratio": 1, "reached_at": "2024-03-10T12:00:00Z"},
            {"amount_cents": 50_000, "completion_ratio": pytest.approx(5 / 30), "reached_at": None},
        ]

        updated = api.put(
            "/subscriptions/sub_1/lifetime_usage",
            json={"lifetime_usage": {"external_historical_usage_amount_cents": 10_000}},
        )
        assert updated.status_code == 200
        assert updated.json()["lifetime_usage"]["external_historical_usage_amount_cents"] == 10_000
        assert updated.json()["lifetime_usage"]["lago_id"] == body["lago_id"]
        again = api.get("/subscriptions/sub_1/lifetime_usage").json()["lifetime_usage"]
        assert again["external_historical_usage_amount_cents"] == 10_000
        assert again["usage_thresholds"][1]["completion_ratio"] == pytest.approx(15 / 30)

        invalid = api.put(
            "/subscriptions/sub_1/lifetime_usage",
            json={"lifetime_usage": {"external_historical_usage_amount_cents": -1}},
        )
        assert invalid.status_code == 422
        assert invalid.json()["error_details"] == {
            "external_historical_usage_amount_cents": ["value_is_out_of_range"]
        }
        assert (
            api.get("/subscriptions/sub_1/lifetime_usage").json()["lifetime_usage"][
                "external_historical_usage_amount_cents"
            ]
            == 10_000
        )

        not_a_number = api.put(
            "/subscriptions/sub_1/lifetime_usage",
            json={"lifetime_usage": {"external_historical_usage_amount_cents": "abc"}},
        )
        assert not_a_number.json()["error_details"] == {
            "external_historical_usage_amount_cents": ["value_is_invalid"]
        }

        missing = api.get("/subscriptions/nope/lifetime_usage")
        assert (missing.status_code, missing.json()["code"]) == (404, "subscription_not_found")

    def test_tenancy(self, session: Session, api, other_api) -> None:
        org = session.get(Organization, api.organization.id)
        setup(session, org=org)
        assert other_api.get("/subscriptions/sub_1/lifetime_usage").status_code == 404
        put = other_api.put(
            "/subscriptions/sub_1/lifetime_usage",
            json={"lifetime_usage": {"external_historical_usage_amount_cents": 5}},
        )
        assert (put.status_code, put.json()["code"]) == (404, "subscription_not_found")
        body = api.get("/subscriptions/sub_1/lifetime_usage").json()["lifetime_usage"]
        assert body["external_historical_usage_amount_cents"] == 0

    def test_invoice_json(self, factory, session: Session, api) -> None:
        org = session.get(Organization, api.organization.id)
        _, _, _, metric = setup(session, org=org)
        usage(session, org, metric, "2024-03-10T00:00:00", 250)
        bill_thresholds(factory, at("2024-03-10T12:00:00"))
        [invoice] = api.get("/invoices").json()["invoices"]
        InvoiceResponse.parse_obj(invoice)
        assert invoice["invoice_type"] == "progressive_billing"
        assert invoice["billing_periods"][0]["invoicing_reason"] == "progressive_billing"
        [applied] = invoice["applied_usage_thresholds"]
        assert applied["lifetime_usage_amount_cents"] == 25_000
        assert applied["usage_threshold"]["amount_cents"] == 20_000

    def test_past_usage_lists_the_period_once(self, factory, session: Session, api) -> None:
        org = session.get(Organization, api.organization.id)
        _, customer, _, metric = setup(session, org=org)
        usage(session, org, metric, "2024-03-10T00:00:00", 250)
        bill_thresholds(factory, at("2024-03-10T12:00:00"))
        bill_due(factory, at("2024-04-01T01:00:00"))
        body = api.get(
            f"/customers/{customer.external_id}/past_usage", params={"external_subscription_id": "sub_1"}
        ).json()
        assert [(p["from_datetime"], p["amount_cents"]) for p in body["usage_periods"]] == [
            ("2024-03-01T00:00:00Z", 25_000)
        ]


class TestGroupedInvoice:
    def test_two_subscriptions_of_a_customer_keep_their_own_credit(self, factory, session: Session) -> None:
        """One periodic invoice for both subscriptions (as Lago); the progressive credit is sub_1's only,
        and each subscription's lifetime invoiced usage counts its own share of it."""
        from billow.billing.progressive import invoiced_usage
        from billow.models.plans import Plan

        org, customer, first, metric = setup(session)
        plan = session.get(Plan, first.plan_id)
        second = f.subscription(
            session, org, customer, plan, external_id="sub_2", started_at=at("2024-03-01")
        )
        session.commit()
        usage(session, org, metric, "2024-03-10T00:00:00", 200)  # sub_1 crosses 200.00
        usage(session, org, metric, "2024-03-10T00:00:00", 50, external_id="sub_2")
        assert bill_thresholds(factory, at("2024-03-10T12:00:00")).invoices_created == 1
        assert bill_due(factory, at("2024-04-01T00:00:00")).invoices_created == 1
        [periodic] = invoices(factory, "subscription")
        # sub_1: 3 100 + 20 000; sub_2: 3 100 + 5 000. Fees 31 200, credit 20 000 (sub_1's), total 11 200.
        assert (
            periodic.fees_amount_cents,
            periodic.progressive_billing_credit_amount_cents,
            periodic.total_amount_cents,
        ) == (31_200, 20_000, 11_200)
        with factory() as check:
            # sub_1: 20 000 progressive + 20 000 periodic - 20 000 credit; sub_2: 5 000.
            assert invoiced_usage(check, first.id) == 20_000
            assert invoiced_usage(check, second.id) == 5_000
