"""The browser harness itself: Chromium reaches ``billow serve`` and loads the pages' assets."""

from __future__ import annotations

from typing import Any


def test_the_dashboard_assets_load(page: Any) -> None:
    response = page.goto("/static/billow.css")
    assert response.status == 200
    assert "--accent" in page.content()
    assert page.goto("/static/vendor/htmx-2.0.11.min.js").status == 200
