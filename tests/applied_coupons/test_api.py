from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from lago_python_client.models.applied_coupon import AppliedCouponResponse
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from billow.models.coupons import AppliedCoupon, Coupon
from billow.models.customers import Customer
from tests.conftest import Api

FIXED = {
    "name": "Welcome",
    "code": "welcome",
    "coupon_type": "fixed_amount",
    "amount_cents": 1000,
    "amount_currency": "EUR",
    "frequency": "once",
    "expiration": "no_expiration",
    "reusable": True,
}

PERCENT = {
    "name": "Ten percent",
    "code": "ten",
    "coupon_type": "percentage",
    "percentage_rate": "12.5",
    "frequency": "recurring",
    "frequency_duration": 3,
    "expiration": "time_limit",
    "expiration_at": "2030-01-31T12:00:00Z",
}


def create_coupon(api: Api, base: dict[str, Any] = FIXED, **fields: Any) -> dict[str, Any]:
    response = api.post("/coupons", json={"coupon": {**base, **fields}})
    assert response.status_code == 200, response.text
    return response.json()["coupon"]


def create_customer(api: Api, external_id: str = "cust_1", **fields: Any) -> dict[str, Any]:
    response = api.post(
        "/customers", json={"customer": {"external_id": external_id, "name": "Ada", **fields}}
    )
    assert response.status_code == 200, response.text
    return response.json()["customer"]


def apply(api: Api, **fields: Any) -> Any:
    body = {"external_customer_id": "cust_1", "coupon_code": "welcome", **fields}
    return api.post("/applied_coupons", json={"applied_coupon": body})


def applied(api: Api, **fields: Any) -> dict[str, Any]:
    response = apply(api, **fields)
    assert response.status_code == 200, response.text
    return response.json()["applied_coupon"]


def count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(AppliedCoupon)) or 0


class TestApply:
    def test_fixed_amount_lago_shape(self, api: Api, session: Session) -> None:
        coupon = create_coupon(api)
        customer = create_customer(api)
        body = applied(api)
        assert body == {
            "lago_id": body["lago_id"],
            "lago_coupon_id": coupon["lago_id"],
            "coupon_code": "welcome",
            "coupon_name": "Welcome",
            "coupon_status": "active",
            "coupon_deleted_at": None,
            "lago_customer_id": customer["lago_id"],
            "external_customer_id": "cust_1",
            "status": "active",
            "amount_cents": 1000,
            "amount_cents_remaining": 1000,
            "amount_currency": "EUR",
            "percentage_rate": None,
            "frequency": "once",
            "frequency_duration": None,
            "frequency_duration_remaining": None,
            "expiration_at": None,
            "created_at": body["created_at"],
            "terminated_at": None,
        }
        assert body["created_at"].endswith("Z")
        uuid.UUID(body["lago_id"])
        # The customer adopts the coupon's currency.
        assert api.get("/customers/cust_1").json()["customer"]["currency"] == "EUR"
        AppliedCouponResponse.parse_obj(body)

    def test_percentage_recurring(self, api: Api) -> None:
        create_coupon(api, PERCENT)
        create_customer(api, currency="USD")
        body = applied(api, coupon_code="ten")
        assert body["percentage_rate"] == "12.5"
        assert body["amount_cents"] is None
        assert body["amount_cents_remaining"] is None
        assert body["amount_currency"] is None
        assert (body["frequency"], body["frequency_duration"], body["frequency_duration_remaining"]) == (
            "recurring",
            3,
            3,
        )
        assert body["expiration_at"] == "2030-01-31T12:00:00Z"
        # A percentage leaves the customer's currency alone.
        assert api.get("/customers/cust_1").json()["customer"]["currency"] == "USD"

    def test_overrides(self, api: Api) -> None:
        create_coupon(api)
        create_customer(api)
        body = applied(
            api, amount_cents=250, amount_currency="USD", frequency="recurring", frequency_duration=2
        )
        assert (body["amount_cents"], body["amount_currency"], body["frequency"]) == (250, "USD", "recurring")
        assert (body["frequency_duration"], body["frequency_duration_remaining"]) == (2, 2)
        assert body["amount_cents_remaining"] is None  # only a one-time amount has a remainder
        assert api.get("/customers/cust_1").json()["customer"]["currency"] == "USD"

    def test_explicit_nulls_take_the_coupons_terms(self, api: Api) -> None:
        create_coupon(api)
        create_customer(api)
        body = applied(api, amount_cents=None, amount_currency=None, frequency=None)
        assert (body["amount_cents"], body["amount_currency"], body["frequency"]) == (1000, "EUR", "once")

    def test_reusable_coupon_applies_twice(self, api: Api) -> None:
        create_coupon(api)
        create_customer(api)
        first, second = applied(api), applied(api)
        assert first["lago_id"] != second["lago_id"]


class TestApplyErrors:
    def test_unknown_customer(self, api: Api, session: Session) -> None:
        create_coupon(api)
        response = apply(api)
        assert response.status_code == 404
        assert response.json() == {"status": 404, "error": "Not Found", "code": "customer_not_found"}
        assert apply(api, external_customer_id=None).json()["code"] == "customer_not_found"
        assert count(session) == 0

    def test_unknown_coupon(self, api: Api, session: Session) -> None:
        create_customer(api)
        response = apply(api, coupon_code="nope")
        assert response.status_code == 404
        assert response.json() == {"status": 404, "error": "Not Found", "code": "coupon_not_found"}
        assert apply(api, coupon_code=None).json()["code"] == "coupon_not_found"
        assert count(session) == 0

    def test_deleted_coupon(self, api: Api) -> None:
        create_coupon(api)
        create_customer(api)
        assert api.delete("/coupons/welcome").status_code == 200
        assert apply(api).json()["code"] == "coupon_not_found"

    def test_terminated_or_expired_coupon(self, api: Api, session: Session) -> None:
        create_coupon(api)
        create_customer(api)
        session.execute(update(Coupon).values(status="terminated"))
        session.commit()
        assert apply(api).json()["code"] == "coupon_not_found"
        # Past its expiration, before the clock terminates it.
        past = datetime(2020, 1, 1, tzinfo=UTC)
        session.execute(update(Coupon).values(status="active", expiration="time_limit", expiration_at=past))
        session.commit()
        assert apply(api).json()["code"] == "coupon_not_found"
        assert count(session) == 0

    def test_not_reusable(self, api: Api, session: Session) -> None:
        create_coupon(api, reusable=False)
        create_customer(api)
        first = applied(api)
        response = apply(api)
        assert response.status_code == 422
        assert response.json() == {
            "status": 422,
            "error": "Unprocessable Entity",
            "code": "validation_errors",
            "error_details": {"coupon": ["coupon_is_not_reusable"]},
        }
        # Terminated, it still counts (Lago: any earlier application).
        assert api.delete(f"/customers/cust_1/applied_coupons/{first['lago_id']}").status_code == 200
        assert apply(api).json()["error_details"] == {"coupon": ["coupon_is_not_reusable"]}
        # Another customer may have it.
        create_customer(api, "cust_2")
        assert apply(api, external_customer_id="cust_2").status_code == 200
        assert count(session) == 2

    def test_currency_mismatch(self, api: Api, session: Session) -> None:
        create_coupon(api)
        create_customer(api, currency="USD")
        response = apply(api)
        assert response.status_code == 422
        assert response.json()["error_details"] == {"currency": ["currencies_does_not_match"]}
        assert applied(api, amount_currency="USD")["amount_currency"] == "USD"
        assert count(session) == 1

    def test_overrides_out_of_range(self, api: Api, session: Session) -> None:
        create_coupon(api)
        create_customer(api)
        response = apply(
            api,
            amount_cents=-1,
            amount_currency="XYZ",
            percentage_rate="101",
            frequency="weekly",
            frequency_duration=-2,
        )
        assert response.status_code == 422
        assert response.json()["error_details"] == {
            "amount_cents": ["value_is_out_of_range"],
            "amount_currency": ["value_is_invalid"],
            "percentage_rate": ["value_is_out_of_range"],
            "frequency": ["value_is_invalid"],
            "frequency_duration": ["value_is_out_of_range"],
        }
        huge = apply(api, amount_cents=10**16)
        assert huge.status_code == 422
        assert huge.json()["error_details"] == {"amount_cents": ["value_is_out_of_range"]}
        assert count(session) == 0
        assert session.scalar(select(Customer.currency)) is None

    def test_plan_overlapping(self, api: Api, session: Session) -> None:
        plan = {
            "name": "P",
            "code": "p",
            "interval": "monthly",
            "amount_cents": 100,
            "amount_currency": "EUR",
        }
        assert api.post("/plans", json={"plan": plan}).status_code == 200
        create_coupon(api, applies_to={"plan_codes": ["p"]})
        create_coupon(api, code="again", applies_to={"plan_codes": ["p"]})
        create_customer(api)
        applied(api)
        response = apply(api, coupon_code="again")
        assert response.status_code == 405
        assert response.json() == {"status": 405, "error": "Method Not Allowed", "code": "plan_overlapping"}
        assert count(session) == 1

    def test_missing_root_key(self, api: Api) -> None:
        response = api.post("/applied_coupons", json={"coupon_code": "welcome"})
        assert response.status_code == 400
        assert response.json()["error"].endswith("applied_coupon")


class TestList:
    def test_lists_with_filters_and_meta(self, api: Api) -> None:
        create_coupon(api)
        create_customer(api)
        create_customer(api, "cust_2")
        first = applied(api)
        second = applied(api, external_customer_id="cust_2")
        api.delete(f"/customers/cust_1/applied_coupons/{first['lago_id']}")

        body = api.get("/applied_coupons").json()
        assert [a["lago_id"] for a in body["applied_coupons"]] == [second["lago_id"], first["lago_id"]]
        assert body["applied_coupons"][0] == {**second, "credits": []}
        assert body["meta"] == {
            "current_page": 1,
            "next_page": None,
            "prev_page": None,
            "total_pages": 1,
            "total_count": 2,
        }
        by_customer = api.get("/applied_coupons", params={"external_customer_id": "cust_1"}).json()
        assert [a["lago_id"] for a in by_customer["applied_coupons"]] == [first["lago_id"]]
        active = api.get("/applied_coupons", params={"status": "active"}).json()
        assert [a["lago_id"] for a in active["applied_coupons"]] == [second["lago_id"]]
        terminated = api.get("/applied_coupons", params={"status": "terminated"}).json()
        assert [a["lago_id"] for a in terminated["applied_coupons"]] == [first["lago_id"]]

        page = api.get("/applied_coupons", params={"per_page": 1, "page": 2}).json()
        assert [a["lago_id"] for a in page["applied_coupons"]] == [first["lago_id"]]
        assert page["meta"]["prev_page"] == 1
        for item in body["applied_coupons"]:
            AppliedCouponResponse.parse_obj(item)

    def test_empty(self, api: Api) -> None:
        body = api.get("/applied_coupons").json()
        assert body == {
            "applied_coupons": [],
            "meta": {
                "current_page": 0,
                "next_page": None,
                "prev_page": None,
                "total_pages": 0,
                "total_count": 0,
            },
        }


class TestCustomerList:
    """``GET /customers/{external_id}/applied_coupons`` (the SDK's ``customer_applied_coupons``)."""

    def test_one_customers_coupons_with_status_filter(self, api: Api) -> None:
        create_coupon(api)
        create_customer(api)
        create_customer(api, "cust_2")
        first = applied(api)
        applied(api, external_customer_id="cust_2")
        third = applied(api)  # reusable: a second application to cust_1
        api.delete(f"/customers/cust_1/applied_coupons/{first['lago_id']}")

        body = api.get("/customers/cust_1/applied_coupons").json()
        assert [a["lago_id"] for a in body["applied_coupons"]] == [third["lago_id"], first["lago_id"]]
        assert body["applied_coupons"][0] == {**third, "credits": []}
        assert body["meta"]["total_count"] == 2
        active = api.get("/customers/cust_1/applied_coupons", params={"status": "active"}).json()
        assert [a["lago_id"] for a in active["applied_coupons"]] == [third["lago_id"]]
        page = api.get("/customers/cust_1/applied_coupons", params={"per_page": 1, "page": 2}).json()
        assert [a["lago_id"] for a in page["applied_coupons"]] == [first["lago_id"]]

    def test_unknown_customer(self, api: Api, other_api: Api) -> None:
        response = api.get("/customers/nobody/applied_coupons")
        assert response.status_code == 404
        assert response.json() == {"status": 404, "error": "Not Found", "code": "customer_not_found"}
        create_coupon(api)
        create_customer(api)
        applied(api)
        # Another organization's customer is unknown here.
        assert other_api.get("/customers/cust_1/applied_coupons").json()["code"] == "customer_not_found"


class TestTerminate:
    def test_terminates_and_returns_it(self, api: Api) -> None:
        create_coupon(api)
        create_customer(api)
        first = applied(api)
        response = api.delete(f"/customers/cust_1/applied_coupons/{first['lago_id']}")
        assert response.status_code == 200, response.text
        body = response.json()["applied_coupon"]
        assert body["status"] == "terminated"
        assert body["terminated_at"].endswith("Z")
        assert {k: v for k, v in body.items() if k not in ("status", "terminated_at")} == {
            k: v for k, v in first.items() if k not in ("status", "terminated_at")
        }
        again = api.delete(f"/customers/cust_1/applied_coupons/{first['lago_id']}").json()["applied_coupon"]
        assert again["terminated_at"] == body["terminated_at"]

    def test_not_found(self, api: Api) -> None:
        create_coupon(api)
        create_customer(api)
        create_customer(api, "cust_2")
        first = applied(api)
        assert api.delete(f"/customers/nobody/applied_coupons/{first['lago_id']}").json()["code"] == (
            "customer_not_found"
        )
        for wrong in ("not-a-uuid", str(uuid.uuid4())):
            response = api.delete(f"/customers/cust_1/applied_coupons/{wrong}")
            assert response.status_code == 404
            assert response.json()["code"] == "applied_coupon_not_found"
        # Another customer's applied coupon.
        response = api.delete(f"/customers/cust_2/applied_coupons/{first['lago_id']}")
        assert response.json()["code"] == "applied_coupon_not_found"


class TestTenancy:
    def test_other_organization(self, api: Api, other_api: Api, session: Session) -> None:
        create_coupon(api)
        create_customer(api)
        mine = applied(api)
        # The other organization sees neither the customer, nor the coupon, nor the applied coupon.
        assert apply(other_api).json()["code"] == "customer_not_found"
        create_customer(other_api)
        assert apply(other_api).json()["code"] == "coupon_not_found"
        assert other_api.get("/applied_coupons").json()["applied_coupons"] == []
        listed = other_api.get("/applied_coupons", params={"external_customer_id": "cust_1"}).json()
        assert listed["applied_coupons"] == []
        response = other_api.delete(f"/customers/cust_1/applied_coupons/{mine['lago_id']}")
        assert response.status_code == 404
        assert response.json()["code"] == "applied_coupon_not_found"
        assert api.get("/applied_coupons").json()["applied_coupons"][0]["status"] == "active"
        assert count(session) == 1


class TestLifecycle:
    def test_coupon_code_filter(self, api: Api) -> None:
        create_coupon(api)
        create_coupon(api, PERCENT)
        create_customer(api)
        welcome = applied(api)
        ten = applied(api, coupon_code="ten")
        listed = api.get("/applied_coupons", params={"coupon_code[]": ["ten"]}).json()["applied_coupons"]
        assert [a["lago_id"] for a in listed] == [ten["lago_id"]]
        both = api.get("/applied_coupons?coupon_code[]=ten&coupon_code[]=welcome").json()["applied_coupons"]
        assert {a["lago_id"] for a in both} == {ten["lago_id"], welcome["lago_id"]}
        assert api.get("/applied_coupons", params={"coupon_code[]": ["nope"]}).json()["applied_coupons"] == []

    def test_deleting_the_coupon_terminates_its_applications(self, api: Api) -> None:
        create_coupon(api)
        create_customer(api)
        create_customer(api, "cust_2")
        applied(api)
        applied(api, external_customer_id="cust_2")
        assert api.delete("/coupons/welcome").status_code == 200
        listed = api.get("/applied_coupons").json()["applied_coupons"]
        assert [(a["status"], a["coupon_deleted_at"] is not None) for a in listed] == [
            ("terminated", True)
        ] * 2
        assert all(a["terminated_at"] is not None for a in listed)

    def test_deleting_the_customer_terminates_its_coupons(self, api: Api) -> None:
        create_coupon(api)
        create_customer(api)
        create_customer(api, "cust_2")
        applied(api)
        kept = applied(api, external_customer_id="cust_2")
        assert api.delete("/customers/cust_1").status_code == 200
        statuses = {a["lago_id"]: a["status"] for a in api.get("/applied_coupons").json()["applied_coupons"]}
        assert statuses[kept["lago_id"]] == "active"
        assert sorted(statuses.values()) == ["active", "terminated"]
