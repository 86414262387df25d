"""A new user's first day, in the browser: sign in, define a metric and a graduated plan (checking the
price with the form's calculator), create a customer and subscribe it, send usage through the API as
the user's backend would, watch the customer's page pick it up live, bill it by terminating the
subscription, open the invoice's PDF, and invite a read-only colleague who can look but not change.

Every step goes through the pages a person would use, with accessible selectors (labels and roles);
only the events go through the API. Runs once per backend (codes carry the backend's name).
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Callable
from typing import Any

import httpx
from playwright.sync_api import expect
from pypdf import PdfReader

from tests.browser.conftest import ADMIN_EMAIL, ADMIN_PASSWORD

# Graduated tiers: 0-100 at 1.00 EUR per unit, 101 and up at 0.50 EUR.
# 150 units = 100 x 1.00 + 50 x 0.50 = 100.00 + 25.00 = 125.00 EUR.
UNITS = 150
AMOUNT = "125.00 EUR"
VIEWER_PASSWORD = "a viewer's long password"


def _reload_until(page: Any, check: Callable[[], bool], seconds: float = 20) -> None:
    """Reload ``page`` until ``check()`` holds: work that follows a commit (billing, the PDF) runs
    after the page that asked for it has answered."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"not there after {seconds} s: {page.url}"
        time.sleep(0.5)
        page.reload()


def test_a_new_user_bills_usage_and_invites_a_viewer(page: Any, browser: Any, site: Any) -> None:
    suffix = site.backend
    metric_code = f"tokens_{suffix}"
    plan_code = f"graduated_{suffix}"
    customer_id = f"journey_{suffix}"
    subscription_id = f"journey_sub_{suffix}"

    # Sign in with the bootstrap credentials.
    page.goto("/app/login")
    page.get_by_label("E-mail").fill(ADMIN_EMAIL)
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{site.base_url}/app/")

    # A billable metric: the sum of the events' "tokens".
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Billable metrics").click()
    expect(page).to_have_url(f"{site.base_url}/app/billable_metrics")
    page.get_by_role("link", name="New billable metric").click()
    page.get_by_label("Name", exact=True).fill("Tokens")
    page.get_by_label("Code", exact=True).fill(metric_code)
    page.get_by_label("Aggregation").select_option("sum_agg")
    page.get_by_label("Field name").fill("tokens")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Billable metric created.")
    page.goto("/app/billable_metrics")
    expect(page.get_by_role("row", name=re.compile(metric_code))).to_contain_text("sum_agg")

    # A plan with a graduated charge on it, priced with the form's calculator before saving.
    page.goto("/app/plans")
    page.get_by_role("link", name="New plan").click()
    page.wait_for_load_state("load")  # htmx (deferred) drives the charge's buttons below
    page.get_by_label("Name", exact=True).fill("Graduated tokens")
    page.get_by_label("Code", exact=True).fill(plan_code)
    page.get_by_label("Subscription fee", exact=True).fill("0")
    page.get_by_label("Currency").fill("EUR")
    page.get_by_role("button", name="Add a charge").click()
    charge = page.get_by_role("group", name=re.compile("^Charge"))
    expect(charge).to_have_count(1)
    charge.get_by_label("Billable metric").select_option(label=f"Tokens ({metric_code}, sum_agg)")
    charge.get_by_label("Charge model").select_option("graduated")
    expect(charge.get_by_label("Tier 1 from value")).to_be_visible()
    charge.get_by_role("button", name="Add a tier").click()
    expect(charge.get_by_label("Tier 2 from value")).to_be_visible()
    columns = ("from value", "to value", "per unit amount", "flat amount")
    for tier, values in enumerate((("0", "100", "1.00", "0"), ("101", "", "0.50", "0")), start=1):
        for name, value in zip(columns, values, strict=True):
            charge.get_by_label(f"Tier {tier} {name}").fill(value)
    charge.get_by_label("Price calculator: units").fill(str(UNITS))
    charge.get_by_role("button", name="Calculate").click()
    expect(charge.locator(".calc-result")).to_contain_text(f"{UNITS} units cost {AMOUNT}")
    tiers = charge.get_by_role("table").filter(has_text="no limit")
    # per tier: units, price per unit, flat amount, total
    expect(tiers.get_by_role("row", name="0 to 100").get_by_role("cell")).to_have_text(
        ["100", "1", "0.00 EUR", "100.00 EUR"]
    )
    expect(tiers.get_by_role("row", name="101 to no limit").get_by_role("cell")).to_have_text(
        ["50", "0.5", "0.00 EUR", "25.00 EUR"]
    )
    page.get_by_role("button", name="Save plan").click()
    expect(page.get_by_role("status")).to_have_text("Plan created.")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Plan {plan_code}")

    # A customer, subscribed to the plan.
    page.goto("/app/customers")
    page.get_by_role("link", name="New customer").click()
    page.get_by_label("External id").fill(customer_id)
    page.get_by_label("Name", exact=True).fill("Journey Ltd")
    page.get_by_label("E-mail").fill("billing@journey.test")
    page.get_by_label("Currency").fill("EUR")
    page.get_by_role("button", name="Create customer").click()
    expect(page.get_by_role("status")).to_have_text("Customer created.")
    customer_url = page.url
    page.get_by_role("link", name="New subscription").click()
    expect(page).to_have_url(re.compile(r"/app/subscriptions/new"))
    expect(page.get_by_label("Customer external id")).to_have_value(customer_id)
    page.get_by_label("Plan").select_option(plan_code)
    page.get_by_label("Subscription external id").fill(subscription_id)
    page.get_by_role("button", name="Create subscription").click()
    expect(page.get_by_role("status")).to_have_text("Subscription created.")

    # The customer's page before any usage.
    page.goto(customer_url)  # waits for "load": htmx polls from now on
    usage = page.locator("#usage")
    expect(usage.get_by_role("row", name=re.compile(metric_code))).to_contain_text("0.00 EUR")
    chart = usage.get_by_role("img")
    expect(chart).to_have_count(1)
    assert re.search(r": 0$", chart.locator("desc").text_content() or "")

    # Usage sent through the API, as the user's backend would.
    response = httpx.post(
        f"{site.base_url}/api/v1/events/batch",
        headers={"Authorization": f"Bearer {site.api_key}"},
        json={
            "events": [
                {
                    "transaction_id": f"{suffix}-{i}",
                    "external_subscription_id": subscription_id,
                    "code": metric_code,
                    "properties": {"tokens": tokens},
                }
                for i, tokens in enumerate((100, 50))
            ]
        },
    )
    assert response.status_code == 200, response.text

    # The page picks it up by itself (htmx refreshes the usage every 10 s): no reload.
    row = usage.get_by_role("row", name=re.compile(metric_code))
    expect(row).to_contain_text("150", timeout=25_000)
    expect(row.get_by_role("cell").nth(3)).to_have_text("2")  # events
    expect(row.get_by_role("cell").nth(4)).to_have_text(AMOUNT)
    expect(usage.get_by_role("row", name="Total")).to_contain_text(AMOUNT)
    expect(usage.get_by_role("img").locator("desc")).to_have_text(re.compile(rf": {UNITS}$"))

    # Billing: terminating the subscription bills the usage on its final invoice.
    usage.get_by_role("link", name=subscription_id).click()
    page.get_by_role("link", name="Terminate").click()
    page.get_by_role("button", name="Terminate now").click()
    expect(page.get_by_role("status")).to_have_text("Subscription terminated.")
    page.goto(customer_url)
    invoices = page.get_by_role("region", name="Invoices")
    _reload_until(page, lambda: invoices.get_by_role("row").count() > 1)
    invoices.get_by_role("row").nth(1).get_by_role("link").click()
    number = (page.get_by_role("heading", level=1).text_content() or "").removeprefix("Invoice ")
    assert number
    lines = page.get_by_role("region", name="Lines")
    expect(lines.get_by_role("row", name=re.compile("Tokens"))).to_contain_text(AMOUNT)
    totals = page.get_by_role("region", name="Totals")
    total = totals.get_by_role("row", name=re.compile("^Total "))
    expect(total).to_have_text(re.compile(rf"Total\s*{AMOUNT}"))

    # The invoice's PDF, from the invoice's page. An invoice billed by a background task (here the
    # termination's billing) gets its documents from the periodic scan, minutes later (a task's session
    # queues no follow-up work): until then the page offers "Generate PDF", the path a user takes.
    generate = page.get_by_role("button", name="Generate PDF")
    if generate.count():
        generate.click()
        expect(page.get_by_role("status")).to_have_text("PDF generated.")
    download = page.get_by_role("link", name="Download PDF")
    expect(download).to_have_count(1)
    pdf = page.request.get(download.get_attribute("href") or "")
    assert pdf.status == 200
    assert pdf.headers["content-type"] == "application/pdf"
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.body())).pages)
    assert number in text
    assert "125.00" in text

    # A viewer, invited on the members page, joins from the link in a browser of their own.
    viewer_email = f"viewer-{suffix}@journey.test"
    page.goto("/app/members")
    page.get_by_label("E-mail").fill(viewer_email)
    page.get_by_label("Role", exact=True).select_option("viewer")
    page.get_by_role("button", name="Invite").click()
    link = page.get_by_label("Invitation link").input_value()
    assert re.fullmatch(rf"{re.escape(site.base_url)}/app/invitations/\S+", link), link

    other = browser.new_context(base_url=site.base_url)
    try:
        colleague = other.new_page()
        colleague.set_default_timeout(10_000)
        colleague.goto(link)
        expect(colleague.get_by_role("heading", level=1)).to_have_text(f"Join as {viewer_email}")
        colleague.get_by_label("Password", exact=True).fill(VIEWER_PASSWORD)
        colleague.get_by_label("Password again").fill(VIEWER_PASSWORD)
        colleague.get_by_role("button", name="Create my account").click()
        expect(colleague.get_by_role("banner")).to_contain_text(f"{viewer_email} (viewer)")

        # The viewer sees the plans, without any control to change them.
        colleague.goto("/app/plans")
        expect(colleague.get_by_role("link", name=plan_code)).to_be_visible()
        expect(colleague.get_by_role("link", name="New plan")).to_have_count(0)
        colleague.get_by_role("link", name=plan_code).click()
        expect(colleague.get_by_role("heading", level=1)).to_have_text(f"Plan {plan_code}")
        for name in ("Save plan", "Add a charge", "Delete plan"):
            expect(colleague.get_by_role("button", name=name)).to_have_count(0)

        # Posting the edit form anyway, with the viewer's own CSRF token, is refused.
        token = colleague.locator("form[action='/app/logout'] input[name=csrf_token]").input_value()
        refused = colleague.request.post(
            f"/app/plans/{plan_code}",
            form={"csrf_token": token, "name": "Hijacked", "code": plan_code, "amount_cents": "1"},
        )
        assert refused.status == 403
        assert "plans:update" in refused.text()
    finally:
        other.close()
    page.goto(f"/app/plans/{plan_code}")
    expect(page.get_by_label("Name", exact=True)).to_have_value("Graduated tokens")
