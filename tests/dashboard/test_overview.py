"""The overview (``/app/``): exact cards, charts' tables, the currency selector, the welcome without
``analytics:view``, and tenancy. Invoices are written as ``tests/analytics`` does; today is 2024-03-15."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from decimal import Decimal

import pytest

from billow.analytics import service
from tests.analytics.world import World
from tests.conftest import Api
from tests.fixtures.factories import at
from tests.fixtures.pages import Pages

PagesAs = Callable[..., Pages]


@pytest.fixture(autouse=True)
def frozen_today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "today", lambda: date(2024, 3, 15))


@pytest.fixture
def world(api: Api, other_api: Api) -> World:
    for each in (api, other_api):
        body = {"organization": {"default_currency": "EUR"}}
        assert each.put("/organizations", body).status_code == 200
    world = World(api)
    world.invoice("2024-01-10", 10000, payment_status="pending")
    world.invoice("2024-01-20", 2500, customer="cus_2", payment_status="succeeded")
    world.invoice("2024-02-05", 7000, payment_status="failed")
    world.invoice("2024-02-06", 3000, currency="USD", payment_status="succeeded")
    world.invoice("2024-03-02", 9999, status="draft")  # not invoiced yet
    # Overdue since February: 8000 - 3000 paid = 5000 still owed
    world.invoice("2024-01-12", 8000, due="2024-02-10", payment_overdue=True, total_paid_amount_cents=3000)
    march = world.invoice("2024-03-01", 4000, payment_status="succeeded")
    monthly = world.subscription("monthly", "sub_1")
    world.fee(march, "subscription", 3000, subscription_id=monthly, from_datetime=at("2024-03-01T00:00:00"))
    world.fee(march, "charge", 1000, charge_id=world.metric_charge("api_calls"))
    World(other_api).invoice("2024-03-01", 50000, payment_status="succeeded")
    return world


def card(page: str, card_id: str) -> str:
    found = re.search(
        rf'id="{card_id}"><div class="muted">[^<]*</div><div class="figure">([^<]*)</div>', page
    )
    assert found, card_id
    return found.group(1)


def table(page: str, key: str) -> dict[str, str]:
    found = re.search(rf'<table id="table-{key}">(.*?)</table>', page, re.S)
    assert found, key
    rows = re.findall(r'<th scope="row">([^<]*)</th><td class="num">([^<]*)</td>', found.group(1))
    return dict(rows)


class TestOverview:
    def test_cards_in_the_default_currency(self, world: World, pages_as: PagesAs) -> None:
        page = pages_as("viewer").get("/app/")
        assert page.status_code == 200
        assert card(page.text, "card-mrr") == "30.00 EUR"  # the March subscription fee, monthly
        assert card(page.text, "card-gross") == "40.00 EUR"  # March's one finalized invoice (not the draft)
        assert card(page.text, "card-collected") == "40.00 EUR"  # ... paid
        assert card(page.text, "card-overdue") == "50.00 EUR"  # 8000 - 3000
        assert '<option value="EUR" selected>EUR</option>' in page.text
        assert '<option value="USD">USD</option>' in page.text

    def test_tables_have_every_month_of_the_window(self, world: World, pages_as: PagesAs) -> None:
        page = pages_as("admin").get("/app/").text
        gross = table(page, "gross")
        assert list(gross) == [f"2023-{m:02d}" for m in range(4, 13)] + ["2024-01", "2024-02", "2024-03"]
        # January: 10000 + 2500 + 8000 = 20500; February: 7000 (the USD one is in USD)
        assert (gross["2024-01"], gross["2024-02"], gross["2024-03"]) == (
            "205.00 EUR",
            "70.00 EUR",
            "40.00 EUR",
        )
        assert gross["2023-12"] == "0.00 EUR"
        collected = table(page, "collected")
        assert (collected["2024-01"], collected["2024-02"], collected["2024-03"]) == (
            "25.00 EUR",
            "0.00 EUR",
            "40.00 EUR",
        )
        assert table(page, "usage")["2024-03"] == "10.00 EUR"
        assert table(page, "overdue")["2024-02"] == "50.00 EUR"
        assert table(page, "mrr")["2024-03"] == "30.00 EUR"
        # the charts' scale is in currency units: January's 205.00 EUR tops an axis of 250
        assert '<desc id="chart-gross-desc">' in page
        assert ">250</text>" in page
        for key in ("mrr", "gross", "collected", "usage", "overdue"):
            assert f'aria-labelledby="chart-{key}-title chart-{key}-desc"' in page
        assert page.count("<h1>") == 1

    def test_currency_selector(self, world: World, pages_as: PagesAs) -> None:
        page = pages_as("admin").get("/app/", params={"currency": "USD"}).text
        assert table(page, "gross")["2024-02"] == "30.00 USD"
        assert card(page, "card-gross") == "0.00 USD"
        assert '<option value="USD" selected>USD</option>' in page
        unknown = pages_as("admin").get("/app/", params={"currency": "XYZ"}).text
        assert '<option value="EUR" selected>EUR</option>' in unknown  # falls back to the default

    def test_the_default_is_the_currency_with_the_most_finalized_invoices(
        self, world: World, api: Api, pages_as: PagesAs
    ) -> None:
        # EUR has 5 finalized invoices (and a draft), USD 1; 4 more USD: a tie goes to the default, EUR
        for day in range(1, 5):
            world.invoice(f"2024-03-{day:02d}", 100, currency="USD")
        for day in range(1, 4):
            world.invoice(f"2024-03-{day:02d}", 100, currency="USD", status="draft")  # drafts don't count
        page = pages_as("admin").get("/app/").text
        assert '<option value="EUR" selected>EUR</option>' in page
        world.invoice("2024-03-06", 100, currency="USD")  # 6 finalized USD invoices against 5
        page = pages_as("admin").get("/app/").text
        assert '<option value="USD" selected>USD</option>' in page
        assert card(page, "card-gross") == "5.00 USD"  # March: 5 x 1.00 USD
        chosen = pages_as("admin").get("/app/", params={"currency": "EUR"}).text
        assert '<option value="EUR" selected>EUR</option>' in chosen

    def test_without_invoices_the_default_currency(self, api: Api, pages_as: PagesAs) -> None:
        body = {"organization": {"default_currency": "CHF"}}
        assert api.put("/organizations", body).status_code == 200
        page = pages_as("admin").get("/app/").text
        assert '<option value="CHF" selected>CHF</option>' in page
        assert card(page, "card-gross") == "0.00 CHF"

    def test_usage_per_metric(self, world: World, other_api: Api, pages_as: PagesAs) -> None:
        calls = world.metric_charge("calls")
        storage = world.metric_charge("storage")
        january = world.invoice("2024-01-25", 1750)
        world.fee(january, "charge", 500, charge_id=calls, units=Decimal("100"))
        world.fee(january, "charge", 1250, charge_id=storage, units=Decimal("12.5"))
        march = world.invoice("2024-03-03", 700)
        world.fee(march, "charge", 300, charge_id=calls, units=Decimal("60"))
        world.fee(march, "charge", 400, charge_id=calls, units=Decimal("40"))
        world.fee(march, "subscription", 9000)  # not usage
        draft = world.invoice("2024-03-04", 900, status="draft")
        world.fee(draft, "charge", 900, charge_id=calls, units=Decimal("90"))  # not finalized
        old = world.invoice("2023-03-31", 800)  # before the 12 months shown
        world.fee(old, "charge", 800, charge_id=calls, units=Decimal("80"))
        dollars = world.invoice("2024-03-05", 600, currency="USD")
        world.fee(dollars, "charge", 600, charge_id=calls, units=Decimal("6"))
        page = pages_as("viewer").get("/app/").text
        found = re.search(r'<table id="table-metric-usage">(.*?)</table>', page, re.S)
        assert found
        rows = re.findall(
            r'<tr><th scope="row">([^<]*)</th><td>([^<]*)</td><td class="num">([^<]*)</td>'
            r'<td class="num">([^<]*)</td></tr>',
            found.group(1),
        )
        assert rows == [
            ("2024-01", "calls", "100.0", "5.00 EUR"),
            ("2024-01", "storage", "12.5", "12.50 EUR"),
            ("2024-03", "api_calls", "0.0", "10.00 EUR"),  # the world's March charge fee
            ("2024-03", "calls", "100.0", "7.00 EUR"),
        ]
        total = r'<th scope="row" colspan="3">Total ([^<]*)</th><td class="num">([^<]*)</td>'
        totals = re.findall(total, page)
        assert totals == [("api_calls", "10.00 EUR"), ("calls", "12.00 EUR"), ("storage", "12.50 EUR")]
        assert 'aria-labelledby="chart-metric-usage-title chart-metric-usage-desc"' in page
        usd = pages_as("viewer").get("/app/", params={"currency": "USD"}).text
        assert '<th scope="row">2024-03</th><td>calls</td><td class="num">6.0</td>' in usd
        assert "storage" not in usd
        other = pages_as("admin", other_api.organization).get("/app/").text
        assert "No usage invoiced yet." in other and "storage" not in other

    def test_other_organization_sees_only_its_own(
        self, world: World, other_api: Api, pages_as: PagesAs
    ) -> None:
        page = pages_as("admin", other_api.organization).get("/app/").text
        assert card(page, "card-gross") == "500.00 EUR"
        assert card(page, "card-overdue") == "0.00 EUR"
        assert '<option value="USD">' not in page

    def test_without_analytics_a_welcome(
        self, api: Api, pages_as: PagesAs, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from billow.access import permissions

        monkeypatch.setitem(permissions.BUILTIN_ROLES, "support", frozenset({"customers:view"}))
        page = pages_as("support").get("/app/")
        assert page.status_code == 200
        assert "Revenue overview" not in page.text
        assert '<li><a href="/app/customers">Customers</a></li>' in page.text
        assert 'href="/app/plans"' not in page.text
