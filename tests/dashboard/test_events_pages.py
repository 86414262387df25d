"""``/app/events``: the debugger's list (newest first, live unless paused), its filters, why an event
does or does not count, the event's page, the permission and tenancy."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from html import unescape
from typing import Any

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


def current_usage(api: Api) -> tuple[str, int]:
    """The units and amount of ``tokens`` in sub-1's current usage (the API's answer)."""
    response = api.get("/customers/acme-1/current_usage", params={"external_subscription_id": "sub-1"})
    assert response.status_code == 200, response.text
    [charge] = response.json()["customer_usage"]["charges_usage"]
    return charge["units"], charge["amount_cents"]


def event_form(**fields: str) -> dict[str, str]:
    form = {
        "event_external_subscription_id": "sub-1",
        "event_code": "tokens",
        "event_transaction_id": "dash-1",
        "event_timestamp": "",
        "event_properties": "tokens: 30\nsource: dashboard",
    }
    form.update(fields)
    return form


class TestSendTestEvent:
    def test_recorded_shown_in_the_debugger_and_counted(
        self, world: BillingWorld, api: Api, pages_as: Sign
    ) -> None:
        world.standard()
        assert current_usage(api) == ("1250.0", 125000)
        pages = pages_as("manager")
        page = pages.get("/app/events").text
        assert '<option value="sub-1">sub-1</option>' in page
        assert '<option value="tokens">tokens (field: tokens)</option>' in page
        response = pages.post("/app/events", event_form())
        assert response.status_code == 303, response.text
        assert response.headers["location"] == (
            "/app/events?external_subscription_id=sub-1&paused=1&flash=Test+event+dash-1+recorded."
        )
        [stored] = api.get("/events", params={"external_subscription_id": "sub-1"}).json()["events"][:1]
        assert (stored["transaction_id"], stored["properties"]) == (
            "dash-1",
            {"tokens": "30", "source": "dashboard"},
        )
        assert stored["timestamp"] == "2024-03-10T12:00:00.000Z"  # the request time
        html = pages.get(f"/app/events/{stored['lago_id']}").text
        assert "Counts towards the usage of subscription sub-1." in html
        listed = pages.get("/app/events", params={"external_subscription_id": "sub-1"}).text
        assert "3 events" in listed
        assert current_usage(api) == ("1280.0", 128000)

    def test_a_duplicate_or_bad_input_is_422_and_nothing_written(
        self, world: BillingWorld, api: Api, pages_as: Sign
    ) -> None:
        world.standard()
        pages = pages_as("admin")
        duplicate = pages.post("/app/events", event_form(event_transaction_id="t1"))  # world's first event
        assert duplicate.status_code == 422
        assert '<p class="error" id="e-event_transaction_id">value_already_exist</p>' in duplicate.text
        assert 'value="t1"' in duplicate.text  # what was typed is kept
        bad = pages.post("/app/events", event_form(event_properties="tokens 30"))
        assert bad.status_code == 422
        assert '<p class="error" id="e-event_properties">value_is_invalid</p>' in bad.text
        missing = pages.post("/app/events", event_form(event_code="", event_timestamp="yesterday"))
        assert missing.status_code == 422
        assert '<p class="error" id="e-event_code">value_is_mandatory</p>' in missing.text
        assert 'id="e-event_timestamp"' in missing.text
        assert len(api.get("/events").json()["events"]) == 2
        assert current_usage(api) == ("1250.0", 125000)

    def test_viewer_gets_403_and_no_form(self, world: BillingWorld, api: Api, pages_as: Sign) -> None:
        world.standard()
        viewer = pages_as("viewer")
        assert viewer.post("/app/events", event_form()).status_code == 403
        assert "Send a test event" not in viewer.get("/app/events").text
        assert pages_as("finance").post("/app/events", event_form()).status_code == 403  # events: view only
        assert len(api.get("/events").json()["events"]) == 2

    def test_another_organization_records_in_its_own(
        self, world: BillingWorld, api: Api, other_api: Api, pages_as: Sign
    ) -> None:
        world.standard()
        other = pages_as("admin", other_api.organization)
        assert '<option value="sub-1">' not in other.get("/app/events").text
        assert other.post("/app/events", event_form()).status_code == 303
        [theirs] = other_api.get("/events").json()["events"]
        assert theirs["transaction_id"] == "dash-1"
        assert len(api.get("/events").json()["events"]) == 2
        assert current_usage(api) == ("1250.0", 125000)

    def test_the_api_follow_up_is_queued_after_the_commit(
        self, world: BillingWorld, app: FastAPI, api: Api, pages_as: Sign
    ) -> None:
        world.standard()
        queued: list[tuple[str, list[str]]] = []

        class Recorder:
            def queue(self, organization_id: object, events: list[Any]) -> None:
                # Called once committed: the event is already visible to another connection.
                assert api.get("/events", params={"transaction_id": events[0].transaction_id}).json()[
                    "events"
                ]
                queued.append((str(organization_id), [e.transaction_id for e in events]))

        # Replaced and put back by hand: monkeypatch's undo deletes a Starlette State attribute instead of
        # restoring it (the app is shared by the whole session).
        original = app.state.ingestion_follow_up
        app.state.ingestion_follow_up = Recorder()
        try:
            pages = pages_as("admin")
            assert pages.post("/app/events", event_form(event_transaction_id="t1")).status_code == 422
            assert queued == []
            assert pages.post("/app/events", event_form()).status_code == 303
            assert queued == [(str(api.organization.id), ["dash-1"])]
        finally:
            app.state.ingestion_follow_up = original
