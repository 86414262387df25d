"""/app/audit_logs: the dashboard's view of the activity logs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from billow.access.permissions import BUILTIN_ROLES
from tests.conftest import Api
from tests.fixtures.pages import Pages


def world(api: Api) -> None:
    assert api.post("/taxes", json={"tax": {"name": "VAT", "code": "vat", "rate": "20"}}).status_code == 200
    assert api.put("/taxes/vat", json={"tax": {"name": "Value <added> tax"}}).status_code == 200
    assert api.post("/customers", json={"customer": {"external_id": "c1"}}).status_code == 200


class TestList:
    def test_lists_with_changes(self, api: Api, pages_as: Callable[..., Pages]) -> None:
        world(api)
        response = pages_as("viewer").get("/app/audit_logs")
        assert response.status_code == 200
        html = response.text
        assert html.count("<h1>") == 1
        assert "<code>tax.updated</code>" in html
        assert "<code>customer.created</code>" in html
        assert "customer c1" in html
        # Before and after, escaped.
        assert '<th scope="row">name</th><td>VAT</td><td>Value &lt;added&gt; tax</td>' in html
        assert "<added>" not in html
        assert html.index("tax.updated") < html.index("tax.created")  # newest first
        for field in ("activity_type", "source", "user_email", "resource_id"):
            assert f'<label for="{field}">' in html

    def test_filters(self, api: Api, pages_as: Callable[..., Pages]) -> None:
        world(api)
        pages = pages_as("admin")
        html = pages.get("/app/audit_logs", params={"activity_type": "tax.created"}).text
        assert "<code>tax.created</code>" in html and "<code>tax.updated</code>" not in html
        html = pages.get("/app/audit_logs", params={"source": "front"}).text
        assert "No activity matches." in html
        html = pages.get("/app/audit_logs", params={"source": "system"}).text
        assert "<code>organization.created</code>" in html and "tax.created" not in html
        html = pages.get("/app/audit_logs", params={"user_email": "nobody@example.com"}).text
        assert "No activity matches." in html
        html = pages.get("/app/audit_logs", params={"resource_id": "not-an-id"}).text
        assert "No activity matches." in html

    def test_dashboard_changes_show_the_member(
        self, api: Api, pages_as: Callable[..., Pages], factory: Any
    ) -> None:
        from decimal import Decimal

        from billow.kit.actor import Actor, set_actor
        from billow.models.taxes import Tax

        with factory.begin() as session:
            set_actor(session, Actor(source="front", email="ann@example.com"))
            session.add(Tax(organization_id=api.organization.id, name="VAT", code="vat", rate=Decimal(20)))
        html = pages_as("admin").get("/app/audit_logs", params={"source": "front"}).text
        assert "ann@example.com" in html and "<code>tax.created</code>" in html

    def test_pagination(self, api: Api, pages_as: Callable[..., Pages]) -> None:
        for n in range(55):
            assert (
                api.post("/taxes", json={"tax": {"name": "T", "code": f"t{n}", "rate": "1"}}).status_code
                == 200
            )
        pages = pages_as("admin")
        first = pages.get("/app/audit_logs").text
        assert "page 1 of 2" in first and "page=2" in first
        second = pages.get("/app/audit_logs", params={"page": 2}).text
        assert "page 2 of 2" in second and "<code>organization.created</code>" in second


class TestAccess:
    def test_other_organization_sees_only_its_own(
        self, api: Api, other_api: Api, pages_as: Callable[..., Pages]
    ) -> None:
        world(api)
        html = pages_as("admin", other_api.organization).get("/app/audit_logs").text
        assert "tax.created" not in html and "customer c1" not in html

    def test_a_role_without_the_permission_is_forbidden(
        self, api: Api, pages_as: Callable[..., Pages], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setitem(BUILTIN_ROLES, "no_audit", BUILTIN_ROLES["viewer"] - {"audit_logs:view"})
        assert pages_as("no_audit").get("/app/audit_logs").status_code == 403
        assert pages_as("viewer").get("/app/audit_logs").status_code == 200
