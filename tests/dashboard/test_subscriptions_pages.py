"""``/app/subscriptions``: list and filters, create (with errors), change plan (upgrade now, downgrade at
the period's end), terminate after a confirmation, roles and tenancy."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI

from tests.conftest import Api
from tests.dashboard.billing_world import BillingWorld
from tests.fixtures.pages import Pages

Sign = Callable[..., Pages]


@pytest.fixture
def world(app: FastAPI, api: Api) -> Iterator[BillingWorld]:
    yield BillingWorld(app, api)
    app.dependency_overrides.clear()


def subscriptions(api: Api, **params: str) -> list[dict]:
    body = api.get(
        "/subscriptions", params={"status[]": ["active", "pending", "terminated"], **params}
    ).json()
    return body["subscriptions"]


class TestList:
    def test_filters(self, world: BillingWorld, pages_as: Sign) -> None:
        metric = world.metric()
        world.plan("pro", metrics=[metric])
        world.plan("basic", amount_cents=900)
        world.customer("acme-1")
        world.customer("globex-7", name="Globex")
        world.subscribe("acme-1", "pro", "sub-1")
        world.subscribe("globex-7", "basic", "sub-2")
        world.subscribe("globex-7", "basic", "sub-3", subscription_at="2024-04-01T00:00:00Z")  # pending
        pages = pages_as("viewer")
        default = pages.get("/app/subscriptions").text  # active ones
        assert ">sub-1<" in default and ">sub-2<" in default and ">sub-3<" not in default
        by_plan = pages.get("/app/subscriptions", params={"plan_code": "basic"}).text
        assert ">sub-1<" not in by_plan and ">sub-2<" in by_plan
        by_customer = pages.get("/app/subscriptions", params={"external_customer_id": "acme-1"}).text
        assert ">sub-1<" in by_customer and ">sub-2<" not in by_customer
        pending = pages.get("/app/subscriptions", params={"status": "pending"}).text
        assert ">sub-3<" in pending and ">sub-1<" not in pending
        everything = pages.get("/app/subscriptions", params={"status": "all"}).text
        assert all(f">sub-{n}<" in everything for n in (1, 2, 3))


class TestCreate:
    def test_create(self, world: BillingWorld, pages_as: Sign, api: Api) -> None:
        world.plan("basic", amount_cents=900)
        world.customer("acme-1")
        pages = pages_as("manager")
        form = pages.get("/app/subscriptions/new", params={"external_customer_id": "acme-1"}).text
        assert 'value="acme-1"' in form and '<option value="basic">Basic</option>' in form
        response = pages.post(
            "/app/subscriptions/new",
            {
                "external_customer_id": "acme-1",
                "plan_code": "basic",
                "external_id": "sub-9",
                "billing_time": "anniversary",
                "subscription_at": "2024-03-05",
            },
        )
        assert response.status_code == 303, response.text
        [created] = subscriptions(api)
        assert response.headers["location"].startswith(f"/app/subscriptions/{created['lago_id']}?")
        assert (created["external_id"], created["plan_code"], created["billing_time"]) == (
            "sub-9",
            "basic",
            "anniversary",
        )
        assert created["subscription_at"] == "2024-03-05T00:00:00Z"
        assert created["status"] == "active"
        page = pages.get(f"/app/subscriptions/{created['lago_id']}").text
        assert "Plan Basic (<code>basic</code>)" in page and "9.00 EUR per month" in page

    def test_refused(self, world: BillingWorld, pages_as: Sign, api: Api) -> None:
        world.customer("acme-1")
        world.plan("basic", amount_cents=900)
        pages = pages_as("admin")
        unknown_plan = pages.post(
            "/app/subscriptions/new",
            {"external_customer_id": "acme-1", "plan_code": "nope", "external_id": "s"},
        )
        assert unknown_plan.status_code == 422
        assert "plan_not_found" in unknown_plan.text
        bad_date = pages.post(
            "/app/subscriptions/new",
            {
                "external_customer_id": "acme-1",
                "plan_code": "basic",
                "external_id": "s",
                "subscription_at": "soon",
            },
        )
        assert bad_date.status_code == 422
        assert 'id="e-subscription_at">invalid_date<' in bad_date.text
        assert subscriptions(api) == []


class TestChangePlan:
    def test_upgrade_now(self, world: BillingWorld, pages_as: Sign, api: Api) -> None:
        made = world.standard()
        world.plan("enterprise", amount_cents=99900)
        pages = pages_as("manager")
        url = f"/app/subscriptions/{made['subscription']['lago_id']}/change_plan"
        assert '<option value="enterprise">Enterprise</option>' in pages.get(url).text
        response = pages.post(url, {"plan_code": "enterprise"})
        assert response.status_code == 303
        [active] = [s for s in subscriptions(api) if s["status"] == "active"]
        assert (active["external_id"], active["plan_code"], active["previous_plan_code"]) == (
            "sub-1",
            "enterprise",
            "pro",
        )
        assert response.headers["location"].startswith(
            f"/app/subscriptions/{active['lago_id']}?flash=Plan+changed"
        )

    def test_downgrade_at_the_period_end(self, world: BillingWorld, pages_as: Sign, api: Api) -> None:
        made = world.standard()
        world.plan("basic", amount_cents=900)
        response = pages_as("manager").post(
            f"/app/subscriptions/{made['subscription']['lago_id']}/change_plan", {"plan_code": "basic"}
        )
        assert response.status_code == 303
        assert "Downgrade+scheduled" in response.headers["location"]
        current = api.get("/subscriptions/sub-1").json()["subscription"]
        assert (current["plan_code"], current["next_plan_code"], current["downgrade_plan_date"]) == (
            "pro",
            "basic",
            "2024-04-01",
        )

    def test_refused(self, world: BillingWorld, pages_as: Sign, api: Api) -> None:
        made = world.standard()
        pages = pages_as("manager")
        url = f"/app/subscriptions/{made['subscription']['lago_id']}/change_plan"
        missing = pages.post(url, {"plan_code": ""})
        assert missing.status_code == 422 and 'id="e-plan_code">value_is_mandatory<' in missing.text
        unknown = pages.post(url, {"plan_code": "nope"})
        assert unknown.status_code == 422 and "plan_not_found" in unknown.text
        assert api.get("/subscriptions/sub-1").json()["subscription"]["plan_code"] == "pro"


class TestTerminate:
    def test_confirm_then_terminate(self, world: BillingWorld, pages_as: Sign, api: Api) -> None:
        made = world.standard()
        pages = pages_as("manager")
        url = f"/app/subscriptions/{made['subscription']['lago_id']}/terminate"
        confirm = pages.get(url).text
        assert "<h1>Terminate subscription sub-1?</h1>" in confirm
        assert api.get("/subscriptions/sub-1").json()["subscription"]["status"] == "active"
        response = pages.post(url)
        assert response.status_code == 303
        assert "Subscription+terminated" in response.headers["location"]
        [ended] = subscriptions(api)
        assert ended["status"] == "terminated" and ended["terminated_at"] == "2024-03-10T12:00:00Z"
        assert "Terminate" not in pages.get(f"/app/subscriptions/{ended['lago_id']}").text.split("<dl")[0]

    def test_cancel_a_pending_one(self, world: BillingWorld, pages_as: Sign, api: Api) -> None:
        world.plan("basic", amount_cents=900)
        world.customer()
        pending = world.subscribe(plan="basic", subscription_at="2024-04-01T00:00:00Z")
        pages = pages_as("admin")
        assert (
            "Cancel subscription sub-1?"
            in pages.get(f"/app/subscriptions/{pending['lago_id']}/terminate").text
        )
        assert pages.post(f"/app/subscriptions/{pending['lago_id']}/terminate").status_code == 303
        assert [
            s["status"]
            for s in api.get("/subscriptions", params={"status[]": "canceled"}).json()["subscriptions"]
        ] == ["canceled"]


class TestRolesAndTenancy:
    def test_viewer_and_finance_change_nothing(self, world: BillingWorld, pages_as: Sign, api: Api) -> None:
        made = world.standard()
        world.plan("basic", amount_cents=900)
        lago_id = made["subscription"]["lago_id"]
        for role in ("viewer", "finance"):
            pages = pages_as(role)
            for path, data in [
                (
                    "/app/subscriptions/new",
                    {"external_customer_id": "acme-1", "plan_code": "basic", "external_id": "x"},
                ),
                (f"/app/subscriptions/{lago_id}/change_plan", {"plan_code": "basic"}),
                (f"/app/subscriptions/{lago_id}/terminate", {}),
            ]:
                assert pages.post(path, data).status_code == 403, (role, path)
            assert pages.get(f"/app/subscriptions/{lago_id}").status_code == 200
        [only] = subscriptions(api)
        assert (only["plan_code"], only["status"], only["next_plan_code"]) == ("pro", "active", None)

    def test_another_organization_gets_404(
        self, world: BillingWorld, pages_as: Sign, other_api: Api, api: Api
    ) -> None:
        made = world.standard()
        lago_id = made["subscription"]["lago_id"]
        pages = pages_as("admin", other_api.organization)
        for path in ("", "/change_plan", "/terminate"):
            assert pages.get(f"/app/subscriptions/{lago_id}{path}").status_code == 404, path
        assert pages.post(f"/app/subscriptions/{lago_id}/terminate").status_code == 404
        assert (
            pages.post(f"/app/subscriptions/{lago_id}/change_plan", {"plan_code": "pro"}).status_code == 404
        )
        assert ">sub-1<" not in pages.get("/app/subscriptions").text
        assert api.get("/subscriptions/sub-1").json()["subscription"]["status"] == "active"
