"""Mounting the pages: static assets, the dashboard (``/app``), the customer portal (``/portal``)."""

from __future__ import annotations

import importlib

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from billow.web.auth import Forbidden, LoginRequired
from billow.web.templating import STATIC, STATIC_PREFIX, render

#: Modules with a ``router`` of pages, included in this order.
PAGE_MODULES: list[str] = [
    "billow.dashboard.access_pages",
    "billow.dashboard.team_pages",
    "billow.dashboard.organization_pages",
    "billow.dashboard.overview",
    "billow.dashboard.metrics_pages",
    "billow.dashboard.plans_pages",
    "billow.dashboard.catalog_pages",
    "billow.dashboard.webhooks_pages",
    "billow.dashboard.customers_pages",
    "billow.dashboard.customer_wallets",
    "billow.dashboard.subscriptions_pages",
    "billow.dashboard.invoices_pages",
    "billow.dashboard.credit_notes_pages",
    "billow.dashboard.credit_note_form",
    "billow.dashboard.events_pages",
    "billow.portal.pages",
    "billow.dashboard.audit_pages",
]

DASHBOARD = "/app"


def install(app: FastAPI) -> None:
    app.mount(STATIC_PREFIX, StaticFiles(directory=str(STATIC)), name="static")
    for name in PAGE_MODULES:
        app.include_router(importlib.import_module(name).router, include_in_schema=False)

    @app.get("/", include_in_schema=False)
    def root() -> Response:
        return RedirectResponse(f"{DASHBOARD}/", status_code=303)

    @app.exception_handler(LoginRequired)
    def login_required(request: Request, _exc: LoginRequired) -> Response:
        target = f"{DASHBOARD}/login?next={request.url.path}"
        if request.headers.get("HX-Request"):
            return Response(status_code=204, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(Forbidden)
    def forbidden(request: Request, exc: Forbidden) -> Response:
        return render(request, "forbidden.html", {"reason": exc.reason}, status_code=403)
