"""The dashboard and the portal in a real browser: Debian's Chromium driven by Playwright.

A real ``billow serve`` per backend (the e2e suite's server, started with the bootstrap admin's
e-mail and password set), one headless Chromium per test process, a fresh browser context (cookies)
per test. Playwright cannot download browsers here: it drives ``/usr/bin/chromium``
(``apt-get install chromium``; ``.ci/run`` installs it). Without it these tests skip, saying so.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import _backends
from tests.e2e.conftest import Server, start_server

CHROMIUM = Path("/usr/bin/chromium")
#: ``expect(...)`` waits this long (ms) for a page to get there: the suite shares 2 cores with others.
EXPECT_TIMEOUT = 10_000
ADMIN_EMAIL = "admin@billow.test"
ADMIN_PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Chromium for one test module. Not for the session: Playwright's sync API keeps an event loop
    running in this thread until it stops, and a later test of the same worker calling ``asyncio.run``
    would fail."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's Chromium is not installed (apt-get install chromium; .ci/run does)")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=EXPECT_TIMEOUT)

    with sync_playwright() as playwright:
        # Running as root (containers, CI) needs --no-sandbox.
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture(scope="session", params=_backends())
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A ``billow serve`` whose first organization's admin is :data:`ADMIN_EMAIL`."""
    yield from start_server(
        request.param,
        tmp_path_factory,
        extra_env={"BILLOW_ADMIN_EMAIL": ADMIN_EMAIL, "BILLOW_ADMIN_PASSWORD": ADMIN_PASSWORD},
    )


@pytest.fixture
def page(browser: object, site: Server) -> Iterator[object]:
    context = browser.new_context(base_url=site.base_url)  # type: ignore[attr-defined]
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()
