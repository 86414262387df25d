"""Screenshots of the dashboard's and the portal's main pages, written to ``docs/screenshots/``.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots]

Starts ``billow serve`` on a new embedded database (a temporary folder), sends demo data through the
API as a user would (``tests/browser/seed.py``), signs in as the bootstrap admin in Debian's Chromium
(``/usr/bin/chromium``, driven by Playwright) and saves one PNG per page. Run from the repository root.
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser.seed import seed  # noqa: E402

EMAIL = "admin@demo.test"
PASSWORD = secrets.token_urlsafe(16)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(tmp: Path, port: int, api_key: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BILLOW_")}
    env.update(
        BILLOW_DATA_DIR=str(tmp),
        BILLOW_API_KEY=api_key,
        BILLOW_ADMIN_EMAIL=EMAIL,
        BILLOW_ADMIN_PASSWORD=PASSWORD,
        BILLOW_PUBLIC_URL=f"http://127.0.0.1:{port}",
        BILLOW_ORGANIZATION_NAME="Demo SaaS",
    )
    billow = Path(sys.executable).parent / "billow"
    log = (tmp / "serve.log").open("wb")
    process = subprocess.Popen([str(billow), "serve", "--port", str(port)], env=env, stdout=log, stderr=log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"billow serve did not start:\n{(tmp / 'serve.log').read_text()}")


def wait_for_invoices(base: str, headers: dict[str, str], customer: str) -> list[dict[str, object]]:
    """The customer's invoices, once the first one (the subscription fee paid in advance, billed after
    the subscription's commit) exists."""
    deadline = time.monotonic() + 30
    while True:
        answer = httpx.get(
            f"{base}/api/v1/invoices", params={"external_customer_id": customer}, headers=headers
        )
        invoices: list[dict[str, object]] = answer.json()["invoices"]
        if invoices or time.monotonic() > deadline:
            if not invoices:
                raise SystemExit("the demo customer's first invoice never came")
            return invoices
        time.sleep(0.3)


def shoot(page: object, path: Path, *, full_page: bool) -> None:
    page.wait_for_load_state("networkidle")  # type: ignore[attr-defined]
    page.screenshot(path=str(path), full_page=full_page)  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        api_key = "demo_" + secrets.token_hex(16)
        process = start(tmp, port, api_key)
        try:
            demo = seed(base, api_key, "demo", events=140)
            headers = {"Authorization": f"Bearer {api_key}"}
            portal = httpx.get(f"{base}/api/v1/customers/{demo.customer_id}/portal_url", headers=headers)
            portal_url = portal.json()["customer"]["portal_url"]
            invoices = wait_for_invoices(base, headers, demo.customer_id)
            # Its PDF, which the periodic scan would otherwise make a few minutes later.
            pdf = httpx.post(f"{base}/api/v1/invoices/{invoices[0]['lago_id']}/download", headers=headers)
            pdf.raise_for_status()
            pages = {
                "overview": "/app/?currency=EUR",  # the demo bills in EUR (the default: USD)
                "customers": "/app/customers",
                "customer": f"/app/customers/{demo.customer_lago_id}",
                "subscriptions": "/app/subscriptions",
                "plans": "/app/plans",
                "plan": f"/app/plans/{demo.plan_code}",
                "billable-metrics": "/app/billable_metrics",
                "invoices": "/app/invoices",
                "invoice": f"/app/invoices/{invoices[0]['lago_id']}",
                "events": "/app/events",
                "webhooks": "/app/webhooks",
                "members": "/app/members",
                "api-keys": "/app/api_keys",
                "settings": "/app/settings",
                "audit-log": "/app/audit_logs",
            }
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
                page = browser.new_page(base_url=base, viewport={"width": 1280, "height": 800})
                page.goto("/app/login")
                page.get_by_label("E-mail").fill(EMAIL)
                page.get_by_label("Password").fill(PASSWORD)
                page.get_by_role("button", name="Sign in").click()
                page.wait_for_url(f"{base}/app/")
                for name, path in pages.items():
                    response = page.goto(path)
                    if response is None or response.status != 200:
                        # A page of a later build (the audit log): no picture of an error page.
                        print(f"{name}: {path} answered {response and response.status}, skipped")
                        continue
                    if name == "plan":  # the price calculator at work on the graduated charge
                        page.get_by_label("Price calculator: units").first.fill("150")
                        page.get_by_role("button", name="Calculate").first.click()
                        page.get_by_text("150 units cost").wait_for()
                    # The events page lists the latest events: its first screen says it all (and a
                    # full page of 140 rows is a large PNG).
                    shoot(page, args.out / f"{name}.png", full_page=name != "events")
                    print(f"{name}: {path}")
                page.goto(portal_url)
                shoot(page, args.out / "portal.png", full_page=True)
                print("portal: (signed link)")
                page.context.clear_cookies()
                page.goto("/app/login")
                shoot(page, args.out / "login.png", full_page=False)
                print("login: /app/login")
                browser.close()
        finally:
            process.terminate()
            process.wait(timeout=10)
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
