"""The pages' markup, read with the standard library's HTML parser: one ``<h1>``, unique ids, every
form control named by a ``<label for>``, every table with header cells (what axe checks first)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from html.parser import HTMLParser

import pytest

from tests.conftest import Api
from tests.dashboard.test_plans_pages import plan_form
from tests.fixtures.pages import Pages

PagesAs = Callable[..., Pages]
UNLABELLED_TYPES = {"hidden", "submit", "button"}


class Markup(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.h1 = 0
        self.ids: Counter[str] = Counter()
        self.labels: set[str] = set()
        self.controls: list[str] = []
        self.tables = 0
        self.header_cells = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if attributes.get("id"):
            self.ids[attributes["id"] or ""] += 1
        if tag == "h1":
            self.h1 += 1
        elif tag == "label" and attributes.get("for"):
            self.labels.add(attributes["for"] or "")
        elif tag in ("select", "textarea") or (
            tag == "input" and attributes.get("type", "text") not in UNLABELLED_TYPES
        ):
            self.controls.append(attributes.get("id") or f"<{tag} name={attributes.get('name')}>")
        elif tag == "table":
            self.tables += 1
        elif tag == "th":
            self.header_cells += 1


def check(html: str, *, page: bool = True) -> Markup:
    markup = Markup()
    markup.feed(html)
    if page:
        assert markup.h1 == 1
    assert [name for name, count in markup.ids.items() if count > 1] == []
    assert [control for control in markup.controls if control not in markup.labels] == []
    if markup.tables:
        assert markup.header_cells >= markup.tables
    return markup


@pytest.fixture
def catalog(api: Api, pages_as: PagesAs) -> None:
    admin = pages_as("admin")
    metric = {"name": "Calls", "code": "calls", "aggregation_type": "count_agg", "filters": "region: eu"}
    assert admin.post("/app/billable_metrics", metric).status_code == 303
    metric_id = api.get("/billable_metrics/calls").json()["billable_metric"]["lago_id"]
    assert admin.post("/app/plans", plan_form(metric_id)).status_code == 303
    assert admin.post("/app/taxes", {"name": "VAT", "code": "vat", "rate": "20"}).status_code == 303
    assert admin.post("/app/webhooks", {"webhook_url": "https://example.com/h"}).status_code == 303


PAGES = [
    "/app/",
    "/app/billable_metrics",
    "/app/billable_metrics/new",
    "/app/billable_metrics/calls",
    "/app/plans",
    "/app/plans/new",
    "/app/plans/startup",
    "/app/coupons",
    "/app/coupons/new",
    "/app/add_ons",
    "/app/add_ons/new",
    "/app/taxes",
    "/app/taxes/vat",
    "/app/webhooks",
    "/app/webhooks/new",
]


@pytest.mark.usefixtures("catalog")
@pytest.mark.parametrize("path", PAGES)
def test_page(pages_as: PagesAs, path: str) -> None:
    response = pages_as("admin").get(path)
    assert response.status_code == 200, response.text
    check(response.text)


@pytest.mark.usefixtures("catalog")
def test_webhook_deliveries_and_fragments(api: Api, pages_as: PagesAs) -> None:
    admin = pages_as("admin")
    [endpoint] = api.get("/webhook_endpoints").json()["webhook_endpoints"]
    check(admin.get(f"/app/webhooks/{endpoint['lago_id']}").text)
    check(admin.get(f"/app/webhooks/{endpoint['lago_id']}/deliveries").text)
    fragment = admin.post("/app/plans/charge_fragment", {"op": "new", "index": "7"}).text
    check(fragment, page=False)
    volume = admin.post(
        "/app/plans/charge_fragment", {"op": "model", "index": "7", "charges-7-charge_model": "volume"}
    )
    check(volume.text, page=False)
    quote = admin.post(
        "/app/plans/calculator",
        {
            "index": "7",
            "amount_currency": "EUR",
            "charges-7-charge_model": "standard",
            "charges-7-amount": "1",
            "charges-7-calc_units": "3",
        },
    )
    assert "<strong>3 units cost 3.00 EUR</strong>" in quote.text  # 3 x 1.00
    check(quote.text, page=False)
