"""The browser harness itself: Chromium reaches ``billow serve`` and loads the pages' assets; the demo
data the browser tests and the screenshots use prices as computed by hand."""

from __future__ import annotations

from typing import Any


def test_the_dashboard_assets_load(page: Any) -> None:
    response = page.goto("/static/billow.css")
    assert response.status == 200
    assert "--accent" in page.content()
    assert page.goto("/static/vendor/htmx-2.0.11.min.js").status == 200


def test_the_demo_data_prices_as_computed_by_hand(site: Any) -> None:
    import httpx

    from tests.browser.seed import seed

    demo = seed(site.base_url, site.api_key, "smoke")
    usage = httpx.get(
        f"{site.base_url}/api/v1/customers/{demo.customer_id}/current_usage",
        params={"external_subscription_id": demo.subscription_id},
        headers={"Authorization": f"Bearer {site.api_key}"},
    ).json()["customer_usage"]
    # 12 API calls in the first tier (0-100 at 0.10 EUR): 1.20 EUR; 1,500 tokens at 0.002 EUR: 3.00 EUR.
    assert usage["amount_cents"] == 120 + 300
