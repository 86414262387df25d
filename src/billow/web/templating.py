"""Rendering pages: one Jinja2 environment over the template folders of the packages that serve pages.

Autoescaping is on for every template. A page gets ``request``, ``viewer`` (the signed-in member, or
``None``), ``csrf_token`` and ``static`` (a function giving a static file's URL with a cache-busting
version) besides its own context.
"""

from __future__ import annotations

from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape

from billow import __version__

WEB = Path(__file__).resolve().parent
STATIC = WEB / "static"
STATIC_PREFIX = "/static"
#: Template folders, first match wins: shared layouts here, then each page-serving package's own.
TEMPLATE_DIRS = [
    WEB / "templates",
    WEB.parent / "dashboard" / "templates",
    WEB.parent / "portal" / "templates",
]


def static_url(path: str) -> str:
    return f"{STATIC_PREFIX}/{path}?v={__version__}"


def money(amount_cents: int | None, currency: str | None) -> str:
    """``12345, "EUR"`` -> ``"123.45 EUR"`` in the currency's minor units (babel's exponent)."""
    from billow.kit.currency import exponent

    if amount_cents is None or not currency:
        return ""
    digits = exponent(currency)
    value = Decimal(amount_cents).scaleb(-digits)
    return f"{value:,.{digits}f} {currency}"


def units_text(value: Decimal | str) -> str:
    """A quantity (units, wallet credits) as the pages show it: ``1250`` -> ``"1,250"``; ``"12.50"`` ->
    ``"12.5"`` (grouped thousands, no exponent, no trailing zeros). The ``units`` filter."""
    normalized = Decimal(value).normalize()
    if normalized == normalized.to_integral_value():
        return f"{normalized.to_integral_value():,f}"
    return f"{normalized:,f}"


@cache
def environment() -> Environment:
    env = Environment(
        loader=ChoiceLoader([FileSystemLoader(str(d)) for d in TEMPLATE_DIRS]),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["static"] = static_url
    env.globals["version"] = __version__
    env.filters["money"] = money
    env.filters["units"] = units_text
    return env


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, status_code: int = 200
) -> HTMLResponse:
    """The page ``template`` rendered with ``context``; the viewer and CSRF token come from the request's
    state (set by :func:`billow.web.auth.current_viewer`)."""
    viewer = request.state.viewer if hasattr(request.state, "viewer") else None
    values: dict[str, Any] = {
        "request": request,
        "viewer": viewer,
        "csrf_token": viewer.csrf_token if viewer is not None else "",
        "flash": request.query_params.get("flash"),
    }
    values.update(context or {})
    html = environment().get_template(template).render(values)
    return HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})
