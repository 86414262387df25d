"""The interactive API docs (Swagger UI) at ``/api/v1/docs``, with its assets served by Billow itself.

FastAPI's default page loads Swagger UI from a CDN, so it is blank offline or behind a firewall. The
assets come from the ``fastapi-offline`` package (Swagger UI 5, which renders FastAPI's OpenAPI 3.1;
Swagger UI is Apache-2.0); only its static files are used. ReDoc is not offered.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

#: The files of the docs page, under ``<docs_url>/assets/``.
ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon.png")


def assets_directory() -> Path:
    return Path(str(files("fastapi_offline") / "static"))


def install_docs(app: FastAPI, docs_url: str) -> None:
    """Serve Swagger UI at ``docs_url`` (the app is created with ``docs_url=None``)."""
    assert app.openapi_url is not None
    openapi_url = app.openapi_url
    assets_url = f"{docs_url}/assets"
    directory = assets_directory()
    missing = [name for name in ASSETS if not (directory / name).is_file()]
    if missing:
        raise RuntimeError(f"fastapi-offline's Swagger UI assets are missing from {directory}: {missing}")
    app.mount(assets_url, StaticFiles(directory=directory), name="docs-assets")

    @app.get(docs_url, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{assets_url}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{assets_url}/swagger-ui.css",
            swagger_favicon_url=f"{root}{assets_url}/favicon.png",
            oauth2_redirect_url=None,
        )
