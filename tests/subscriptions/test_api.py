from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from lago_python_client.models.subscription import SubscriptionResponse
from sqlalchemy import func, select

from billow.models.customers import Customer
from billow.models.organizations import Organization
from billow.models.subscriptions import Subscription
from billow.subscriptions.dependencies import request_time
from billow.subscriptions.repository import subscription_repository
from billow.subscriptions.service import subscription_service
from tests.conftest import Api

NOW = "2024-05-10T12:00:00Z"


def at(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


class Clock:
    """The request time the subscription endpoints see."""

    def __init__(self, app: FastAPI):
        self.app = app
        self.now = at(NOW)
        app.dependency_overrides[request_time] = lambda: self.now

    def set(self, value: str) -> None:
        self.now = at(value)


@pytest.fixture
def clock(app: FastAPI) -> Iterator[Clock]:
    yield Clock(app)
    app.dependency_overrides.pop(request_time, None)


def create_plan(api: Api, code: str = "starter", **overrides: Any) -> dict:
    body = {
        "name": code.title(),
        "code": code,
        "interval": "monthly",
        "amount_cents": 1000,
        "amount_currency": "EUR",
        **overrides,
    }
    response = api.post("/plans", json={"plan": body})
    assert response.status_code == 200, response.text
    return response.json()["plan"]


def post_subscription(api: Api, **fields: Any) -> Any:
    body = {"external_customer_id": "cus_1", "plan_code": "starter", "external_id": "sub_1", **fields}
    return api.post("/subscriptions", json={"subscription": body})


def create_subscription(api: Api, **fields: Any) -> dict:
    response = post_subscription(api, **fields)
    assert response.status_code == 200, response.text
    return response.json()["subscription"]


def upsert_customer(api: Api, external_id: str = "cus_1", **fields: Any) -> dict:
    response = api.post("/customers", json={"customer": {"external_id": external_id, **fields}})
    assert response.status_code == 200, response.text
    return response.json()["customer"]


def validation_error(details: dict[str, list[str]]) -> dict:
    return {
        "status": 422,
        "error": "Unprocessable Entity",
        "code": "validation_errors",
        "error_details": details,
    }


def not_found(resource: str) -> dict:
    return {"status": 404, "error": "Not Found", "code": f"{resource}_not_found"}


def listed(response: Any) -> list[tuple[str, str]]:
    assert response.status_code == 200, response.text
    return [(s["external_id"], s["status"]) for s in response.json()["subscriptions"]]


def subscription_count(app: FastAPI) -> int:
    with app.state.sessionmaker() as session:
        return session.scalar(select(func.count()).select_from(Subscription)) or 0


# ------------------------------------------------------------------------------------------- create


class TestCreate:
    def test_lago_shape(self, api: Api, clock: Clock) -> None:
        plan = create_plan(api)
        sub = create_subscription(api, name="Main", billing_time="calendar")
        customer = api.get("/customers/cus_1").json()["customer"]
        assert sub == {
            "lago_id": sub["lago_id"],
            "external_id": "sub_1",
            "lago_customer_id": customer["lago_id"],
            "external_customer_id": "cus_1",
            "name": "Main",
            "plan_code": "starter",
            "plan_amount_cents": 1000,
            "plan_amount_currency": "EUR",
            "status": "active",
            "billing_time": "calendar",
            "subscription_at": "2024-05-10T12:00:00Z",
            "started_at": "2024-05-10T12:00:00.000Z",
            "trial_ended_at": None,
            "ending_at": None,
            "terminated_at": None,
            "canceled_at": None,
            "created_at": sub["created_at"],
            "previous_plan_code": None,
            "next_plan_code": None,
            "downgrade_plan_date": None,
            "current_billing_period_started_at": "2024-05-10T12:00:00Z",
            "current_billing_period_ending_at": "2024-05-31T23:59:59Z",
            "on_termination_credit_note": None,
            "on_termination_invoice": "generate",
            "progressive_billing_disabled": False,
            "consolidate_invoice": True,
            "purchase_order_number": None,
            "cancellation_reason": None,
            "activated_at": "2024-05-10T12:00:00Z",
            "payment_method": {"payment_method_id": None, "payment_method_type": "provider"},
            "activation_rules": [],
            "plan": {**plan, "active_subscriptions_count": 1, "customers_count": 1},
            "entitlements": [],
            "applicable_usage_thresholds": [],
            "applied_invoice_custom_sections": [],
        }
        assert sub["created_at"].endswith("Z")
        assert SubscriptionResponse.parse_obj(sub).lago_id == sub["lago_id"]

    def test_defaults(self, api: Api, clock: Clock) -> None:
        """subscription_at defaults to now, billing_time to calendar, name to "" (as Lago)."""
        create_plan(api)
        sub = create_subscription(api)
        assert (sub["subscription_at"], sub["billing_time"], sub["name"]) == (
            "2024-05-10T12:00:00Z",
            "calendar",
            "",
        )

    def test_backdated_starts_at_subscription_at(self, api: Api, clock: Clock) -> None:
        create_plan(api)
        sub = create_subscription(api, subscription_at="2024-01-15T08:30:00Z")
        assert sub["status"] == "active"
        assert sub["started_at"] == "2024-01-15T08:30:00.000Z"
        assert sub["current_billing_period_started_at"] == "2024-05-01T00:00:00Z"
        assert sub["current_billing_period_ending_at"] == "2024-05-31T23:59:59Z"

    def test_date_only_and_offsets(self, api: Api, clock: Clock) -> None:
        create_plan(api)
        assert (
            create_subscription(api, subscription_at="2024-02-01")["started_at"] == "2024-02-01T00:00:00.000Z"
        )
        other = create_subscription(api, external_id="sub_2", subscription_at="2024-02-01T10:00:00+02:00")
        assert other["subscription_at"] == "2024-02-01T08:00:00Z"

    def test_future_is_pending(self, api: Api, clock: Clock) -> None:
        create_plan(api)
        sub = create_subscription(api, subscription_at="2024-05-10T12:00:01Z")
        assert sub["status"] == "pending"
        assert sub["started_at"] is None
        assert sub["activated_at"] is None
        assert sub["current_billing_period_started_at"] is None
        assert sub["current_billing_period_ending_at"] is None

    def test_now_is_active(self, api: Api, clock: Clock) -> None:
        create_plan(api)
        assert create_subscription(api, subscription_at=NOW)["status"] == "active"

    def test_numbers_are_read_as_text(self, api: Api, clock: Clock) -> None:
        create_plan(api)
        sub = create_subscription(api, external_customer_id=123, external_id=789, name=456)
        assert (sub["external_customer_id"], sub["external_id"], sub["name"]) == ("123", "789", "456")

    def test_identifiers_are_stripped(self, api: Api, clock: Clock) -> None:
        create_plan(api)
        sub = create_subscription(api, external_customer_id=" cus_1 ", external_id=" sub_1 ", name=" Main ")
        assert (sub["external_customer_id"], sub["external_id"], sub["name"]) == ("cus_1", "sub_1", "Main")

    def test_optional_settings(self, api: Api, clock: Clock) -> None:
        create_plan(api, usage_thresholds=[{"amount_cents": 500, "threshold_display_name": "Half"}])
        sub = create_subscription(
            api,
            billing_time="anniversary",
            ending_at="2025-01-01T00:00:00Z",
            purchase_order_number=" PO-1 ",
            consolidate_invoice=False,
        )
        assert sub["billing_time"] == "anniversary"
        assert sub["ending_at"] == "2025-01-01T00:00:00Z"
        assert sub["purchase_order_number"] == "PO-1"
        assert sub["consolidate_invoice"] is False
        assert sub["applicable_usage_thresholds"] == [
            {"threshold_display_name": "Half", "amount_cents": 500, "recurring": False}
        ]
        off = create_subscription(api, external_id="sub_2", progressive_billing_disabled=True)
        assert (off["progressive_billing_disabled"], off["applicable_usage_thresholds"]) == (True, [])

    def test_plan_overrides_make_a_child_plan(self, api: Api, clock: Clock) -> None:
        # More in tests/subscriptions/test_plan_overrides.py.
        create_plan(api)
        sub = create_subscription(api, plan_overrides={"amount_cents": 1, "name": "Cheap"})
        assert (sub["plan_code"], sub["plan_amount_cents"], sub["plan"]["name"]) == ("starter", 1, "Cheap")

    def test_missing_root_key(self, api: Api) -> None:
        response = api.post("/subscriptions", json={"plan_code": "starter"})
        assert response.status_code == 400
        assert response.json() == {
            "status": 400,
            "error": "BadRequest: param is missing or the value is empty or invalid: subscription",
        }


class TestCreateValidation:
    def test_unknown_plan_creates_nothing(self, api: Api, app: FastAPI, clock: Clock) -> None:
        create_plan(api)
        response = post_subscription(api, external_customer_id="cus_new", plan_code="nope")
        assert (response.status_code, response.json()) == (404, not_found("plan"))
        assert api.get("/customers/cus_new").status_code == 404
        assert subscription_count(app) == 0

    def test_missing_plan_code(self, api: Api, clock: Clock) -> None:
        response = api.post(
            "/subscriptions", json={"subscription": {"external_customer_id": "c", "external_id": "s"}}
        )
        assert (response.status_code, response.json()) == (404, not_found("plan"))

    def test_mandatory_identifiers(self, api: Api, clock: Clock) -> None:
        create_plan(api)
        response = api.post(
            "/subscriptions", json={"subscription": {"plan_code": "starter", "external_id": " "}}
        )
        assert response.status_code == 422
        assert response.json() == validation_error(
            {"external_customer_id": ["value_is_mandatory"], "external_id": ["value_is_mandatory"]}
        )

    @pytest.mark.parametrize("value", ["hello", "", 1714000000, "2024-13-01"])
    def test_invalid_subscription_at(self, api: Api, app: FastAPI, clock: Clock, value: Any) -> None:
        create_plan(api)
        response = post_subscription(api, external_customer_id="cus_new", subscription_at=value)
        assert (response.status_code, response.json()) == (
            422,
            validation_error({"subscription_at": ["invalid_date"]}),
        )
        assert api.get("/customers/cus_new").status_code == 404

    @pytest.mark.parametrize(
        "ending_at",
        [
            "2024-05-10T23:00:00Z",  # same day as the start (and as today)
            "2024-05-01T00:00:00Z",  # before the start
            "soon",
        ],
    )
    def test_invalid_ending_at(self, api: Api, clock: Clock, ending_at: str) -> None:
        create_plan(api)
        response = post_subscription(api, ending_at=ending_at)
        assert (response.status_code, response.json()) == (
            422,
            validation_error({"ending_at": ["invalid_date"]}),
        )

    def test_ending_at_must_be_after_today_even_when_backdated(self, api: Api, clock: Clock) -> None:
        create_plan(api)
        response = post_subscription(api, subscription_at="2024-01-01", ending_at="2024-05-09T00:00:00Z")
        assert response.json()["error_details"] == {"ending_at": ["invalid_date"]}
        assert (
            create_subscription(api, subscription_at="2024-01-01", ending_at="2024-05-11")["status"]
            == "active"
        )

    def test_empty_ending_at_means_none(self, api: Api, clock: Clock) -> None:
        create_plan(api)
        assert create_subscription(api, ending_at="")["ending_at"] is None

    def test_invalid_billing_time(self, api: Api, clock: Clock) -> None:
        create_plan(api)
        response = post_subscription(api, billing_time="monthly")
        assert response.json() == validation_error({"billing_time": ["value_is_invalid"]})

    def test_too_long(self, api: Api, clock: Clock) -> None:
        create_plan(api)
        response = post_subscription(api, external_id="x" * 256, name="n" * 256)
        assert response.json() == validation_error(
            {"external_id": ["value_is_too_long"], "name": ["value_is_too_long"]}
        )


class TestCustomerAndCurrency:
    def test_unknown_customer_is_created_with_the_plan_currency(self, api: Api, clock: Clock) -> None:
        create_plan(api)
        sub = create_subscription(api, external_customer_id="cus_new")
        customer = api.get("/customers/cus_new").json()["customer"]
        assert (customer["lago_id"], customer["currency"]) == (sub["lago_customer_id"], "EUR")

    def test_existing_customer_without_currency_adopts_the_plans(self, api: Api, clock: Clock) -> None:
        create_plan(api)
        known = upsert_customer(api, name="Known")
        sub = create_subscription(api)
        assert sub["lago_customer_id"] == known["lago_id"]
        assert api.get("/customers/cus_1").json()["customer"]["currency"] == "EUR"

    def test_customer_with_another_currency(self, api: Api, app: FastAPI, clock: Clock) -> None:
        create_plan(api)
        upsert_customer(api, currency="USD")
        response = post_subscription(api)
        assert (response.status_code, response.json()) == (
            422,
            validation_error({"currency": ["currencies_does_not_match"]}),
        )
        assert subscription_count(app) == 0

    def test_second_plan_in_another_currency(self, api: Api, clock: Clock) -> None:
        create_plan(api)
        create_plan(api, "dollars", amount_currency="USD")
        create_subscription(api)
        response = post_subscription(api, external_id="sub_2", plan_code="dollars")
        assert response.json() == validation_error({"currency": ["currencies_does_not_match"]})


class TestSameExternalId:
    def test_same_plan_returns_the_live_subscription(self, api: Api, app: FastAPI, clock: Clock) -> None:
        """As Lago: re-posting is not an error and changes nothing."""
        create_plan(api)
        first = create_subscription(api, name="First")
        again = create_subscription(api, name="Second", subscription_at="2024-01-01")
        assert (again["lago_id"], again["name"], again["subscription_at"]) == (
            first["lago_id"],
            "First",
            first["subscription_at"],
        )
        assert subscription_count(app) == 1

    def test_same_plan_while_pending(self, api: Api, clock: Clock) -> None:
        create_plan(api)
        first = create_subscription(api, subscription_at="2024-06-01")
        assert create_subscription(api)["lago_id"] == first["lago_id"]

    def test_other_plan_is_a_plan_change(self, api: Api, app: FastAPI, clock: Clock) -> None:
        create_plan(api)
        create_plan(api, "premium", amount_cents=5000)
        create_subscription(api)
        response = post_subscription(api, plan_code="premium")
        assert response.status_code == 200, response.text
        # An upgrade (tests/subscriptions/test_plan_changes.py): the old one is terminated, a new one started.
        assert response.json()["subscription"]["previous_plan_code"] == "starter"
        assert subscription_count(app) == 2

    def test_used_by_another_customer(self, api: Api, clock: Clock) -> None:
        create_plan(api)
        create_subscription(api)
        response = post_subscription(api, external_customer_id="cus_2")
        assert (response.status_code, response.json()) == (
            422,
            validation_error({"external_id": ["value_already_exist"]}),
        )
        create_subscription(api, external_id="sub_2", subscription_at="2024-06-01")
        response = post_subscription(api, external_customer_id="cus_2", external_id="sub_2")
        assert response.json()["error_details"] == {"external_id": ["value_already_exist"]}

    def test_free_again_once_terminated(self, api: Api, clock: Clock) -> None:
        create_plan(api)
        first = create_subscription(api)
        api.delete("/subscriptions/sub_1")
        second = create_subscription(api, external_customer_id="cus_2")
        assert second["lago_id"] != first["lago_id"]
        assert second["status"] == "active"


# --------------------------------------------------------------------------------------------- read


class TestShow:
    def test_active_by_default(self, api: Api, clock: Clock) -> None:
        create_plan(api)
        created = create_subscription(api)
        response = api.get("/subscriptions/sub_1")
        assert response.status_code == 200, response.text
        assert response.json()["subscription"] == created

    def test_unknown(self, api: Api, clock: Clock) -> None:
        response = api.get("/subscriptions/nope")
        assert (response.status_code, response.json()) == (404, not_found("subscription"))

    def test_pending_needs_the_status(self, api: Api, clock: Clock) -> None:
        """As Lago, the default is ``status=active``: a pending one is found with ``status=pending``."""
        create_plan(api)
        pending = create_subscription(api, subscription_at="2024-06-01")
        assert api.get("/subscriptions/sub_1").status_code == 404
        shown = api.get("/subscriptions/sub_1", params={"status": "pending"}).json()["subscription"]
        assert shown["lago_id"] == pending["lago_id"]

    def test_latest_terminated(self, api: Api, clock: Clock) -> None:
        create_plan(api)
        create_subscription(api)
        api.delete("/subscriptions/sub_1")
        clock.set("2024-05-11T12:00:00Z")
        later = create_subscription(api)
        clock.set("2024-05-12T12:00:00Z")
        api.delete("/subscriptions/sub_1")
        shown = api.get("/subscriptions/sub_1", params={"status": "terminated"}).json()["subscription"]
        assert (shown["lago_id"], shown["terminated_at"]) == (later["lago_id"], "2024-05-12T12:00:00Z")
        assert api.get("/subscriptions/sub_1", params={"status": "bogus"}).status_code == 404

    def test_external_id_with_dots(self, api: Api, clock: Clock) -> None:
        create_plan(api)
        create_subscription(api, external_id="coker.com")
        assert api.get("/subscriptions/coker.com").json()["subscription"]["external_id"] == "coker.com"


class TestList:
    def _three(self, api: Api, clock: Clock) -> None:
        create_plan(api)
        create_plan(api, "premium", amount_cents=5000)
        create_subscription(api, external_id="a", subscription_at="2024-01-01")
        create_subscription(api, external_id="b", subscription_at="2024-03-01", plan_code="premium")
        create_subscription(api, external_customer_id="cus_2", external_id="c", subscription_at="2024-06-01")
        create_subscription(api, external_id="d", subscription_at="2024-02-01")
        api.delete("/subscriptions/d")

    def test_active_by_default_newest_start_first(self, api: Api, clock: Clock) -> None:
        self._three(api, clock)
        response = api.get("/subscriptions")
        assert listed(response) == [("b", "active"), ("a", "active")]
        item = response.json()["subscriptions"][0]
        assert "plan" not in item  # as Lago: the plan comes only with a single subscription
        assert item["plan_code"] == "premium"
        assert response.json()["meta"] == {
            "current_page": 1,
            "next_page": None,
            "prev_page": None,
            "total_pages": 1,
            "total_count": 2,
        }

    def test_status_filter(self, api: Api, clock: Clock) -> None:
        self._three(api, clock)
        assert listed(api.get("/subscriptions", params={"status[]": "pending"})) == [("c", "pending")]
        everything = api.get("/subscriptions", params={"status[]": ["active", "pending", "terminated"]})
        assert listed(everything) == [("c", "pending"), ("b", "active"), ("d", "terminated"), ("a", "active")]
        assert listed(api.get("/subscriptions", params={"status": "terminated"})) == [("d", "terminated")]

    def test_unknown_status_means_no_status_filter(self, api: Api, clock: Clock) -> None:
        """As Lago: a status it does not know drops the status filter."""
        self._three(api, clock)
        assert len(listed(api.get("/subscriptions", params={"status[]": ["active", "bogus"]}))) == 4

    def test_other_filters(self, api: Api, clock: Clock) -> None:
        self._three(api, clock)
        every = {"status[]": ["active", "pending", "terminated", "canceled"]}
        assert listed(api.get("/subscriptions", params={**every, "external_customer_id": "cus_2"})) == [
            ("c", "pending")
        ]
        assert listed(api.get("/subscriptions", params={**every, "plan_code": "premium"})) == [
            ("b", "active")
        ]
        assert listed(api.get("/subscriptions", params={"external_id": "a"})) == [("a", "active")]
        assert listed(api.get("/subscriptions", params={"currency": "USD"})) == []
        assert listed(api.get("/subscriptions", params={"external_customer_id": "nobody"})) == []

    def test_paginates(self, api: Api, clock: Clock) -> None:
        self._three(api, clock)
        body = api.get("/subscriptions", params={"per_page": 1, "page": 2}).json()
        assert [s["external_id"] for s in body["subscriptions"]] == ["a"]
        assert body["meta"] == {
            "current_page": 2,
            "next_page": None,
            "prev_page": 1,
            "total_pages": 2,
            "total_count": 2,
        }

    def test_empty(self, api: Api) -> None:
        assert api.get("/subscriptions").json() == {
            "subscriptions": [],
            "meta": {
                "current_page": 0,
                "next_page": None,
                "prev_page": None,
                "total_pages": 0,
                "total_count": 0,
            },
        }


class TestCustomerSubscriptions:
    def test_lists_the_customers_subscriptions(self, api: Api, clock: Clock) -> None:
        create_plan(api)
        create_subscription(api, external_id="a")
        create_subscription(api, external_id="b", subscription_at="2024-06-01")
        create_subscription(api, external_customer_id="cus_2", external_id="c")
        assert listed(api.get("/customers/cus_1/subscriptions")) == [("a", "active")]
        assert listed(
            api.get("/customers/cus_1/subscriptions", params={"status[]": ["active", "pending"]})
        ) == [
            ("b", "pending"),
            ("a", "active"),
        ]
        # The customer in the path wins over an external_customer_id filter.
        assert listed(
            api.get("/customers/cus_1/subscriptions", params={"external_customer_id": "cus_2"})
        ) == [("a", "active")]

    def test_unknown_customer(self, api: Api) -> None:
        response = api.get("/customers/nobody/subscriptions")
        assert (response.status_code, response.json()) == (404, not_found("customer"))

    def test_requires_the_api_key(self, api: Api) -> None:
        """lago-python-client's ``customers.subscriptions.find_all`` sends no key: 401, as Lago."""
        upsert_customer(api)
        response = api.client.get("/api/v1/customers/cus_1/subscriptions")
        assert (response.status_code, response.json()) == (401, {"status": 401, "error": "Unauthorized"})


# ------------------------------------------------------------------------------------------- update


class TestUpdate:
    def test_changes_what_was_sent(self, api: Api, clock: Clock) -> None:
        create_plan(api)
        create_subscription(api, name="Old", purchase_order_number="PO-1")
        response = api.put(
            "/subscriptions/sub_1",
            json={
                "subscription": {
                    "name": "New",
                    "ending_at": "2024-12-31T23:59:59Z",
                    "on_termination_invoice": "skip",
                    "progressive_billing_disabled": True,
                    "consolidate_invoice": False,
                }
            },
        )
        assert response.status_code == 200, response.text
        sub = response.json()["subscription"]
        assert (sub["name"], sub["ending_at"], sub["on_termination_invoice"]) == (
            "New",
            "2024-12-31T23:59:59Z",
            "skip",
        )
        assert (sub["progressive_billing_disabled"], sub["consolidate_invoice"]) == (True, False)
        assert sub["purchase_order_number"] == "PO-1"
        assert api.get("/subscriptions/sub_1").json()["subscription"] == sub

    def test_empty_ending_at_removes_it(self, api: Api, clock: Clock) -> None:
        create_plan(api)
        create_subscription(api, ending_at="2025-01-01")
        sub = api.put("/subscriptions/sub_1", json={"subscription": {"ending_at": ""}}).json()["subscription"]
        assert sub["ending_at"] is None

    def test_invalid_values(self, api: Api, clock: Clock) -> None:
        create_plan(api, pay_in_advance=True)
        create_subscription(api)
        response = api.put(
            "/subscriptions/sub_1",
            json={
                "subscription": {
                    "ending_at": "2024-05-10T18:00:00Z",
                    "on_termination_credit_note": "maybe",
                    "on_termination_invoice": "never",
                    "subscription_at": "soon",
                }
            },
        )
        assert (response.status_code, response.json()) == (
            422,
            validation_error(
                {
                    "subscription_at": ["invalid_date"],
                    "ending_at": ["invalid_date"],
                    "on_termination_credit_note": ["invalid_value"],
                    "on_termination_invoice": ["invalid_value"],
                }
            ),
        )

    def test_credit_note_choice_only_for_pay_in_advance_plans(self, api: Api, clock: Clock) -> None:
        create_plan(api)
        create_plan(api, "advance", pay_in_advance=True)
        create_subscription(api)
        create_subscription(api, external_id="sub_2", plan_code="advance")
        body = {"subscription": {"on_termination_credit_note": "refund"}}
        assert (
            api.put("/subscriptions/sub_1", json=body).json()["subscription"]["on_termination_credit_note"]
            is None
        )
        assert api.put("/subscriptions/sub_2", json=body).json()["subscription"][
            "on_termination_credit_note"
        ] == ("refund")

    def test_moves_the_start_of_a_pending_subscription(self, api: Api, clock: Clock) -> None:
        create_plan(api)
        create_subscription(api, subscription_at="2024-06-01")
        moved = api.put(
            "/subscriptions/sub_1", json={"subscription": {"subscription_at": "2024-07-01T00:00:00Z"}}
        ).json()["subscription"]
        assert (moved["status"], moved["subscription_at"]) == ("pending", "2024-07-01T00:00:00Z")
        started = api.put("/subscriptions/sub_1", json={"subscription": {"subscription_at": "2024-05-01"}})
        sub = started.json()["subscription"]
        assert (sub["status"], sub["started_at"]) == ("active", "2024-05-01T00:00:00.000Z")

    def test_start_of_an_active_subscription_does_not_move(self, api: Api, clock: Clock) -> None:
        create_plan(api)
        created = create_subscription(api)
        sub = api.put(
            "/subscriptions/sub_1", json={"subscription": {"subscription_at": "2024-01-01"}}
        ).json()["subscription"]
        assert (sub["subscription_at"], sub["started_at"]) == (
            created["subscription_at"],
            created["started_at"],
        )

    def test_moving_the_start_past_the_end(self, api: Api, clock: Clock) -> None:
        create_plan(api)
        create_subscription(api, subscription_at="2024-06-01", ending_at="2024-07-01")
        response = api.put("/subscriptions/sub_1", json={"subscription": {"subscription_at": "2024-08-01"}})
        assert response.json() == validation_error({"ending_at": ["invalid_date"]})

    def test_which_subscription(self, api: Api, clock: Clock) -> None:
        create_plan(api)
        create_subscription(api)
        api.delete("/subscriptions/sub_1")
        # Only one under this external id: it is updated whatever its status (as Lago).
        renamed = api.put("/subscriptions/sub_1", json={"subscription": {"name": "Ended"}})
        assert renamed.json()["subscription"]["name"] == "Ended"
        create_subscription(api, subscription_at="2024-06-01")
        # Several: the active one by default (none here), the pending one with status=pending.
        response = api.put("/subscriptions/sub_1", json={"subscription": {"name": "x"}})
        assert (response.status_code, response.json()) == (404, not_found("subscription"))
        pending = api.put(
            "/subscriptions/sub_1", params={"status": "pending"}, json={"subscription": {"name": "P"}}
        )
        assert (pending.json()["subscription"]["status"], pending.json()["subscription"]["name"]) == (
            "pending",
            "P",
        )

    def test_purchase_order_number_of_an_ended_subscription(self, api: Api, clock: Clock) -> None:
        create_plan(api)
        create_subscription(api)
        api.delete("/subscriptions/sub_1")
        response = api.put("/subscriptions/sub_1", json={"subscription": {"purchase_order_number": "PO-9"}})
        assert (response.status_code, response.json()) == (
            405,
            {"status": 405, "error": "Method Not Allowed", "code": "purchase_order_number_not_editable"},
        )

    def test_unknown(self, api: Api, clock: Clock) -> None:
        response = api.put("/subscriptions/nope", json={"subscription": {"name": "x"}})
        assert (response.status_code, response.json()) == (404, not_found("subscription"))


# ---------------------------------------------------------------------------------------- terminate


class TestTerminate:
    def test_terminates_the_active_subscription_now(self, api: Api, clock: Clock) -> None:
        create_plan(api)
        create_subscription(api, subscription_at="2024-05-01")
        clock.set("2024-05-20T08:00:00Z")
        response = api.delete("/subscriptions/sub_1")
        assert response.status_code == 200, response.text
        sub = response.json()["subscription"]
        assert (sub["status"], sub["terminated_at"], sub["canceled_at"]) == (
            "terminated",
            "2024-05-20T08:00:00Z",
            None,
        )
        assert (sub["on_termination_credit_note"], sub["on_termination_invoice"]) == (None, "generate")
        assert sub["current_billing_period_started_at"] == "2024-05-01T00:00:00Z"
        assert sub["current_billing_period_ending_at"] == "2024-05-20T08:00:00Z"
        assert "plan" in sub

    def test_already_terminated_is_not_found(self, api: Api, clock: Clock) -> None:
        """As Lago: only the active (or, with status=pending, the pending) subscription is looked for."""
        create_plan(api)
        create_subscription(api)
        api.delete("/subscriptions/sub_1")
        response = api.delete("/subscriptions/sub_1")
        assert (response.status_code, response.json()) == (404, not_found("subscription"))

    def test_pending_is_canceled_with_status_pending(self, api: Api, clock: Clock) -> None:
        create_plan(api)
        create_subscription(api, subscription_at="2024-06-01")
        assert api.delete("/subscriptions/sub_1").status_code == 404
        sub = api.delete("/subscriptions/sub_1", params={"status": "pending"}).json()["subscription"]
        assert (sub["status"], sub["canceled_at"], sub["terminated_at"]) == ("canceled", NOW, None)
        assert api.get("/subscriptions/sub_1", params={"status": "canceled"}).status_code == 200

    def test_termination_choices(self, api: Api, clock: Clock) -> None:
        create_plan(api, pay_in_advance=True)
        create_subscription(api, external_id="a")
        create_subscription(api, external_id="b")
        create_subscription(api, external_id="c")
        assert api.delete("/subscriptions/a").json()["subscription"]["on_termination_credit_note"] == "credit"
        b = api.delete(
            "/subscriptions/b",
            params={"on_termination_credit_note": "skip", "on_termination_invoice": "skip"},
        ).json()["subscription"]
        assert (b["on_termination_credit_note"], b["on_termination_invoice"]) == ("skip", "skip")
        api.put("/subscriptions/c", json={"subscription": {"on_termination_credit_note": "refund"}})
        assert api.delete("/subscriptions/c").json()["subscription"]["on_termination_credit_note"] == "refund"

    def test_credit_note_choice_ignored_for_pay_in_arrears(self, api: Api, clock: Clock) -> None:
        create_plan(api)
        create_subscription(api)
        sub = api.delete("/subscriptions/sub_1", params={"on_termination_credit_note": "whatever"}).json()
        assert sub["subscription"]["on_termination_credit_note"] is None

    def test_invalid_choices_change_nothing(self, api: Api, clock: Clock) -> None:
        create_plan(api, pay_in_advance=True)
        create_subscription(api)
        response = api.delete(
            "/subscriptions/sub_1", params={"on_termination_credit_note": "x", "on_termination_invoice": "y"}
        )
        assert (response.status_code, response.json()) == (
            422,
            validation_error(
                {"on_termination_invoice": ["invalid_value"], "on_termination_credit_note": ["invalid_value"]}
            ),
        )
        assert api.get("/subscriptions/sub_1").json()["subscription"]["status"] == "active"


# ------------------------------------------------------------------------------------ timed changes


class TestDueTransitions:
    def _apply(self, app: FastAPI, instant: str, organization_id: Any = None) -> tuple[int, int]:
        with app.state.sessionmaker.begin() as session:
            done = subscription_service.apply_due_transitions(session, at(instant), organization_id)
            return len(done.activated), len(done.terminated)

    def test_pending_starts_at_subscription_at(self, api: Api, app: FastAPI, clock: Clock) -> None:
        create_plan(api)
        created = create_subscription(api, subscription_at="2024-06-01T09:00:00Z")
        assert self._apply(app, "2024-06-01T08:59:59Z") == (0, 0)
        assert self._apply(app, "2024-06-01T09:00:00Z") == (1, 0)
        assert self._apply(app, "2024-06-01T09:00:00Z") == (0, 0)  # idempotent
        sub = api.get("/subscriptions/sub_1").json()["subscription"]
        assert (sub["lago_id"], sub["status"], sub["started_at"]) == (
            created["lago_id"],
            "active",
            "2024-06-01T09:00:00.000Z",
        )

    def test_active_ends_at_ending_at(self, api: Api, app: FastAPI, clock: Clock) -> None:
        create_plan(api, pay_in_advance=True)
        create_subscription(api, ending_at="2024-06-15T10:00:00Z")
        assert self._apply(app, "2024-06-15T09:59:59Z") == (0, 0)
        assert self._apply(app, "2024-06-15T10:00:00Z") == (0, 1)
        assert self._apply(app, "2024-07-01T00:00:00Z") == (0, 0)
        sub = api.get("/subscriptions/sub_1", params={"status": "terminated"}).json()["subscription"]
        assert (sub["terminated_at"], sub["on_termination_credit_note"]) == ("2024-06-15T10:00:00Z", "credit")

    def test_start_and_end_both_past(self, api: Api, app: FastAPI, clock: Clock) -> None:
        create_plan(api)
        create_subscription(api, subscription_at="2024-06-01", ending_at="2024-06-10")
        assert self._apply(app, "2024-07-01T00:00:00Z") == (1, 1)
        sub = api.get("/subscriptions/sub_1", params={"status": "terminated"}).json()["subscription"]
        assert (sub["started_at"], sub["terminated_at"]) == (
            "2024-06-01T00:00:00.000Z",
            "2024-06-10T00:00:00Z",
        )

    def test_reads_apply_them_at_the_request_time(self, api: Api, clock: Clock) -> None:
        create_plan(api)
        create_subscription(api, external_id="a", subscription_at="2024-06-01")
        create_subscription(api, external_id="b", ending_at="2024-06-01")
        clock.set("2024-06-01T00:00:00Z")
        assert listed(api.get("/subscriptions", params={"status[]": ["active", "terminated"]})) == [
            ("a", "active"),
            ("b", "terminated"),
        ]

    def test_scoped_to_one_organization(self, api: Api, other_api: Api, app: FastAPI, clock: Clock) -> None:
        create_plan(api)
        create_subscription(api, subscription_at="2024-06-01")
        assert self._apply(app, "2024-07-01T00:00:00Z", other_api.organization.id) == (0, 0)
        assert self._apply(app, "2024-07-01T00:00:00Z", api.organization.id) == (1, 0)

    def test_never_two_active_subscriptions(self, api: Api, app: FastAPI, clock: Clock) -> None:
        """Rows the API would refuse (written directly): a pending one waits while another is active,
        and of two due pending ones only the earliest starts."""
        create_plan(api)
        active = create_subscription(api, external_id="a")
        with app.state.sessionmaker.begin() as session:
            template = session.get(Subscription, uuid.UUID(active["lago_id"]))
            assert template is not None
            for external_id, day in (("a", "2024-06-01"), ("b", "2024-06-02"), ("b", "2024-06-01")):
                session.add(
                    Subscription(
                        organization_id=template.organization_id,
                        customer_id=template.customer_id,
                        plan_id=template.plan_id,
                        external_id=external_id,
                        name="",
                        status="pending",
                        billing_time="calendar",
                        subscription_at=at(day),
                    )
                )
        assert self._apply(app, "2024-07-01T00:00:00Z") == (1, 0)
        assert self._apply(app, "2024-07-01T00:00:00Z") == (0, 0)
        clock.set("2024-07-01T00:00:00Z")
        assert api.get("/subscriptions/b").json()["subscription"]["subscription_at"] == "2024-06-01T00:00:00Z"
        assert listed(api.get("/subscriptions", params={"status[]": "pending"})) == [
            ("b", "pending"),
            ("a", "pending"),
        ]


# ---------------------------------------------------------------------------------- billing period


class TestCurrentBillingPeriod:
    def period(self, sub: dict) -> tuple[str | None, str | None]:
        return sub["current_billing_period_started_at"], sub["current_billing_period_ending_at"]

    def test_calendar_in_the_customer_time_zone(self, api: Api, clock: Clock) -> None:
        create_plan(api)
        upsert_customer(api, timezone="America/New_York")
        sub = create_subscription(api, subscription_at="2024-03-01T12:00:00Z")
        assert self.period(sub) == ("2024-05-01T04:00:00Z", "2024-06-01T03:59:59Z")

    def test_organization_time_zone_when_the_customer_has_none(self, api: Api, clock: Clock) -> None:
        create_plan(api)
        response = api.put("/organizations", json={"organization": {"timezone": "Europe/Paris"}})
        assert response.status_code == 200, response.text
        sub = create_subscription(api, subscription_at="2024-03-01T12:00:00Z")
        assert self.period(sub) == ("2024-04-30T22:00:00Z", "2024-05-31T21:59:59Z")

    def test_anniversary_clamps_to_the_end_of_short_months(self, api: Api, clock: Clock) -> None:
        create_plan(api)
        clock.set("2024-02-15T00:00:00Z")
        sub = create_subscription(api, billing_time="anniversary", subscription_at="2024-01-31T10:00:00Z")
        assert self.period(sub) == ("2024-01-31T10:00:00Z", "2024-02-28T23:59:59Z")
        clock.set("2024-03-05T00:00:00Z")
        shown = api.get("/subscriptions/sub_1").json()["subscription"]
        assert self.period(shown) == ("2024-02-29T00:00:00Z", "2024-03-30T23:59:59Z")
        clock.set("2024-04-05T00:00:00Z")
        assert self.period(api.get("/subscriptions/sub_1").json()["subscription"]) == (
            "2024-03-31T00:00:00Z",
            "2024-04-29T23:59:59Z",
        )

    def test_anniversary_in_the_customer_time_zone(self, api: Api, clock: Clock) -> None:
        create_plan(api)
        upsert_customer(api, timezone="Asia/Tokyo")
        clock.set("2024-03-05T00:00:00Z")
        # 2024-01-31 05:00 in Tokyo: the anniversary day is the 31st there.
        sub = create_subscription(api, billing_time="anniversary", subscription_at="2024-01-30T20:00:00Z")
        assert self.period(sub) == ("2024-02-28T15:00:00Z", "2024-03-30T14:59:59Z")

    def test_yearly_plan_billing_charges_monthly(self, api: Api, clock: Clock) -> None:
        create_plan(api, interval="yearly", bill_charges_monthly=True)
        create_plan(api, "yearly", interval="yearly")
        monthly = create_subscription(api, subscription_at="2024-01-15")
        assert self.period(monthly) == ("2024-05-01T00:00:00Z", "2024-05-31T23:59:59Z")
        yearly = create_subscription(
            api, external_id="sub_2", plan_code="yearly", subscription_at="2024-01-15"
        )
        assert self.period(yearly) == ("2024-01-15T00:00:00Z", "2024-12-31T23:59:59Z")

    def test_weekly_calendar(self, api: Api, clock: Clock) -> None:
        create_plan(api, interval="weekly")
        sub = create_subscription(api, subscription_at="2024-04-01")
        # 2024-05-10 is a Friday: the week started on Monday the 6th.
        assert self.period(sub) == ("2024-05-06T00:00:00Z", "2024-05-12T23:59:59Z")

    def test_terminated_ends_at_termination(self, api: Api, app: FastAPI, clock: Clock) -> None:
        create_plan(api)
        create_subscription(api, subscription_at="2024-04-10", ending_at="2024-06-01")
        clock.set("2024-08-01T00:00:00Z")
        sub = api.get("/subscriptions/sub_1", params={"status": "terminated"}).json()["subscription"]
        assert self.period(sub) == ("2024-05-01T00:00:00Z", "2024-05-31T23:59:59Z")


# ---------------------------------------------------------------------------------- for other modules


class TestRepositoryLookups:
    def test_by_external_id(self, api: Api, app: FastAPI, clock: Clock) -> None:
        create_plan(api)
        first = create_subscription(api)
        api.delete("/subscriptions/sub_1")
        pending = create_subscription(api, subscription_at="2024-06-01")
        with app.state.sessionmaker() as session:
            organization_id = api.organization.id
            assert subscription_repository.active_by_external_id(session, organization_id, "sub_1") is None
            relevant = subscription_repository.by_external_id(session, organization_id, "sub_1")
            assert relevant is not None and str(relevant.id) == pending["lago_id"]
            ended = subscription_repository.by_external_id(session, organization_id, "sub_1", "terminated")
            assert ended is not None and str(ended.id) == first["lago_id"]
        clock.set("2024-06-01T00:00:00Z")
        api.get("/subscriptions")
        with app.state.sessionmaker() as session:
            active = subscription_repository.active_by_external_id(session, organization_id, "sub_1")
            assert active is not None and str(active.id) == pending["lago_id"]
            assert subscription_repository.active_by_external_id(session, organization_id, "nope") is None


# -------------------------------------------------------------------------------------------- tenancy


class TestTenancy:
    def test_other_organization_sees_nothing(
        self, api: Api, other_api: Api, app: FastAPI, clock: Clock
    ) -> None:
        create_plan(api)
        mine = create_subscription(api)
        assert other_api.get("/subscriptions/sub_1").json() == not_found("subscription")
        assert other_api.get("/subscriptions").json()["subscriptions"] == []
        assert other_api.get("/customers/cus_1/subscriptions").json() == not_found("customer")
        assert other_api.put("/subscriptions/sub_1", json={"subscription": {"name": "x"}}).status_code == 404
        assert other_api.delete("/subscriptions/sub_1").status_code == 404
        # Our plan code means nothing to them, and nothing is created on their side.
        response = post_subscription(other_api)
        assert (response.status_code, response.json()) == (404, not_found("plan"))
        with app.state.sessionmaker() as session:
            theirs = (
                select(func.count())
                .select_from(Customer)
                .where(Customer.organization_id == other_api.organization.id)
            )
            assert session.scalar(theirs) == 0
        # The same external ids are free in their organization.
        create_plan(other_api)
        theirs_sub = create_subscription(other_api)
        assert theirs_sub["lago_id"] != mine["lago_id"]
        assert api.get("/subscriptions/sub_1").json()["subscription"]["lago_id"] == mine["lago_id"]

    def test_service_scope(self, api: Api, other_api: Api, app: FastAPI, clock: Clock) -> None:
        create_plan(api)
        create_subscription(api)
        with app.state.sessionmaker() as session:
            other = session.get(Organization, other_api.organization.id)
            assert other is not None
            lookup = subscription_repository.by_external_id(session, other.id, "sub_1")
            assert lookup is None


class TestDeletingWhatSubscriptionsUse:
    """Plans and customers with live subscriptions cannot be deleted; counts reflect subscriptions."""

    def test_plan_and_customer_refused_while_subscribed(self, api: Api) -> None:
        metric = api.post(
            "/billable_metrics",
            json={"billable_metric": {"name": "C", "code": "c", "aggregation_type": "count_agg"}},
        ).json()["billable_metric"]
        plan = {
            "name": "P",
            "code": "p",
            "interval": "monthly",
            "amount_cents": 100,
            "amount_currency": "USD",
            "charges": [
                {
                    "billable_metric_id": metric["lago_id"],
                    "charge_model": "standard",
                    "properties": {"amount": "1"},
                }
            ],
        }
        assert api.post("/plans", json={"plan": plan}).status_code == 200
        created = api.post(
            "/subscriptions",
            json={"subscription": {"external_customer_id": "cu", "plan_code": "p", "external_id": "s"}},
        )
        assert created.status_code == 200, created.text
        counts = api.get("/plans/p").json()["plan"]
        assert (counts["active_subscriptions_count"], counts["customers_count"]) == (1, 1)

        refused = api.delete("/plans/p")
        assert refused.status_code == 405
        assert refused.json() == {
            "status": 405,
            "error": "Method Not Allowed",
            "code": "plan_has_active_subscriptions",
        }
        refused = api.delete("/customers/cu")
        assert refused.json()["code"] == "customer_has_active_subscriptions"
        assert api.get("/plans/p").status_code == 200

        assert api.delete("/subscriptions/s").status_code == 200
        assert api.get("/plans/p").json()["plan"]["active_subscriptions_count"] == 0
        assert api.delete("/customers/cu").status_code == 200
        assert api.delete("/plans/p").status_code == 200


# ------------------------------------------------------------------------------------------- horizon


class TestBackdatingHorizon:
    """Issue 9, defect 6: ``subscription_at`` at most ``BILLOW_MAX_BACKDATE_DAYS`` (10 years) in the past."""

    @pytest.mark.parametrize("value", ["0001-01-01T00:00:00Z", "2014-05-10T11:59:59Z", "1970-01-01"])
    def test_create_beyond_the_horizon(self, api: Api, app: FastAPI, clock: Clock, value: str) -> None:
        create_plan(api)
        response = post_subscription(api, external_customer_id="cus_new", subscription_at=value)
        assert (response.status_code, response.json()) == (
            422,
            validation_error({"subscription_at": ["value_is_out_of_range"]}),
        )
        assert subscription_count(app) == 0
        assert api.get("/customers/cus_new").status_code == 404

    def test_create_at_the_horizon(self, api: Api, clock: Clock) -> None:
        create_plan(api)
        # 2024-05-10T12:00:00Z - 3,653 days (three leap days between).
        sub = create_subscription(api, subscription_at="2014-05-10T12:00:00Z")
        assert (sub["status"], sub["started_at"][:19]) == ("active", "2014-05-10T12:00:00")

    def test_configurable(self, api: Api, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
        from billow.config import get_settings

        monkeypatch.setenv("BILLOW_MAX_BACKDATE_DAYS", "30")
        get_settings.cache_clear()
        try:
            create_plan(api)
            response = post_subscription(api, subscription_at="2024-04-09T12:00:00Z")
            assert response.json() == validation_error({"subscription_at": ["value_is_out_of_range"]})
            assert post_subscription(api, subscription_at="2024-04-10T12:00:00Z").status_code == 200
        finally:
            monkeypatch.delenv("BILLOW_MAX_BACKDATE_DAYS")
            get_settings.cache_clear()

    def test_update_of_a_pending_subscription(self, api: Api, clock: Clock) -> None:
        create_plan(api)
        create_subscription(api, subscription_at="2024-06-01T00:00:00Z")
        response = api.put(
            "/subscriptions/sub_1?status=pending",
            json={"subscription": {"subscription_at": "0001-01-01T00:00:00Z"}},
        )
        assert (response.status_code, response.json()) == (
            422,
            validation_error({"subscription_at": ["value_is_out_of_range"]}),
        )
        assert api.get("/subscriptions/sub_1?status=pending").json()["subscription"]["subscription_at"] == (
            "2024-06-01T00:00:00Z"
        )
        moved = api.put(
            "/subscriptions/sub_1?status=pending", json={"subscription": {"subscription_at": "2024-05-01"}}
        )
        assert moved.status_code == 200, moved.text
