"""axe-core, run in Chromium on the dashboard's and the portal's main pages after demo data
(:mod:`tests.browser.seed`): no ``serious`` or ``critical`` violation. One test per page, so a failure
names its page; the message lists every violation found (all impacts) with the elements concerned.

SQLite only: the markup does not depend on the database (the same templates render the same service
answers), and each axe run costs a second or two of the suite's time on a shared machine.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe

from tests.browser.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.browser.seed import Demo, seed

#: Page name -> path (``{customer}``, ``{plan}``, ``{invoice}`` filled from the demo data).
PAGES = {
    "overview": "/app/",
    "customers": "/app/customers",
    "customer": "/app/customers/{customer}",
    "subscriptions": "/app/subscriptions",
    "plans": "/app/plans",
    "plan form": "/app/plans/{plan}",
    "new plan": "/app/plans/new",
    "billable metrics": "/app/billable_metrics",
    "invoices": "/app/invoices",
    "invoice": "/app/invoices/{invoice}",
    "events": "/app/events",
    "webhooks": "/app/webhooks",
    "members": "/app/members",
    "api keys": "/app/api_keys",
    "settings": "/app/settings",
    "audit log": "/app/audit_logs",
}
BLOCKING = ("serious", "critical")


@dataclass(frozen=True)
class World:
    demo: Demo
    invoice_id: str
    portal_url: str
    #: the signed-in admin's cookies (``BrowserContext.storage_state``)
    state: Any


@pytest.fixture(scope="module")
def world(site: Any, browser: Any) -> Iterator[World]:
    if site.backend != "sqlite":
        pytest.skip("axe runs on SQLite only: the markup does not depend on the database")
    demo = seed(site.base_url, site.api_key, "a11y", events=140)
    headers = {"Authorization": f"Bearer {site.api_key}"}
    api = f"{site.base_url}/api/v1"
    deadline = time.monotonic() + 20
    # The subscription fee is paid in advance: its invoice follows the subscription's commit.
    while not (
        invoices := httpx.get(
            f"{api}/invoices", params={"external_customer_id": demo.customer_id}, headers=headers
        ).json()["invoices"]
    ):
        assert time.monotonic() < deadline, "the demo's first invoice never came"
        time.sleep(0.3)
    portal = httpx.get(f"{api}/customers/{demo.customer_id}/portal_url", headers=headers)
    assert portal.status_code == 200, portal.text
    context = browser.new_context(base_url=site.base_url)
    page = context.new_page()
    page.goto("/app/login")
    page.get_by_label("E-mail").fill(ADMIN_EMAIL)
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{site.base_url}/app/")
    state = context.storage_state()
    context.close()
    yield World(demo, invoices[0]["lago_id"], portal.json()["customer"]["portal_url"], state)


def _check(page: Any) -> None:
    violations = Axe().run(page).response["violations"]
    report = "\n".join(
        f"- {v['impact']}: {v['id']} ({v['help']}): "
        + "; ".join(" ".join(node["target"]) for node in v["nodes"][:5])
        for v in violations
    )
    blocking = [v["id"] for v in violations if v["impact"] in BLOCKING]
    assert not blocking, f"{page.url}:\n{report}"


@pytest.mark.parametrize("name", list(PAGES))
def test_dashboard_page(name: str, world: World, browser: Any, site: Any) -> None:
    path = PAGES[name].format(
        customer=world.demo.customer_lago_id, plan=world.demo.plan_code, invoice=world.invoice_id
    )
    context = browser.new_context(base_url=site.base_url, storage_state=world.state)
    try:
        page = context.new_page()
        response = page.goto(path)
        if name == "audit log" and response.status == 404:
            pytest.skip("no audit log page in this build")
        assert response.status == 200, (path, response.status)
        if name == "customer":  # the usage section with its chart
            assert page.get_by_role("img").count() >= 2
        _check(page)
    finally:
        context.close()


def test_login_page(world: World, page: Any) -> None:
    assert page.goto("/app/login").status == 200
    _check(page)


def test_customer_portal(world: World, page: Any) -> None:
    assert page.goto(world.portal_url).status == 200
    _check(page)


def test_axe_reports_what_it_should(page: Any, site: Any) -> None:
    """The check itself fails on a page with known faults (an image without text, an unlabelled input)."""
    if site.backend != "sqlite":
        pytest.skip("axe runs on SQLite only: the markup does not depend on the database")
    page.set_content('<html lang="en"><title>t</title><main><img src="x.png"><input id="a"></main></html>')
    with pytest.raises(AssertionError, match=r"- critical: image-alt .*\n\s*- critical: label "):
        _check(page)
