"""docs/integrations.md's third-party provider (docs/examples/billow-acme-crm) works as documented:
installed through the entry point its pyproject declares, configured through the API, syncing a customer
and a subscription to a stand-in of its API."""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from billow.providers import registry
from tests.conftest import Api
from tests.fixtures.standin import Request, Response, StandIn
from tests.integrations.conftest import install_entry_points

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "billow-acme-crm"


class FakeAcme(StandIn):
    def __init__(self) -> None:
        super().__init__()
        self.objects: dict[str, dict] = {}
        self.route("POST", r"/(?P<kind>contacts|deals)", self.create)
        self.route("PATCH", r"/(?P<kind>contacts|deals)/(?P<id>\w+)", self.update)

    def create(self, request: Request) -> Response:
        if request.headers.get("acme-workspace") != "sales":
            return Response.json(403, {"error": "wrong workspace"})
        found = {"id": f"{request.params['kind'][:2]}{len(self.objects) + 1}", **request.json()}
        self.objects[found["id"]] = found
        return Response.json(201, {**found, "url": f"https://acme.example/{found['id']}"})

    def update(self, request: Request) -> Response:
        self.objects[request.params["id"]].update(request.json())
        return Response.json(200, self.objects[request.params["id"]])


@pytest.fixture
def acme_installed(tmp_path: Path) -> Iterator[None]:
    declared = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())
    entries = declared["project"]["entry-points"]["billow.providers"]
    install_entry_points(tmp_path, "billow_acme_crm", entries)
    sys.path[:0] = [str(EXAMPLE), str(tmp_path)]
    registry.reload()
    yield
    sys.path.remove(str(EXAMPLE))
    sys.path.remove(str(tmp_path))
    sys.modules.pop("billow_acme_crm", None)
    registry.reload()


def test_the_documented_provider(api: Api, acme_installed: None) -> None:
    types = {p["type"]: p for p in api.get("/integrations/providers").json()["providers"]}
    assert types["acme_crm"] == {
        "type": "acme_crm",
        "kind": "crm",
        "settings_fields": {"workspace": True, "pipeline": False},
        "secret_fields": {"api_key": True},
    }
    bad = {
        "type": "acme_crm",
        "code": "acme",
        "name": "Acme",
        "settings": {"workspace": "no way"},
        "secrets": {"api_key": "k"},
    }
    assert api.post("/integrations", {"integration": bad}).json()["error_details"] == {
        "workspace": ["value_is_invalid"]
    }
    with FakeAcme() as acme:
        body = {**bad, "settings": {"workspace": "sales"}, "api_base_url": acme.url}
        assert api.post("/integrations", {"integration": body}).status_code == 200
        customer = {
            "external_id": "cus_1",
            "name": "Ann",
            "integration_customers": [
                {"integration_type": "acme_crm", "integration_code": "acme", "sync_with_provider": True}
            ],
        }
        assert api.post("/customers", {"customer": customer}).status_code == 200
        plan = {
            "name": "Pro",
            "code": "pro",
            "interval": "monthly",
            "amount_cents": 4900,
            "amount_currency": "EUR",
        }
        assert api.post("/plans", {"plan": plan}).status_code == 200
        subscription = {"external_customer_id": "cus_1", "plan_code": "pro", "external_id": "sub_1"}
        assert api.post("/subscriptions", {"subscription": subscription}).status_code == 200
        assert acme.objects == {
            "co1": {"id": "co1", "name": "Ann", "email": None, "external_ref": "cus_1"},
            "de2": {
                "id": "de2",
                "title": "Pro",
                "contact": "co1",
                "amount_cents": 4900,
                "currency": "EUR",
                "stage": "won",
                "pipeline": None,
            },
        }
        assert {r.headers["authorization"] for r in acme.requests} == {"Bearer k"}
