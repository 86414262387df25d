"""Backdated subscriptions, by default (Lago's behaviour): the periods whose invoice fell due before the
subscription was created are not billed; those due after it are, including the ones a stopped server
missed (catch-up). Billing the past is an opt-in (``BILLOW_BILL_BACKDATED_PERIODS``, or per organization
``billing_configuration.bill_backdated_periods``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from billow.billing.run import bill_due
from billow.models.invoices import Fee, Invoice, InvoiceSubscription
from billow.models.organizations import Organization
from tests.conftest import Api
from tests.fixtures import factories as f
from tests.fixtures.factories import at


@pytest.fixture(autouse=True)
def _bills_backdated_periods() -> None:
    """Overrides ``tests/billing/conftest.py``: these tests check the default."""


def links(factory: sessionmaker[Session]) -> list[tuple[str, datetime, datetime | None, datetime | None]]:
    with factory() as session:
        rows = session.execute(
            select(
                InvoiceSubscription.invoicing_reason,
                InvoiceSubscription.timestamp,
                InvoiceSubscription.charges_from_datetime,
                InvoiceSubscription.charges_to_datetime,
            ).order_by(InvoiceSubscription.timestamp)
        ).all()
    return [tuple(row) for row in rows]


def fee_amounts(factory: sessionmaker[Session]) -> list[list[tuple[str, int]]]:
    with factory() as session:
        invoices = session.scalars(select(Invoice).order_by(Invoice.issuing_date)).all()
        return [
            sorted(
                (fee.fee_type, fee.amount_cents)
                for fee in session.scalars(select(Fee).where(Fee.invoice_id == invoice.id))
            )
            for invoice in invoices
        ]


def catalog(session: Session, org: Organization | None = None, **plan: Any):
    org = org or f.organization(session, document_number_prefix="BKD")
    metric = f.metric(session, org, "sum_agg", code="calls")
    plan_row = f.plan(session, org, amount_cents=1000, interval="monthly", **plan)
    f.charge(session, org, plan_row, metric, "standard", {"amount": "1"})
    customer = f.customer(session, org, external_id="cus_1")
    return org, metric, plan_row, customer


def first_instant_of_next_month(now: datetime) -> datetime:
    return (now.replace(day=1, hour=0, minute=0, second=0, microsecond=0) + timedelta(days=32)).replace(day=1)


class TestLagoDocsExample:
    """A subscription created today through the API with Lago's docs start date, 2022-08-08."""

    def _subscribe(self, api: Api, *, pay_in_advance: bool = False) -> None:
        metric = api.post(
            "/billable_metrics",
            json={
                "billable_metric": {
                    "name": "Calls",
                    "code": "calls",
                    "aggregation_type": "sum_agg",
                    "field_name": "value",
                }
            },
        ).json()["billable_metric"]
        plan = {
            "name": "Startup",
            "code": "startup",
            "interval": "monthly",
            "amount_cents": 10000,
            "amount_currency": "USD",
            "pay_in_advance": pay_in_advance,
            "charges": [
                {
                    "billable_metric_id": metric["lago_id"],
                    "charge_model": "standard",
                    "properties": {"amount": "1"},
                }
            ],
        }
        assert api.post("/plans", json={"plan": plan}).status_code == 200
        customer = {"external_id": "cus_1", "name": "Acme", "currency": "USD"}
        assert api.post("/customers", json={"customer": customer}).status_code == 200
        subscription = {
            "external_customer_id": "cus_1",
            "plan_code": "startup",
            "external_id": "sub_1",
            "subscription_at": "2022-08-08T00:00:00Z",
        }
        response = api.post("/subscriptions", json={"subscription": subscription})
        assert response.status_code == 200, response.text
        assert response.json()["subscription"]["status"] == "active"

    def _event(self, api: Api, transaction_id: str, timestamp: datetime, value: int) -> None:
        event = {
            "transaction_id": transaction_id,
            "external_subscription_id": "sub_1",
            "code": "calls",
            "timestamp": int(timestamp.timestamp()),
            "properties": {"value": value},
        }
        assert api.post("/events", json={"event": event}).status_code == 200

    def test_no_past_period_is_billed(self, app: FastAPI, api: Api) -> None:
        self._subscribe(api)
        now = datetime.now(UTC)
        self._event(api, "old", at("2023-05-10T00:00:00"), 7)  # a period ended before the creation
        self._event(api, "current", now.replace(day=1, hour=1), 3)  # the month in progress
        summary = bill_due(app.state.sessionmaker, now)
        assert (summary.invoices_created, summary.failed) == (0, [])
        assert api.get("/invoices").json()["invoices"] == []
        # The month in progress is billed when it ends: its fee and its usage (from the 1st).
        month_end = first_instant_of_next_month(now)
        summary = bill_due(app.state.sessionmaker, month_end)
        assert (summary.invoices_created, summary.failed) == (1, [])
        [invoice] = api.get("/invoices").json()["invoices"]
        assert invoice["fees_amount_cents"] == 10000 + 300
        response = api.get(f"/invoices/{invoice['lago_id']}").json()["invoice"]
        [usage] = [fee for fee in response["fees"] if fee["item"]["type"] == "charge"]
        assert usage["units"] == "3.0"
        assert usage["from_date"] == now.replace(day=1, hour=0, minute=0, second=0, microsecond=0).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )

    def test_pay_in_advance_has_no_first_invoice(self, app: FastAPI, api: Api) -> None:
        self._subscribe(api, pay_in_advance=True)
        now = datetime.now(UTC)
        summary = bill_due(app.state.sessionmaker, now)
        assert (summary.invoices_created, summary.failed) == (0, [])
        # At the next month: that month's fee in advance, and the usage of the month in progress.
        summary = bill_due(app.state.sessionmaker, first_instant_of_next_month(now))
        assert summary.invoices_created == 1
        [invoice] = api.get("/invoices").json()["invoices"]
        assert invoice["fees_amount_cents"] == 10000

    def test_organization_opts_in_through_the_api(self, app: FastAPI, api: Api) -> None:
        body = {"organization": {"billing_configuration": {"bill_backdated_periods": True}}}
        assert api.put("/organizations", json=body).status_code == 200
        self._subscribe(api)
        now = datetime.now(UTC)
        summary = bill_due(app.state.sessionmaker, now)
        # Every month from August 2022 up to the month in progress.
        months = (now.year - 2022) * 12 + now.month - 8
        assert (summary.invoices_created, summary.failed) == (months, [])


class TestCatchUpAfterCreation:
    def test_periods_due_after_the_creation_are_billed(self, factory, session: Session) -> None:
        org, _, plan, customer = catalog(session)
        created = at("2024-03-10T15:00:00")
        f.subscription(session, org, customer, plan, started_at=at("2022-08-08"), created_at=created)
        f.event(session, org, "calls", "2024-02-10T00:00:00", {"value": 9})  # before: never billed
        f.event(session, org, "calls", "2024-03-02T00:00:00", {"value": 2})
        f.event(session, org, "calls", "2024-04-02T00:00:00", {"value": 4})
        session.commit()
        assert bill_due(factory, created).invoices_created == 0
        # The server was down from the creation to 2024-05-20: the April and May invoices are caught up.
        summary = bill_due(factory, at("2024-05-20T00:00:00"))
        assert (summary.invoices_created, summary.failed) == (2, [])
        assert links(factory) == [
            ("subscription_periodic", at("2024-04-01"), at("2024-03-01"), at("2024-04-01")),
            ("subscription_periodic", at("2024-05-01"), at("2024-04-01"), at("2024-05-01")),
        ]
        assert fee_amounts(factory) == [
            [("charge", 200), ("subscription", 1000)],
            [("charge", 400), ("subscription", 1000)],
        ]

    def test_the_creation_day_is_billable(self, factory, session: Session) -> None:
        """Created on 2024-04-01 at 10:00, after that day's boundary: Lago bills that day's invoice."""
        org, _, plan, customer = catalog(session)
        created = at("2024-04-01T10:00:00")
        f.subscription(session, org, customer, plan, started_at=at("2022-08-08"), created_at=created)
        session.commit()
        assert bill_due(factory, created).invoices_created == 1
        assert [link[:2] for link in links(factory)] == [("subscription_periodic", at("2024-04-01"))]

    def test_same_day_backdate_bills_the_first_invoice_in_advance(self, factory, session: Session) -> None:
        """subscription_at earlier on the creation day: Lago activates and bills it as starting today."""
        org, _, plan, customer = catalog(session, pay_in_advance=True)
        created = at("2024-03-10T15:00:00")
        f.subscription(session, org, customer, plan, started_at=at("2024-03-10T01:00:00"), created_at=created)
        session.commit()
        assert bill_due(factory, created).invoices_created == 1
        assert [link[:2] for link in links(factory)] == [("subscription_starting", at("2024-03-10T01:00:00"))]

    def test_a_backdated_termination_bills_only_its_final_invoice(self, factory, session: Session) -> None:
        org, _, plan, customer = catalog(session)
        created = at("2024-03-10T15:00:00")
        f.subscription(
            session,
            org,
            customer,
            plan,
            started_at=at("2022-08-08"),
            created_at=created,
            status="terminated",
            terminated_at=at("2024-03-20T00:00:00"),
        )
        session.commit()
        assert bill_due(factory, at("2024-04-01T00:00:00")).invoices_created == 1
        assert [link[:2] for link in links(factory)] == [("subscription_terminating", at("2024-03-20"))]


class TestOptIn:
    def _subscribe(self, session: Session, org: Organization | None = None) -> Organization:
        org, _, plan, customer = catalog(session, org)
        created = at("2024-03-10T15:00:00")
        f.subscription(session, org, customer, plan, started_at=at("2023-12-15"), created_at=created)
        session.commit()
        return org

    def test_organization_setting(self, factory, session: Session) -> None:
        self._subscribe(session, f.organization(session, bill_backdated_periods=True))
        # 2024-01-01 (Dec 15-31), 2024-02-01, 2024-03-01.
        assert bill_due(factory, at("2024-03-10T15:00:00")).invoices_created == 3

    def test_server_setting(self, factory, session: Session, bill_backdated_periods: None) -> None:
        self._subscribe(session)
        assert bill_due(factory, at("2024-03-10T15:00:00")).invoices_created == 3

    def test_organization_opting_out_of_the_server_setting(
        self, factory, session: Session, bill_backdated_periods: None
    ) -> None:
        self._subscribe(session, f.organization(session, bill_backdated_periods=False))
        assert bill_due(factory, at("2024-03-10T15:00:00")).invoices_created == 0
