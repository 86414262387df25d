"""``billow.kit.strict_json``: NaN / Infinity are malformed JSON, and every body route follows the rule."""

from __future__ import annotations

import json

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from billow.kit import strict_json


class Body(BaseModel):
    x: object = None


def _app(route_class: type = strict_json.StrictJSONRoute) -> FastAPI:
    router = APIRouter(route_class=route_class)

    @router.post("/echo")
    def echo(body: Body) -> dict:
        return {"x": body.x}

    app = FastAPI()
    app.include_router(router)
    return app


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_loads_refuses_constants(token: str) -> None:
    with pytest.raises(json.JSONDecodeError):
        strict_json.loads(f'{{"x": [1, {token}]}}'.encode())


def test_loads_parses_json() -> None:
    assert strict_json.loads(b'{"x": [1, 2.5, "NaN"]}') == {"x": [1, 2.5, "NaN"]}


def test_route_answers_json_invalid_for_nan() -> None:
    client = TestClient(_app())
    response = client.post("/echo", content=b'{"x": NaN}', headers={"Content-Type": "application/json"})
    assert response.status_code == 422  # FastAPI's own json_invalid (billow's app maps it to 400)
    assert response.json()["detail"][0]["type"] == "json_invalid"
    assert client.post("/echo", json={"x": 1.5}).json() == {"x": 1.5}


def test_check_refuses_a_loose_route() -> None:
    strict_json.check(_app())
    from fastapi.routing import APIRoute

    with pytest.raises(RuntimeError, match="/echo"):
        strict_json.check(_app(APIRoute))


def test_every_route_of_billow_follows_the_rule() -> None:
    from billow.app import _api_routers

    app = FastAPI()
    for router in _api_routers():
        app.include_router(router, prefix="/api/v1")
    bodies = [r for r in strict_json._routes(app.router.routes) if getattr(r, "body_field", None) is not None]
    assert len(bodies) > 20
    strict_json.check(app)
