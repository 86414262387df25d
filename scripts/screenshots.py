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
            invoices = httpx.get(f"{base}/api/v1/invoices", headers=headers).json()["invoices"]
            plan = httpx.get(f"{base}/api/v1/plans/{demo.plan_code}", headers=headers).json()["plan"]
            pages = {
                "overview": "/app/",
                "customers": "/app/customers",
                "customer": f"/app/customers/{demo.customer_lago_id}",
                "subscriptions": "/app/subscriptions",
                "plans": "/app/plans",
                "plan": f"/app/plans/{plan['lago_id']}",
                "billable-metrics": "/app/billable_metrics",
                "invoices": "/app/invoices",
                "invoice": f"/app/invoices/{invoices[0]['lago_id']}" if invoices else "/app/invoices",
                "events": "/app/events",
                "webhooks": "/app/webhooks",
                "members": "/app/members",
                "api-keys": "/app/api_keys",
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
                    page.goto(path)
                    page.screenshot(path=str(args.out / f"{name}.png"), full_page=True)
                    print(f"{name}: {path}")
                page.goto(portal_url)
                page.screenshot(path=str(args.out / "portal.png"), full_page=True)
                print("portal: (signed link)")
                browser.close()
        finally:
            process.terminate()
            process.wait(timeout=10)
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
