"""Plan pages: create a plan with charges from the form, edit, tier rows added and removed (htmx
fragment and the no-JavaScript buttons), delete, the live price calculator (hand-computed answers),
roles and tenancy."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import Api
from tests.fixtures.pages import Pages

PagesAs = Callable[..., Pages]


@pytest.fixture
def metric_id(api: Api) -> str:
    body = {"billable_metric": {"name": "Calls", "code": "calls", "aggregation_type": "count_agg"}}
    response = api.post("/billable_metrics", body)
    assert response.status_code == 200, response.text
    return str(response.json()["billable_metric"]["lago_id"])


def plan_form(metric_id: str, **changes: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "name": "Startup",
        "code": "startup",
        "interval": "monthly",
        "amount_cents": "49.00",
        "amount_currency": "EUR",
        "trial_period": "14",
        "charges-0-billable_metric_id": metric_id,
        "charges-0-charge_model": "graduated",
        "charges-0-tiers-0-from_value": "0",
        "charges-0-tiers-0-to_value": "100",
        "charges-0-tiers-0-per_unit_amount": "1.00",
        "charges-0-tiers-0-flat_amount": "0",
        "charges-0-tiers-1-from_value": "101",
        "charges-0-tiers-1-to_value": "",
        "charges-0-tiers-1-per_unit_amount": "0.50",
        "charges-0-tiers-1-flat_amount": "0",
        "charges-1-billable_metric_id": metric_id,
        "charges-1-charge_model": "package",
        "charges-1-amount": "5",
        "charges-1-package_size": "10",
        "charges-1-free_units": "20",
    }
    form.update(changes)
    return form


def calculate(pages: Pages, fields: dict[str, str], units: str, currency: str = "EUR") -> Any:
    form = {"index": "3", "amount_currency": currency, "charges-3-calc_units": units}
    form.update({f"charges-3-{key}": value for key, value in fields.items()})
    return pages.post("/app/plans/calculator", form)


GRADUATED = {
    "charge_model": "graduated",
    "tiers-0-from_value": "0",
    "tiers-0-to_value": "100",
    "tiers-0-per_unit_amount": "1.00",
    "tiers-0-flat_amount": "0",
    "tiers-1-from_value": "101",
    "tiers-1-to_value": "",
    "tiers-1-per_unit_amount": "0.50",
    "tiers-1-flat_amount": "0",
}


class TestPlanForm:
    def test_create_with_graduated_and_package_charges(
        self, api: Api, pages_as: PagesAs, metric_id: str
    ) -> None:
        pages = pages_as("manager")
        assert api.post("/taxes", {"tax": {"name": "VAT", "code": "vat", "rate": "20"}}).status_code == 200
        response = pages.post("/app/plans", plan_form(metric_id, pay_in_advance="on", tax_codes=["vat"]))
        assert response.status_code == 303, response.text
        assert response.headers["location"] == "/app/plans/startup?flash=Plan+created."
        plan = api.get("/plans/startup").json()["plan"]
        assert (plan["amount_cents"], plan["amount_currency"], plan["trial_period"]) == (4900, "EUR", 14.0)
        assert plan["pay_in_advance"] is True
        assert [tax["code"] for tax in plan["taxes"]] == ["vat"]
        graduated, package = plan["charges"]
        assert graduated["charge_model"] == "graduated"
        assert graduated["properties"]["graduated_ranges"] == [
            {"from_value": 0, "to_value": 100, "per_unit_amount": "1.00", "flat_amount": "0"},
            {"from_value": 101, "to_value": None, "per_unit_amount": "0.50", "flat_amount": "0"},
        ]
        assert package["properties"] == {"amount": "5", "package_size": 10, "free_units": 20}
        listed = pages.get("/app/plans").text
        assert '<a href="/app/plans/startup">startup</a>' in listed
        assert '<td class="num">49.00 EUR</td><td class="num">2</td>' in listed

    def test_edit_shows_the_charges_and_saves_changes(
        self, api: Api, pages_as: PagesAs, metric_id: str
    ) -> None:
        pages = pages_as("admin")
        assert pages.post("/app/plans", plan_form(metric_id)).status_code == 303
        page = pages.get("/app/plans/startup").text
        assert 'name="charges-0-tiers-1-per_unit_amount" type="text" value="0.50"' in page
        assert 'name="charges-1-package_size" type="text" value="10"' in page
        assert 'name="amount_cents" type="text" value="49.00"' in page  # stored 4900, shown in EUR
        # each tier's inputs are labelled with that tier's number (screen readers, get_by_label)
        labels = re.findall(r'<label class="sr-only" for="charges-0-tiers-(\d)-(\w+)">([^<]*)</label>', page)
        assert [text for _, _, text in labels] == [
            f"Tier {tier} {name}"
            for tier in (1, 2)
            for name in ("from value", "to value", "per unit amount", "flat amount")
        ]
        charge_ids = re.findall(r'name="charges-(\d)-id" value="([0-9a-f-]+)"', page)
        assert len(charge_ids) == 2
        form = plan_form(metric_id, name="Startup 2")
        form.update({f"charges-{i}-id": lago_id for i, lago_id in charge_ids})
        form["charges-0-tiers-1-per_unit_amount"] = "0.40"
        form["charges-1-remove"] = "on"
        assert pages.post("/app/plans/startup", form).status_code == 303
        plan = api.get("/plans/startup").json()["plan"]
        assert plan["name"] == "Startup 2"
        [graduated] = plan["charges"]
        assert graduated["lago_id"] == charge_ids[0][1]  # the same charge, updated
        assert graduated["properties"]["graduated_ranges"][1]["per_unit_amount"] == "0.40"

    def test_invalid_properties_are_422_inline_and_nothing_written(
        self, api: Api, pages_as: PagesAs, metric_id: str
    ) -> None:
        form = plan_form(metric_id, **{"charges-0-tiers-1-from_value": "150", "charges-1-amount": "abc"})
        response = pages_as("admin").post("/app/plans", form)
        assert response.status_code == 422
        assert "<li>properties: <code>invalid_graduated_ranges</code>, <code>invalid_amount</code></li>" in (
            response.text
        )
        assert 'id="charges-0-errors">Properties: <code>invalid_graduated_ranges</code></p>' in response.text
        assert 'id="charges-1-errors">Properties: <code>invalid_amount</code></p>' in response.text
        assert 'value="150"' in response.text  # what was typed is kept
        assert api.get("/plans").json()["plans"] == []

    def test_plan_fields_are_checked(self, api: Api, pages_as: PagesAs, metric_id: str) -> None:
        form = plan_form(metric_id, code="", amount_currency="EURO", interval="hourly", amount_cents="x")
        response = pages_as("admin").post("/app/plans", form)
        assert response.status_code == 422
        assert '<p class="error" id="amount_cents-error"><code>value_is_invalid</code></p>' in response.text
        response = pages_as("admin").post("/app/plans", plan_form(metric_id, code="", interval="hourly"))
        assert response.status_code == 422
        assert '<p class="error" id="code-error"><code>value_is_mandatory</code></p>' in response.text
        assert '<p class="error" id="interval-error"><code>value_is_invalid</code></p>' in response.text
        assert api.get("/plans").json()["plans"] == []

    def test_delete_refused_while_subscribed_then_done(
        self, api: Api, pages_as: PagesAs, metric_id: str
    ) -> None:
        pages = pages_as("admin")
        assert pages.post("/app/plans", plan_form(metric_id)).status_code == 303
        assert api.post("/customers", {"customer": {"external_id": "cus_1"}}).status_code == 200
        subscription = {"external_customer_id": "cus_1", "plan_code": "startup", "external_id": "sub_1"}
        assert api.post("/subscriptions", {"subscription": subscription}).status_code == 200
        refused = pages.post("/app/plans/startup/delete")
        assert refused.status_code == 422
        assert "<li>base: <code>plan_has_active_subscriptions</code></li>" in refused.text
        assert api.get("/plans/startup").status_code == 200
        assert api.delete("/subscriptions/sub_1").status_code == 200
        response = pages.post("/app/plans/startup/delete")
        assert response.status_code == 303
        assert api.get("/plans/startup").status_code == 404


class TestTierRows:
    def test_htmx_adds_a_tier_after_the_last_and_removes_one(self, pages_as: PagesAs, metric_id: str) -> None:
        pages = pages_as("viewer")  # nothing is written: a viewer may use it
        form = {"op": "add_tier", "index": "3", "charges-3-billable_metric_id": metric_id}
        form.update({f"charges-3-{k}": v for k, v in GRADUATED.items()})
        added = pages.post("/app/plans/charge_fragment", form, headers={"HX-Request": "true"})
        assert added.status_code == 200
        assert added.text.lstrip().startswith('<fieldset class="charge" id="charge-3">')
        assert "<html" not in added.text  # a fragment
        # the open last tier was closed at 101 + 100 = 201; the new one starts at 202
        assert 'name="charges-3-tiers-1-to_value" type="text" value="201"' in added.text
        assert 'name="charges-3-tiers-2-from_value" type="text" value="202"' in added.text
        form["op"] = "remove_tier:0"
        removed = pages.post("/app/plans/charge_fragment", form)
        assert 'name="charges-3-tiers-0-from_value" type="text" value="101"' in removed.text
        assert "charges-3-tiers-1-from_value" not in removed.text

    def test_switching_to_a_tiered_model_gives_a_first_tier(self, pages_as: PagesAs) -> None:
        form = {"op": "model", "index": "0", "charges-0-charge_model": "volume"}
        page = pages_as("admin").post("/app/plans/charge_fragment", form).text
        assert 'name="charges-0-tiers-0-from_value" type="text" value="0"' in page
        assert "every unit at the price of the tier the total falls in" in page

    def test_without_javascript_the_buttons_rerender_the_form(
        self, api: Api, pages_as: PagesAs, metric_id: str
    ) -> None:
        page = pages_as("admin").post("/app/plans", plan_form(metric_id, op="add_tier:0"))
        assert page.status_code == 200
        assert 'name="charges-0-tiers-2-from_value"' in page.text
        page = pages_as("admin").post("/app/plans", plan_form(metric_id, op="add_charge"))
        assert 'id="charge-2"' in page.text
        assert api.get("/plans").json()["plans"] == []  # nothing saved

    def test_a_new_charge_in_place_gets_an_index_of_its_own(self, pages_as: PagesAs) -> None:
        pages = pages_as("admin")
        first = pages.post("/app/plans/charge_fragment", {"op": "new"}).text
        second = pages.post("/app/plans/charge_fragment", {"op": "new"}).text
        [a] = re.findall(r'<fieldset class="charge" id="charge-(\d+)">', first)
        [b] = re.findall(r'<fieldset class="charge" id="charge-(\d+)">', second)
        assert int(a) >= 1_000_000 and int(b) >= 1_000_000
        assert a != b  # random among a million: equal once in a million runs


class TestCalculator:
    def test_graduated(self, pages_as: PagesAs) -> None:
        # 150 units = 100 x 1.00 + 50 x 0.50 = 125.00
        answer = calculate(pages_as("viewer"), GRADUATED, "150")
        assert answer.status_code == 200
        assert "<strong>150 units cost 125.00 EUR</strong>" in answer.text
        cells = r'<td class="num">([^<]*)</td>'
        rows = re.findall(r'<tr><th scope="row">([^<]*)</th>' + cells * 4, answer.text)
        # units, price per unit, flat amount and total per tier (amount_details' "100.0" shown plain)
        assert rows == [
            ("0 to 100", "100", "1", "0.00 EUR", "100.00 EUR"),
            ("101 to no limit", "50", "0.5", "0.00 EUR", "25.00 EUR"),
        ]

    def test_volume(self, pages_as: PagesAs) -> None:
        fields = dict(GRADUATED, charge_model="volume")
        # volume: all 150 units at the tier of 150 (101+): 150 x 0.50 = 75.00
        answer = calculate(pages_as("viewer"), fields, "150")
        assert "<strong>150 units cost 75.00 EUR</strong>" in answer.text

    def test_package(self, pages_as: PagesAs) -> None:
        fields = {"charge_model": "package", "amount": "5", "package_size": "10", "free_units": "20"}
        # 45 units - 20 free = 25 paid, in packages of 10: ceil(25 / 10) = 3 packages x 5.00 = 15.00
        answer = calculate(pages_as("viewer"), fields, "45")
        assert "<strong>45 units cost 15.00 EUR</strong>" in answer.text

    def test_percentage_with_a_fixed_amount(self, pages_as: PagesAs) -> None:
        fields = {"charge_model": "percentage", "rate": "2.5", "fixed_amount": "0.30"}
        # one transaction of 200: 200 x 2.5 % = 5.00, + 0.30 fixed = 5.30
        answer = calculate(pages_as("viewer"), fields, "200")
        assert "<strong>200 units cost 5.30 EUR</strong>" in answer.text

    def test_standard_in_a_zero_decimal_currency(self, pages_as: PagesAs) -> None:
        # 7 x 120.4 = 842.8 -> 843 JPY (no minor unit, half up)
        answer = calculate(pages_as("viewer"), {"charge_model": "standard", "amount": "120.4"}, "7", "JPY")
        assert "<strong>7 units cost 843 JPY</strong>" in answer.text

    def test_errors_in_properties_and_units(self, pages_as: PagesAs) -> None:
        answer = calculate(pages_as("viewer"), dict(GRADUATED, **{"tiers-1-from_value": "150"}), "150")
        assert answer.status_code == 422
        assert "<code>invalid_graduated_ranges</code>" in answer.text
        answer = calculate(pages_as("viewer"), {"charge_model": "standard", "amount": "1"}, "-3")
        assert answer.status_code == 422
        assert "<code>units_is_invalid</code>" in answer.text


class TestAccess:
    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("get", "/app/plans/new"),
            ("post", "/app/plans"),
            ("post", "/app/plans/startup"),
            ("post", "/app/plans/startup/delete"),
        ],
    )
    def test_viewer_gets_403(
        self, api: Api, pages_as: PagesAs, metric_id: str, method: str, path: str
    ) -> None:
        assert pages_as("admin").post("/app/plans", plan_form(metric_id)).status_code == 303
        response = getattr(pages_as("viewer"), method)(path)
        assert response.status_code == 403
        assert api.get("/plans/startup").json()["plan"]["name"] == "Startup"

    def test_another_organization_gets_404(
        self, api: Api, other_api: Api, pages_as: PagesAs, metric_id: str
    ) -> None:
        assert pages_as("admin").post("/app/plans", plan_form(metric_id)).status_code == 303
        other = pages_as("admin", other_api.organization)
        assert other.get("/app/plans/startup").status_code == 404
        assert other.post("/app/plans/startup", plan_form(metric_id, name="X")).status_code == 404
        assert other.post("/app/plans/startup/delete").status_code == 404
        assert "startup" not in other.get("/app/plans").text
        # A's metric is not offered to B's charges, and the calculator does not read it
        assert metric_id not in other.get("/app/plans/new").text
        assert api.get("/plans/startup").json()["plan"]["name"] == "Startup"


class TestLinks:
    def test_a_plan_by_lago_id_redirects_to_its_page(
        self, api: Api, other_api: Api, pages_as: PagesAs, metric_id: str
    ) -> None:
        assert pages_as("admin").post("/app/plans", plan_form(metric_id)).status_code == 303
        lago_id = api.get("/plans/startup").json()["plan"]["lago_id"]
        response = pages_as("viewer").get(f"/app/plans/{lago_id}")
        assert response.status_code == 303
        assert response.headers["location"] == "/app/plans/startup"
        assert pages_as("admin", other_api.organization).get(f"/app/plans/{lago_id}").status_code == 404

    def test_a_viewer_sees_no_save_button(self, pages_as: PagesAs, metric_id: str) -> None:
        assert pages_as("admin").post("/app/plans", plan_form(metric_id)).status_code == 303
        page = pages_as("viewer").get("/app/plans/startup").text
        assert "Save plan" not in page
        assert "Add a charge" not in page
        assert "Delete plan" not in page
        assert "Calculate" in page  # the calculator changes nothing
