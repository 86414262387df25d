"""Issue 9, defects 4 and 5: strings the databases cannot store, on SQLite and PostgreSQL alike.

* NUL characters: in any string of a request body (free-form JSON included) 422 ``value_is_invalid``
  on the field; in a path parameter 404 ``<resource>_not_found``; in a query parameter 422 on the
  parameter. PostgreSQL used to answer 500 where SQLite stored or compared them.
* Lengths: each string has a limit within its column (Lago's limit where Lago has one); one more
  character is 422 ``value_is_too_long`` and writes nothing, exactly the limit is accepted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session

from billow.app import API_PREFIX, _api_routers
from billow.billing.run import bill_due
from billow.errors import ValidationFailed
from billow.models.organizations import Organization
from billow.param_guard import resource_of
from tests.conftest import Api
from tests.fixtures import factories as f
from tests.fixtures.factories import at

NUL = "\u0000"


def send(api: Api, method: str, path: str, body: Any) -> Any:
    """A JSON request with every non-ASCII character escaped (``\\ud800`` cannot be sent as UTF-8)."""
    headers = {**api.headers, "Content-Type": "application/json"}
    return api.client.request(method, f"{API_PREFIX}{path}", content=json.dumps(body), headers=headers)


def details(response: Any) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    body = response.json()
    assert (body["status"], body["error"], body["code"]) == (422, "Unprocessable Entity", "validation_errors")
    return body["error_details"]  # type: ignore[no-any-return]


# ------------------------------------------------------------------------------------------- setups


def _metric(api: Api) -> None:
    body = {"name": "Calls", "code": "calls", "aggregation_type": "sum_agg", "field_name": "v"}
    assert api.post("/billable_metrics", {"billable_metric": body}).status_code == 200


def _plan(api: Api) -> None:
    _metric(api)
    body = {
        "name": "Pro",
        "code": "pro",
        "interval": "monthly",
        "amount_cents": 100,
        "amount_currency": "USD",
        "charges": [
            {"billable_metric_id": _metric_id(api), "charge_model": "standard", "properties": {"amount": "1"}}
        ],
    }
    response = api.post("/plans", {"plan": body})
    assert response.status_code == 200, response.text


def _metric_id(api: Api) -> str:
    return api.get("/billable_metrics/calls").json()["billable_metric"]["lago_id"]  # type: ignore[no-any-return]


def _customer(api: Api) -> None:
    assert api.post("/customers", {"customer": {"external_id": "cus_1"}}).status_code == 200


def _plan_and_customer(api: Api) -> None:
    _plan(api)
    _customer(api)


def _subscription(api: Api) -> None:
    _plan_and_customer(api)
    body = {"external_customer_id": "cus_1", "plan_code": "pro", "external_id": "sub_1"}
    assert api.post("/subscriptions", {"subscription": body}).status_code == 200


def _webhook_endpoint(api: Api) -> None:
    body = {"webhook_url": "https://example.com/hook"}
    assert api.post("/webhook_endpoints", {"webhook_endpoint": body}).status_code == 200


# -------------------------------------------------------------------------------------------- cases


def text(n: int) -> str:
    return "x" * n


def email(n: int) -> str:
    return "x" * (n - len("@example.com")) + "@example.com"


def expression(n: int) -> str:
    return "event.properties.v" + " " * (n - len("event.properties.v"))


def url(n: int) -> str:
    return "https://example.com/" + "x" * (n - len("https://example.com/"))


_UNIQUE = ("code", "external_id", "transaction_id", "webhook_url")


@dataclass
class Case:
    """``method path`` with ``{root: {**base, field: value}}``; ``read`` shows what it wrote."""

    method: str
    path: str
    root: str
    base: dict[str, Any]
    field: str
    limit: int
    read: str
    setup: Callable[[Api], None] | None = None
    make: Callable[[int], str] = text
    #: Where the value goes when the field is nested (``billing_configuration.invoice_footer``).
    nested: str | None = None
    #: The field the length error names, when not ``nested`` or ``field`` (the customers' service
    #: names the column: ``shipping_zipcode``); a NUL is always reported on the root object's field.
    error_field: str | None = None
    #: Whether the response shows the value (``external_customer_id`` of an event is not stored).
    echoed: bool = True

    def body(self, value: str, unique: str = "") -> dict[str, Any]:
        """The request body; ``unique`` is appended to the base's identifiers (several creations)."""
        payload = {key: item + unique if key in _UNIQUE else item for key, item in self.base.items()}
        if self.nested:
            payload[self.nested] = {self.field: value}
        else:
            payload[self.field] = value
        return {self.root: payload}

    def send(self, api: Api, value: str, unique: str = "") -> Any:
        return api.client.request(
            self.method, f"/api/v1{self.path}", json=self.body(value, unique), headers=api.headers
        )

    @property
    def reported(self) -> str:
        return self.error_field or self.nested or self.field

    @property
    def nul_reported(self) -> str:
        return self.nested or self.field


TAX = {"name": "VAT", "code": "vat", "rate": "20"}
METRIC = {"name": "Calls", "code": "calls", "aggregation_type": "sum_agg", "field_name": "v"}
PLAN = {"name": "Pro", "code": "pro", "interval": "monthly", "amount_cents": 100, "amount_currency": "USD"}
ADD_ON = {"name": "Setup", "code": "setup", "amount_cents": 100, "amount_currency": "USD"}
COUPON = {
    "name": "Promo",
    "code": "promo",
    "coupon_type": "fixed_amount",
    "amount_cents": 100,
    "amount_currency": "USD",
    "frequency": "once",
    "expiration": "no_expiration",
}
CUSTOMER = {"external_id": "cus_1"}
SUBSCRIPTION = {"external_customer_id": "cus_1", "plan_code": "pro", "external_id": "sub_1"}
WEBHOOK = {"webhook_url": "https://example.com/hook"}
EVENT = {"transaction_id": "tx_1", "external_subscription_id": "sub_1", "code": "calls"}

CASES = {
    # Catalog: code, name, description of every resource.
    **{
        f"tax.{name}": Case("POST", "/taxes", "tax", TAX, name, limit, "/taxes")
        for name, limit in (("code", 255), ("name", 255), ("description", 2048))
    },
    **{
        f"billable_metric.{name}": Case(
            "POST", "/billable_metrics", "billable_metric", METRIC, name, limit, "/billable_metrics"
        )
        for name, limit in (("code", 255), ("name", 255), ("description", 2048), ("field_name", 255))
    },
    "billable_metric.expression": Case(
        "POST",
        "/billable_metrics",
        "billable_metric",
        METRIC,
        "expression",
        2048,
        "/billable_metrics",
        make=expression,
        echoed=False,
    ),
    **{
        f"plan.{name}": Case("POST", "/plans", "plan", PLAN, name, limit, "/plans")
        for name, limit in (
            ("code", 255),
            ("name", 255),
            ("description", 2048),
            ("invoice_display_name", 255),
        )
    },
    "plan_update.description": Case(
        "PUT", "/plans/pro", "plan", {"name": "Pro"}, "description", 2048, "/plans/pro", setup=_plan
    ),
    **{
        f"add_on.{name}": Case("POST", "/add_ons", "add_on", ADD_ON, name, limit, "/add_ons")
        for name, limit in (
            ("code", 255),
            ("name", 255),
            ("description", 2048),
            ("invoice_display_name", 255),
        )
    },
    **{
        f"coupon.{name}": Case("POST", "/coupons", "coupon", COUPON, name, limit, "/coupons")
        for name, limit in (("code", 255), ("name", 255), ("description", 2048))
    },
    # Customers.
    **{
        f"customer.{name}": Case("POST", "/customers", "customer", CUSTOMER, name, limit, "/customers")
        for name, limit in (
            ("external_id", 255),
            ("name", 255),
            ("legal_name", 255),
            ("address_line1", 255),
            ("city", 255),
            ("zipcode", 64),
        )
    },
    "customer.email": Case(
        "POST", "/customers", "customer", CUSTOMER, "email", 1024, "/customers", make=email
    ),
    "customer.url": Case("POST", "/customers", "customer", CUSTOMER, "url", 1024, "/customers", make=url),
    "customer.shipping_zipcode": Case(
        "POST",
        "/customers",
        "customer",
        CUSTOMER,
        "zipcode",
        64,
        "/customers",
        nested="shipping_address",
        error_field="shipping_zipcode",
    ),
    # Subscriptions.
    **{
        f"subscription.{name}": Case(
            "POST",
            "/subscriptions",
            "subscription",
            SUBSCRIPTION,
            name,
            255,
            "/subscriptions",
            setup=_plan_and_customer,
        )
        for name in ("external_id", "name", "purchase_order_number")
    },
    "subscription_update.name": Case(
        "PUT",
        "/subscriptions/sub_1",
        "subscription",
        {},
        "name",
        255,
        "/subscriptions/sub_1",
        setup=_subscription,
    ),
    # Events (parsed by hand: billow.events.schemas).
    **{
        f"event.{name}": Case("POST", "/events", "event", EVENT, name, 255, "/events")
        for name in ("transaction_id", "code", "external_subscription_id")
    },
    "event.external_customer_id": Case(
        "POST", "/events", "event", EVENT, "external_customer_id", 255, "/events", echoed=False
    ),
    # Organization.
    **{
        f"organization.{name}": Case(
            "PUT", "/organizations", "organization", {}, name, limit, "/organizations"
        )
        for name, limit in (
            ("legal_name", 255),
            ("address_line1", 255),
            ("zipcode", 64),
            ("document_number_prefix", 10),
        )
    },
    "organization.email": Case(
        "PUT", "/organizations", "organization", {}, "email", 255, "/organizations", make=email
    ),
    "organization.webhook_url": Case(
        "PUT", "/organizations", "organization", {}, "webhook_url", 1024, "/organizations", make=url
    ),
    "organization.invoice_footer": Case(
        "PUT",
        "/organizations",
        "organization",
        {},
        "invoice_footer",
        600,
        "/organizations",
        nested="billing_configuration",
    ),
    # Webhook endpoints.
    "webhook_endpoint.webhook_url": Case(
        "POST",
        "/webhook_endpoints",
        "webhook_endpoint",
        {},
        "webhook_url",
        1024,
        "/webhook_endpoints",
        make=url,
    ),
    "webhook_endpoint.name": Case(
        "POST", "/webhook_endpoints", "webhook_endpoint", WEBHOOK, "name", 255, "/webhook_endpoints"
    ),
}


def _read(api: Api, case: Case) -> Any:
    response = api.get(case.read)
    assert response.status_code == 200, response.text
    return response.json()


#: The cases by resource: one test each (a test costs a database wipe, slow on PostgreSQL).
GROUPS: dict[str, list[Case]] = {}
for _id, _case in CASES.items():
    GROUPS.setdefault(_id.split(".")[0], []).append(_case)


@pytest.mark.parametrize("group", GROUPS)
def test_body_string_limits_and_nul(api: Api, group: str) -> None:
    """Per field: one character over the limit and a megabyte are ``value_is_too_long``, a NUL
    ``value_is_invalid``, and none writes anything; exactly the limit is accepted."""
    cases = GROUPS[group]
    if cases[0].setup:
        cases[0].setup(api)
    for index, case in enumerate(cases):
        unique = f"_{index}"
        before = _read(api, case)
        for length in (case.limit + 1, 1_000_000):
            response = case.send(api, case.make(length), unique)
            assert details(response) == {case.reported: ["value_is_too_long"]}, (case.field, length)
            assert _read(api, case) == before, case.field
        value = case.make(8)
        response = case.send(api, value[:3] + NUL + value[4:], unique)
        assert details(response) == {case.nul_reported: ["value_is_invalid"]}, case.field
        assert _read(api, case) == before, case.field
        value = case.make(case.limit)
        response = case.send(api, value, unique)
        assert response.status_code == 200, (case.field, response.text)
        assert value in response.text or not case.echoed, case.field


# ---------------------------------------------------------------------------- free-form JSON, NUL


def _charge(api: Api, **fields: Any) -> dict[str, Any]:
    return {
        "billable_metric_id": _metric_id(api),
        "charge_model": "standard",
        "properties": {"amount": "1"},
        **fields,
    }


class TestFreeFormJson:
    """A NUL (or a lone surrogate) anywhere in free-form JSON: 422 on the field, nothing written."""

    @pytest.mark.parametrize(
        "metadata", [{"k": f"v{NUL}"}, {f"k{NUL}": "v"}, {"k": "\ud800"}], ids=["value", "key", "surrogate"]
    )
    def test_plan_metadata(self, api: Api, metadata: dict[str, Any]) -> None:
        invalid = {"metadata": ["value_is_invalid"]}
        assert details(send(api, "POST", "/plans", {"plan": {**PLAN, "metadata": metadata}})) == invalid
        _plan(api)
        assert details(send(api, "POST", "/plans/pro/metadata", {"metadata": metadata})) == invalid
        assert details(send(api, "PATCH", "/plans/pro/metadata", {"metadata": metadata})) == invalid
        assert api.get("/plans").json()["plans"][0]["metadata"] in (None, {})

    @pytest.mark.parametrize(
        "properties",
        [{"amount": f"1{NUL}"}, {"amount": "1", f"x{NUL}": 1}, {"amount": "1", "x": [{"y": NUL}]}],
        ids=["value", "key", "nested"],
    )
    def test_charge_properties(self, api: Api, properties: dict[str, Any]) -> None:
        _metric(api)
        charge = _charge(api, properties=properties)
        assert details(api.post("/plans", {"plan": {**PLAN, "charges": [charge]}})) == {
            "charges": ["value_is_invalid"]
        }
        assert api.get("/plans").json()["plans"] == []

    def test_charge_and_metric_filters(self, api: Api) -> None:
        body = {**METRIC, "filters": [{"key": "region", "values": ["us", f"e{NUL}u"]}]}
        assert details(api.post("/billable_metrics", {"billable_metric": body})) == {
            "filters": ["value_is_invalid"]
        }
        body = {**METRIC, "filters": [{"key": "region", "values": ["us", "eu"]}]}
        assert api.post("/billable_metrics", {"billable_metric": body}).status_code == 200
        charge = _charge(api, filters=[{"values": {"region": [f"u{NUL}s"]}, "properties": {"amount": "2"}}])
        assert details(api.post("/plans", {"plan": {**PLAN, "charges": [charge]}})) == {
            "charges": ["value_is_invalid"]
        }

    def test_plan_overrides_of_a_subscription(self, api: Api) -> None:
        _plan_and_customer(api)
        body = {**SUBSCRIPTION, "plan_overrides": {"name": f"P{NUL}"}}
        assert details(api.post("/subscriptions", {"subscription": body})) == {
            "plan_overrides": ["value_is_invalid"]
        }
        assert api.get("/subscriptions").json()["subscriptions"] == []

    def test_fields_of_any_json_type(self, api: Api) -> None:
        body = {**COUPON, "expiration": "time_limit", "expiration_at": f"2030-01-01{NUL}"}
        assert details(api.post("/coupons", {"coupon": body})) == {"expiration_at": ["value_is_invalid"]}
        _plan_and_customer(api)
        body = {**SUBSCRIPTION, "subscription_at": f"2024-01-01{NUL}"}
        assert details(api.post("/subscriptions", {"subscription": body})) == {
            "subscription_at": ["value_is_invalid"]
        }

    def test_lists_of_strings(self, api: Api) -> None:
        assert details(api.post("/plans", {"plan": {**PLAN, "tax_codes": [f"v{NUL}"]}})) == {
            "tax_codes": ["value_is_invalid"]
        }
        assert details(api.post("/plans", {"plan": {**PLAN, "tax_codes": ["x" * 256]}})) == {
            "tax_codes": ["value_is_too_long"]
        }


NUL_EVENT_FIELDS = [
    {"transaction_id": f"t{NUL}"},
    {"code": f"c{NUL}"},
    {"external_subscription_id": f"s{NUL}"},
    {"external_customer_id": f"c{NUL}"},
    {"properties": {f"k{NUL}": 1}},
    {"properties": {"k": [f"v{NUL}"]}},
    {"transaction_id": "t\ud800"},
]


class TestEvents:
    def test_nul_in_one_event_and_in_a_batch(self, api: Api) -> None:
        for fields in NUL_EVENT_FIELDS:
            (name,) = fields
            response = send(api, "POST", "/events", {"event": {**EVENT, **fields}})
            assert details(response) == {name: ["value_is_invalid"]}, fields
            batch = [{**EVENT, "transaction_id": "ok"}, {**EVENT, **fields}]
            response = send(api, "POST", "/events/batch", {"events": batch})
            assert details(response) == {"1": {name: ["value_is_invalid"]}}, fields
        assert api.get("/events").json()["events"] == []

    def test_raw_surrogate_bytes(self, api: Api) -> None:
        # Python's JSON parser decodes a UTF-8-encoded surrogate instead of refusing it.
        headers = {**api.headers, "Content-Type": "application/json"}
        body = b'{"event": {"transaction_id": "t", "external_subscription_id": "s", "code": "c\xed\xa0\x80"}}'
        response = api.client.post("/api/v1/events", content=body, headers=headers)
        assert details(response) == {"code": ["value_is_invalid"]}
        body = b'{"tax": {"name": "VAT", "code": "v\xed\xa0\x80", "rate": "20"}}'
        response = api.client.post("/api/v1/taxes", content=body, headers=headers)
        assert details(response) == {"code": ["value_is_invalid"]}

    def test_estimate_fees_and_evaluate_expression(self, api: Api) -> None:
        _subscription(api)
        body = {"event": {"external_subscription_id": f"sub{NUL}", "code": "calls"}}
        assert details(api.post("/events/estimate_fees", body)) == {
            "external_subscription_id": ["value_is_invalid"]
        }
        body = {
            "expression": "event.properties.v",
            "event": {"code": "calls", "properties": {"v": f"1{NUL}"}},
        }
        assert details(api.post("/billable_metrics/evaluate_expression", body)) == {
            "properties": ["value_is_invalid"]
        }

    def test_a_nul_escape_outside_strings_costs_no_error(self, api: Api) -> None:
        # The scan runs only when the body has a \\u escape; one that decodes to a storable character
        # is accepted.
        response = api.post("/events", {"event": {**EVENT, "properties": {"city": "Z\u00fcrich"}}})
        assert response.status_code == 200


# ------------------------------------------------------------------------------- metadata entries


def test_customer_metadata(api: Api) -> None:
    """Lago's limits (key 20, value 100), reported on ``key`` and ``value`` whatever the length."""
    for entry, field in (
        ({"key": "k" * 21, "value": "v"}, "key"),
        ({"key": "k" * 100_000, "value": "v"}, "key"),
        ({"key": "k", "value": "v" * 101}, "value"),
        ({"key": "k", "value": "v" * 100_000}, "value"),
    ):
        body = {**CUSTOMER, "metadata": [entry]}
        assert details(api.post("/customers", {"customer": body})) == {field: ["value_is_too_long"]}
    body = {**CUSTOMER, "metadata": [{"key": "k", "value": f"v{NUL}"}]}
    assert details(api.post("/customers", {"customer": body})) == {"metadata": ["value_is_invalid"]}
    assert api.get("/customers").json()["customers"] == []
    body = {**CUSTOMER, "metadata": [{"key": "k" * 20, "value": "v" * 100}]}
    response = api.post("/customers", {"customer": body})
    assert response.status_code == 200
    assert response.json()["customer"]["metadata"][0]["value"] == "v" * 100


@pytest.fixture
def invoice_id(app: FastAPI, api: Api, bill_backdated_periods: None) -> str:
    with app.state.sessionmaker.begin() as session:
        org = session.get(Organization, api.organization.id)
        plan = f.plan(session, org, code="pro", name="Pro", amount_cents=1000)
        customer = f.customer(session, org, external_id="cus_1")
        f.subscription(session, org, customer, plan, external_id="sub_1", started_at=at("2024-01-15"))
    bill_due(app.state.sessionmaker, at("2024-03-05T00:00:00"))
    invoice = api.get("/invoices").json()["invoices"][0]
    assert invoice["status"] == "finalized"
    return invoice["lago_id"]  # type: ignore[no-any-return]


class TestInvoiceMetadata:
    """Lago's limits (key 20, value 140)."""

    def put(self, api: Api, invoice_id: str, key: str, value: str) -> Any:
        return api.put(f"/invoices/{invoice_id}", {"invoice": {"metadata": [{"key": key, "value": value}]}})

    def test_limits(self, api: Api, invoice_id: str) -> None:
        assert details(self.put(api, invoice_id, "k" * 21, "v")) == {"key": ["value_is_too_long"]}
        assert details(self.put(api, invoice_id, "k" * 100_000, "v")) == {"key": ["value_is_too_long"]}
        assert details(self.put(api, invoice_id, "k", "v" * 141)) == {"value": ["value_is_too_long"]}
        assert api.get(f"/invoices/{invoice_id}").json()["invoice"]["metadata"] == []
        response = self.put(api, invoice_id, "k" * 20, "v" * 140)
        assert response.status_code == 200
        assert response.json()["invoice"]["metadata"][0]["value"] == "v" * 140

    def test_nul(self, api: Api, invoice_id: str) -> None:
        assert details(self.put(api, invoice_id, f"k{NUL}", "v")) == {"metadata": ["value_is_invalid"]}
        assert api.get(f"/invoices/{invoice_id}").json()["invoice"]["metadata"] == []


# --------------------------------------------------------------------------------- path parameters


def _routes() -> list[tuple[str, str]]:
    return [
        (method, route.path)
        for router in _api_routers()
        for route in router.routes
        if isinstance(route, APIRoute) and "{" in route.path
        for method in sorted(route.methods)
    ]


def _fill(path: str, value: str) -> str:
    return re.sub(r"\{[^}]+\}", value, path)


def _lookup_answer(api: Api, path: str) -> Any:
    """What a lookup of an unknown object answers on this path (GET, else DELETE)."""
    for method in ("GET", "DELETE"):
        response = api.client.request(method, API_PREFIX + _fill(path, "unknown"), headers=api.headers)
        if response.status_code == 404:
            return response.json()
    return None


class TestPathParameters:
    def test_nul_is_not_found_on_every_route(self, api: Api) -> None:
        """Every route with a path parameter (every method): a NUL answers what a lookup of an
        unknown object answers, ``<resource>_not_found``."""
        for method, path in _routes():
            response = api.client.request(
                method, API_PREFIX + _fill(path, "a%00b"), headers=api.headers, json={}
            )
            assert response.status_code == 404, (method, path, response.text)
            first = re.search(r"\{([^}]+)\}", path).group(1)  # type: ignore[union-attr]
            expected = _lookup_answer(api, path) or {
                "status": 404,
                "error": "Not Found",
                "code": f"{resource_of(path, first)}_not_found",
            }
            assert response.json() == expected, (method, path)

    def test_nested_parameters_name_their_own_resource(self, api: Api) -> None:
        _plan(api)
        assert api.get("/plans/pro/charges/a%00b").json()["code"] == "charge_not_found"
        assert api.get("/plans/pro/charges/unknown").json()["code"] == "charge_not_found"
        charge_code = api.get("/plans/pro").json()["plan"]["charges"][0]["code"]
        path = f"/plans/pro/charges/{charge_code}/filters"
        assert api.get(f"{path}/a%00b").json()["code"] == "charge_filter_not_found"
        assert (
            api.get(f"{path}/00000000-0000-0000-0000-000000000000").json()["code"]
            == "charge_filter_not_found"
        )

    def test_a_plan_metadata_key_is_no_lookup(self, api: Api) -> None:
        _plan(api)
        assert api.post("/plans/pro/metadata", {"metadata": {"k": "v"}}).status_code == 200
        response = api.delete("/plans/pro/metadata/k%00")
        assert response.status_code == 200
        assert response.json() == {"metadata": {"k": "v"}}

    def test_authentication_comes_first(self, api: Api) -> None:
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            response = api.client.get("/api/v1/customers/a%00b", headers=headers)
            assert (response.status_code, response.json()) == (401, {"status": 401, "error": "Unauthorized"})
            response = api.client.get("/api/v1/customers?external_id=%00", headers=headers)
            assert response.status_code == 401

    def test_unknown_routes_are_left_to_the_router(self, api: Api) -> None:
        response = api.get("/nothing/a%00b")
        assert (response.status_code, response.json()["code"]) == (404, "resource_not_found")

    def test_other_organizations_cannot_tell(self, api: Api, other_api: Api) -> None:
        _customer(api)
        assert other_api.get("/customers/cus_1%00").json()["code"] == "customer_not_found"


# -------------------------------------------------------------------------------- query parameters


QUERIES = [
    "/customers?external_id=a%00b",
    "/subscriptions?external_customer_id=a%00b",
    "/subscriptions?plan_code=%00",
    "/invoices?external_customer_id=a%00b",
    "/invoices?metadata[k%00]=v",
    "/credit_notes?external_customer_id=%00",
    "/events?code=a%00b",
    "/events?external_subscription_id=a%00b",
    "/fees?external_subscription_id=%00",
    "/plans?unknown_filter=%00",
    "/events/tx_1?external_subscription_id=%00",
    "/subscriptions/sub_1?status=%00",
]


def test_nul_in_a_query_parameter_is_invalid(api: Api) -> None:
    for query in QUERIES:
        name = re.search(r"\?([^=]+)=", query).group(1).replace("%00", "")  # type: ignore[union-attr]
        assert details(api.get(query)) == {name: ["value_is_invalid"]}, query
        # Without the NUL, the same query is answered by the endpoint (no 500 either way).
        assert api.get(query.replace("%00", "")).status_code in (200, 404, 422), query


# ------------------------------------------------------------------------------ the flush-time net


class TestFlushGuard:
    """What the API edge lets through by mistake (or a task writes) is refused at flush time with
    Lago's 422 on the column, on SQLite as on PostgreSQL (which would raise a DataError)."""

    def test_a_new_row(self, session: Session) -> None:
        session.add(Organization(name="x" * 256))
        with pytest.raises(ValidationFailed) as caught:
            session.flush()
        assert caught.value.error_details == {"name": ["value_is_too_long"]}
        session.rollback()
        session.add(Organization(name=f"a{NUL}b"))
        with pytest.raises(ValidationFailed) as caught:
            session.flush()
        assert caught.value.error_details == {"name": ["value_is_invalid"]}

    def test_a_changed_row(self, session: Session) -> None:
        organization = f.organization(session, name="Acme")
        session.flush()
        organization.legal_name = "x" * 255
        session.flush()
        organization.legal_name = "x" * 256
        with pytest.raises(ValidationFailed) as caught:
            session.flush()
        assert caught.value.error_details == {"legal_name": ["value_is_too_long"]}

    def test_only_the_changed_attributes_of_a_row(self, session: Session) -> None:
        # A string stored before these rules (SQLite kept any length) does not block later updates.
        organization = f.organization(session, name="Acme")
        session.flush()
        organization.__dict__["name"] = "x" * 300  # as if loaded from the database
        organization.legal_name = "Acme Inc."
        session.flush()
