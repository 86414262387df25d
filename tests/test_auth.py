from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import Api


def test_missing_key_is_401(client: TestClient) -> None:
    response = client.get("/api/v1/taxes")
    assert response.status_code == 401
    assert response.json() == {"status": 401, "error": "Unauthorized"}


def test_unknown_key_is_401(client: TestClient) -> None:
    response = client.get("/api/v1/taxes", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert response.json() == {"status": 401, "error": "Unauthorized"}


def test_valid_key(api: Api) -> None:
    assert api.get("/taxes").status_code == 200


def test_unknown_route_is_lago_404(api: Api) -> None:
    response = api.get("/nothing_here")
    assert response.status_code == 404
    assert response.json() == {"status": 404, "error": "Not Found", "code": "resource_not_found"}


def test_health(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_openapi_published(client: TestClient) -> None:
    document = client.get("/api/v1/openapi.json").json()
    assert "/api/v1/taxes" in document["paths"]


def test_health_503_when_database_unreachable() -> None:
    from billow.app import create_app
    from billow.config import Settings

    app = create_app(Settings(database_url="postgresql://postgres@127.0.0.1:1/nothing"))
    with TestClient(app) as client:
        response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"
