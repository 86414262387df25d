"""Events in, priced usage out: every aggregation type and charge model through ``lago-python-client``.

The subscription is backdated to January 1st of the current year on a calendar-yearly plan, and
events carry explicit timestamps in January, so the expected amounts below are exact and
hand-computed whatever day the test runs (except during the first hours of a year).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from lago_python_client.client import Client
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import (
    BillableMetric,
    BillableMetricFilter,
    Charge,
    Customer,
    Plan,
    Subscription,
    Tax,
)
from lago_python_client.models.billable_metric import BillableMetricFilters
from lago_python_client.models.charge import ChargeFilter, ChargeFilters, Charges
from lago_python_client.models.event import BatchEvent, Event

pytestmark = pytest.mark.e2e

YEAR_START = datetime(datetime.now(UTC).year, 1, 1, tzinfo=UTC)


def ts(hours: float) -> int:
    return int((YEAR_START + timedelta(hours=hours)).timestamp())


def metric(
    lago: Client, code: str, aggregation_type: str, field_name: str | None = None, **extra: object
) -> str:
    created = lago.billable_metrics.create(
        BillableMetric(
            name=code, code=code, aggregation_type=aggregation_type, field_name=field_name, **extra
        )
    )
    return created.lago_id


@pytest.fixture
def priced(lago: Client, suffix: str) -> dict[str, str]:
    """A plan with one charge per charge model over every aggregation type; returns the metric codes."""
    m = {name: f"{name}_{suffix}" for name in ("calls", "gb", "peak", "users", "seats", "conc", "pay")}
    ids = {
        "calls": metric(
            lago,
            m["calls"],
            "count_agg",
            filters=BillableMetricFilters(__root__=[BillableMetricFilter(key="region", values=["us", "eu"])]),
        ),
        "gb": metric(lago, m["gb"], "sum_agg", "gb"),
        "peak": metric(lago, m["peak"], "max_agg", "v"),
        "users": metric(lago, m["users"], "unique_count_agg", "user"),
        "seats": metric(lago, m["seats"], "latest_agg", "n"),
        "conc": metric(lago, m["conc"], "weighted_sum_agg", "n", weighted_interval="seconds"),
        "pay": metric(lago, m["pay"], "sum_agg", "amount"),
    }
    tax = lago.taxes.create(Tax(name="VAT", code=f"vat_{suffix}", rate=20.0))
    charges = [
        Charge(
            code="calls",
            billable_metric_id=ids["calls"],
            charge_model="standard",
            properties={"amount": "0.05"},
            filters=ChargeFilters(
                __root__=[
                    ChargeFilter(
                        invoice_display_name="EU", properties={"amount": "0.10"}, values={"region": ["eu"]}
                    )
                ]
            ),
        ),
        Charge(
            code="gb",
            billable_metric_id=ids["gb"],
            charge_model="graduated",
            properties={
                "graduated_ranges": [
                    {"from_value": 0, "to_value": 10, "per_unit_amount": "1", "flat_amount": "0"},
                    {"from_value": 11, "to_value": None, "per_unit_amount": "0.5", "flat_amount": "2"},
                ]
            },
        ),
        Charge(
            code="peak",
            billable_metric_id=ids["peak"],
            charge_model="volume",
            properties={
                "volume_ranges": [
                    {"from_value": 0, "to_value": 100, "per_unit_amount": "2", "flat_amount": "10"},
                    {"from_value": 101, "to_value": None, "per_unit_amount": "1", "flat_amount": "0"},
                ]
            },
        ),
        Charge(
            code="users",
            billable_metric_id=ids["users"],
            charge_model="package",
            properties={"amount": "10", "package_size": 2, "free_units": 1},
        ),
        Charge(
            code="seats", billable_metric_id=ids["seats"], charge_model="standard", properties={"amount": "3"}
        ),
        Charge(
            code="conc", billable_metric_id=ids["conc"], charge_model="standard", properties={"amount": "1"}
        ),
        Charge(
            code="pct",
            billable_metric_id=ids["pay"],
            charge_model="percentage",
            properties={"rate": "2", "fixed_amount": "0.1", "free_units_per_events": 1},
        ),
        Charge(
            code="gpct",
            billable_metric_id=ids["pay"],
            charge_model="graduated_percentage",
            properties={
                "graduated_percentage_ranges": [
                    {"from_value": 0, "to_value": 100, "rate": "1", "flat_amount": "1"},
                    {"from_value": 101, "to_value": None, "rate": "2", "flat_amount": "0"},
                ]
            },
        ),
        Charge(code="dyn", billable_metric_id=ids["pay"], charge_model="dynamic"),
    ]
    lago.plans.create(
        Plan(
            name="All",
            code=f"all_{suffix}",
            interval="yearly",
            amount_cents=0,
            amount_currency="USD",
            tax_codes=[tax.code],
            charges=Charges(__root__=charges),
        )
    )
    lago.customers.create(Customer(external_id=f"cus_{suffix}", timezone="UTC"))
    lago.subscriptions.create(
        Subscription(
            external_customer_id=f"cus_{suffix}",
            plan_code=f"all_{suffix}",
            external_id=f"sub_{suffix}",
            subscription_at=YEAR_START.isoformat(),
        )
    )
    return m


def send(lago: Client, sub: str, code: str, rows: list[tuple[float, dict]], **extra: str) -> None:
    events = [
        Event(
            transaction_id=f"{code}-{i}",
            external_subscription_id=sub,
            code=code,
            timestamp=ts(hours),
            properties=props,
            **({} if i else extra),
        )
        for i, (hours, props) in enumerate(rows)
    ]
    lago.events.batch_create(BatchEvent(events=events))


def test_every_aggregation_and_charge_model(lago: Client, priced: dict[str, str], suffix: str) -> None:
    sub = f"sub_{suffix}"
    send(
        lago,
        sub,
        priced["calls"],
        [
            (1, {"region": "eu"}),
            (2, {"region": "eu"}),
            (3, {"region": "eu"}),
            (4, {"region": "us"}),
            (5, {"region": "us"}),
            (6, {}),
            (7, {"region": "mars"}),
        ],
    )
    send(lago, sub, priced["gb"], [(1, {"gb": 4}), (2, {"gb": "8.5"}), (3, {"gb": "abc"})])
    send(lago, sub, priced["peak"], [(1, {"v": 30}), (2, {"v": 120}), (3, {"v": 50})])
    send(
        lago,
        sub,
        priced["users"],
        [
            (1, {"user": "a"}),
            (2, {"user": "b"}),
            (3, {"user": "c"}),
            (4, {"user": "a"}),
            (5, {"user": "d"}),
            (6, {"user": "d", "operation_type": "remove"}),
        ],
    )
    send(lago, sub, priced["seats"], [(1, {"n": 5}), (2, {"n": 2})])
    send(lago, sub, priced["conc"], [(0, {"n": 10})])
    lago.events.batch_create(
        BatchEvent(
            events=[
                Event(
                    transaction_id="p0",
                    external_subscription_id=sub,
                    code=priced["pay"],
                    timestamp=ts(1),
                    properties={"amount": 100},
                    precise_total_amount_cents="1000.5",
                ),
                Event(
                    transaction_id="p1",
                    external_subscription_id=sub,
                    code=priced["pay"],
                    timestamp=ts(2),
                    properties={"amount": 50},
                    precise_total_amount_cents="200",
                ),
                Event(
                    transaction_id="p2",
                    external_subscription_id=sub,
                    code=priced["pay"],
                    timestamp=ts(3),
                    properties={"amount": 25},
                ),
            ]
        )
    )

    usage = lago.customers.current_usage(f"cus_{suffix}", sub)
    by_code = {u.charge.lago_id: u for u in usage.charges_usage}
    plan = lago.plans.find(f"all_{suffix}")
    charge_ids = {c.code: c.lago_id for c in plan.charges.__root__}
    amounts = {code: by_code[charge_ids[code]].amount_cents for code in charge_ids}
    expected = {
        "calls": 50,  # default bucket 4 * 0.05 (us, us, none, mars) + EU filter 3 * 0.10
        "gb": 1325,  # 12.5 GB ("abc" skipped): 10 * 1 + (12.5 - 11 + 1) * 0.5 + 2
        "peak": 12000,  # max 120, second volume tier: 120 * 1
        "users": 1000,  # a, b, c active (d removed): 3 - 1 free = 2 → one package of 2 * 10
        "seats": 600,  # latest value 2 * 3
        "conc": 1000,  # 10 held for the whole period → weighted 10 * 1
        "pct": 170,  # 175 - 100 free * 2 % + 2 paid events * 0.10
        "gpct": 350,  # 100 * 1 % + 1 flat, then (175 - 101 + 1) * 2 %
        "dyn": 1201,  # (1000.5 + 200) cents = 12.005 → 12.01
    }
    assert amounts == expected
    calls = by_code[charge_ids["calls"]]
    assert (calls.units, calls.events_count) == ("7.0", 7)
    assert [(f.invoice_display_name, f.units, f.amount_cents) for f in calls.filters if f.values] == [
        ("EU", "3.0", 30)
    ]
    assert by_code[charge_ids["gb"]].units == "12.5"
    assert by_code[charge_ids["users"]].units == "3.0"

    total = sum(expected.values())
    taxes = int((Decimal(total) * Decimal("0.2")).quantize(Decimal(1), ROUND_HALF_UP))
    assert (usage.amount_cents, usage.taxes_amount_cents, usage.total_amount_cents) == (
        total,
        taxes,
        total + taxes,
    )
    assert usage.currency == "USD"
    assert usage.from_datetime.startswith(f"{YEAR_START.year}-01-01T00:00:00")
    assert usage.to_datetime.startswith(f"{YEAR_START.year}-12-31T23:59:59")

    untaxed = lago.customers.current_usage(f"cus_{suffix}", sub, apply_taxes="false")
    assert (untaxed.taxes_amount_cents, untaxed.total_amount_cents) == (0, total)


def test_concurrent_duplicates_counted_once(lago: Client, priced: dict[str, str], suffix: str) -> None:
    sub = f"sub_{suffix}"
    batch = BatchEvent(
        events=[
            Event(
                transaction_id=f"dup-{i}",
                external_subscription_id=sub,
                code=priced["calls"],
                timestamp=ts(1),
                properties={"region": "us"},
            )
            for i in range(50)
        ]
    )

    def post() -> int:
        try:
            lago.events.batch_create(batch)
            return 200
        except LagoApiError as error:
            return error.status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda _: post(), range(16)))
    assert statuses.count(200) == 1 and statuses.count(422) == 15
    usage = lago.customers.current_usage(f"cus_{suffix}", sub)
    calls = next(u for u in usage.charges_usage if u.billable_metric.code == priced["calls"])
    assert calls.events_count == 50


def test_no_active_subscription(lago: Client, suffix: str) -> None:
    lago.customers.create(Customer(external_id=f"lonely_{suffix}"))
    with pytest.raises(LagoApiError) as error:
        lago.customers.current_usage(f"lonely_{suffix}", "nope")
    assert (error.value.status_code, error.value.response["code"]) == (405, "no_active_subscription")


def test_single_event_round_trip(lago: Client, priced: dict[str, str], suffix: str) -> None:
    sub = f"sub_{suffix}"
    created = lago.events.create(
        Event(
            transaction_id="one",
            external_subscription_id=sub,
            code=priced["gb"],
            timestamp=ts(5),
            properties={"gb": "1.5"},
        )
    )
    assert created.transaction_id == "one"
    found = lago.events.find("one")
    assert (found.code, found.properties, found.external_subscription_id) == (
        priced["gb"],
        {"gb": "1.5"},
        sub,
    )
    assert found.timestamp.startswith(f"{YEAR_START.year}-01-01T05:00:00")
    with pytest.raises(LagoApiError) as error:
        lago.events.create(Event(transaction_id="one", external_subscription_id=sub, code=priced["gb"]))
    assert error.value.response["error_details"] == {"transaction_id": ["value_already_exist"]}
    usage = lago.customers.current_usage(f"cus_{suffix}", sub)
    assert next(u for u in usage.charges_usage if u.billable_metric.code == priced["gb"]).units == "1.5"
