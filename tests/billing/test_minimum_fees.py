"""Charge spending minimums (true-up fees) and plan minimum commitments, through the billing run and the
invoices API. Amounts are hand-computed in the comments."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI
from lago_python_client.models.invoice import InvoiceResponse
from lago_python_client.services.response import prepare_object_response
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from billow.billing import drafts
from billow.billing.run import bill_due
from billow.models.customers import Customer
from billow.models.invoices import AppliedTax, Fee, Invoice
from billow.models.organizations import Organization
from billow.models.plans import Commitment, Plan, commitment_taxes
from billow.models.taxes import Tax
from tests.conftest import Api
from tests.fixtures import factories as f
from tests.fixtures.factories import at


def commitment(
    session: Session, plan: Plan, amount_cents: int, tax: Tax | None = None, **fields: Any
) -> None:
    row = Commitment(
        organization_id=plan.organization_id, plan_id=plan.id, amount_cents=amount_cents, **fields
    )
    session.add(row)
    session.flush()
    if tax is not None:
        session.execute(
            insert(commitment_taxes).values(
                commitment_id=row.id, tax_id=tax.id, organization_id=plan.organization_id
            )
        )


def org_of(session: Session, api: Api) -> Organization:
    org = session.get(Organization, api.organization.id)
    assert org is not None
    return org


def billed(app: FastAPI) -> list[tuple[Invoice, list[Fee], dict[str, tuple[int, int]]]]:
    """Invoices in number order, each with its fees (in insertion order) and applied taxes by code."""
    with app.state.sessionmaker() as session:
        result = []
        for invoice in session.scalars(select(Invoice).order_by(Invoice.organization_sequential_id)):
            fees = session.scalars(
                select(Fee).where(Fee.invoice_id == invoice.id).order_by(Fee.created_at, Fee.id)
            ).all()
            taxes = {
                t.tax_code: (t.amount_cents, t.fees_amount_cents)
                for t in session.scalars(select(AppliedTax).where(AppliedTax.invoice_id == invoice.id))
            }
            result.append((invoice, list(fees), taxes))
        session.expunge_all()
        return result


def summary(rows) -> list[tuple[str, int, int, int]]:
    return [
        (i.issuing_date.isoformat(), i.fees_amount_cents, i.taxes_amount_cents, i.total_amount_cents)
        for i, _, _ in rows
    ]


def fee_amounts(fees: list[Fee]) -> list[tuple[str, int, int]]:
    """``(fee_type, amount_cents, taxes_amount_cents)`` sorted, insertion order being unreliable."""
    return sorted((fee.fee_type, fee.amount_cents, fee.taxes_amount_cents) for fee in fees)


def true_up_pairs(fees: list[Fee]) -> list[tuple[Fee, Fee]]:
    by_id = {fee.id: fee for fee in fees}
    return [(by_id[fee.true_up_parent_fee_id], fee) for fee in fees if fee.true_up_parent_fee_id]


class TestChargeSpendingMinimum:
    @pytest.fixture
    def rows(self, app: FastAPI, api: Api):
        with app.state.sessionmaker.begin() as session:
            org = org_of(session, api)
            metric = f.metric(session, org, "sum_agg", code="api_calls", name="API calls")
            plan = f.plan(session, org, code="pro", name="Pro", amount_cents=1000)
            charge = f.charge(session, org, plan, metric, "standard", {"amount": "2"}, min_amount_cents=1500)
            f.link_plan_tax(session, plan, f.tax(session, org, "vat20", "20"))
            f.link_charge_tax(session, charge, f.tax(session, org, "vat10", "10"))
            customer = f.customer(session, org, external_id="cus_1")
            f.subscription(session, org, customer, plan, external_id="sub_1", started_at=at("2024-01-15"))
            f.event(session, org, "api_calls", "2024-01-20T00:00:00", {"value": 3})
            f.event(session, org, "api_calls", "2024-02-10T00:00:00", {"value": 10})
        result = bill_due(app.state.sessionmaker, at("2024-04-10T00:00:00"))
        assert (result.invoices_created, result.failed) == (3, [])
        return billed(app)

    def test_totals(self, rows) -> None:
        assert summary(rows) == [
            # Jan 15-31 (17/31): plan 548 (+20 % = 109.6), usage 3 x 2.00 = 600 (+10 % = 60),
            # true-up round(1500 x 17/31 - 600) = round(222.58) = 223 (+10 % = 22.3); taxes 191.9.
            ("2024-02-01", 1371, 192, 1563),
            # February: usage 2000 >= 1500, no true-up. Taxes 200 + 200.
            ("2024-03-01", 3000, 400, 3400),
            # March: no usage; an empty parent fee and a true-up of the whole minimum (+150).
            ("2024-04-01", 2500, 350, 2850),
        ]
        assert fee_amounts(rows[0][1]) == [
            ("charge", 223, 22),
            ("charge", 600, 60),
            ("subscription", 548, 110),
        ]
        assert rows[0][2] == {"vat10": (82, 823), "vat20": (110, 548)}
        assert fee_amounts(rows[1][1]) == [("charge", 2000, 200), ("subscription", 1000, 200)]
        assert fee_amounts(rows[2][1]) == [
            ("charge", 0, 0),
            ("charge", 1500, 150),
            ("subscription", 1000, 200),
        ]

    def test_true_up_fees(self, rows) -> None:
        [(parent, true_up)] = true_up_pairs(rows[0][1])
        assert (parent.amount_cents, parent.units) == (600, Decimal(3))
        assert (true_up.fee_type, true_up.charge_id, true_up.charge_filter_id) == (
            "charge",
            parent.charge_id,
            None,
        )
        assert (true_up.units, true_up.total_aggregated_units, true_up.events_count) == (
            Decimal(1),
            Decimal(1),
            0,
        )
        assert true_up.precise_amount_cents.quantize(Decimal("0.0001")) == Decimal("222.5806")
        assert true_up.unit_amount.quantize(Decimal("0.000001")) == Decimal("2.225806")
        assert (true_up.from_datetime, true_up.to_datetime) == (at("2024-01-15"), at("2024-02-01"))
        assert true_up_pairs(rows[1][1]) == []
        [(empty, true_up)] = true_up_pairs(rows[2][1])
        assert (empty.amount_cents, empty.units, empty.events_count) == (0, Decimal(0), 0)
        assert true_up.amount_cents == 1500

    def test_fee_json_links_parent_and_true_up(self, rows, api: Api) -> None:
        invoice = rows[0][0]
        response = api.get(f"/invoices/{invoice.id}")
        assert response.status_code == 200
        fees = {fee["lago_id"]: fee for fee in response.json()["invoice"]["fees"]}
        [(parent, true_up)] = true_up_pairs(rows[0][1])
        parent_json, true_up_json = fees[str(parent.id)], fees[str(true_up.id)]
        assert parent_json["lago_true_up_fee_id"] == str(true_up.id)
        assert parent_json["lago_true_up_parent_fee_id"] is None
        assert true_up_json["lago_true_up_fee_id"] is None
        assert true_up_json["lago_true_up_parent_fee_id"] == str(parent.id)
        assert true_up_json["item"]["type"] == "charge"
        assert true_up_json["item"]["code"] == "api_calls"
        assert (true_up_json["amount_cents"], true_up_json["taxes_amount_cents"]) == (223, 22)
        assert (true_up_json["total_amount_cents"], true_up_json["events_count"]) == (245, 0)
        subscription_fee = next(fee for fee in fees.values() if fee["item"]["type"] == "subscription")
        assert subscription_fee["lago_true_up_fee_id"] is None
        prepare_object_response(InvoiceResponse, response.json()["invoice"])
        single = api.get(f"/fees/{parent.id}").json()["fee"]
        assert single["lago_true_up_fee_id"] == str(true_up.id)


def test_lago_vector_true_up_on_termination(app: FastAPI, api: Api) -> None:
    """Lago's spec: standard 8.00, minimum 10.00, one event, terminated Feb 25 (25/28 days), tax 20 %."""
    with app.state.sessionmaker.begin() as session:
        org = org_of(session, api)
        metric = f.metric(session, org, "count_agg", code="calls")
        plan = f.plan(session, org, amount_cents=0)
        f.charge(session, org, plan, metric, "standard", {"amount": "8"}, min_amount_cents=1000)
        f.tax(session, org, "vat", "20", default=True)
        customer = f.customer(session, org, external_id="cus_1")
        f.subscription(
            session,
            org,
            customer,
            plan,
            started_at=at("2023-02-01"),
            status="terminated",
            terminated_at=at("2023-02-25T10:00:00"),
        )
        f.event(session, org, "calls", "2023-02-10T00:00:00")
    result = bill_due(app.state.sessionmaker, at("2023-02-26T00:00:00"))
    assert (result.invoices_created, result.failed) == (1, [])
    [(invoice, fees, taxes)] = billed(app)
    # Usage 800 (+160); true-up round(1000 x 25/28 - 800) = round(92.86) = 93 (+18.6); taxes 178.6.
    charge_fees = [fee for fee in fees if fee.fee_type == "charge"]
    assert fee_amounts(charge_fees) == [("charge", 93, 19), ("charge", 800, 160)]
    assert (invoice.fees_amount_cents, invoice.taxes_amount_cents, invoice.total_amount_cents) == (
        893,
        179,
        1072,
    )
    assert taxes == {"vat": (179, 893)}


def test_true_up_parent_is_the_unfiltered_fee_and_usage_sums_filters(app: FastAPI, api: Api) -> None:
    with app.state.sessionmaker.begin() as session:
        org = org_of(session, api)
        metric = f.metric(session, org, "sum_agg", code="bytes", filters={"region": ["us", "eu"]})
        plan = f.plan(session, org, amount_cents=0)
        charge = f.charge(session, org, plan, metric, "standard", {"amount": "1"}, min_amount_cents=1000)
        f.charge_filter(session, org, charge, {"region": ["us"]}, {"amount": "3"})
        customer = f.customer(session, org, external_id="cus_1")
        f.subscription(session, org, customer, plan, started_at=at("2024-02-01"))
        f.event(session, org, "bytes", "2024-02-10T00:00:00", {"value": 1, "region": "us"})
        f.event(session, org, "bytes", "2024-02-11T00:00:00", {"value": 2, "region": "eu"})
    result = bill_due(app.state.sessionmaker, at("2024-03-01T00:00:00"))
    assert (result.invoices_created, result.failed) == (1, [])
    [(invoice, fees, _)] = billed(app)
    # us: 1 x 3.00 = 300; other regions: 2 x 1.00 = 200; used 500 -> true-up 500.
    [(parent, true_up)] = true_up_pairs(fees)
    assert (parent.charge_filter_id, parent.amount_cents) == (None, 200)
    assert true_up.amount_cents == 500
    assert invoice.fees_amount_cents == 1000


class TestMinimumCommitmentInArrears:
    @pytest.fixture
    def rows(self, app: FastAPI, api: Api):
        with app.state.sessionmaker.begin() as session:
            org = org_of(session, api)
            metric = f.metric(session, org, "sum_agg", code="api_calls")
            plan = f.plan(session, org, code="pro", name="Pro", description="The pro plan", amount_cents=1000)
            f.charge(session, org, plan, metric, "standard", {"amount": "2"})
            f.link_plan_tax(session, plan, f.tax(session, org, "vat20", "20"))
            commitment(session, plan, 10000, f.tax(session, org, "vat10", "10"))
            customer = f.customer(session, org, external_id="cus_1")
            f.subscription(session, org, customer, plan, external_id="sub_1", started_at=at("2024-01-15"))
            f.event(session, org, "api_calls", "2024-01-20T00:00:00", {"value": 3})
            f.event(session, org, "api_calls", "2024-02-10T00:00:00", {"value": 5})
        result = bill_due(app.state.sessionmaker, at("2024-03-10T00:00:00"))
        assert (result.invoices_created, result.failed) == (2, [])
        return billed(app)

    def test_totals(self, rows) -> None:
        assert summary(rows) == [
            # Jan 15-31: plan 548 (+109.6), usage 600 (+120); commitment 10000 x 17/31 = 5484 - 1148
            # = 4336, taxed with the commitment's 10 % (+433.6); taxes 663.2.
            ("2024-02-01", 5484, 663, 6147),
            # February: plan 1000 (+200) + usage 1000 (+200); commitment 10000 - 2000 = 8000 (+800).
            ("2024-03-01", 10000, 1200, 11200),
        ]
        assert fee_amounts(rows[0][1]) == [
            ("charge", 600, 120),
            ("commitment", 4336, 434),
            ("subscription", 548, 110),
        ]
        assert rows[0][2] == {"vat10": (434, 4336), "vat20": (230, 1148)}
        assert fee_amounts(rows[1][1]) == [
            ("charge", 1000, 200),
            ("commitment", 8000, 800),
            ("subscription", 1000, 200),
        ]

    def test_commitment_fee_json(self, rows, api: Api) -> None:
        invoice, fees, _ = rows[0]
        body = api.get(f"/invoices/{invoice.id}").json()["invoice"]
        [fee] = [fee for fee in body["fees"] if fee["item"]["type"] == "commitment"]
        subscription_id = fees[0].subscription_id
        assert fee["item"] == {
            "type": "commitment",
            "code": "pro",
            "name": "Pro",
            "description": "The pro plan",
            "invoice_display_name": "Minimum commitment",
            "filters": None,
            "filter_invoice_display_name": None,
            "lago_item_id": str(subscription_id),
            "item_type": "Subscription",
            "grouped_by": {},
        }
        assert (fee["amount_cents"], fee["taxes_amount_cents"], fee["total_amount_cents"]) == (
            4336,
            434,
            4770,
        )
        assert (fee["lago_charge_id"], fee["lago_true_up_fee_id"], fee["lago_true_up_parent_fee_id"]) == (
            None,
            None,
            None,
        )
        assert (fee["pay_in_advance"], fee["invoiceable"], fee["taxes_rate"]) == (False, True, 10)
        assert (fee["from_date"], fee["to_date"]) == (None, None)
        prepare_object_response(InvoiceResponse, body)


def test_commitment_prorated_on_termination(app: FastAPI, api: Api) -> None:
    with app.state.sessionmaker.begin() as session:
        org = org_of(session, api)
        plan = f.plan(session, org, amount_cents=1000)
        commitment(session, plan, 10000, invoice_display_name="Committed spend")
        customer = f.customer(session, org, external_id="cus_1")
        f.subscription(
            session,
            org,
            customer,
            plan,
            started_at=at("2024-02-01"),
            status="terminated",
            terminated_at=at("2024-02-20T12:00:00"),
        )
    result = bill_due(app.state.sessionmaker, at("2024-02-21T00:00:00"))
    assert (result.invoices_created, result.failed) == (1, [])
    [(invoice, fees, _)] = billed(app)
    # Feb 1-20 of 29 days: plan round(689.66) = 690; commitment round(6896.55) = 6897 - 690 = 6207.
    assert fee_amounts(fees) == [("commitment", 6207, 0), ("subscription", 690, 0)]
    assert invoice.total_amount_cents == 6897
    [commitment_fee] = [fee for fee in fees if fee.fee_type == "commitment"]
    assert commitment_fee.invoice_display_name == "Committed spend"


def test_no_commitment_fee_when_fees_reach_it(app: FastAPI, api: Api) -> None:
    with app.state.sessionmaker.begin() as session:
        org = org_of(session, api)
        plan = f.plan(session, org, amount_cents=5000)
        commitment(session, plan, 5000)
        customer = f.customer(session, org, external_id="cus_1")
        f.subscription(session, org, customer, plan, started_at=at("2024-02-01"))
    bill_due(app.state.sessionmaker, at("2024-03-02T00:00:00"))
    [(_, fees, _)] = billed(app)
    assert fee_amounts(fees) == [("subscription", 5000, 0)]


class TestMinimumCommitmentInAdvance:
    """The true-up of plan period N is billed on the invoice opening period N+1."""

    @pytest.fixture
    def rows(self, app: FastAPI, api: Api):
        with app.state.sessionmaker.begin() as session:
            org = org_of(session, api)
            metric = f.metric(session, org, "sum_agg", code="api_calls")
            plan = f.plan(session, org, amount_cents=1000, pay_in_advance=True)
            f.charge(session, org, plan, metric, "standard", {"amount": "2"})
            instant = f.charge(session, org, plan, metric, "standard", {"amount": "1"}, pay_in_advance=True)
            commitment(session, plan, 5000)
            customer = f.customer(session, org, external_id="cus_1")
            f.link_customer_tax(session, customer, f.tax(session, org, "vat10", "10"))
            subscription = f.subscription(session, org, customer, plan, started_at=at("2024-01-15"))
            f.event(session, org, "api_calls", "2024-01-20T00:00:00", {"value": 3})
            f.event(session, org, "api_calls", "2024-02-10T00:00:00", {"value": 5})
            # A pay-in-advance charge fee of February, billed outside these invoices (not invoiceable).
            session.add(
                Fee(
                    organization_id=org.id,
                    customer_id=customer.id,
                    subscription_id=subscription.id,
                    charge_id=instant.id,
                    fee_type="charge",
                    amount_cents=500,
                    precise_amount_cents=Decimal(500),
                    amount_currency="USD",
                    pay_in_advance=True,
                    invoiceable=False,
                    from_datetime=at("2024-02-01"),
                    to_datetime=at("2024-03-01"),
                )
            )
        result = bill_due(app.state.sessionmaker, at("2024-03-10T00:00:00"))
        assert (result.invoices_created, result.failed) == (3, [])
        return billed(app)

    def test_totals(self, rows) -> None:
        assert summary(rows) == [
            # Starting invoice: Jan 15-31 plan fee 548 in advance (+54.8); no commitment yet.
            ("2024-01-15", 548, 55, 603),
            # February's plan fee 1000, January's usage 600, January's commitment:
            # 5000 x 17/31 = 2742 - (548 + 600) = 1594 (customer tax 10 %: 100 + 60 + 159.4).
            ("2024-02-01", 3194, 319, 3513),
            # March's plan fee 1000, February's usage 1000; February's commitment:
            # 5000 - (1000 + 1000 + 500 in-advance fee) = 2500.
            ("2024-03-01", 4500, 450, 4950),
        ]
        assert fee_amounts(rows[1][1]) == [
            ("charge", 600, 60),
            ("commitment", 1594, 159),
            ("subscription", 1000, 100),
        ]
        assert [fee.fee_type for fee in rows[0][1]] == ["subscription"]
        [commitment_fee] = [fee for fee in rows[2][1] if fee.fee_type == "commitment"]
        assert (commitment_fee.from_datetime, commitment_fee.to_datetime) == (
            at("2024-02-01"),
            at("2024-03-01"),
        )


def test_catalog_made_through_the_api(app: FastAPI, api: Api) -> None:
    """A plan with a spending minimum and a commitment with its own tax, created with Lago's payloads."""
    assert api.post("/taxes", json={"tax": {"name": "VAT", "code": "vat", "rate": "20"}}).status_code == 200
    assert api.post("/taxes", json={"tax": {"name": "Low", "code": "low", "rate": "5"}}).status_code == 200
    metric = api.post(
        "/billable_metrics",
        json={
            "billable_metric": {
                "name": "Calls",
                "code": "calls",
                "aggregation_type": "count_agg",
            }
        },
    ).json()["billable_metric"]
    plan_body = {
        "name": "Pro",
        "code": "pro",
        "interval": "monthly",
        "amount_cents": 1000,
        "amount_currency": "USD",
        "tax_codes": ["vat"],
        "minimum_commitment": {"amount_cents": 5000, "tax_codes": ["low"]},
        "charges": [
            {
                "billable_metric_id": metric["lago_id"],
                "charge_model": "standard",
                "min_amount_cents": 2000,
                "properties": {"amount": "1"},
            }
        ],
    }
    response = api.post("/plans", json={"plan": plan_body})
    assert response.status_code == 200, response.json()
    assert api.post("/customers", json={"customer": {"external_id": "cus_1"}}).status_code == 200
    with app.state.sessionmaker.begin() as session:
        org = org_of(session, api)
        plan = session.scalars(select(Plan).where(Plan.organization_id == org.id)).one()
        customer = session.scalars(select(Customer).where(Customer.organization_id == org.id)).one()
        f.subscription(session, org, customer, plan, started_at=at("2024-02-01"))
        for day in (5, 6, 7):
            f.event(session, org, "calls", f"2024-02-{day:02d}T00:00:00")
    result = bill_due(app.state.sessionmaker, at("2024-03-01T00:00:00"))
    assert (result.invoices_created, result.failed) == (1, [])
    [(invoice, fees, taxes)] = billed(app)
    # Plan 1000 (+200), usage 300 (+60, plan tax), true-up 2000 - 300 = 1700 (+340);
    # commitment 5000 - (1000 + 300 + 1700) = 2000 (+5 % = 100).
    assert fee_amounts(fees) == [
        ("charge", 300, 60),
        ("charge", 1700, 340),
        ("commitment", 2000, 100),
        ("subscription", 1000, 200),
    ]
    assert taxes == {"low": (100, 2000), "vat": (600, 3000)}
    assert (invoice.fees_amount_cents, invoice.taxes_amount_cents, invoice.total_amount_cents) == (
        5000,
        700,
        5700,
    )


def test_draft_refresh_recomputes_true_ups(app: FastAPI, api: Api) -> None:
    """A draft (grace period) refreshed after a late event: true-up and commitment follow the new usage."""
    with app.state.sessionmaker.begin() as session:
        org = org_of(session, api)
        metric = f.metric(session, org, "count_agg", code="calls")
        plan = f.plan(session, org, amount_cents=1000)
        f.charge(session, org, plan, metric, "standard", {"amount": "1"}, min_amount_cents=500)
        commitment(session, plan, 3000)
        customer = f.customer(session, org, external_id="cus_1", invoice_grace_period=3)
        f.subscription(session, org, customer, plan, started_at=at("2024-02-01"))
        f.event(session, org, "calls", "2024-02-05T00:00:00")
    result = bill_due(app.state.sessionmaker, at("2024-03-01T00:00:00"))
    assert (result.invoices_created, result.failed) == (1, [])
    [(invoice, fees, _)] = billed(app)
    assert invoice.status == "draft"
    # Usage 100, true-up 400; commitment 3000 - (1000 + 100 + 400) = 1500.
    assert fee_amounts(fees) == [
        ("charge", 100, 0),
        ("charge", 400, 0),
        ("commitment", 1500, 0),
        ("subscription", 1000, 0),
    ]
    with app.state.sessionmaker.begin() as session:
        f.event(session, org_of(session, api), "calls", "2024-02-06T00:00:00")
    with app.state.sessionmaker.begin() as session:
        draft = session.get(Invoice, invoice.id)
        assert draft is not None
        drafts.refresh(session, draft)
    [(invoice, fees, _)] = billed(app)
    # Usage 200, true-up 300; the commitment is unchanged (3000 - 1500).
    assert fee_amounts(fees) == [
        ("charge", 200, 0),
        ("charge", 300, 0),
        ("commitment", 1500, 0),
        ("subscription", 1000, 0),
    ]
    assert len(true_up_pairs(fees)) == 1
    assert invoice.fees_amount_cents == 3000


def test_commitment_counts_the_monthly_charge_fees_of_a_semiannual_period(app: FastAPI, api: Api) -> None:
    """Charges billed monthly: the commitment is settled once, on the invoice closing the plan period."""
    with app.state.sessionmaker.begin() as session:
        org = org_of(session, api)
        metric = f.metric(session, org, "sum_agg", code="gb")
        plan = f.plan(session, org, amount_cents=6000, interval="semiannual", bill_charges_monthly=True)
        f.charge(session, org, plan, metric, "standard", {"amount": "1"})
        commitment(session, plan, 10000)
        customer = f.customer(session, org, external_id="cus_1")
        f.subscription(session, org, customer, plan, started_at=at("2024-01-01"))
        f.event(session, org, "gb", "2024-01-10T00:00:00", {"value": 10})
        f.event(session, org, "gb", "2024-03-10T00:00:00", {"value": 5})
    result = bill_due(app.state.sessionmaker, at("2024-07-02T00:00:00"))
    assert (result.invoices_created, result.failed) == (6, [])
    rows = billed(app)
    assert [fee_amounts(fees) for _, fees, _ in rows] == [
        [("charge", 1000, 0)],
        [],
        [("charge", 500, 0)],
        [],
        [],
        # Plan fee 6000; commitment 10000 - (6000 + 1000 + 500) = 2500.
        [("commitment", 2500, 0), ("subscription", 6000, 0)],
    ]
