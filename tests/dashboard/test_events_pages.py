"""``/app/events``: the debugger's list (newest first, live unless paused), its filters, why an event
does or does not count, the event's page, the permission and tenancy."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from html import unescape

import pytest
from fastapi import FastAPI

from tests.conftest import Api
from tests.dashboard.billing_world import BillingWorld
from tests.fixtures.pages import Pages

Sign = Callable[..., Pages]


@pytest.fixture
def world(app: FastAPI, api: Api) -> Iterator[BillingWorld]:
    yield BillingWorld(app, api)
    app.dependency_overrides.clear()


def rows(html: str) -> list[str]:
    """The transaction ids' event codes shown, in order (one per row)."""
    return re.findall(r'<a href="/app/events/[0-9a-f-]+"><code>([^<]+)</code></a>', html)


def explanation_of(html: str, code: str) -> str:
    row = re.search(rf"<code>{code}</code></a></td>(.*?)</tr>", html, re.S)
    assert row, html
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row.group(1))).strip()


class TestList:
    def test_newest_first_live_and_pausable(self, world: BillingWorld, pages_as: Sign) -> None:
        world.standard()
        pages = pages_as("viewer")
        html = pages.get("/app/events").text
        assert html.count("<h1>") == 1
        assert 'hx-get="/app/events/rows?" hx-trigger="every 5s"' in html
        assert html.count('<a href="/app/events/') == 2
        [latest, earliest] = re.findall(r"(2024-03-0\d \d\d:\d\d:\d\d UTC)", html)
        assert (latest, earliest) == ("2024-03-05 10:00:00 UTC", "2024-03-02 10:00:00 UTC")
        paused = pages.get("/app/events", params={"paused": "1"}).text
        assert "hx-trigger" not in paused and "Resume live updates" in paused
        partial = pages.get("/app/events/rows", params={"code": "tokens"}).text
        assert partial.startswith('<section id="event-rows"') and "<h1>" not in partial
        assert 'hx-get="/app/events/rows?code=tokens"' in partial
        world.event("t3", "2024-03-09T10:00:00Z", tokens=1)
        assert "3 events" in pages.get("/app/events/rows").text

    def test_filters(self, world: BillingWorld, pages_as: Sign) -> None:
        world.standard()
        world.customer("globex-7", name="Globex")
        world.subscribe("globex-7", external_id="sub-2")
        world.event("g1", "2024-03-06T10:00:00Z", subscription="sub-2", tokens=7)
        world.event("x1", "2024-03-06T11:00:00Z", code="calls", subscription="sub-2")
        pages = pages_as("viewer")

        def count(**params: str) -> int:
            html = pages.get("/app/events", params=params).text
            return html.count('<a href="/app/events/')

        assert count() == 4
        assert count(external_customer_id="acme-1") == 2
        assert count(external_customer_id="globex-7") == 2
        assert count(external_subscription_id="sub-2") == 2
        assert count(code="calls") == 1
        assert count(transaction_id="t2") == 1
        assert count(external_customer_id="nobody") == 0


def test_the_rows_pages_link_to_the_page_not_the_partial(world: BillingWorld, pages_as: Sign) -> None:
    world.customer()
    for index in range(26):
        world.event(f"e{index}", "2024-03-06T10:00:00Z", subscription="sub-x")
    partial = pages_as("viewer").get("/app/events/rows", params={"code": "tokens"}).text
    assert '<a href="/app/events?code=tokens&amp;page=2">Next page</a>' in partial


class TestWhy:
    def test_each_reason_in_a_sentence(self, world: BillingWorld, pages_as: Sign) -> None:
        world.standard()
        world.metric("seats", aggregation_type="max_agg", field_name="seats")
        world.event("u1", "2024-03-06T10:00:00Z", code="storage")
        world.event("u2", "2024-03-06T10:00:00Z", subscription="sub-404")
        world.event("u3", "2024-02-01T10:00:00Z")
        world.event("u4", "2024-03-06T10:00:00Z", other=1)
        world.event("u5", "2024-03-06T10:00:00Z", code="seats", seats="many")
        html = unescape(pages_as("viewer").get("/app/events").text)
        sentences = {
            "storage": (
                "acme-1 sub-1 2024-03-06 10:00:00 UTC {} "
                "No No billable metric with code storage: create it, or fix the event's code."
            ),
            "seats": "No The metric's field seats is not a number ('many').",
        }
        for code, sentence in sentences.items():
            assert explanation_of(html, code).endswith(sentence), explanation_of(html, code)
        assert "No subscription with external id sub-404." in html
        assert (
            "Subscription sub-1 was not active at this timestamp (before its start or after its end)." in html
        )
        assert "The metric's field tokens is missing from the properties." in html
        assert html.count("Counts towards the usage of subscription sub-1.") == 2

    def test_event_page(self, world: BillingWorld, pages_as: Sign) -> None:
        world.standard()
        event = world.event("u4", "2024-03-06T10:00:00Z", other=1)
        html = unescape(pages_as("viewer").get(f"/app/events/{event['lago_id']}").text)
        assert "<h1>Event u4</h1>" in html
        assert "Does not count" in html and "missing_aggregation_property" in html
        assert "The metric's field tokens is missing from the properties." in html
        assert '"other": 1' in html
        assert "2024-03-06 10:00:00 UTC" in html


class TestAccess:
    def test_every_role_reads_events(self, world: BillingWorld, pages_as: Sign) -> None:
        assert pages_as("finance").get("/app/events").status_code == 200
        assert pages_as("viewer").get("/app/events/rows").status_code == 200

    def test_another_organization(self, world: BillingWorld, pages_as: Sign, other_api: Api) -> None:
        world.standard()
        event = world.event("t3", "2024-03-06T10:00:00Z", tokens=1)
        pages = pages_as("admin", other_api.organization)
        assert pages.get(f"/app/events/{event['lago_id']}").status_code == 404
        html = pages.get("/app/events").text
        assert "0 events" in html and "tokens" not in rows(html)
