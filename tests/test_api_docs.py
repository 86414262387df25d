"""The interactive API docs work offline: the page loads Swagger UI from Billow, not from a CDN."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

DOCS = "/api/v1/docs"


def _references(page: str) -> list[str]:
    """Every URL the page loads: ``src``/``href`` attributes and the OpenAPI document's ``url``."""
    return re.findall(r'\b(?:src|href)="([^"]*)"', page) + re.findall(r"\burl: '([^']*)'", page)


class TestDocsPage:
    def test_references_only_local_assets(self, client: TestClient) -> None:
        response = client.get(DOCS)
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        page = response.text
        assert sorted(_references(page)) == [
            f"{DOCS}/assets/favicon.png",
            f"{DOCS}/assets/swagger-ui-bundle.js",
            f"{DOCS}/assets/swagger-ui.css",
            "/api/v1/openapi.json",
        ]
        assert "//" not in page.replace("<!--", "")  # no absolute or protocol-relative URL anywhere
        assert "SwaggerUIBundle(" in page

    def test_assets_are_served(self, client: TestClient) -> None:
        expected = {
            "swagger-ui-bundle.js": ("text/javascript; charset=utf-8", b"SwaggerUIBundle"),
            "swagger-ui.css": ("text/css; charset=utf-8", b".swagger-ui"),
            "favicon.png": ("image/png", b"\x89PNG\r\n"),
        }
        for name, (content_type, marker) in expected.items():
            response = client.get(f"{DOCS}/assets/{name}")
            assert response.status_code == 200, name
            assert response.headers["content-type"] == content_type, name
            assert marker in response.content[:200_000], name

    def test_swagger_ui_5_for_openapi_3_1(self, client: TestClient) -> None:
        # Swagger UI 4 cannot render an OpenAPI 3.1 document (FastAPI's): the page would say so.
        assert client.get("/api/v1/openapi.json").json()["openapi"].startswith("3.1")
        bundle = client.get(f"{DOCS}/assets/swagger-ui-bundle.js").text
        assert "OAS31ComponentWrapper" in bundle  # Swagger UI 5's OpenAPI 3.1 plugin (absent in 4.x)

    def test_unknown_asset_is_a_lago_404(self, client: TestClient) -> None:
        response = client.get(f"{DOCS}/assets/nothing.js")
        assert response.status_code == 404
        assert response.json() == {"status": 404, "error": "Not Found", "code": "resource_not_found"}

    def test_not_in_the_openapi_document(self, client: TestClient) -> None:
        paths = client.get("/api/v1/openapi.json").json()["paths"]
        assert not [path for path in paths if path.startswith(DOCS)]
