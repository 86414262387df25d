"""Prorated aggregation (``prorated: true`` charges on recurring sums and unique counts) and its pricing, on
SQLite and PostgreSQL; every expected value is computed by hand. September 2023 has 30 days: an event on
September 10th counts for 21/30 (the 10th to the 30th, both included)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI
from lago_python_client.models.customer_usage import CustomerUsageResponse
from sqlalchemy.orm import Session

from billow.metering.aggregation import BucketAggregation, aggregate
from billow.metering.filters import ChargeFilterSpec
from billow.metering.proration import Proration, ceil5
from billow.metering.sources import usage_source
from billow.models.billable_metrics import BillableMetric
from billow.models.organizations import Organization
from billow.pricing import Aggregation, price
from billow.subscriptions.calendar import period_containing
from billow.subscriptions.dependencies import request_time
from billow.subscriptions.periods import UsageWindow
from tests.conftest import Api
from tests.fixtures import factories as f

SEP_1 = f.at("2023-09-01T00:00:00")
OCT_1 = f.at("2023-10-01T00:00:00")
D = Decimal


def september(timezone: str = "UTC", start: datetime = SEP_1, end: datetime = OCT_1) -> Proration:
    period = period_containing(
        start, interval="monthly", billing_time="calendar", anchor=start.date(), timezone=timezone
    )
    return Proration.of_window(UsageWindow(period, max(start, period.start), min(end, period.end)), timezone)


@pytest.fixture
def org(session: Session) -> Organization:
    return f.organization(session)


def run(
    session: Session,
    org: Organization,
    metric: BillableMetric,
    events: Sequence[tuple[str, Mapping[str, Any]]] = (),
    *,
    proration: Proration | None = None,
    from_datetime: datetime = SEP_1,
    **options: Any,
) -> list[BucketAggregation]:
    for timestamp, properties in events:
        f.event(session, org, metric.code, timestamp, properties)
    return aggregate(
        session,
        organization_id=org.id,
        external_subscription_id="sub_1",
        metric=metric,
        from_datetime=from_datetime,
        to_datetime=OCT_1,
        period_duration_days=30,
        proration=proration or september(),
        source=usage_source(session),
        **options,
    )


def single(results: list[BucketAggregation]) -> BucketAggregation:
    assert len(results) == 1, results
    return results[0]


def units(result: BucketAggregation) -> tuple[Decimal, Decimal | None, Decimal]:
    """(prorated units, full units, current units)."""
    return result.units, result.full_units, result.current_usage_units


# ----------------------------------------------------------------------------------------------- window


class TestWindow:
    def test_full_month(self) -> None:
        proration = september()
        assert (proration.first_day.day, proration.last_day.day, proration.period_days) == (1, 30, 30)
        assert proration.days_from(proration.day(f.at("2023-09-10T23:00:00"))) == 21
        assert proration.window_days == 30

    def test_started_during_the_period(self) -> None:
        proration = september(start=f.at("2023-09-16T09:00:00"))
        assert (proration.window_days, proration.period_days) == (15, 30)
        assert proration.days_from(proration.day(f.at("2023-08-01T00:00:00"))) == 15

    def test_terminated_during_the_period(self) -> None:
        proration = september(end=f.at("2023-09-20T15:00:00"))
        assert proration.last_day.day == 20  # the termination day counts
        assert proration.days_from(proration.day(f.at("2023-09-10T00:00:00"))) == 11

    def test_customer_time_zone(self) -> None:
        proration = september(
            "America/New_York", start=f.at("2023-09-01T04:00:00"), end=f.at("2023-10-01T04:00:00")
        )
        assert proration.day(f.at("2023-09-10T02:00:00")).day == 9  # 22:00 on the 9th in New York
        assert proration.days_from(proration.day(f.at("2023-09-10T02:00:00"))) == 22

    def test_ceil5(self) -> None:
        assert ceil5(D(29) / D(30)) == D("0.96667")
        assert ceil5(D("2.1")) == D("2.1")
        assert september().units(D(66)) == D("2.2")


# ----------------------------------------------------------------------------------------------- sum_agg


class TestSum:
    def test_event_on_day_10_counts_21_30(self, session: Session, org: Organization) -> None:
        metric = f.metric(session, org, "sum_agg", recurring=True)
        result = single(run(session, org, metric, [("2023-09-10T08:00:00", {"value": 3})]))
        assert units(result) == (D("2.1"), D(3), D(3))
        assert (result.total_aggregated_units, result.events_count) == (D(3), 1)
        assert result.prorated_values == ((D(3), D("2.1")),)

    def test_added_then_removed(self, session: Session, org: Organization) -> None:
        metric = f.metric(session, org, "sum_agg", recurring=True)
        events = [("2023-09-10T00:00:00", {"value": 6}), ("2023-09-20T00:00:00", {"value": -6})]
        # 6 * 21/30 - 6 * 11/30 = 6 * 10/30
        assert units(single(run(session, org, metric, events))) == (D(2), D(0), D(0))

    def test_recurring_value_from_a_previous_period_counts_fully(
        self, session: Session, org: Organization
    ) -> None:
        metric = f.metric(session, org, "sum_agg", recurring=True)
        events = [("2023-07-15T00:00:00", {"value": 2}), ("2023-08-15T00:00:00", {"value": 3})]
        events += [("2023-09-10T00:00:00", {"value": 3})]
        result = single(run(session, org, metric, events))
        assert units(result) == (D("7.1"), D(8), D(8))
        assert result.prorated_values == ((D(5), D(5)), (D(3), D("2.1")))

    def test_carried_value_counts_for_the_window_only(self, session: Session, org: Organization) -> None:
        metric = f.metric(session, org, "sum_agg", recurring=True)
        start = f.at("2023-09-16T09:00:00")
        result = single(
            run(
                session,
                org,
                metric,
                [("2023-08-15T00:00:00", {"value": 3})],
                proration=september(start=start),
                from_datetime=start,
            )
        )
        assert units(result) == (D("1.5"), D(3), D(3))  # 3 * 15/30

    def test_ceiled_to_5_decimals(self, session: Session, org: Organization) -> None:
        metric = f.metric(session, org, "sum_agg", recurring=True)
        result = single(run(session, org, metric, [("2023-09-02T00:00:00", {"value": 1})]))
        assert result.units == D("0.96667")  # 29/30

    def test_metric_rounding(self, session: Session, org: Organization) -> None:
        metric = f.metric(
            session, org, "sum_agg", recurring=True, rounding_function="round", rounding_precision=0
        )
        result = single(run(session, org, metric, [("2023-09-10T00:00:00", {"value": 3})]))
        assert units(result) == (D(2), D(3), D(3))

    def test_negative_total_is_zero(self, session: Session, org: Organization) -> None:
        metric = f.metric(session, org, "sum_agg", recurring=True)
        result = single(run(session, org, metric, [("2023-09-10T00:00:00", {"value": -3})]))
        assert units(result) == (D(0), D(0), D(0))

    def test_time_zone(self, session: Session, org: Organization) -> None:
        metric = f.metric(session, org, "sum_agg", recurring=True)
        start, end = f.at("2023-09-01T04:00:00"), f.at("2023-10-01T04:00:00")
        f.event(session, org, metric.code, "2023-09-10T02:00:00", {"value": 30})
        results = aggregate(
            session,
            organization_id=org.id,
            external_subscription_id="sub_1",
            metric=metric,
            from_datetime=start,
            to_datetime=end,
            proration=september("America/New_York", start=start, end=end),
            source=usage_source(session),
        )
        assert single(results).units == D(22)  # 30 * 22/30: still the 9th in New York

    def test_filters_and_groups(self, session: Session, org: Organization) -> None:
        metric = f.metric(session, org, "sum_agg", recurring=True)
        spec = ChargeFilterSpec(id=uuid.uuid4(), values={"region": ["us"]})
        events = [
            ("2023-09-10T00:00:00", {"value": 3, "region": "us"}),
            ("2023-09-16T00:00:00", {"value": 3, "region": "eu", "team": "a"}),
            ("2023-09-21T00:00:00", {"value": 3, "region": "eu", "team": "b"}),
        ]
        results = run(session, org, metric, events, filters=[spec], pricing_group_keys=["team"])
        assert [(r.filter_id, r.grouped_by, r.units, r.full_units) for r in results] == [
            (spec.id, {}, D("2.1"), D(3)),
            (None, {"team": "a"}, D("1.5"), D(3)),
            (None, {"team": "b"}, D("1"), D(3)),
        ]

    def test_pay_in_advance(self, session: Session, org: Organization) -> None:
        metric = f.metric(session, org, "sum_agg", recurring=True)
        events = [
            ("2023-08-15T00:00:00", {"value": 1}),  # carried: billed in full
            ("2023-09-10T00:00:00", {"value": 4}),  # +4 billed at 21/30: 2.8
            ("2023-09-15T00:00:00", {"value": -4}),
            ("2023-09-20T00:00:00", {"value": 5}),  # 5 is 1 above the highest (4): +1 at 11/30
        ]
        result = single(run(session, org, metric, events, pay_in_advance=True))
        # 1 + 2.8 + 0.36667; the full units billed: 1 + 5; now: 6
        assert units(result) == (D("4.16667"), D(6), D(6))

    def test_other_types_are_not_prorated(self, session: Session, org: Organization) -> None:
        metric = f.metric(session, org, "max_agg")
        result = single(run(session, org, metric, [("2023-09-10T00:00:00", {"value": 3})]))
        assert units(result) == (D(3), None, D(3))


# -------------------------------------------------------------------------------------- unique_count_agg


class TestUniqueCount:
    def run(
        self, session: Session, org: Organization, events: Sequence[tuple[str, str, str]]
    ) -> BucketAggregation:
        metric = f.metric(session, org, "unique_count_agg", recurring=True)
        rows = [(at, {"value": value, "operation_type": op}) for at, value, op in events]
        return single(run(session, org, metric, rows))

    def test_added_on_day_10(self, session: Session, org: Organization) -> None:
        result = self.run(session, org, [("2023-09-10T12:00:00", "a", "add")])
        assert units(result) == (D("0.7"), D(1), D(1))
        assert result.events_count == 0  # Lago: the prorated units, truncated

    def test_added_then_removed(self, session: Session, org: Organization) -> None:
        # active from the 5th to the 14th, both included: 10 days
        events = [("2023-09-05T12:00:00", "c", "add"), ("2023-09-14T12:00:00", "c", "remove")]
        assert units(self.run(session, org, events)) == (D("0.33334"), D(0), D(0))

    def test_from_a_previous_period(self, session: Session, org: Organization) -> None:
        events = [
            ("2023-08-01T00:00:00", "b", "add"),
            ("2023-09-10T00:00:00", "a", "add"),
            ("2023-09-05T00:00:00", "c", "add"),
            ("2023-09-14T00:00:00", "c", "remove"),
            ("2023-07-01T00:00:00", "gone", "add"),
            ("2023-08-20T00:00:00", "gone", "remove"),
        ]
        result = self.run(session, org, events)
        # b: 30/30, a: 21/30, c: 10/30 → 61/30 = 2.0333.. → 2.03334; gone: nothing
        assert units(result) == (D("2.03334"), D(2), D(2))
        assert result.events_count == 2

    def test_removed_and_added_back_the_same_day(self, session: Session, org: Organization) -> None:
        events = [
            ("2023-09-05T00:00:00", "d", "add"),
            ("2023-09-10T10:00:00", "d", "remove"),
            ("2023-09-10T12:00:00", "d", "add"),
        ]
        assert units(self.run(session, org, events)) == (D("0.86667"), D(1), D(1))  # 26 days

    def test_added_and_removed_the_same_day(self, session: Session, org: Organization) -> None:
        events = [("2023-09-10T10:00:00", "e", "add"), ("2023-09-10T12:00:00", "e", "remove")]
        assert units(self.run(session, org, events)) == (D("0.03334"), D(0), D(0))  # 1 day

    def test_removed_during_the_period_from_a_previous_one(self, session: Session, org: Organization) -> None:
        events = [("2023-08-10T00:00:00", "f", "add"), ("2023-09-03T00:00:00", "f", "remove")]
        assert units(self.run(session, org, events)) == (D("0.1"), D(0), D(0))  # the 1st to the 3rd

    def test_per_event_values(self, session: Session, org: Organization) -> None:
        events = [
            ("2023-08-01T00:00:00", "b", "add"),
            ("2023-09-05T00:00:00", "c", "add"),
            ("2023-09-14T00:00:00", "c", "remove"),
        ]
        result = self.run(session, org, events)
        assert result.prorated_values == ((D(1), D(1)), (D(1), D("0.33334")), (D(-1), D(0)))

    def test_pay_in_advance(self, session: Session, org: Organization) -> None:
        metric = f.metric(session, org, "unique_count_agg", recurring=True)
        rows = [
            ("2023-08-01T00:00:00", {"value": "old"}),  # carried: billed in full
            ("2023-09-10T00:00:00", {"value": "a"}),  # +1 at 21/30
            ("2023-09-12T00:00:00", {"value": "a", "operation_type": "remove"}),
            ("2023-09-20T00:00:00", {"value": "b"}),  # back to the highest: nothing more
        ]
        result = single(run(session, org, metric, rows, pay_in_advance=True))
        assert units(result) == (D("1.7"), D(2), D(2))


# -------------------------------------------------------------------------------------------- pricing


class TestPricing:
    def test_standard_unit_amount_is_per_full_unit(self) -> None:
        result = price(
            "standard", {"amount": "10"}, Aggregation(units=D("2.1"), full_units=D(3)), currency="USD"
        )
        assert (result.amount, result.unit_amount) == (D("21.0"), D(7))

    def test_volume_range_of_the_full_units(self) -> None:
        ranges = [
            {"from_value": 0, "to_value": 10, "per_unit_amount": "2", "flat_amount": "1"},
            {"from_value": 11, "to_value": None, "per_unit_amount": "1", "flat_amount": "0"},
        ]
        result = price(
            "volume", {"volume_ranges": ranges}, Aggregation(units=D(6), full_units=D(12)), currency="USD"
        )
        assert result.amount == D(6)  # 6 prorated units at the 11+ price
        assert result.amount_details == {
            "flat_unit_amount": "0.0",
            "per_unit_amount": "0.5",
            "per_unit_total_amount": "6.0",
        }

    # Lago's ProratedGraduatedService spec vectors.
    TWO = [
        {"from_value": 0, "to_value": 5, "per_unit_amount": "10", "flat_amount": "100"},
        {"from_value": 6, "to_value": None, "per_unit_amount": "5", "flat_amount": "50"},
    ]
    THREE = [
        {"from_value": 0, "to_value": 5, "per_unit_amount": "10", "flat_amount": "100"},
        {"from_value": 6, "to_value": 15, "per_unit_amount": "5", "flat_amount": "50"},
        {"from_value": 16, "to_value": None, "per_unit_amount": "2", "flat_amount": "0"},
    ]

    @pytest.mark.parametrize(
        ("ranges", "full", "prorated", "expected"),
        [
            (TWO, [5, 5, 10, -6], ["3.5", "2.66667", "2", "-2.2"], "197.33"),
            (TWO, [2, 5, 10, -6], ["1.4", "2.66667", "2", "-2.2"], "184.33"),
            (TWO, [1, 4, 1, -5, -1], ["0.7097", "1.54839", "0.2258", "-0.80645", "-0.0645"], "165.81"),
            (TWO, [5, -2], ["3.5", "-1"], "125"),
            (TWO, [4, 2, -3], ["2.8", "1", "-0.6"], "180.5"),
            (TWO, [5, 2, -4, 10], ["3.5", "1", "-1.6", "2"], "190"),
            (TWO, [5, -100], ["2", "-33.33"], "0"),
            (TWO, [1], ["0.7"], "107"),
            (THREE, [2, 5, 10, -6, 4, 60], ["1.4", "2.5", "2", "-2.2", "0.667", "2"], "191.34"),
            (THREE, [75], ["75"], "370"),
            (TWO, [], [], "100"),
        ],
    )
    def test_prorated_graduated(
        self, ranges: list[dict[str, Any]], full: list[int], prorated: list[str], expected: str
    ) -> None:
        values = tuple((D(a), D(b)) for a, b in zip(full, prorated, strict=True))
        units = sum((b for _, b in values), D(0))
        aggregation = Aggregation(
            units=units, full_units=sum((a for a, _ in values), D(0)), prorated_values=values
        )
        result = price("graduated", {"graduated_ranges": ranges}, aggregation, currency="USD")
        assert result.amount.quantize(D("0.01"), rounding="ROUND_HALF_UP") == D(expected)
        assert result.amount_details == {}

    def test_prorated_graduated_skips_values_gone_before_the_window(self) -> None:
        # A value added and removed before the window (0 prorated) neither moves the tiers nor their flat
        # amounts: only the current value counts, in the first tier.
        values = ((D(1), D(0)), (D(-1), D(0)), (D(1), D("0.5")))
        ranges = [
            {"from_value": 0, "to_value": 1, "per_unit_amount": "10", "flat_amount": "1"},
            {"from_value": 2, "to_value": None, "per_unit_amount": "1", "flat_amount": "100"},
        ]
        aggregation = Aggregation(units=D("0.5"), full_units=D(1), prorated_values=values)
        assert price("graduated", {"graduated_ranges": ranges}, aggregation, currency="USD").amount == D(6)


# --------------------------------------------------------------------------------- current usage (API)

NOW = datetime(2023, 8, 20, 12, 0, tzinfo=UTC)
GRADUATED = [
    {"from_value": 0, "to_value": 10, "per_unit_amount": "10", "flat_amount": "2"},
    {"from_value": 11, "to_value": None, "per_unit_amount": "5", "flat_amount": "3"},
]
VOLUME = [
    {"from_value": 0, "to_value": 100, "per_unit_amount": "2", "flat_amount": "10"},
    {"from_value": 101, "to_value": None, "per_unit_amount": "1", "flat_amount": "0"},
]


class Usage:
    """Customer ``cus_1``, subscription ``sub_1`` (calendar monthly since 2023-01-01), seen on 2023-08-20:
    August has 31 days."""

    def __init__(self, app: FastAPI, api: Api) -> None:
        self.app = app
        self.api = api
        self.org = api.organization
        app.dependency_overrides[request_time] = lambda: NOW
        with app.state.sessionmaker.begin() as session:
            customer = f.customer(session, self.org, "cus_1")
            self.plan = f.plan(session, self.org, code="starter")
            f.subscription(session, self.org, customer, self.plan, "sub_1")

    def charge(self, model: str, properties: dict[str, Any], **kw: Any) -> BillableMetric:
        with self.app.state.sessionmaker.begin() as session:
            metric = f.metric(session, self.org, "sum_agg", code="seats", recurring=True)
            f.charge(session, self.org, self.plan, metric, model, properties, prorated=True, **kw)
        return metric

    def events(self, *rows: tuple[str, int]) -> None:
        with self.app.state.sessionmaker.begin() as session:
            for at, value in rows:
                f.event(session, self.org, "seats", at, {"value": value})

    def charge_usage(self) -> dict[str, Any]:
        response = self.api.get(
            "/customers/cus_1/current_usage", params={"external_subscription_id": "sub_1"}
        )
        assert response.status_code == 200, response.text
        CustomerUsageResponse.parse_obj(response.json()["customer_usage"])
        [charge] = response.json()["customer_usage"]["charges_usage"]
        return charge  # type: ignore[no-any-return]


@pytest.fixture
def usage(app: FastAPI, api: Api) -> Iterator[Usage]:
    yield Usage(app, api)
    app.dependency_overrides.pop(request_time, None)


@pytest.mark.parametrize(
    ("model", "properties", "amount_cents"),
    [
        # 5 carried + 3 * 22/31 (the 10th to the 31st) = 7.12904 units (ceiled)
        ("standard", {"amount": "10"}, 7129),
        # the range of the 8 full units: 7.12904 * 2 + 10
        ("volume", {"volume_ranges": VOLUME}, 2426),
        # all in the first tier: 5 * 10 + 3 * 22/31 * 10 + 2
        ("graduated", {"graduated_ranges": GRADUATED}, 7329),
    ],
)
def test_current_usage(usage: Usage, model: str, properties: dict[str, Any], amount_cents: int) -> None:
    usage.charge(model, properties)
    usage.events(("2023-07-15T00:00:00", 5), ("2023-08-10T09:00:00", 3))
    charge = usage.charge_usage()
    assert (charge["units"], charge["total_aggregated_units"], charge["events_count"]) == ("8.0", "8.0", 2)
    assert charge["amount_cents"] == amount_cents


def test_current_usage_prorated_graduated_across_tiers(usage: Usage) -> None:
    usage.charge("graduated", {"graduated_ranges": GRADUATED})
    usage.events(("2023-07-15T00:00:00", 5), ("2023-08-10T09:00:00", 3), ("2023-08-18T00:00:00", 6))
    charge = usage.charge_usage()
    # 5 * 10 + 3 * 22/31 * 10 + (2 * 10 + 4 * 5) * 14/31 + 2 + 3 = 55 + 1220/31 = 94.35484
    assert (charge["units"], charge["amount_cents"]) == ("14.0", 9435)


def test_current_usage_prorated_pay_in_advance(usage: Usage) -> None:
    usage.charge("standard", {"amount": "10"}, pay_in_advance=True)
    usage.events(("2023-08-10T00:00:00", 4), ("2023-08-12T00:00:00", -4), ("2023-08-15T00:00:00", 2))
    charge = usage.charge_usage()
    # billed: 4 * 22/31 = 2.83871 (ceiled); the later +2 stays under the highest total
    assert (charge["units"], charge["amount_cents"]) == ("2.0", 2839)
