"""Charge fees of a subscription invoice, one charge model at a time, against hand-computed amounts
(Lago §3 specs), and their fee JSON (Lago's ``V1::FeeSerializer``). SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI
from lago_python_client.models.invoice import InvoiceResponse
from lago_python_client.services.response import prepare_object_response
from sqlalchemy import select

from billow.billing.run import bill_due
from billow.fees.window import window_fees
from billow.models.events import Event
from billow.models.invoices import Fee, Invoice, InvoiceSubscription
from billow.models.organizations import Organization
from billow.models.plans import Charge, Plan
from billow.models.subscriptions import Subscription
from billow.plans.repository import plan_repository
from billow.subscriptions.periods import charges_window
from tests.conftest import Api
from tests.fixtures import factories as f
from tests.fixtures.factories import at

JAN = "2024-01-{:02d}T12:00:00"


def events(session, org, code: str, values: list[Any], **kw: Any) -> None:
    for day, value in enumerate(values, start=2):
        properties = value if isinstance(value, dict) else {"value": value}
        f.event(session, org, code, JAN.format(day), properties, **kw)


@pytest.fixture(params=[1, 3], ids=["one subscription", "batch of 3"])
def invoice(request: pytest.FixtureRequest, app: FastAPI, api: Api) -> dict[str, Any]:
    """A monthly plan (10.00) with one charge per model, billed for January 2024; with a batch, other
    subscriptions with the same events are billed in the same run (their usage priced together)."""
    with app.state.sessionmaker.begin() as session:
        org = session.get(Organization, api.organization.id)
        plan = f.plan(session, org, code="usage", name="Usage", amount_cents=1000)

        def charge(code: str, aggregation: str, model: str, properties: dict[str, Any], **kw: Any):
            metric_kw = {k: kw.pop(k) for k in ("recurring", "filters") if k in kw}
            metric = f.metric(session, org, aggregation, code=code, name=code, **metric_kw)
            return f.charge(session, org, plan, metric, model, properties, code=code, **kw)

        charge("standard", "sum_agg", "standard", {"amount": "0.0125"})
        events(session, org, "standard", [3, 5, 2])
        graduated = {
            "graduated_ranges": [
                {"from_value": 0, "to_value": 10, "per_unit_amount": "10", "flat_amount": "2"},
                {"from_value": 11, "to_value": 20, "per_unit_amount": "5", "flat_amount": "3"},
                {"from_value": 21, "to_value": None, "per_unit_amount": "5", "flat_amount": "3"},
            ]
        }
        charge("graduated", "count_agg", "graduated", graduated)
        events(session, org, "graduated", [{}] * 12)
        charge("package", "sum_agg", "package", {"amount": "100", "package_size": 10, "free_units": 10})
        events(session, org, "package", [100, 21])
        percentage = {
            "rate": "1.3",
            "fixed_amount": "2.0",
            "free_units_per_events": 3,
            "free_units_per_total_aggregation": "250",
        }
        charge("percentage", "sum_agg", "percentage", percentage)
        events(session, org, "percentage", [50, 100, 250, 400])
        volume = {
            "volume_ranges": [
                {"from_value": 0, "to_value": 100, "per_unit_amount": "2", "flat_amount": "10"},
                {"from_value": 101, "to_value": 200, "per_unit_amount": "1", "flat_amount": "0"},
                {"from_value": 201, "to_value": None, "per_unit_amount": "0.5", "flat_amount": "50"},
            ]
        }
        charge("volume", "sum_agg", "volume", volume)
        events(session, org, "volume", ["100.5"])
        graduated_percentage = {
            "graduated_percentage_ranges": [
                {"from_value": 0, "to_value": 10, "rate": "1", "flat_amount": "200"},
                {"from_value": 11, "to_value": 20, "rate": "2", "flat_amount": "300"},
                {"from_value": 21, "to_value": None, "rate": "3", "flat_amount": "400"},
            ]
        }
        charge("grad_pct", "sum_agg", "graduated_percentage", graduated_percentage)
        events(session, org, "grad_pct", [12])
        charge("dynamic", "sum_agg", "dynamic", {})
        f.event(
            session, org, "dynamic", JAN.format(3), {"value": 1}, precise_total_amount_cents=Decimal("123.4")
        )
        f.event(
            session, org, "dynamic", JAN.format(4), {"value": 2}, precise_total_amount_cents=Decimal("100")
        )
        filtered = charge(
            "filtered", "count_agg", "standard", {"amount": "1"}, filters={"region": ["us", "eu"]}
        )
        f.charge_filter(
            session, org, filtered, {"region": ["us"]}, {"amount": "3"}, invoice_display_name="US"
        )
        events(session, org, "filtered", [{"region": "us"}, {"region": "us"}, {"region": "eu"}, {}])
        charge("grouped", "sum_agg", "standard", {"amount": "0.5", "pricing_group_keys": ["tier"]})
        events(
            session,
            org,
            "grouped",
            [{"tier": "a", "value": 4}, {"tier": "b", "value": 6}, {"tier": "a", "value": 2}],
        )
        charge("seats", "sum_agg", "standard", {"amount": "31"}, recurring=True, prorated=True)
        f.event(session, org, "seats", "2023-12-10T00:00:00", {"value": 1})
        f.event(session, org, "seats", "2024-01-16T08:00:00", {"value": 2})
        charge("unused", "count_agg", "standard", {"amount": "1"})  # no events: no fee
        f.event(session, org, "standard", "2024-02-01T00:00:00", {"value": 1000})  # next period
        for index in range(1, request.param + 1):
            customer = f.customer(session, org, external_id=f"cus_{index}")
            f.subscription(
                session, org, customer, plan, external_id=f"sub_{index}", started_at=at("2024-01-01")
            )
            if index > 1:  # the same events
                for row in session.scalars(
                    select(Event).where(Event.external_subscription_id == "sub_1")
                ).all():
                    f.event(
                        session,
                        org,
                        row.code,
                        row.timestamp,
                        row.properties,
                        external_subscription_id=f"sub_{index}",
                        precise_total_amount_cents=row.precise_total_amount_cents,
                    )
    summary = bill_due(app.state.sessionmaker, at("2024-02-01T00:00:00"))
    assert summary.invoices_created == request.param and not summary.failed
    with app.state.sessionmaker() as session:
        rows = session.scalars(select(Invoice)).all()
        fees = {
            row.id: sorted(
                (fee.charge_id, str(fee.grouped_by), fee.amount_cents, fee.precise_amount_cents, fee.units)
                for fee in session.scalars(
                    select(Fee).where(Fee.invoice_id == row.id, Fee.fee_type == "charge")
                )
            )
            for row in rows
        }
        [first] = [
            row
            for row in rows
            if session.scalars(
                select(InvoiceSubscription.subscription_id).where(InvoiceSubscription.invoice_id == row.id)
            ).one()
            == session.scalars(select(Subscription.id).where(Subscription.external_id == "sub_1")).one()
        ]
    # Every subscription of the batch got the same fees as the first.
    assert all(value == fees[first.id] for value in fees.values())
    return {"id": first.id, "fees_amount_cents": first.fees_amount_cents}


def graduated_range(frm, to, flat, per_unit, units, per_unit_total, total) -> dict[str, Any]:
    return {
        "from_value": frm,
        "to_value": to,
        "flat_unit_amount": flat,
        "per_unit_amount": per_unit,
        "units": units,
        "per_unit_total_amount": per_unit_total,
        "total_with_flat_amount": total,
    }


# (code, filter display, grouped_by) -> units, events_count, amount_cents, precise_amount_cents,
# precise_unit_amount, amount_details
EXPECTED: dict[tuple[str, str | None, str], tuple[str, int, int, str, str, dict[str, Any]]] = {
    # 10 x 0.0125 = 0.125 -> 13 cents (half-up)
    ("standard", None, "{}"): ("10", 3, 13, "12.5", "0.0125", {}),
    # Lago spec: 12 units -> 102 + 13 = 115; 115 / 12 with 15 decimals
    ("graduated", None, "{}"): (
        "12",
        12,
        11500,
        "11500",
        "9.583333333333333",
        {
            "graduated_ranges": [
                graduated_range(0, 10, "2.0", "10.0", "10.0", "100.0", "102.0"),
                graduated_range(11, 20, "3.0", "5.0", "2.0", "10.0", "13.0"),
            ]
        },
    ),
    # 121 units, 10 free: ceil(111 / 10) = 12 packages x 100 = 1200; unit amount per paid unit
    ("package", None, "{}"): (
        "121",
        2,
        120000,
        "120000",
        "10.810810810810811",
        {
            "free_units": "10.0",
            "paid_units": "111.0",
            "per_package_size": 10,
            "per_package_unit_amount": "100.0",
        },
    ),
    # Lago spec: (800 - 250) x 1.3 % + 2 x 2.00 = 11.15
    ("percentage", None, "{}"): (
        "800",
        4,
        1115,
        "1115",
        "0.0139375",
        {
            "units": "800.0",
            "free_units": "250.0",
            "free_events": 2,
            "paid_units": "550.0",
            "rate": "1.3",
            "per_unit_total_amount": "7.15",
            "paid_events": 2,
            "fixed_fee_unit_amount": "2.0",
            "fixed_fee_total_amount": "4.0",
            "min_max_adjustment_total_amount": "0.0",
        },
    ),
    # 100.5 falls in 101-200 (ceil): 100.5 x 1
    ("volume", None, "{}"): (
        "100.5",
        1,
        10050,
        "10050",
        "1",
        {"flat_unit_amount": "0.0", "per_unit_amount": "1.0", "per_unit_total_amount": "100.5"},
    ),
    # Lago spec: 12 -> 200.1 + 300.04 = 500.14
    ("grad_pct", None, "{}"): (
        "12",
        1,
        50014,
        "50014",
        "41.678333333333333",
        {
            "graduated_percentage_ranges": [
                {
                    "from_value": 0,
                    "to_value": 10,
                    "flat_unit_amount": "200.0",
                    "rate": "1.0",
                    "units": "10.0",
                    "per_unit_total_amount": "0.1",
                    "total_with_flat_amount": "200.1",
                },
                {
                    "from_value": 11,
                    "to_value": 20,
                    "flat_unit_amount": "300.0",
                    "rate": "2.0",
                    "units": "2.0",
                    "per_unit_total_amount": "0.04",
                    "total_with_flat_amount": "300.04",
                },
            ]
        },
    ),
    # (123.4 + 100) cents of the events themselves
    ("dynamic", None, "{}"): ("3", 2, 223, "223.4", "0.744666666666667", {}),
    ("filtered", "US", "{}"): ("2", 2, 600, "600", "3", {}),
    ("filtered", None, "{}"): ("2", 2, 200, "200", "1", {}),
    ("grouped", None, "{'tier': 'a'}"): ("6", 2, 300, "300", "0.5", {}),
    ("grouped", None, "{'tier': 'b'}"): ("6", 1, 300, "300", "0.5", {}),
    # Recurring, prorated: (1 x 31 days + 2 x 16 days) / 31 = 2.03226 (ceiled to 5 decimals) x 31
    # = 63.00006; units show the full 3; the unit amount is per full unit
    ("seats", None, "{}"): ("3", 2, 6300, "6300.006", "21.00002", {}),
}


class TestChargeModels:
    def test_each_model_hand_computed(self, app: FastAPI, invoice: dict[str, Any]) -> None:
        with app.state.sessionmaker() as session:
            fees = session.scalars(
                select(Fee).where(Fee.invoice_id == invoice["id"], Fee.fee_type == "charge")
            ).all()
            charge_codes = {c.id: c.code for c in session.scalars(select(Charge))}
        got = {
            (
                charge_codes[fee.charge_id],
                fee.invoice_display_name if fee.charge_filter_id else None,
                str(fee.grouped_by),
            ): (
                fee.units,
                fee.events_count,
                fee.amount_cents,
                fee.precise_amount_cents,
                fee.unit_amount,
                fee.amount_details,
            )
            for fee in fees
        }
        assert set(got) == set(EXPECTED)
        for key, (units, count, cents, precise, unit, details) in EXPECTED.items():
            assert got[key] == (Decimal(units), count, cents, Decimal(precise), Decimal(unit), details), key
        charges_total = sum(expected[2] for expected in EXPECTED.values())
        assert invoice["fees_amount_cents"] == 1000 + charges_total

    def test_fee_json(self, api: Api, invoice: dict[str, Any]) -> None:
        body = api.get(f"/invoices/{invoice['id']}").json()["invoice"]
        fees = {
            (
                fee["item"]["code"],
                fee["item"]["filter_invoice_display_name"],
                str(fee["item"]["grouped_by"]),
            ): fee
            for fee in body["fees"]
            if fee["item"]["type"] == "charge"
        }
        standard = fees[("standard", None, "{}")]
        assert {
            k: standard[k]
            for k in (
                "amount_cents",
                "precise_amount",
                "precise_total_amount",
                "units",
                "total_aggregated_units",
                "events_count",
                "precise_unit_amount",
                "amount_details",
                "from_date",
                "to_date",
            )
        } == {
            "amount_cents": 13,
            "precise_amount": 0.125,
            "precise_total_amount": 0.125,
            "units": "10.0",
            "total_aggregated_units": "10.0",
            "events_count": 3,
            "precise_unit_amount": "0.0125",
            "amount_details": {},
            "from_date": "2024-01-01T00:00:00Z",
            "to_date": "2024-01-31T23:59:59Z",
        }
        graduated = fees[("graduated", None, "{}")]
        assert graduated["amount_details"] == EXPECTED[("graduated", None, "{}")][5]
        assert graduated["precise_unit_amount"] == "9.583333333333333"
        seats = fees[("seats", None, "{}")]
        assert (seats["precise_amount"], seats["units"], seats["precise_unit_amount"]) == (
            63.00006,
            "3.0",
            "21.00002",
        )
        us = fees[("filtered", "US", "{}")]
        assert us["item"]["filters"] == {"region": ["us"]} and us["amount_cents"] == 600
        assert fees[("grouped", None, "{'tier': 'a'}")]["item"]["grouped_by"] == {"tier": "a"}
        parsed = prepare_object_response(InvoiceResponse, body)
        assert len(parsed.fees.__root__) == len(EXPECTED) + 1


class TestWindow:
    def test_explicit_window_prices_only_its_events(self, app: FastAPI, invoice: dict[str, Any]) -> None:
        with app.state.sessionmaker() as session:
            subscription = session.scalars(
                select(Subscription).where(Subscription.external_id == "sub_1")
            ).one()
            plan = session.get(Plan, subscription.plan_id)
            assert plan is not None
            graphs = [
                g
                for g in plan_repository.load_charges(session, plan_repository.charges_of(session, plan))
                if g.charge.code == "standard"
            ]
            period = charges_window(
                subscription,
                plan_interval="monthly",
                bill_charges_monthly=None,
                timezone="UTC",
                at=at("2024-01-10"),
            )
            # The first half of January only: events of the 2nd, 3rd and 4th.
            half = type(period)(period.period, at("2024-01-01"), at("2024-01-04"))
            [priced] = window_fees(
                session,
                subscription=subscription,
                charges=graphs,
                window=half,
                timezone="UTC",
                currency="USD",
            )
            [fee] = priced.fees
            # Events of the 2nd (3) and 3rd (5): 8 x 0.0125 = 0.1
            assert (fee.units, fee.events_count, fee.amount, fee.amount_cents, fee.precise_amount_cents) == (
                Decimal(8),
                2,
                Decimal("0.1000"),
                10,
                Decimal("10.0000"),
            )


class TestRounding:
    @pytest.mark.parametrize(
        ("currency", "amount", "cents", "precise"),
        [
            ("USD", "0.125", 13, "12.5"),
            ("USD", "0.124999", 12, "12.4999"),
            ("JPY", "12.5", 13, "12.5"),
            ("KWD", "1.0005", 1001, "1000.5"),
        ],
    )
    def test_half_up_to_the_currency_exponent(
        self, currency: str, amount: str, cents: int, precise: str
    ) -> None:
        from billow.fees.window import FeeUsage, window_fee
        from billow.kit.money import to_minor_units

        usage = FeeUsage(
            filter=None,
            grouped_by={},
            units=Decimal(1),
            total_aggregated_units=Decimal(1),
            events_count=1,
            amount_cents=to_minor_units(Decimal(amount), currency),
            amount=Decimal(amount),
            unit_amount=Decimal(amount),
        )
        fee = window_fee(usage, currency)
        assert (fee.amount_cents, fee.precise_amount_cents, fee.amount) == (
            cents,
            Decimal(precise),
            Decimal(amount),
        )

    def test_batch_equals_one_by_one(self, app: FastAPI, invoice: dict[str, Any]) -> None:
        from billow.fees.window import window_fees_many

        with app.state.sessionmaker() as session:
            subscriptions = list(session.scalars(select(Subscription).order_by(Subscription.external_id)))
            plan = session.get(Plan, subscriptions[0].plan_id)
            assert plan is not None
            graphs = plan_repository.load_charges(session, plan_repository.charges_of(session, plan))
            window = charges_window(
                subscriptions[0],
                plan_interval="monthly",
                bill_charges_monthly=None,
                timezone="UTC",
                at=at("2024-01-10"),
            )
            batch = window_fees_many(
                session,
                subscriptions=subscriptions,
                charges=graphs,
                window=window,
                timezone="UTC",
                currency="USD",
            )
            for subscription in subscriptions:
                alone = window_fees(
                    session,
                    subscription=subscription,
                    charges=graphs,
                    window=window,
                    timezone="UTC",
                    currency="USD",
                )
                assert batch[subscription.id] == alone
                assert (
                    sum(fee.amount_cents for c in alone for fee in c.fees)
                    == invoice["fees_amount_cents"] - 1000
                )
