"""GET /customers/{external_customer_id}/portal_url: Lago's shape, a link signed for the customer, 404s."""

from __future__ import annotations

import pytest

from billow.config import current_settings
from billow.portal.links import read_token
from tests.conftest import Api, Clock
from tests.portal.conftest import customer, token_of


class TestPortalUrl:
    def test_shape_and_token(self, api: Api, clock: Clock) -> None:
        created = customer(api)
        response = api.get("/customers/cus_portal/portal_url")
        assert response.status_code == 200, response.text
        body = response.json()
        assert list(body) == ["customer"] and list(body["customer"]) == ["portal_url"]
        url = body["customer"]["portal_url"]
        assert url.startswith("http://localhost:3000/portal/")
        claims = read_token(current_settings(), token_of(url), now=int(clock.now.timestamp()))
        assert (str(claims.organization_id), str(claims.customer_id)) == (
            str(api.organization.id),
            created["lago_id"],
        )
        assert claims.expires == int(clock.now.timestamp()) + 24 * 3600

    def test_ttl_and_public_url_settings(
        self, api: Api, clock: Clock, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        customer(api)
        monkeypatch.setenv("BILLOW_PORTAL_LINK_TTL_HOURS", "2")
        monkeypatch.setenv("BILLOW_PUBLIC_URL", "https://billing.example.com/")
        url = api.get("/customers/cus_portal/portal_url").json()["customer"]["portal_url"]
        assert url.startswith("https://billing.example.com/portal/")
        claims = read_token(current_settings(), token_of(url), now=int(clock.now.timestamp()))
        assert claims.expires == int(clock.now.timestamp()) + 2 * 3600

    def test_unknown_customer(self, api: Api) -> None:
        response = api.get("/customers/nobody/portal_url")
        assert (response.status_code, response.json()) == (
            404,
            {"status": 404, "error": "Not Found", "code": "customer_not_found"},
        )

    def test_other_organizations_customer(self, api: Api, other_api: Api) -> None:
        customer(other_api)
        assert other_api.get("/customers/cus_portal/portal_url").status_code == 200
        response = api.get("/customers/cus_portal/portal_url")
        assert (response.status_code, response.json()["code"]) == (404, "customer_not_found")

    def test_deleted_customer(self, api: Api) -> None:
        customer(api)
        assert api.delete("/customers/cus_portal").status_code == 200
        assert api.get("/customers/cus_portal/portal_url").status_code == 404

    def test_needs_an_api_key(self, api: Api) -> None:
        customer(api)
        assert api.client.get("/api/v1/customers/cus_portal/portal_url").status_code == 401
