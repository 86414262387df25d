from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from lago_python_client.models.coupon import CouponResponse
from sqlalchemy import func, select, update

from billow.kit.time import parse_instant_or_none
from billow.models.billable_metrics import BillableMetric
from billow.models.coupons import Coupon, CouponTarget
from billow.models.plans import Plan
from tests.conftest import Api

FIXED = {
    "name": "Welcome",
    "code": "welcome",
    "description": "First month",
    "coupon_type": "fixed_amount",
    "amount_cents": 1000,
    "amount_currency": "EUR",
    "frequency": "once",
    "expiration": "no_expiration",
    "reusable": False,
}

PERCENT = {
    "name": "Ten percent",
    "code": "ten",
    "coupon_type": "percentage",
    "percentage_rate": 12.5,
    "frequency": "recurring",
    "frequency_duration": 3,
    "expiration": "time_limit",
    "expiration_at": "2030-01-31T12:00:00Z",
}


def create_coupon(api: Api, base: dict | None = None, **overrides: Any) -> dict:
    response = api.post("/coupons", json={"coupon": {**(base or FIXED), **overrides}})
    assert response.status_code == 200, response.text
    return response.json()["coupon"]


def sessionmaker(api: Api) -> Any:
    return api.client.app.state.sessionmaker  # type: ignore[attr-defined]


def add_plan(api: Api, code: str) -> uuid.UUID:
    """A plan row, inserted directly: coupons only need its organization, code and deleted_at."""
    with sessionmaker(api).begin() as session:
        plan = Plan(
            organization_id=api.organization.id,
            name=code,
            code=code,
            interval="monthly",
            amount_cents=1000,
            amount_currency="EUR",
        )
        session.add(plan)
        session.flush()
        return plan.id


def add_metric(api: Api, code: str) -> uuid.UUID:
    with sessionmaker(api).begin() as session:
        metric = BillableMetric(
            organization_id=api.organization.id, name=code, code=code, aggregation_type="count_agg"
        )
        session.add(metric)
        session.flush()
        return metric.id


def soft_delete(api: Api, model: Any, row_id: uuid.UUID) -> None:
    with sessionmaker(api).begin() as session:
        session.execute(update(model).where(model.id == row_id).values(deleted_at=datetime.now(UTC)))


def counts(api: Api) -> tuple[int, int]:
    """Coupons (deleted included) and coupon targets in the database."""
    with sessionmaker(api)() as session:
        return (
            session.scalar(select(func.count()).select_from(Coupon)) or 0,
            session.scalar(select(func.count()).select_from(CouponTarget)) or 0,
        )


def errors(response: Any) -> dict:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["status"] == 422 and body["error"] == "Unprocessable Entity"
    assert body["code"] == "validation_errors"
    return body["error_details"]


def post(api: Api, **fields: Any) -> Any:
    return api.post("/coupons", json={"coupon": fields})


class TestCreate:
    def test_fixed_amount_lago_body(self, api: Api) -> None:
        coupon = create_coupon(api)
        assert coupon == {
            "lago_id": coupon["lago_id"],
            "name": "Welcome",
            "code": "welcome",
            "description": "First month",
            "coupon_type": "fixed_amount",
            "amount_cents": 1000,
            "amount_currency": "EUR",
            "percentage_rate": None,
            "frequency": "once",
            "frequency_duration": None,
            "reusable": False,
            "limited_plans": False,
            "limited_billable_metrics": False,
            "plan_codes": [],
            "billable_metric_codes": [],
            "created_at": coupon["created_at"],
            "expiration": "no_expiration",
            "expiration_at": None,
            "terminated_at": None,
        }
        assert coupon["created_at"].endswith("Z") and len(coupon["created_at"]) == 20
        parsed = CouponResponse.parse_obj(coupon)
        assert parsed.amount_cents == 1000 and parsed.percentage_rate is None

    def test_percentage_lago_body(self, api: Api) -> None:
        coupon = create_coupon(api, PERCENT)
        assert {k: coupon[k] for k in PERCENT} == {**PERCENT, "percentage_rate": "12.5"}
        assert coupon["amount_cents"] is None and coupon["amount_currency"] is None
        assert coupon["reusable"] is True  # Lago's default
        assert coupon["description"] is None
        assert CouponResponse.parse_obj(coupon).percentage_rate == 12.5

    @pytest.mark.parametrize(
        ("sent", "shown"), [(10, "10.0"), ("33.33333", "33.33333"), (100, "100.0"), (0.5, "0.5")]
    )
    def test_percentage_rate_kept_exactly(self, api: Api, sent: Any, shown: str) -> None:
        assert create_coupon(api, PERCENT, percentage_rate=sent)["percentage_rate"] == shown

    def test_forever(self, api: Api) -> None:
        coupon = create_coupon(api, frequency="forever")
        assert coupon["frequency"] == "forever" and coupon["frequency_duration"] is None

    @pytest.mark.parametrize(
        ("sent", "shown"),
        [
            ("2030-01-31T12:00:00Z", "2030-01-31T12:00:00Z"),
            ("2030-01-31T12:00:00+02:00", "2030-01-31T10:00:00Z"),
            ("2030-01-31T12:00:00.750Z", "2030-01-31T12:00:00Z"),
            ("2030-01-31", "2030-01-31T00:00:00Z"),
            ("2030-01-31 12:00:00", "2030-01-31T12:00:00Z"),
        ],
    )
    def test_expiration_at_in_utc(self, api: Api, sent: str, shown: str) -> None:
        assert create_coupon(api, PERCENT, expiration_at=sent)["expiration_at"] == shown

    def test_missing_fields(self, api: Api) -> None:
        assert errors(post(api, description="x")) == {
            "name": ["value_is_mandatory"],
            "code": ["value_is_mandatory"],
            "coupon_type": ["value_is_mandatory"],
            "frequency": ["value_is_mandatory"],
            "expiration": ["value_is_mandatory"],
        }

    def test_explicit_nulls_are_absent(self, api: Api) -> None:
        response = post(api, **{**FIXED, "name": None, "amount_cents": None, "reusable": None})
        assert errors(response) == {"name": ["value_is_mandatory"], "amount_cents": ["value_is_mandatory"]}

    def test_fixed_amount_needs_amount_and_currency(self, api: Api) -> None:
        response = post(api, **{**FIXED, "amount_cents": None, "amount_currency": None})
        assert errors(response) == {
            "amount_cents": ["value_is_mandatory"],
            "amount_currency": ["value_is_mandatory"],
        }

    def test_percentage_needs_rate(self, api: Api) -> None:
        response = post(api, **{**PERCENT, "percentage_rate": None})
        assert errors(response) == {"percentage_rate": ["value_is_mandatory"]}

    def test_invalid_enums(self, api: Api) -> None:
        response = post(api, **{**FIXED, "coupon_type": "free", "frequency": "daily", "expiration": "never"})
        assert errors(response) == {
            "coupon_type": ["value_is_invalid"],
            "frequency": ["value_is_invalid"],
            "expiration": ["value_is_invalid"],
        }

    def test_empty_strings(self, api: Api) -> None:
        response = post(api, **{**FIXED, "name": "", "code": "", "coupon_type": ""})
        assert errors(response) == {
            "name": ["value_is_mandatory"],
            "code": ["value_is_mandatory"],
            "coupon_type": ["value_is_mandatory"],
        }

    @pytest.mark.parametrize("amount", [0, -5, 2**63])
    def test_amount_out_of_range(self, api: Api, amount: int) -> None:
        assert errors(post(api, **{**FIXED, "amount_cents": amount})) == {
            "amount_cents": ["value_is_out_of_range"]
        }

    def test_invalid_currency(self, api: Api) -> None:
        assert errors(post(api, **{**FIXED, "amount_currency": "EURO"})) == {
            "amount_currency": ["value_is_invalid"]
        }

    @pytest.mark.parametrize("rate", [0, -1, "100.01", 1000])
    def test_percentage_rate_out_of_range(self, api: Api, rate: Any) -> None:
        response = post(api, **{**PERCENT, "percentage_rate": rate})
        assert errors(response) == {"percentage_rate": ["value_is_out_of_range"]}

    def test_wrong_types(self, api: Api) -> None:
        response = post(
            api,
            **{
                **FIXED,
                "amount_cents": "lots",
                "percentage_rate": "NaN",
                "reusable": "maybe",
                "applies_to": [],
            },
        )
        assert errors(response) == {
            "amount_cents": ["value_is_invalid"],
            "percentage_rate": ["value_is_invalid"],
            "reusable": ["value_is_invalid"],
            "applies_to": ["value_is_invalid"],
        }

    def test_recurring_needs_positive_duration(self, api: Api) -> None:
        response = post(api, **{**PERCENT, "frequency_duration": None})
        assert errors(response) == {"frequency_duration": ["value_is_mandatory"]}
        for duration in (0, -1, 2**31):
            response = post(api, **{**PERCENT, "frequency_duration": duration})
            assert errors(response) == {"frequency_duration": ["value_is_out_of_range"]}

    def test_duration_of_other_frequencies(self, api: Api) -> None:
        assert create_coupon(api, frequency_duration=0)["frequency_duration"] == 0
        response = post(api, **{**FIXED, "code": "x", "frequency": "forever", "frequency_duration": -1})
        assert errors(response) == {"frequency_duration": ["value_is_out_of_range"]}

    def test_time_limit_needs_expiration_at(self, api: Api) -> None:
        response = post(api, **{**PERCENT, "expiration_at": None})
        assert errors(response) == {"expiration_at": ["value_is_mandatory"]}

    @pytest.mark.parametrize("value", ["2020-01-01T00:00:00Z", "yesterday", "2030-13-01", 1893456000, ""])
    def test_invalid_expiration_at(self, api: Api, value: Any) -> None:
        assert errors(post(api, **{**PERCENT, "expiration_at": value})) == {"expiration_at": ["invalid_date"]}

    def test_expiration_at_is_stored_without_time_limit(self, api: Api) -> None:
        coupon = create_coupon(api, expiration_at="2030-01-01T00:00:00Z")
        assert coupon["expiration"] == "no_expiration"
        assert coupon["expiration_at"] == "2030-01-01T00:00:00Z"

    def test_duplicate_code(self, api: Api) -> None:
        create_coupon(api)
        assert errors(post(api, **FIXED)) == {"code": ["value_already_exist"]}
        assert counts(api) == (1, 0)

    def test_too_long(self, api: Api) -> None:
        assert errors(post(api, **{**FIXED, "code": "c" * 256})) == {"code": ["value_is_too_long"]}

    def test_missing_root_key(self, api: Api) -> None:
        response = api.post("/coupons", json=FIXED)
        assert response.status_code == 400
        assert response.json() == {
            "status": 400,
            "error": "BadRequest: param is missing or the value is empty or invalid: coupon",
        }


class TestAppliesTo:
    def test_plans(self, api: Api) -> None:
        add_plan(api, "startup")
        add_plan(api, "pro")
        add_plan(api, "unused")
        coupon = create_coupon(api, applies_to={"plan_codes": ["startup", "pro", "pro"]})
        assert coupon["limited_plans"] is True
        assert coupon["plan_codes"] == ["pro", "startup"]
        assert coupon["limited_billable_metrics"] is False
        assert coupon["billable_metric_codes"] == []
        assert counts(api) == (1, 2)
        assert CouponResponse.parse_obj(coupon).plan_codes == ["pro", "startup"]

    def test_billable_metrics(self, api: Api) -> None:
        add_metric(api, "api_calls")
        coupon = create_coupon(api, applies_to={"billable_metric_codes": ["api_calls", None]})
        assert coupon["limited_billable_metrics"] is True
        assert coupon["billable_metric_codes"] == ["api_calls"]
        assert coupon["limited_plans"] is False and coupon["plan_codes"] == []

    def test_empty_lists_limit_nothing(self, api: Api) -> None:
        coupon = create_coupon(api, applies_to={"plan_codes": [], "billable_metric_codes": None})
        assert coupon["limited_plans"] is False and coupon["limited_billable_metrics"] is False
        assert counts(api) == (1, 0)

    def test_both_kinds_refused(self, api: Api) -> None:
        add_plan(api, "pro")
        add_metric(api, "api_calls")
        response = post(
            api, **FIXED, applies_to={"plan_codes": ["pro"], "billable_metric_codes": ["api_calls"]}
        )
        assert response.status_code == 405
        assert response.json() == {
            "status": 405,
            "error": "Method Not Allowed",
            "code": "only_one_limitation_type_per_coupon_allowed",
        }
        assert counts(api) == (0, 0)

    def test_unknown_plan(self, api: Api) -> None:
        add_plan(api, "pro")
        response = post(api, **FIXED, applies_to={"plan_codes": ["pro", "nope"]})
        assert response.status_code == 404
        assert response.json() == {"status": 404, "error": "Not Found", "code": "plans_not_found"}
        assert counts(api) == (0, 0)

    def test_unknown_billable_metric(self, api: Api) -> None:
        response = post(api, **FIXED, applies_to={"billable_metric_codes": ["nope"]})
        assert response.status_code == 404
        assert response.json() == {"status": 404, "error": "Not Found", "code": "billable_metrics_not_found"}
        assert counts(api) == (0, 0)

    def test_unknown_code_before_mixed_kinds(self, api: Api) -> None:
        add_plan(api, "pro")
        response = post(api, **FIXED, applies_to={"plan_codes": ["pro"], "billable_metric_codes": ["nope"]})
        assert response.status_code == 404
        assert response.json()["code"] == "billable_metrics_not_found"

    def test_validation_errors_come_first(self, api: Api) -> None:
        response = post(api, **{**FIXED, "name": None}, applies_to={"plan_codes": ["nope"]})
        assert errors(response) == {"name": ["value_is_mandatory"]}

    def test_deleted_plan_and_metric_are_unknown(self, api: Api) -> None:
        soft_delete(api, Plan, add_plan(api, "old"))
        soft_delete(api, BillableMetric, add_metric(api, "old_metric"))
        assert post(api, **FIXED, applies_to={"plan_codes": ["old"]}).json()["code"] == "plans_not_found"
        response = post(api, **FIXED, applies_to={"billable_metric_codes": ["old_metric"]})
        assert response.json()["code"] == "billable_metrics_not_found"

    def test_plan_deleted_later_leaves_the_codes(self, api: Api) -> None:
        plan_id = add_plan(api, "pro")
        add_plan(api, "startup")
        create_coupon(api, applies_to={"plan_codes": ["pro", "startup"]})
        soft_delete(api, Plan, plan_id)
        assert api.get("/coupons/welcome").json()["coupon"]["plan_codes"] == ["startup"]


class TestRead:
    def test_find(self, api: Api) -> None:
        add_plan(api, "pro")
        created = create_coupon(api, applies_to={"plan_codes": ["pro"]})
        response = api.get("/coupons/welcome")
        assert response.status_code == 200
        assert response.json() == {"coupon": created}

    def test_unknown(self, api: Api) -> None:
        response = api.get("/coupons/nope")
        assert response.status_code == 404
        assert response.json() == {"status": 404, "error": "Not Found", "code": "coupon_not_found"}

    def test_list_in_lago_order(self, api: Api) -> None:
        create_coupon(api, code="unlimited_old")
        create_coupon(api, PERCENT, code="ends_2031", expiration_at="2031-01-01T00:00:00Z")
        create_coupon(api, PERCENT, code="ends_2030", expiration_at="2030-01-01T00:00:00Z")
        create_coupon(api, code="terminated")
        create_coupon(api, code="unlimited_new")
        with sessionmaker(api).begin() as session:
            session.execute(update(Coupon).where(Coupon.code == "terminated").values(status="terminated"))
        body = api.get("/coupons").json()
        assert [c["code"] for c in body["coupons"]] == [
            "unlimited_new",
            "unlimited_old",
            "ends_2030",
            "ends_2031",
            "terminated",
        ]
        for coupon in body["coupons"]:
            CouponResponse.parse_obj(coupon)

    def test_list_paginates_with_targets(self, api: Api) -> None:
        add_metric(api, "api_calls")
        for i in range(3):
            create_coupon(
                api, code=f"c{i}", applies_to={"billable_metric_codes": ["api_calls"]} if i == 2 else None
            )
        body = api.get("/coupons", params={"per_page": 2}).json()
        assert [c["code"] for c in body["coupons"]] == ["c2", "c1"]
        assert body["coupons"][0]["billable_metric_codes"] == ["api_calls"]
        assert body["coupons"][1]["billable_metric_codes"] == []
        assert body["meta"] == {
            "current_page": 1,
            "next_page": 2,
            "prev_page": None,
            "total_pages": 2,
            "total_count": 3,
        }
        page2 = api.get("/coupons", params={"per_page": 2, "page": 2}).json()
        assert [c["code"] for c in page2["coupons"]] == ["c0"]

    def test_empty_list(self, api: Api) -> None:
        assert api.get("/coupons").json() == {
            "coupons": [],
            "meta": {
                "current_page": 0,
                "next_page": None,
                "prev_page": None,
                "total_pages": 0,
                "total_count": 0,
            },
        }


class TestUpdate:
    def test_partial_update(self, api: Api) -> None:
        created = create_coupon(api)
        response = api.put(
            "/coupons/welcome", json={"coupon": {"name": "Hello", "code": "hello", "reusable": True}}
        )
        assert response.status_code == 200, response.text
        assert response.json()["coupon"] == {**created, "name": "Hello", "code": "hello", "reusable": True}
        assert api.get("/coupons/welcome").status_code == 404

    def test_nulls_keep_values(self, api: Api) -> None:
        created = create_coupon(api)
        response = api.put("/coupons/welcome", json={"coupon": {"amount_cents": None, "applies_to": None}})
        assert response.status_code == 200
        assert response.json()["coupon"] == created

    def test_switch_to_percentage_needs_rate(self, api: Api) -> None:
        create_coupon(api)
        response = api.put("/coupons/welcome", json={"coupon": {"coupon_type": "percentage"}})
        assert errors(response) == {"percentage_rate": ["value_is_mandatory"]}
        response = api.put(
            "/coupons/welcome", json={"coupon": {"coupon_type": "percentage", "percentage_rate": "5"}}
        )
        assert response.status_code == 200
        assert response.json()["coupon"]["percentage_rate"] == "5.0"

    def test_switch_to_recurring_and_time_limit(self, api: Api) -> None:
        create_coupon(api)
        response = api.put(
            "/coupons/welcome", json={"coupon": {"frequency": "recurring", "expiration": "time_limit"}}
        )
        assert errors(response) == {
            "frequency_duration": ["value_is_mandatory"],
            "expiration_at": ["value_is_mandatory"],
        }
        response = api.put(
            "/coupons/welcome",
            json={
                "coupon": {
                    "frequency": "recurring",
                    "frequency_duration": 6,
                    "expiration": "time_limit",
                    "expiration_at": "2032-05-01T00:00:00Z",
                }
            },
        )
        assert response.status_code == 200, response.text
        coupon = response.json()["coupon"]
        assert (coupon["frequency_duration"], coupon["expiration_at"]) == (6, "2032-05-01T00:00:00Z")
        # Unrelated updates keep a stored expiry.
        assert api.put("/coupons/welcome", json={"coupon": {"name": "x"}}).status_code == 200

    def test_invalid_values_change_nothing(self, api: Api) -> None:
        created = create_coupon(api)
        response = api.put(
            "/coupons/welcome",
            json={"coupon": {"name": "", "amount_cents": 0, "expiration_at": "2001-01-01", "frequency": "x"}},
        )
        assert errors(response) == {
            "name": ["value_is_mandatory"],
            "frequency": ["value_is_invalid"],
            "amount_cents": ["value_is_out_of_range"],
            "expiration_at": ["invalid_date"],
        }
        assert api.get("/coupons/welcome").json()["coupon"] == created

    def test_taken_code(self, api: Api) -> None:
        create_coupon(api)
        create_coupon(api, code="other")
        assert errors(api.put("/coupons/other", json={"coupon": {"code": "welcome"}})) == {
            "code": ["value_already_exist"]
        }
        assert api.put("/coupons/other", json={"coupon": {"code": "other"}}).status_code == 200

    def test_applies_to_replaces_targets(self, api: Api) -> None:
        add_plan(api, "pro")
        add_plan(api, "startup")
        add_metric(api, "api_calls")
        create_coupon(api, applies_to={"plan_codes": ["pro"]})

        def put(applies_to: Any) -> dict:
            response = api.put("/coupons/welcome", json={"coupon": {"applies_to": applies_to}})
            assert response.status_code == 200, response.text
            return response.json()["coupon"]

        coupon = put({"plan_codes": ["startup", "pro"]})
        assert (coupon["limited_plans"], coupon["plan_codes"]) == (True, ["pro", "startup"])
        coupon = put({"billable_metric_codes": ["api_calls"]})
        assert (coupon["limited_plans"], coupon["plan_codes"]) == (False, [])
        assert (coupon["limited_billable_metrics"], coupon["billable_metric_codes"]) == (True, ["api_calls"])
        kept = api.put("/coupons/welcome", json={"coupon": {"name": "Renamed"}}).json()["coupon"]
        assert kept["billable_metric_codes"] == ["api_calls"]
        coupon = put({})
        assert coupon["limited_billable_metrics"] is False and coupon["billable_metric_codes"] == []
        assert counts(api) == (1, 0)

    def test_bad_targets_change_nothing(self, api: Api) -> None:
        add_plan(api, "pro")
        add_metric(api, "api_calls")
        created = create_coupon(api, applies_to={"plan_codes": ["pro"]})
        response = api.put(
            "/coupons/welcome", json={"coupon": {"name": "x", "applies_to": {"plan_codes": ["no"]}}}
        )
        assert response.status_code == 404 and response.json()["code"] == "plans_not_found"
        response = api.put(
            "/coupons/welcome",
            json={"coupon": {"applies_to": {"plan_codes": ["pro"], "billable_metric_codes": ["api_calls"]}}},
        )
        assert response.status_code == 405
        assert api.get("/coupons/welcome").json()["coupon"] == created
        assert counts(api) == (1, 1)

    def test_unknown(self, api: Api) -> None:
        response = api.put("/coupons/nope", json={"coupon": {"name": "x"}})
        assert response.status_code == 404
        assert response.json()["code"] == "coupon_not_found"


class TestDelete:
    def test_soft_delete(self, api: Api) -> None:
        add_plan(api, "pro")
        created = create_coupon(api, applies_to={"plan_codes": ["pro"]})
        response = api.delete("/coupons/welcome")
        assert response.status_code == 200
        assert response.json() == {"coupon": created}
        assert api.get("/coupons/welcome").status_code == 404
        assert api.get("/coupons").json()["coupons"] == []
        assert api.delete("/coupons/welcome").json()["code"] == "coupon_not_found"
        assert api.put("/coupons/welcome", json={"coupon": {"name": "x"}}).status_code == 404
        assert counts(api) == (1, 1)

    def test_code_is_free_after_delete(self, api: Api) -> None:
        first = create_coupon(api)
        api.delete("/coupons/welcome")
        second = create_coupon(api)
        assert second["lago_id"] != first["lago_id"]
        assert api.get("/coupons/welcome").json()["coupon"]["lago_id"] == second["lago_id"]


class TestTenancy:
    def test_other_organization_sees_nothing(self, api: Api, other_api: Api) -> None:
        create_coupon(api)
        assert other_api.get("/coupons/welcome").status_code == 404
        assert other_api.get("/coupons").json()["coupons"] == []
        assert other_api.put("/coupons/welcome", json={"coupon": {"name": "x"}}).status_code == 404
        assert other_api.delete("/coupons/welcome").status_code == 404
        # The same code is free in the other organization.
        assert other_api.post("/coupons", json={"coupon": FIXED}).status_code == 200
        assert api.get("/coupons/welcome").json()["coupon"]["name"] == "Welcome"

    def test_cannot_target_another_organizations_plan_or_metric(self, api: Api, other_api: Api) -> None:
        add_plan(other_api, "pro")
        add_metric(other_api, "api_calls")
        response = post(api, **FIXED, applies_to={"plan_codes": ["pro"]})
        assert response.status_code == 404 and response.json()["code"] == "plans_not_found"
        response = post(api, **FIXED, applies_to={"billable_metric_codes": ["api_calls"]})
        assert response.status_code == 404 and response.json()["code"] == "billable_metrics_not_found"
        assert counts(api) == (0, 0)


class TestParseExpirationAt:
    def test_parse(self) -> None:
        assert parse_instant_or_none("2030-01-01T01:00:00+01:00") == datetime(2030, 1, 1, tzinfo=UTC)
        assert parse_instant_or_none("2030-01-01") == datetime(2030, 1, 1, tzinfo=UTC)
        assert parse_instant_or_none("nope") is None
        assert parse_instant_or_none(12) is None
        assert parse_instant_or_none(None) is None
        assert parse_instant_or_none(" 2030-01-01T00:00:00Z ") == datetime(2030, 1, 1, tzinfo=UTC)
        assert timedelta(0) == parse_instant_or_none("2030-01-01T00:00:00Z") - datetime(
            2030, 1, 1, tzinfo=UTC
        )
