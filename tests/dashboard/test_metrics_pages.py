"""Billable metric pages: create with filters, the service's validation inline, edit, delete (and
refused while a plan charges it), roles and tenancy."""

from __future__ import annotations

from collections.abc import Callable

from tests.conftest import Api
from tests.dashboard.test_catalog_pages import error
from tests.fixtures.pages import Pages

PagesAs = Callable[..., Pages]


def metric_form(**changes: str) -> dict[str, str]:
    form = {
        "name": "Storage",
        "code": "storage",
        "aggregation_type": "sum_agg",
        "field_name": "gb",
        "filters": "region: eu, us\n\ntier: gold",
    }
    form.update(changes)
    return form


class TestBillableMetricPages:
    def test_create_with_filters_then_edit(self, api: Api, pages_as: PagesAs) -> None:
        pages = pages_as("admin")
        created = pages.post("/app/billable_metrics", metric_form(recurring="on"))
        assert created.status_code == 303, created.text
        assert created.headers["location"].startswith("/app/billable_metrics/storage?")
        body = api.get("/billable_metrics/storage").json()["billable_metric"]
        assert (body["aggregation_type"], body["field_name"], body["recurring"]) == ("sum_agg", "gb", True)
        assert body["filters"] == [
            {"key": "region", "values": ["eu", "us"]},
            {"key": "tier", "values": ["gold"]},
        ]
        page = pages.get("/app/billable_metrics/storage").text
        assert "region: eu, us\ntier: gold</textarea>" in page
        assert '<option value="sum_agg" selected>' in page
        saved = pages.post("/app/billable_metrics/storage", metric_form(name="Disk", filters="region: eu"))
        assert saved.status_code == 303
        body = api.get("/billable_metrics/storage").json()["billable_metric"]
        assert (body["name"], body["recurring"]) == ("Disk", False)
        assert body["filters"] == [{"key": "region", "values": ["eu"]}]
        listed = pages.get("/app/billable_metrics").text
        assert '<a href="/app/billable_metrics/storage">storage</a>' in listed

    def test_validation_is_shown_and_nothing_is_written(self, api: Api, pages_as: PagesAs) -> None:
        response = pages_as("admin").post(
            "/app/billable_metrics",
            metric_form(code="", field_name="", rounding_precision="two", filters="region:"),
        )
        assert response.status_code == 422
        assert error("rounding_precision", "value_is_invalid") in response.text  # not a number
        assert api.get("/billable_metrics").json()["billable_metrics"] == []
        response = pages_as("admin").post("/app/billable_metrics", metric_form(code="", field_name=""))
        assert response.status_code == 422
        assert error("code", "value_is_mandatory") in response.text
        assert error("field_name", "value_is_mandatory") in response.text
        assert api.get("/billable_metrics").json()["billable_metrics"] == []

    def test_delete_refused_while_a_plan_charges_it(self, api: Api, pages_as: PagesAs) -> None:
        pages = pages_as("admin")
        assert pages.post("/app/billable_metrics", metric_form(filters="")).status_code == 303
        metric_id = api.get("/billable_metrics/storage").json()["billable_metric"]["lago_id"]
        plan = {
            "name": "P",
            "code": "p",
            "interval": "monthly",
            "amount_cents": 0,
            "amount_currency": "EUR",
            "charges": [
                {"billable_metric_id": metric_id, "charge_model": "standard", "properties": {"amount": "1"}}
            ],
        }
        assert api.post("/plans", {"plan": plan}).status_code == 200
        refused = pages.post("/app/billable_metrics/storage/delete")
        assert refused.status_code == 422
        assert "<code>billable_metric_in_use</code>" in refused.text
        assert api.get("/billable_metrics/storage").status_code == 200
        assert api.delete("/plans/p").status_code == 200
        assert pages.post("/app/billable_metrics/storage/delete").status_code == 303
        assert api.get("/billable_metrics/storage").status_code == 404

    def test_viewer_and_other_organization(self, api: Api, other_api: Api, pages_as: PagesAs) -> None:
        assert pages_as("admin").post("/app/billable_metrics", metric_form()).status_code == 303
        viewer = pages_as("viewer")
        assert viewer.get("/app/billable_metrics/storage").status_code == 200
        assert viewer.get("/app/billable_metrics/new").status_code == 403
        assert viewer.post("/app/billable_metrics", metric_form(code="x")).status_code == 403
        assert viewer.post("/app/billable_metrics/storage", metric_form(name="X")).status_code == 403
        assert viewer.post("/app/billable_metrics/storage/delete").status_code == 403
        other = pages_as("admin", other_api.organization)
        assert other.get("/app/billable_metrics/storage").status_code == 404
        assert other.post("/app/billable_metrics/storage", metric_form(name="X")).status_code == 404
        assert other.post("/app/billable_metrics/storage/delete").status_code == 404
        assert "storage" not in other.get("/app/billable_metrics").text
        assert api.get("/billable_metrics/storage").json()["billable_metric"]["name"] == "Storage"
