"""Numbers at the API edge (issue 9, defects 1, 3, 7, 8, 12): every number is refused beyond the ranges a
real bill can have (``billow.kit.limits``), with a 422 and never a 500; ``NaN``/``Infinity`` are malformed
JSON; a metric expression must parse; a page past the end is empty whatever its number."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import Api

BIG = [2**63, 10**30, -(10**30)]

PLAN = {
    "name": "Starter",
    "code": "starter",
    "interval": "monthly",
    "amount_cents": 1000,
    "amount_currency": "EUR",
}


def ok(response: Any) -> dict:
    assert response.status_code == 200, response.text
    return response.json()


def errors_of(response: Any) -> dict:
    assert response.status_code == 422, response.text
    body = response.json()
    assert (body["status"], body["error"], body["code"]) == (422, "Unprocessable Entity", "validation_errors")
    return body["error_details"]


@pytest.fixture
def catalog(api: Api) -> dict:
    """A metric, a plan on it with one charge, a customer subscribed to the plan."""
    metric = ok(
        api.post(
            "/billable_metrics",
            json={"billable_metric": {"name": "Calls", "code": "calls", "aggregation_type": "count_agg"}},
        )
    )["billable_metric"]
    charge = {
        "billable_metric_id": metric["lago_id"],
        "charge_model": "standard",
        "properties": {"amount": "1"},
    }
    ok(api.post("/plans", json={"plan": {**PLAN, "charges": [charge]}}))
    subscription = {"external_customer_id": "cus_1", "plan_code": "starter", "external_id": "sub_1"}
    ok(api.post("/subscriptions", json={"subscription": subscription}))
    return {"metric": metric, "charge": charge}


# ------------------------------------------------------------------------------- integers (defect 3)


@dataclass(frozen=True)
class Field:
    """Where one integer field is sent: ``send(api, catalog, value)`` → response; the error key."""

    name: str
    send: Callable[[Api, dict, Any], Any]
    key: str


def _plan(api: Api, catalog: dict, **fields: Any) -> Any:
    return api.post("/plans", json={"plan": {**PLAN, "code": "other", **fields}})


def _charge(catalog: dict, **fields: Any) -> dict:
    return {**catalog["charge"], **fields}


def _subscribe(api: Api, catalog: dict, **fields: Any) -> Any:
    body = {"external_customer_id": "cus_2", "plan_code": "starter", "external_id": "sub_2", **fields}
    return api.post("/subscriptions", json={"subscription": body})


def _customer(api: Api, **fields: Any) -> Any:
    return api.post("/customers", json={"customer": {"external_id": "cus_3", **fields}})


FIELDS = [
    Field("plan.amount_cents", lambda a, c, v: _plan(a, c, amount_cents=v), "amount_cents"),
    Field(
        "plan.charges[].min_amount_cents",
        lambda a, c, v: _plan(a, c, charges=[_charge(c, min_amount_cents=v)]),
        "min_amount_cents",
    ),
    Field(
        "plan.minimum_commitment.amount_cents",
        lambda a, c, v: _plan(a, c, minimum_commitment={"amount_cents": v}),
        "amount_cents",
    ),
    Field(
        "plan.usage_thresholds[].amount_cents",
        lambda a, c, v: _plan(a, c, usage_thresholds=[{"amount_cents": v}]),
        "amount_cents",
    ),
    Field("plan.trial_period", lambda a, c, v: _plan(a, c, trial_period=v), "trial_period"),
    Field(
        "plan update amount_cents",
        lambda a, c, v: a.put("/plans/starter", json={"plan": {"amount_cents": v}}),
        "amount_cents",
    ),
    Field(
        "subscription.plan_overrides.amount_cents",
        lambda a, c, v: _subscribe(a, c, plan_overrides={"amount_cents": v}),
        "amount_cents",
    ),
    Field(
        "subscription.plan_overrides.charges[].min_amount_cents",
        lambda a, c, v: _subscribe(
            a, c, plan_overrides={"charges": [{"id": _charge_id(a), "min_amount_cents": v}]}
        ),
        "min_amount_cents",
    ),
    Field(
        "subscription.plan_overrides.minimum_commitment.amount_cents",
        lambda a, c, v: _subscribe(a, c, plan_overrides={"minimum_commitment": {"amount_cents": v}}),
        "amount_cents",
    ),
    Field(
        "subscription.plan_overrides.trial_period",
        lambda a, c, v: _subscribe(a, c, plan_overrides={"trial_period": v}),
        "trial_period",
    ),
    Field("customer.net_payment_term", lambda a, c, v: _customer(a, net_payment_term=v), "net_payment_term"),
    Field(
        "customer.billing_configuration.invoice_grace_period",
        lambda a, c, v: _customer(a, billing_configuration={"invoice_grace_period": v}),
        "invoice_grace_period",
    ),
    Field(
        "organization.net_payment_term",
        lambda a, c, v: a.put("/organizations", json={"organization": {"net_payment_term": v}}),
        "net_payment_term",
    ),
    Field(
        "organization.billing_configuration.invoice_grace_period",
        lambda a, c, v: a.put(
            "/organizations", json={"organization": {"billing_configuration": {"invoice_grace_period": v}}}
        ),
        "invoice_grace_period",
    ),
    Field(
        "billable_metric.rounding_precision",
        lambda a, c, v: a.post(
            "/billable_metrics",
            json={
                "billable_metric": {
                    "name": "x",
                    "code": "x",
                    "aggregation_type": "count_agg",
                    "rounding_function": "round",
                    "rounding_precision": v,
                }
            },
        ),
        "rounding_precision",
    ),
    Field(
        "add_on.amount_cents",
        lambda a, c, v: a.post(
            "/add_ons",
            json={"add_on": {"name": "Setup", "code": "setup", "amount_cents": v, "amount_currency": "EUR"}},
        ),
        "amount_cents",
    ),
    Field(
        "coupon.amount_cents",
        lambda a, c, v: a.post(
            "/coupons",
            json={
                "coupon": {
                    "name": "Off",
                    "code": "off",
                    "coupon_type": "fixed_amount",
                    "amount_cents": v,
                    "amount_currency": "EUR",
                    "frequency": "once",
                    "expiration": "no_expiration",
                }
            },
        ),
        "amount_cents",
    ),
    Field(
        "coupon.frequency_duration",
        lambda a, c, v: a.post(
            "/coupons",
            json={
                "coupon": {
                    "name": "Off",
                    "code": "off",
                    "coupon_type": "percentage",
                    "percentage_rate": "10",
                    "frequency": "recurring",
                    "frequency_duration": v,
                    "expiration": "no_expiration",
                }
            },
        ),
        "frequency_duration",
    ),
    Field(
        "lifetime_usage.external_historical_usage_amount_cents",
        lambda a, c, v: a.put(
            "/subscriptions/sub_1/lifetime_usage",
            json={"lifetime_usage": {"external_historical_usage_amount_cents": v}},
        ),
        "external_historical_usage_amount_cents",
    ),
    Field(
        "invoice void refund_amount",
        lambda a, c, v: a.post(f"/invoices/{uuid.uuid4()}/void", json={"refund_amount": v}),
        "refund_amount",
    ),
    Field(
        "tax.rate",
        lambda a, c, v: a.post("/taxes", json={"tax": {"name": "T", "code": "t", "rate": v}}),
        "rate",
    ),
]


def _charge_id(api: Api) -> str:
    return ok(api.get("/plans/starter"))["plan"]["charges"][0]["lago_id"]


@pytest.mark.parametrize("field", FIELDS, ids=lambda f: f.name)
class TestIntegersBeyondBigint:
    @pytest.mark.parametrize("value", BIG, ids=["2**63", "10**30", "-10**30"])
    def test_out_of_range(self, api: Api, catalog: dict, field: Field, value: int) -> None:
        response = field.send(api, catalog, value)
        assert errors_of(response) == {field.key: ["value_is_out_of_range"]}

    def test_just_beyond_the_documented_bound(self, api: Api, catalog: dict, field: Field) -> None:
        from billow.kit import limits

        bounds = {
            "trial_period": limits.MAX_DAYS,
            "net_payment_term": limits.MAX_DAYS,
            "invoice_grace_period": limits.MAX_DAYS,
            "rounding_precision": limits.MAX_ROUNDING_PRECISION,
            "frequency_duration": limits.MAX_PERIODS,
            "rate": int(limits.MAX_TAX_RATE),
        }
        bound = bounds.get(field.key, limits.MAX_AMOUNT_CENTS)
        assert errors_of(field.send(api, catalog, bound + 1)) == {field.key: ["value_is_out_of_range"]}


class TestBoundsAccepted:
    def test_largest_amounts_and_durations(self, api: Api, catalog: dict) -> None:
        plan = ok(
            _plan(
                api,
                catalog,
                amount_cents=10**15,
                trial_period=36_500,
                minimum_commitment={"amount_cents": 10**15},
                usage_thresholds=[{"amount_cents": 10**15}],
                charges=[_charge(catalog, min_amount_cents=10**15, properties={"amount": "10000000000000"})],
            )
        )["plan"]
        assert plan["amount_cents"] == 10**15
        assert plan["trial_period"] == 36_500
        assert plan["charges"][0]["properties"]["amount"] == "10000000000000"
        customer = ok(
            _customer(api, net_payment_term=36_500, billing_configuration={"invoice_grace_period": 36_500})
        )
        assert customer["customer"]["net_payment_term"] == 36_500

    def test_tax_rate_and_rounding_precision(self, api: Api) -> None:
        assert (
            ok(api.post("/taxes", json={"tax": {"name": "T", "code": "t", "rate": "1000"}}))["tax"]["rate"]
            == 1000
        )
        metric = {"name": "x", "code": "x", "aggregation_type": "count_agg", "rounding_function": "round"}
        body = {"billable_metric": {**metric, "rounding_precision": 15}}
        assert ok(api.post("/billable_metrics", json=body))["billable_metric"]["rounding_precision"] == 15
        body = {"billable_metric": {**metric, "code": "y", "rounding_precision": -1}}
        assert errors_of(api.post("/billable_metrics", json=body)) == {
            "rounding_precision": ["value_is_out_of_range"]
        }


# ----------------------------------------------------------------------- the poisoned plan (defect 1)


class TestPoisonedInputsOfDefect1:
    def test_trial_period_of_ten_billion_days(self, api: Api, catalog: dict) -> None:
        assert errors_of(_plan(api, catalog, trial_period=10**10)) == {
            "trial_period": ["value_is_out_of_range"]
        }
        assert errors_of(_plan(api, catalog, trial_period="1e400")) == {
            "trial_period": ["value_is_out_of_range"]
        }
        response = api.put("/plans/starter", json={"plan": {"trial_period": 10**10}})
        assert errors_of(response) == {"trial_period": ["value_is_out_of_range"]}

    @pytest.mark.parametrize(
        "price",
        ["1e400", "1" + "0" * 30, "NaN", "Infinity", "-Infinity", "1e-400", "0.0000000000000001", "-1"],
    )
    def test_standard_price(self, api: Api, catalog: dict, price: str) -> None:
        response = _plan(api, catalog, charges=[_charge(catalog, properties={"amount": price})])
        assert errors_of(response) == {"properties": ["invalid_amount"]}

    @pytest.mark.parametrize("price", ["1e400", "1" + "0" * 30])
    def test_prices_of_every_model(self, api: Api, catalog: dict, price: str) -> None:
        cases = [
            (
                "graduated",
                {
                    "graduated_ranges": [
                        {"from_value": 0, "to_value": None, "per_unit_amount": price, "flat_amount": "0"}
                    ]
                },
            ),
            (
                "volume",
                {
                    "volume_ranges": [
                        {"from_value": 0, "to_value": None, "per_unit_amount": "1", "flat_amount": price}
                    ]
                },
            ),
            ("package", {"amount": price, "package_size": 1, "free_units": 0}),
            ("percentage", {"rate": "1", "per_transaction_max_amount": price}),
        ]
        for model, properties in cases:
            response = _plan(
                api, catalog, charges=[_charge(catalog, charge_model=model, properties=properties)]
            )
            assert errors_of(response) == {"properties": ["invalid_amount"]}, model
        response = _plan(
            api, catalog, charges=[_charge(catalog, charge_model="percentage", properties={"rate": price})]
        )
        assert errors_of(response) == {"properties": ["invalid_rate"]}

    def test_huge_quantities(self, api: Api, catalog: dict) -> None:
        package = {"amount": "1", "package_size": 10**30, "free_units": 0}
        response = _plan(api, catalog, charges=[_charge(catalog, charge_model="package", properties=package)])
        assert errors_of(response) == {"properties": ["invalid_package_size"]}
        ranges = [
            {"from_value": 0, "to_value": 10**30, "per_unit_amount": "1", "flat_amount": "0"},
            {"from_value": 10**30, "to_value": None, "per_unit_amount": "1", "flat_amount": "0"},
        ]
        response = _plan(
            api,
            catalog,
            charges=[_charge(catalog, charge_model="graduated", properties={"graduated_ranges": ranges})],
        )
        assert errors_of(response) == {"properties": ["invalid_graduated_ranges"]}

    # ("1e30" is no number to Lago's aggregation rule, ^-?[0-9]+(\.[0-9]+)?$: not aggregated at all.)
    @pytest.mark.parametrize("value", [10**30, "9" * 40])
    def test_huge_event_values_make_no_server_error(self, api: Api, value: Any) -> None:
        """Events carry whatever the client measured (Lago accepts any number): a value no bill can carry
        is stored, and the current usage it would give answers 422, never a 500 or an amount beyond
        BIGINT (billing records a failed invoice for it: tests/billing/test_failure_isolation.py)."""
        metric = {"name": "Storage", "code": "gb", "aggregation_type": "sum_agg", "field_name": "gb"}
        metric_id = ok(api.post("/billable_metrics", json={"billable_metric": metric}))["billable_metric"]
        charge = {"billable_metric_id": metric_id["lago_id"], "charge_model": "standard"}
        plan = {**PLAN, "code": "storage", "charges": [{**charge, "properties": {"amount": "1"}}]}
        ok(api.post("/plans", json={"plan": plan}))
        subscription = {"external_customer_id": "cus_9", "plan_code": "storage", "external_id": "sub_9"}
        ok(api.post("/subscriptions", json={"subscription": subscription}))
        event = {"transaction_id": "t1", "code": "gb", "external_subscription_id": "sub_9"}
        ok(api.post("/events", json={"event": {**event, "properties": {"gb": value}}}))
        response = api.get("/customers/cus_9/current_usage", params={"external_subscription_id": "sub_9"})
        assert errors_of(response) == {"charges": ["value_is_out_of_range"]}

    def test_charge_filter_and_override_prices(self, api: Api, catalog: dict) -> None:
        charge_id = _charge_id(api)
        response = _subscribe(
            api, catalog, plan_overrides={"charges": [{"id": charge_id, "properties": {"amount": "1e400"}}]}
        )
        assert errors_of(response) == {"properties": ["invalid_amount"]}

    def test_amount_cents_of_ten_to_the_thirty(self, api: Api, catalog: dict) -> None:
        assert errors_of(_plan(api, catalog, amount_cents=10**30)) == {
            "amount_cents": ["value_is_out_of_range"]
        }
        # as a JSON number with an exponent too (a float once parsed)
        body = PLAN_TEMPLATE % "1e30"
        # (pydantic does not turn a float that large into an integer: the value is invalid)
        assert errors_of(_raw(api, "POST", "/plans", body)) == {"amount_cents": ["value_is_invalid"]}
        # nothing was written
        assert ok(api.get("/plans"))["meta"]["total_count"] == 1

    def test_percentages(self, api: Api) -> None:
        coupon = {
            "name": "Off",
            "code": "off",
            "coupon_type": "percentage",
            "frequency": "once",
            "expiration": "no_expiration",
        }
        for rate in ("1e400", "100.0001", "0", "1e-400"):
            response = api.post("/coupons", json={"coupon": {**coupon, "percentage_rate": rate}})
            assert errors_of(response) == {"percentage_rate": ["value_is_out_of_range"]}, rate
        assert ok(api.post("/coupons", json={"coupon": {**coupon, "percentage_rate": "100"}}))
        response = api.post("/taxes", json={"tax": {"name": "T", "code": "t", "rate": "1e400"}})
        assert errors_of(response) == {"rate": ["value_is_out_of_range"]}


# -------------------------------------------------------------------------------- NaN / Infinity (12)


PLAN_TEMPLATE = (
    '{"plan": {"name": "x", "code": "x", "interval": "monthly", '
    '"amount_cents": %s, "amount_currency": "EUR"}}'
)
EVENT_TEMPLATE = (
    '{"event": {"transaction_id": "t", "external_subscription_id": "sub_1", "code": "calls", '
    '"properties": {"x": %s}}}'
)


def _raw(api: Api, method: str, path: str, body: str) -> Any:
    headers = {**api.headers, "Content-Type": "application/json"}
    return api.client.request(method, f"/api/v1{path}", content=body.encode(), headers=headers)


def _malformed(response: Any) -> None:
    assert response.status_code == 400, response.text
    assert response.json() == {"status": 400, "error": "BadRequest: malformed JSON body"}


class TestNanAndInfinity:
    @pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
    @pytest.mark.parametrize(
        ("method", "path", "template"),
        [
            (
                "POST",
                "/plans",
                PLAN_TEMPLATE,
            ),
            ("PUT", "/plans/starter", '{"plan": {"metadata": {"a": %s}}}'),
            ("POST", "/taxes", '{"tax": {"name": "x", "code": "x", "rate": %s}}'),
            (
                "POST",
                "/customers",
                '{"customer": {"external_id": "c", "metadata": [{"key": "k", "value": %s}]}}',
            ),
            (
                "POST",
                "/billable_metrics",
                '{"billable_metric": {"name": "x", "code": "x", "aggregation_type": "count_agg", '
                '"rounding_precision": %s}}',
            ),
            ("PUT", "/organizations", '{"organization": {"net_payment_term": %s}}'),
            (
                "POST",
                "/events",
                EVENT_TEMPLATE,
            ),
            (
                "POST",
                "/events/batch",
                '{"events": [{"transaction_id": "t", "external_subscription_id": "sub_1", "code": "calls", '
                '"timestamp": %s}]}',
            ),
            (
                "POST",
                "/events/estimate_fees",
                '{"event": {"external_subscription_id": "sub_1", "code": "calls", "properties": {"x": %s}}}',
            ),
        ],
    )
    def test_refused_as_malformed_json(
        self, api: Api, catalog: dict, token: str, method: str, path: str, template: str
    ) -> None:
        _malformed(_raw(api, method, path, template % token))

    def test_nothing_was_written(self, api: Api, catalog: dict) -> None:
        _malformed(
            _raw(
                api,
                "POST",
                "/events",
                EVENT_TEMPLATE % "NaN",
            )
        )
        assert ok(api.get("/events"))["events"] == []

    def test_the_same_bodies_parse_without_the_token(self, api: Api, catalog: dict) -> None:
        ok(_raw(api, "PUT", "/plans/starter", '{"plan": {"metadata": {"a": 1.5}}}'))


# ------------------------------------------------------------------------------ expressions (defect 7)


METRIC = {"name": "Bytes", "code": "bytes", "aggregation_type": "sum_agg", "field_name": "bytes"}


class TestMetricExpression:
    @pytest.mark.parametrize("expression", ["((", "event.properties.", "round(1,", "1 +", "unknown(1)"])
    def test_refused_at_create(self, api: Api, expression: str) -> None:
        response = api.post(
            "/billable_metrics", json={"billable_metric": {**METRIC, "expression": expression}}
        )
        assert errors_of(response) == {"expression": ["invalid_expression"]}
        assert ok(api.get("/billable_metrics"))["billable_metrics"] == []

    def test_refused_at_update(self, api: Api) -> None:
        ok(
            api.post(
                "/billable_metrics",
                json={"billable_metric": {**METRIC, "expression": "event.properties.a * 2"}},
            )
        )
        response = api.put("/billable_metrics/bytes", json={"billable_metric": {"expression": "(("}})
        assert errors_of(response) == {"expression": ["invalid_expression"]}
        metric = ok(api.get("/billable_metrics/bytes"))["billable_metric"]
        assert metric["expression"] == "event.properties.a * 2"

    def test_valid_expressions_kept(self, api: Api) -> None:
        expression = "round(event.properties.bytes / 1000, 2)"
        body = {"billable_metric": {**METRIC, "expression": expression}}
        assert ok(api.post("/billable_metrics", json=body))["billable_metric"]["expression"] == expression
        response = api.put("/billable_metrics/bytes", json={"billable_metric": {"expression": ""}})
        assert ok(response)["billable_metric"]["expression"] is None


# --------------------------------------------------------------------------------- pagination (defect 8)


LISTS = [
    "/plans",
    "/billable_metrics",
    "/customers",
    "/subscriptions?external_customer_id=cus_1",
    "/invoices",
    "/fees",
    "/events",
    "/taxes",
    "/add_ons",
    "/coupons",
    "/credit_notes",
    "/webhook_endpoints",
    "/plans/starter/charges",
    "/customers/cus_1/invoices",
    "/customers/cus_1/past_usage?external_subscription_id=sub_1",
]


def _with(path: str, query: str) -> str:
    return f"{path}{'&' if '?' in path else '?'}{query}"


class TestHugePage:
    @pytest.mark.parametrize("path", LISTS)
    def test_page_past_the_end_is_empty(self, api: Api, catalog: dict, path: str) -> None:
        body = ok(api.get(_with(path, f"page={10**12}")))
        items = [value for key, value in body.items() if key != "meta"]
        assert items == [[]]
        meta = body["meta"]
        assert meta["next_page"] is None
        if meta["total_count"]:
            assert meta["current_page"] == 10**12
            assert meta["prev_page"] == 10**12 - 1

    @pytest.mark.parametrize("path", LISTS)
    def test_page_beyond_bigint(self, api: Api, catalog: dict, path: str) -> None:
        for page in (2**63, 10**30):
            assert errors_of(api.get(_with(path, f"page={page}"))) == {"page": ["value_is_out_of_range"]}

    def test_meta_of_the_page_after_the_last(self, api: Api, catalog: dict) -> None:
        body = ok(api.get("/plans?page=2&per_page=1"))
        assert body["plans"] == []
        assert body["meta"] == {
            "current_page": 2,
            "next_page": None,
            "prev_page": 1,
            "total_pages": 1,
            "total_count": 1,
        }

    def test_pages_still_work(self, api: Api, catalog: dict) -> None:
        ok(_plan(api, catalog))
        first = ok(api.get("/plans?page=1&per_page=1"))
        second = ok(api.get("/plans?page=2&per_page=1"))
        assert len(first["plans"]) == len(second["plans"]) == 1
        assert first["plans"][0]["code"] != second["plans"][0]["code"]

    def test_periods_count_and_amount_filters(self, api: Api, catalog: dict) -> None:
        path = "/customers/cus_1/past_usage?external_subscription_id=sub_1&periods_count="
        assert errors_of(api.get(path + str(10**30))) == {"periods_count": ["value_is_out_of_range"]}
        assert ok(api.get(path + str(2**62)))["usage_periods"] == []
        for list_path in ("/invoices", "/credit_notes"):
            for query in (f"amount_from={10**30}", f"amount_to={-(10**30)}"):
                body = ok(api.get(f"{list_path}?{query}"))
                assert body["meta"]["total_count"] == 0
