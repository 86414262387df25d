"""``GET /analytics/*``: exact Lago bodies, filters, empty answers and tenancy (two organizations)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from billow.analytics import service
from tests.analytics.world import World
from tests.conftest import Api
from tests.fixtures.factories import at


@pytest.fixture(autouse=True)
def frozen_today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "today", lambda: date(2024, 3, 15))


def rows(api: Api, route: str, key: str, **params: object) -> list[dict]:
    response = api.get(f"/analytics/{route}", params=params)
    assert response.status_code == 200, response.text
    assert list(response.json()) == [key]
    return response.json()[key]  # type: ignore[no-any-return]


@pytest.fixture
def invoices(api: Api, other_api: Api) -> dict[str, str]:
    world = World(api)
    ids = {
        "a": world.invoice("2024-01-10", 10000, payment_status="pending"),
        "b": world.invoice("2024-01-20", 2500, customer="cus_2", payment_status="succeeded"),
        "c": world.invoice("2024-02-05", 7000, payment_status="failed"),
        "d": world.invoice("2024-02-06", 3000, currency="USD", payment_status="succeeded"),
        "draft": world.invoice("2024-02-07", 9999, status="draft"),
        "voided": world.invoice("2024-01-11", 8888, status="voided"),
    }
    World(other_api).invoice("2024-01-10", 50000)
    return ids


def month(label: str) -> str:
    return f"{label}-01T00:00:00.000Z"


class TestGrossRevenue:
    def test_finalized_invoices_per_month_and_currency(self, api: Api, invoices: dict[str, str]) -> None:
        # January EUR: 10000 + 2500 = 12500 (the voided one and the other organization's are left out)
        assert rows(api, "gross_revenue", "gross_revenues") == [
            {"month": month("2024-01"), "amount_cents": 12500, "currency": "EUR", "invoices_count": 2},
            {"month": month("2024-02"), "amount_cents": 7000, "currency": "EUR", "invoices_count": 1},
            {"month": month("2024-02"), "amount_cents": 3000, "currency": "USD", "invoices_count": 1},
        ]

    def test_filters(self, api: Api, invoices: dict[str, str]) -> None:
        assert rows(api, "gross_revenue", "gross_revenues", currency="USD") == [
            {"month": month("2024-02"), "amount_cents": 3000, "currency": "USD", "invoices_count": 1},
        ]
        assert rows(api, "gross_revenue", "gross_revenues", external_customer_id="cus_2") == [
            {"month": month("2024-01"), "amount_cents": 2500, "currency": "EUR", "invoices_count": 1},
        ]
        assert rows(api, "gross_revenue", "gross_revenues", external_customer_id="unknown") == []
        # months=2 on 2024-03-15: March and February
        assert [r["month"] for r in rows(api, "gross_revenue", "gross_revenues", months=2)] == [
            month("2024-02")
        ] * 2
        assert rows(api, "gross_revenue", "gross_revenues", months=1) == []

    def test_other_organization_sees_only_its_own(self, other_api: Api, invoices: dict[str, str]) -> None:
        assert rows(other_api, "gross_revenue", "gross_revenues") == [
            {"month": month("2024-01"), "amount_cents": 50000, "currency": "EUR", "invoices_count": 1},
        ]

    def test_empty(self, api: Api) -> None:
        assert rows(api, "gross_revenue", "gross_revenues") == []

    def test_bad_currency_and_months(self, api: Api) -> None:
        response = api.get("/analytics/gross_revenue", params={"currency": "XYZ"})
        assert response.status_code == 422
        assert response.json() == {
            "status": 422,
            "error": "Unprocessable Entity",
            "code": "validation_errors",
            "error_details": {"currency": ["value_is_invalid"]},
        }
        for months in ("0", "abc", "-3"):
            response = api.get("/analytics/mrr", params={"months": months})
            assert response.status_code == 422, response.text
            assert response.json()["code"] == "validation_errors"


class TestInvoiceCollection:
    def test_per_payment_status(self, api: Api, other_api: Api, invoices: dict[str, str]) -> None:
        def row(label: str, status: str, count: int, cents: int, currency: str = "EUR") -> dict:
            return {
                "month": month(label),
                "payment_status": status,
                "invoices_count": count,
                "amount_cents": cents,
                "currency": currency,
            }

        assert rows(api, "invoice_collection", "invoice_collections") == [
            row("2024-01", "pending", 1, 10000),
            row("2024-01", "succeeded", 1, 2500),
            row("2024-02", "failed", 1, 7000),
            row("2024-02", "succeeded", 1, 3000, "USD"),
        ]
        assert rows(api, "invoice_collection", "invoice_collections", currency="USD", months=3) == [
            row("2024-02", "succeeded", 1, 3000, "USD"),
        ]
        assert rows(other_api, "invoice_collection", "invoice_collections") == [
            row("2024-01", "pending", 1, 50000),
        ]


class TestInvoicedUsage:
    def test_charge_fees_per_metric(self, api: Api, other_api: Api, invoices: dict[str, str]) -> None:
        world = World(api)
        calls, storage = world.metric_charge("api_calls"), world.metric_charge("storage")
        world.fee(invoices["a"], "charge", 4000, charge_id=calls)
        world.fee(invoices["a"], "charge", 1000, charge_id=storage)
        world.fee(invoices["a"], "subscription", 5000)  # not usage
        world.fee(invoices["c"], "charge", 2000, charge_id=calls)
        world.fee(invoices["c"], "charge", 500, charge_id=calls)
        world.fee(invoices["draft"], "charge", 9999, charge_id=calls)  # not invoiced yet
        assert rows(api, "invoiced_usage", "invoiced_usages") == [
            {"month": month("2024-01"), "code": "api_calls", "amount_cents": 4000, "currency": "EUR"},
            {"month": month("2024-01"), "code": "storage", "amount_cents": 1000, "currency": "EUR"},
            # 2000 + 500
            {"month": month("2024-02"), "code": "api_calls", "amount_cents": 2500, "currency": "EUR"},
        ]
        assert rows(api, "invoiced_usage", "invoiced_usages", currency="USD") == []
        assert rows(other_api, "invoiced_usage", "invoiced_usages") == []


class TestOverdueBalance:
    def test_what_overdue_invoices_still_owe(self, api: Api, other_api: Api) -> None:
        world = World(api)
        g = world.invoice(
            "2024-01-10", 8000, due="2024-02-10", payment_overdue=True, total_paid_amount_cents=3000
        )
        h = world.invoice("2024-01-20", 2000, due="2024-02-20", payment_overdue=True, customer="cus_2")
        i = world.invoice("2023-12-05", 1500, due="2024-01-05", payment_overdue=True, currency="USD")
        world.invoice("2024-01-10", 7777, due="2024-02-10")  # not overdue
        World(other_api).invoice("2024-01-10", 100, due="2024-02-10", payment_overdue=True)
        # February EUR: (8000 - 3000) + 2000 = 7000
        assert rows(api, "overdue_balance", "overdue_balances") == [
            {"month": month("2024-01"), "amount_cents": 1500, "currency": "USD", "lago_invoice_ids": [i]},
            {"month": month("2024-02"), "amount_cents": 7000, "currency": "EUR", "lago_invoice_ids": [g, h]},
        ]
        assert rows(api, "overdue_balance", "overdue_balances", external_customer_id="cus_2") == [
            {"month": month("2024-02"), "amount_cents": 2000, "currency": "EUR", "lago_invoice_ids": [h]},
        ]
        assert rows(api, "overdue_balance", "overdue_balances", currency="USD", months=2) == []
        assert len(rows(other_api, "overdue_balance", "overdue_balances")) == 1


class TestMrr:
    @pytest.fixture
    def subscriptions(self, api: Api, other_api: Api) -> None:
        world = World(api)
        monthly, yearly = world.subscription("monthly", "s_monthly"), world.subscription("yearly", "s_yearly")
        quarterly, weekly = world.subscription("quarterly", "s_q"), world.subscription("weekly", "s_w")
        jan, feb = world.invoice("2024-01-01", 0), world.invoice("2024-02-01", 0)
        world.fee(jan, "subscription", 3000, subscription_id=monthly, from_datetime=at("2023-12-01T00:00:00"))
        world.fee(feb, "subscription", 3000, subscription_id=monthly, from_datetime=at("2024-01-01T00:00:00"))
        # yearly in advance: 12000 - 1200 of coupons = 10800, 900 a month from January 2024
        world.fee(
            jan,
            "subscription",
            12000,
            subscription_id=yearly,
            from_datetime=at("2024-01-01T00:00:00"),
            precise_coupons_amount_cents=Decimal(1200),
        )
        dec_usd = world.invoice("2023-12-01", 0, currency="USD")
        world.fee(
            dec_usd, "subscription", 1000, subscription_id=quarterly, from_datetime=at("2023-12-01T00:00:00")
        )
        for issued, amount in (("2024-02-05", 1000), ("2024-02-12", 1200)):
            invoice = world.invoice(issued, 0)
            world.fee(
                invoice,
                "subscription",
                amount,
                subscription_id=weekly,
                from_datetime=at(issued + "T00:00:00"),
            )
        world.fee(
            world.invoice("2024-02-01", 0, status="draft"), "subscription", 99999, subscription_id=monthly
        )

    def test_normalized_per_month(self, api: Api, other_api: Api, subscriptions: None) -> None:
        assert rows(api, "mrr", "mrrs") == [
            # quarterly 1000 / 3 = 333.33 -> 333 in December, January and February
            {"month": month("2023-12"), "amount_cents": 333, "currency": "USD"},
            # monthly 3000 (issued in January) + yearly 900
            {"month": month("2024-01"), "amount_cents": 3900, "currency": "EUR"},
            {"month": month("2024-01"), "amount_cents": 333, "currency": "USD"},
            # 3000 + 900 + weekly (1000 + 1200) / 2 * 52 / 12 = 4766.67 -> 8666.67 -> 8667
            {"month": month("2024-02"), "amount_cents": 8667, "currency": "EUR"},
            {"month": month("2024-02"), "amount_cents": 333, "currency": "USD"},
            # the yearly fee's 900 until the current month (later months are not shown)
            {"month": month("2024-03"), "amount_cents": 900, "currency": "EUR"},
        ]
        assert rows(other_api, "mrr", "mrrs") == []

    def test_filters(self, api: Api, subscriptions: None) -> None:
        assert rows(api, "mrr", "mrrs", currency="EUR", months=2) == [
            {"month": month("2024-02"), "amount_cents": 8667, "currency": "EUR"},
            {"month": month("2024-03"), "amount_cents": 900, "currency": "EUR"},
        ]

    def test_empty(self, api: Api) -> None:
        assert rows(api, "mrr", "mrrs") == []


class TestUsage:
    @pytest.fixture
    def usage(self, api: Api, other_api: Api, invoices: dict[str, str]) -> None:
        world = World(api)
        calls, storage = world.metric_charge("api_calls"), world.metric_charge("storage")
        monthly = world.subscription("monthly", "sub_a", customer="cus_2")
        world.fee(invoices["a"], "charge", 4000, charge_id=calls, units=Decimal("10.5"))
        world.fee(
            invoices["b"],
            "charge",
            1000,
            charge_id=calls,
            units=Decimal(3),
            customer="cus_2",
            subscription_id=monthly,
        )
        world.fee(invoices["a"], "charge", 700, charge_id=storage, units=Decimal("0.25"))
        world.fee(invoices["c"], "charge", 2000, charge_id=calls, units=Decimal(5))
        world.fee(invoices["draft"], "charge", 9999, charge_id=calls, units=Decimal(99))

    def row(self, api: Api, start: str, end: str, code: str, units: str, cents: int) -> dict:
        return {
            "organization_id": str(api.organization.id),
            "start_of_period_dt": start,
            "end_of_period_dt": end,
            "amount_currency": "EUR",
            "amount_cents": cents,
            "billable_metric_code": code,
            "units": units,
            "is_billable_metric_deleted": False,
        }

    def test_monthly_by_default(self, api: Api, other_api: Api, usage: None) -> None:
        assert rows(api, "usage", "usages") == [
            # a (2024-01-10) and b (2024-01-20): 10.5 + 3 = 13.5 units, 4000 + 1000 cents
            self.row(api, "2024-01-01", "2024-01-31", "api_calls", "13.5", 5000),
            self.row(api, "2024-01-01", "2024-01-31", "storage", "0.25", 700),
            self.row(api, "2024-02-01", "2024-02-29", "api_calls", "5.0", 2000),
        ]
        assert rows(other_api, "usage", "usages") == []

    def test_granularity_and_filters(self, api: Api, usage: None) -> None:
        assert rows(
            api,
            "usage",
            "usages",
            time_granularity="daily",
            billable_metric_code="api_calls",
            to_date="2024-01-31",
        ) == [
            self.row(api, "2024-01-10", "2024-01-10", "api_calls", "10.5", 4000),
            self.row(api, "2024-01-20", "2024-01-20", "api_calls", "3.0", 1000),
        ]
        # 2024-01-10 (a Wednesday): week of Monday 2024-01-08; 2024-01-20 (a Saturday): week of 2024-01-15
        assert rows(
            api,
            "usage",
            "usages",
            time_granularity="weekly",
            billable_metric_code="api_calls",
            from_date="2024-01-01",
            to_date="2024-01-31",
        ) == [
            self.row(api, "2024-01-08", "2024-01-14", "api_calls", "10.5", 4000),
            self.row(api, "2024-01-15", "2024-01-21", "api_calls", "3.0", 1000),
        ]
        expected = [self.row(api, "2024-01-01", "2024-01-31", "api_calls", "3.0", 1000)]
        assert rows(api, "usage", "usages", external_customer_id="cus_2") == expected
        assert rows(api, "usage", "usages", external_subscription_id="sub_a") == expected
        assert rows(api, "usage", "usages", currency="USD") == []
        assert rows(api, "usage", "usages", is_billable_metric_recurring="true") == []
        assert rows(api, "usage", "usages", customer_type="company") == []
        assert rows(api, "usage", "usages", plan_code="nope") == []

    def test_bad_granularity(self, api: Api) -> None:
        response = api.get("/analytics/usage", params={"time_granularity": "yearly"})
        assert response.status_code == 422
        assert response.json()["code"] == "validation_errors"
