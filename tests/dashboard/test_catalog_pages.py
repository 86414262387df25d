"""Taxes, add-ons and coupons pages: list, create (and its validation), edit, delete, roles, tenancy."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.conftest import Api
from tests.fixtures.pages import Pages

PagesAs = Callable[..., Pages]


def error(field: str, code: str) -> str:
    """The HTML of one field's error, as the forms show it."""
    return f'<p class="error" id="{field}-error"><code>{code}</code></p>'


def tax(api: Api, code: str = "vat", rate: str = "20") -> None:
    response = api.post("/taxes", {"tax": {"name": code.upper(), "code": code, "rate": rate}})
    assert response.status_code == 200, response.text


class TestTaxes:
    def test_list_shows_the_organizations_taxes(self, api: Api, other_api: Api, pages_as: PagesAs) -> None:
        tax(api, "vat", "20")
        tax(other_api, "gst", "5")
        page = pages_as("viewer").get("/app/taxes")
        assert page.status_code == 200
        assert '<a href="/app/taxes/vat">vat</a>' in page.text
        assert '<td class="num">20</td>' in page.text
        assert "gst" not in page.text
        assert "New tax" not in page.text  # a viewer cannot create

    def test_create_redirects_and_the_api_sees_it(self, api: Api, pages_as: PagesAs) -> None:
        pages = pages_as("admin")
        response = pages.post("/app/taxes", {"name": "VAT", "code": "vat", "rate": "19.6"})
        assert response.status_code == 303
        assert response.headers["location"] == "/app/taxes/vat?flash=Tax+created."
        body = api.get("/taxes/vat").json()["tax"]
        assert (body["name"], body["rate"], body["applied_to_organization"]) == ("VAT", 19.6, False)

    def test_invalid_form_is_422_with_codes_and_writes_nothing(self, api: Api, pages_as: PagesAs) -> None:
        tax(api, "vat")
        pages = pages_as("admin")
        response = pages.post("/app/taxes", {"name": "", "code": "vat", "rate": "1000.5"})
        assert response.status_code == 422
        assert '<p class="error" id="name-error"><code>value_is_mandatory</code></p>' in response.text
        assert '<p class="error" id="code-error"><code>value_already_exist</code></p>' in response.text
        assert '<p class="error" id="rate-error"><code>value_is_out_of_range</code></p>' in response.text
        assert 'value="1000.5"' in response.text  # what was typed is kept
        assert [t["code"] for t in api.get("/taxes").json()["taxes"]] == ["vat"]

    def test_not_a_number_is_value_is_invalid(self, api: Api, pages_as: PagesAs) -> None:
        response = pages_as("admin").post("/app/taxes", {"name": "VAT", "code": "vat", "rate": "abc"})
        assert response.status_code == 422
        assert '<p class="error" id="rate-error"><code>value_is_invalid</code></p>' in response.text
        assert api.get("/taxes").json()["taxes"] == []

    def test_edit_and_delete(self, api: Api, pages_as: PagesAs) -> None:
        tax(api, "vat", "20")
        pages = pages_as("admin")
        form = pages.get("/app/taxes/vat")
        assert form.status_code == 200
        assert 'id="rate" name="rate" type="text" value="20"' in form.text
        saved = pages.post("/app/taxes/vat", {"name": "VAT", "code": "vat", "rate": "21"})
        assert saved.status_code == 303
        assert api.get("/taxes/vat").json()["tax"]["rate"] == 21.0
        deleted = pages.post("/app/taxes/vat/delete")
        assert deleted.status_code == 303
        assert deleted.headers["location"] == "/app/taxes?flash=Tax+deleted."
        assert api.get("/taxes/vat").status_code == 404

    def test_viewer_reads_but_every_change_is_403(self, api: Api, pages_as: PagesAs) -> None:
        tax(api, "vat", "20")
        viewer = pages_as("viewer")
        shown = viewer.get("/app/taxes/vat")
        assert shown.status_code == 200
        assert '<form method="post" action="/app/taxes/vat"' not in shown.text  # read-only
        assert viewer.get("/app/taxes/new").status_code == 403
        assert viewer.post("/app/taxes", {"name": "X", "code": "x", "rate": "1"}).status_code == 403
        assert viewer.post("/app/taxes/vat", {"rate": "1"}).status_code == 403
        assert viewer.post("/app/taxes/vat/delete").status_code == 403
        assert api.get("/taxes/vat").json()["tax"]["rate"] == 20.0

    def test_another_organizations_tax_is_404(self, api: Api, other_api: Api, pages_as: PagesAs) -> None:
        tax(api, "vat", "20")
        other = pages_as("admin", other_api.organization)
        assert other.get("/app/taxes/vat").status_code == 404
        assert other.post("/app/taxes/vat", {"name": "X", "code": "vat", "rate": "1"}).status_code == 404
        assert other.post("/app/taxes/vat/delete").status_code == 404
        assert api.get("/taxes/vat").json()["tax"]["rate"] == 20.0


class TestAddOns:
    def test_create_with_taxes_and_list(self, api: Api, pages_as: PagesAs) -> None:
        tax(api, "vat")
        pages = pages_as("manager")
        form = {
            "name": "Setup",
            "code": "setup",
            "amount_cents": "100.50",
            "amount_currency": "EUR",
            "tax_codes": ["vat"],
        }
        assert pages.post("/app/add_ons", form).status_code == 303
        body = api.get("/add_ons/setup").json()["add_on"]
        assert (body["amount_cents"], body["amount_currency"]) == (10050, "EUR")
        assert [t["code"] for t in body["taxes"]] == ["vat"]
        listed = pages.get("/app/add_ons").text
        assert '<td class="num">100.50 EUR</td>' in listed
        edit = pages.get("/app/add_ons/setup").text
        assert '<option value="vat" selected>' in edit
        assert 'name="amount_cents" type="text" value="100.50"' in edit

    @pytest.mark.parametrize(
        ("typed", "currency", "cents", "shown"),
        [("1000", "JPY", 1000, "1000"), ("1.25", "KWD", 1250, "1.250"), ("0.5", "USD", 50, "0.50")],
    )
    def test_amount_in_the_currency_unit(
        self, api: Api, pages_as: PagesAs, typed: str, currency: str, cents: int, shown: str
    ) -> None:
        pages = pages_as("admin")
        form = {"name": "Setup", "code": "setup", "amount_cents": typed, "amount_currency": currency}
        assert pages.post("/app/add_ons", form).status_code == 303
        assert api.get("/add_ons/setup").json()["add_on"]["amount_cents"] == cents
        edit = pages.get("/app/add_ons/setup").text
        assert f'name="amount_cents" type="text" value="{shown}"' in edit

    @pytest.mark.parametrize(("typed", "currency"), [("10.5", "JPY"), ("1.005", "EUR"), ("ten", "EUR")])
    def test_more_decimals_than_the_currency_has_is_refused(
        self, api: Api, pages_as: PagesAs, typed: str, currency: str
    ) -> None:
        form = {"name": "Setup", "code": "setup", "amount_cents": typed, "amount_currency": currency}
        response = pages_as("admin").post("/app/add_ons", form)
        assert response.status_code == 422
        assert '<p class="error" id="amount_cents-error"><code>value_is_invalid</code></p>' in response.text
        assert f'value="{typed}"' in response.text
        assert api.get("/add_ons").json()["add_ons"] == []

    def test_unknown_currency_and_missing_amount(self, api: Api, pages_as: PagesAs) -> None:
        response = pages_as("admin").post(
            "/app/add_ons", {"name": "Setup", "code": "setup", "amount_currency": "XXZ"}
        )
        assert response.status_code == 422
        assert '<p class="error" id="amount_cents-error"><code>value_is_mandatory</code></p>' in response.text
        assert (
            '<p class="error" id="amount_currency-error"><code>value_is_invalid</code></p>' in response.text
        )
        assert api.get("/add_ons").json()["add_ons"] == []

    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("get", "/app/add_ons/new"),
            ("post", "/app/add_ons"),
            ("post", "/app/add_ons/a"),
            ("post", "/app/add_ons/a/delete"),
        ],
    )
    def test_viewer_gets_403(self, pages_as: PagesAs, method: str, path: str) -> None:
        assert getattr(pages_as("viewer"), method)(path).status_code == 403


class TestCoupons:
    def test_create_a_percentage_coupon_limited_to_a_plan(self, api: Api, pages_as: PagesAs) -> None:
        plan = {
            "name": "Basic",
            "code": "basic",
            "interval": "monthly",
            "amount_cents": 0,
            "amount_currency": "EUR",
        }
        assert api.post("/plans", {"plan": plan}).status_code == 200
        form = {
            "name": "Spring",
            "code": "spring",
            "coupon_type": "percentage",
            "percentage_rate": "12.5",
            "frequency": "recurring",
            "frequency_duration": "3",
            "expiration": "no_expiration",
            "plan_codes": ["basic"],
        }
        response = pages_as("admin").post("/app/coupons", form)
        assert response.status_code == 303, response.text
        body = api.get("/coupons/spring").json()["coupon"]
        assert (body["percentage_rate"], body["frequency_duration"], body["plan_codes"]) == (
            "12.5",
            3,
            ["basic"],
        )
        assert body["reusable"] is False  # the box was not ticked
        assert '<td class="num">12.5 %</td>' in pages_as("viewer").get("/app/coupons").text

    def test_recurring_without_periods_is_422(self, api: Api, pages_as: PagesAs) -> None:
        form = {
            "name": "Spring",
            "code": "spring",
            "coupon_type": "fixed_amount",
            "amount_cents": "5.00",
            "amount_currency": "EUR",
            "frequency": "recurring",
            "expiration": "no_expiration",
        }
        response = pages_as("admin").post("/app/coupons", form)
        assert response.status_code == 422
        assert (
            '<p class="error" id="frequency_duration-error"><code>value_is_mandatory</code></p>'
            in response.text
        )
        assert api.get("/coupons").json()["coupons"] == []

    def test_delete_and_tenancy(self, api: Api, other_api: Api, pages_as: PagesAs) -> None:
        coupon = {
            "name": "Once",
            "code": "once",
            "coupon_type": "fixed_amount",
            "amount_cents": 500,
            "amount_currency": "EUR",
            "frequency": "once",
            "expiration": "no_expiration",
        }
        assert api.post("/coupons", {"coupon": coupon}).status_code == 200
        assert pages_as("admin", other_api.organization).post("/app/coupons/once/delete").status_code == 404
        assert pages_as("viewer").post("/app/coupons/once/delete").status_code == 403
        assert pages_as("admin").post("/app/coupons/once/delete").status_code == 303
        assert api.get("/coupons/once").status_code == 404


class TestCouponTargets:
    def test_plans_and_metrics_together_are_refused(self, api: Api, pages_as: PagesAs) -> None:
        plan = {"name": "Basic", "code": "basic", "interval": "monthly", "amount_cents": 0}
        plan["amount_currency"] = "EUR"
        assert api.post("/plans", {"plan": plan}).status_code == 200
        metric = {"name": "Calls", "code": "calls", "aggregation_type": "count_agg"}
        assert api.post("/billable_metrics", {"billable_metric": metric}).status_code == 200
        form = {
            "name": "Both",
            "code": "both",
            "coupon_type": "fixed_amount",
            "amount_cents": "5.00",
            "amount_currency": "EUR",
            "frequency": "once",
            "expiration": "no_expiration",
            "plan_codes": ["basic"],
            "billable_metric_codes": ["calls"],
        }
        response = pages_as("admin").post("/app/coupons", form)
        assert response.status_code == 422
        assert "<code>only_one_limitation_type_per_coupon_allowed</code>" in response.text
        assert api.get("/coupons").json()["coupons"] == []
        del form["plan_codes"]
        assert pages_as("admin").post("/app/coupons", form).status_code == 303
        body = api.get("/coupons/both").json()["coupon"]
        assert (body["plan_codes"], body["billable_metric_codes"]) == ([], ["calls"])
        assert (body["amount_cents"], body["amount_currency"]) == (500, "EUR")  # typed "5.00"
        edit = pages_as("admin").get("/app/coupons/both").text
        assert 'name="amount_cents" type="text" value="5.00"' in edit
        # Edited without targets: they are cleared
        del form["billable_metric_codes"]
        assert pages_as("admin").post("/app/coupons/both", form).status_code == 303
        assert api.get("/coupons/both").json()["coupon"]["limited_billable_metrics"] is False
