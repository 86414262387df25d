"""The customer-side pages' markup, page by page: one ``<h1>``, a ``<label>`` for every field, header
cells in every table, unique ids, every chart an image with its figures (what axe checks first)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI

from tests.conftest import Api
from tests.dashboard.billing_world import BillingWorld
from tests.fixtures.pages import Pages

Sign = Callable[..., Pages]
pytestmark = pytest.mark.usefixtures("bill_backdated_periods")


@pytest.fixture
def world(app: FastAPI, api: Api) -> Iterator[BillingWorld]:
    yield BillingWorld(app, api)
    app.dependency_overrides.clear()


def check(html: str, path: str) -> None:
    assert html.count("<h1>") + html.count("<h1 ") == 1, path
    fields = re.findall(r'<(?:input|select|textarea) id="([^"]+)"', html)
    labels = set(re.findall(r'<label for="([^"]+)"', html))
    assert set(fields) <= labels, (path, set(fields) - labels)
    unlabelled = re.findall(r"<(?:input|select)(?![^>]*\b(?:id=|type=\"hidden\"))[^>]*>", html)
    assert unlabelled == [], (path, unlabelled)
    for table in re.findall(r"<table.*?</table>", html, re.S):
        assert "<th" in table, (path, table[:200])
    ids = [i for i in re.findall(r'\bid="([^"]+)"', html)]
    assert [i for i, n in Counter(ids).items() if n > 1] == [], path
    for svg in re.findall(r"<svg.*?</svg>", html, re.S):
        assert 'role="img"' in svg and "<title" in svg and "<desc" in svg, path


def test_every_page(world: BillingWorld, pages_as: Sign) -> None:
    made: dict[str, Any] = world.standard()
    world.ok(world.api.delete("/subscriptions/sub-1"))
    [invoice] = world.api.get("/invoices").json()["invoices"]
    [fee] = [f for f in invoice["fees"] if f["amount_cents"] > 0][:1]
    note_body = {
        "invoice_id": invoice["lago_id"],
        "reason": "other",
        "credit_amount_cents": 100,
        "items": [{"fee_id": fee["lago_id"], "amount_cents": 100}],
    }
    note = world.ok(world.api.post("/credit_notes", json={"credit_note": note_body}))["credit_note"]
    world.subscribe(external_id="sub-2")
    event = world.event("t9", "2024-03-09T10:00:00Z", subscription="sub-2", tokens=3)
    customer, subscription = made["customer"]["lago_id"], made["subscription"]["lago_id"]
    pages = pages_as("admin")
    for path in (
        "/app/customers",
        "/app/customers/new",
        f"/app/customers/{customer}",
        f"/app/customers/{customer}/edit",
        "/app/subscriptions",
        "/app/subscriptions/new",
        f"/app/subscriptions/{subscription}",
        "/app/invoices",
        f"/app/invoices/{invoice['lago_id']}",
        f"/app/invoices/{invoice['lago_id']}/credit_notes/new",
        "/app/credit_notes",
        f"/app/credit_notes/{note['lago_id']}",
        "/app/events",
        f"/app/events/{event['lago_id']}",
    ):
        response = pages.get(path)
        assert response.status_code == 200, path
        check(response.text, path)
    active = [
        s for s in world.api.get("/subscriptions").json()["subscriptions"] if s["external_id"] == "sub-2"
    ]
    for path in ("change_plan", "terminate"):
        response = pages.get(f"/app/subscriptions/{active[0]['lago_id']}/{path}")
        assert response.status_code == 200, path
        check(response.text, path)
    # The customer's page drew the chart of sub-2's usage (3 tokens on March 9th).
    assert "Mar 09: 3; Mar 10: 0" in pages.get(f"/app/customers/{customer}").text
