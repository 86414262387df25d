from __future__ import annotations

from typing import Any

import pytest
from lago_python_client.models.billable_metric import BillableMetricResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billow.models.billable_metrics import BillableMetric, BillableMetricFilter
from tests.conftest import Api

METRIC = {
    "name": "Storage",
    "code": "storage",
    "description": "GB stored",
    "aggregation_type": "sum_agg",
    "field_name": "gb",
}


def create_metric(api: Api, **overrides: Any) -> dict:
    response = api.post("/billable_metrics", json={"billable_metric": {**METRIC, **overrides}})
    assert response.status_code == 200, response.text
    return response.json()["billable_metric"]


def create_plan_on(api: Api, metric: dict, code: str = "starter", filters: list | None = None) -> dict:
    charge: dict[str, Any] = {
        "billable_metric_id": metric["lago_id"],
        "charge_model": "standard",
        "properties": {"amount": "1"},
    }
    if filters is not None:
        charge["filters"] = filters
    plan = {
        "name": code,
        "code": code,
        "interval": "monthly",
        "amount_cents": 0,
        "amount_currency": "EUR",
        "charges": [charge],
    }
    response = api.post("/plans", json={"plan": plan})
    assert response.status_code == 200, response.text
    return response.json()["plan"]


def errors_of(response: Any) -> dict:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "validation_errors"
    return body["error_details"]


def metric_rows(app_session: Session) -> int:
    return app_session.scalar(select(func.count()).select_from(BillableMetric)) or 0


@pytest.fixture
def app_session(api: Api) -> Any:
    with api.client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
        yield session


class TestCreate:
    def test_returns_lago_body(self, api: Api) -> None:
        metric = create_metric(api, filters=[{"key": "region", "values": ["us", "eu"]}])
        assert metric.pop("lago_id")
        assert metric.pop("created_at").endswith("Z")
        assert metric == {
            "name": "Storage",
            "code": "storage",
            "description": "GB stored",
            "aggregation_type": "sum_agg",
            "weighted_interval": None,
            "recurring": False,
            "rounding_function": None,
            "rounding_precision": None,
            "field_name": "gb",
            "expression": None,
            "filters": [{"key": "region", "values": ["us", "eu"]}],
            "active_subscriptions_count": 0,
            "draft_invoices_count": 0,
            "plans_count": 0,
        }

    def test_parses_with_the_python_client(self, api: Api) -> None:
        parsed = BillableMetricResponse.parse_obj(create_metric(api, filters=[{"key": "a", "values": ["1"]}]))
        assert parsed.code == "storage"
        assert parsed.filters.__root__[0].values == ["1"]

    def test_count_agg_drops_field_name(self, api: Api) -> None:
        metric = create_metric(api, aggregation_type="count_agg", field_name="ignored")
        assert metric["field_name"] is None

    def test_missing_fields(self, api: Api) -> None:
        response = api.post("/billable_metrics", json={"billable_metric": {"description": "x"}})
        # As Lago: a missing aggregation type fails the inclusion check.
        assert errors_of(response) == {
            "name": ["value_is_mandatory"],
            "code": ["value_is_mandatory"],
            "aggregation_type": ["value_is_invalid"],
        }

    def test_unknown_aggregation_type(self, api: Api) -> None:
        response = api.post(
            "/billable_metrics", json={"billable_metric": {**METRIC, "aggregation_type": "avg"}}
        )
        assert errors_of(response) == {"aggregation_type": ["value_is_invalid"]}

    def test_custom_agg_not_supported(self, api: Api) -> None:
        response = api.post(
            "/billable_metrics", json={"billable_metric": {**METRIC, "aggregation_type": "custom_agg"}}
        )
        assert errors_of(response) == {"aggregation_type": ["custom_agg_not_supported"]}

    @pytest.mark.parametrize(
        "aggregation_type", ["sum_agg", "max_agg", "unique_count_agg", "weighted_sum_agg", "latest_agg"]
    )
    def test_field_name_mandatory(self, api: Api, aggregation_type: str) -> None:
        body = {**METRIC, "aggregation_type": aggregation_type}
        del body["field_name"]
        response = api.post("/billable_metrics", json={"billable_metric": body})
        assert errors_of(response) == {"field_name": ["value_is_mandatory"]}

    @pytest.mark.parametrize("aggregation_type", ["count_agg", "max_agg", "latest_agg"])
    def test_recurring_refused(self, api: Api, aggregation_type: str) -> None:
        body = {**METRIC, "aggregation_type": aggregation_type, "recurring": True}
        response = api.post("/billable_metrics", json={"billable_metric": body})
        assert errors_of(response) == {"recurring": ["not_compatible_with_aggregation_type"]}

    @pytest.mark.parametrize("aggregation_type", ["sum_agg", "unique_count_agg", "weighted_sum_agg"])
    def test_recurring_allowed(self, api: Api, aggregation_type: str) -> None:
        assert create_metric(api, aggregation_type=aggregation_type, recurring=True)["recurring"] is True

    def test_weighted_interval_defaults_to_seconds(self, api: Api) -> None:
        assert create_metric(api, aggregation_type="weighted_sum_agg")["weighted_interval"] == "seconds"

    def test_weighted_interval_must_be_seconds(self, api: Api) -> None:
        body = {**METRIC, "aggregation_type": "weighted_sum_agg", "weighted_interval": "hours"}
        response = api.post("/billable_metrics", json={"billable_metric": body})
        assert errors_of(response) == {"weighted_interval": ["value_is_invalid"]}

    def test_rounding(self, api: Api) -> None:
        metric = create_metric(api, code="rounded", rounding_function="ceil", rounding_precision=2)
        assert (metric["rounding_function"], metric["rounding_precision"]) == ("ceil", 2)
        response = api.post(
            "/billable_metrics", json={"billable_metric": {**METRIC, "rounding_function": "up"}}
        )
        assert errors_of(response) == {"rounding_function": ["value_is_invalid"]}
        response = api.post(
            "/billable_metrics", json={"billable_metric": {**METRIC, "rounding_precision": "x"}}
        )
        assert errors_of(response) == {"rounding_precision": ["value_is_invalid"]}

    def test_expression_kept(self, api: Api) -> None:
        expression = "round(event.properties.bytes / 1000, 2)"
        assert create_metric(api, expression=expression)["expression"] == expression
        assert create_metric(api, code="other", expression="")["expression"] is None
        response = api.post("/billable_metrics", json={"billable_metric": {**METRIC, "expression": 12}})
        assert errors_of(response) == {"expression": ["value_is_invalid"]}

    def test_filters_deduplicated_and_sorted_by_key(self, api: Api) -> None:
        metric = create_metric(
            api,
            filters=[{"key": "region", "values": ["us", "eu", "us"]}, {"key": "cloud", "values": ["aws"]}],
        )
        assert metric["filters"] == [
            {"key": "cloud", "values": ["aws"]},
            {"key": "region", "values": ["us", "eu"]},
        ]

    def test_filter_errors(self, api: Api, app_session: Session) -> None:
        def post(filters: Any) -> Any:
            return api.post("/billable_metrics", json={"billable_metric": {**METRIC, "filters": filters}})

        assert errors_of(post([{"key": "region", "values": []}])) == {"values": ["value_is_mandatory"]}
        assert errors_of(post([{"key": "region"}])) == {"values": ["value_is_mandatory"]}
        assert errors_of(post([{"values": ["us"]}])) == {"key": ["value_is_mandatory"]}
        assert errors_of(post([{"key": "a", "values": ["1"]}, {"key": "a", "values": ["2"]}])) == {
            "filters": ["value_already_exist"]
        }
        assert errors_of(post([{"key": "a", "values": [1]}])) == {"filters": ["value_is_invalid"]}
        assert metric_rows(app_session) == 0

    def test_duplicate_code(self, api: Api) -> None:
        create_metric(api)
        response = api.post("/billable_metrics", json={"billable_metric": METRIC})
        assert errors_of(response) == {"code": ["value_already_exist"]}

    def test_missing_root_key(self, api: Api) -> None:
        response = api.post("/billable_metrics", json={"name": "x"})
        assert response.status_code == 400
        assert response.json() == {
            "status": 400,
            "error": "BadRequest: param is missing or the value is empty or invalid: billable_metric",
        }


class TestRead:
    def test_find(self, api: Api) -> None:
        created = create_metric(api)
        assert api.get("/billable_metrics/storage").json() == {"billable_metric": created}

    def test_unknown(self, api: Api) -> None:
        assert api.get("/billable_metrics/nope").json() == {
            "status": 404,
            "error": "Not Found",
            "code": "billable_metric_not_found",
        }

    def test_list_paginates(self, api: Api) -> None:
        for i in range(3):
            create_metric(api, code=f"m{i}")
        body = api.get("/billable_metrics", params={"per_page": 2}).json()
        assert [m["code"] for m in body["billable_metrics"]] == ["m2", "m1"]
        assert body["meta"] == {
            "current_page": 1,
            "next_page": 2,
            "prev_page": None,
            "total_pages": 2,
            "total_count": 3,
        }
        page2 = api.get("/billable_metrics", params={"per_page": 2, "page": 2}).json()
        assert [m["code"] for m in page2["billable_metrics"]] == ["m0"]

    def test_plans_count(self, api: Api) -> None:
        metric = create_metric(api)
        create_plan_on(api, metric, "p1")
        create_plan_on(api, metric, "p2")
        assert api.get("/billable_metrics/storage").json()["billable_metric"]["plans_count"] == 2
        api.delete("/plans/p1")
        assert api.get("/billable_metrics").json()["billable_metrics"][0]["plans_count"] == 1


class TestUpdate:
    def test_updates_fields(self, api: Api) -> None:
        create_metric(api)
        response = api.put(
            "/billable_metrics/storage",
            json={"billable_metric": {"name": "Disk", "code": "disk", "aggregation_type": "max_agg"}},
        )
        assert response.status_code == 200, response.text
        metric = response.json()["billable_metric"]
        assert (metric["name"], metric["code"], metric["aggregation_type"]) == ("Disk", "disk", "max_agg")
        assert metric["field_name"] == "gb"
        assert metric["description"] == "GB stored"
        assert api.get("/billable_metrics/storage").status_code == 404

    def test_switch_to_count_drops_field_name(self, api: Api) -> None:
        create_metric(api)
        response = api.put(
            "/billable_metrics/storage", json={"billable_metric": {"aggregation_type": "count_agg"}}
        )
        assert response.json()["billable_metric"]["field_name"] is None

    def test_validates_the_result(self, api: Api) -> None:
        create_metric(api, recurring=True)
        response = api.put(
            "/billable_metrics/storage", json={"billable_metric": {"aggregation_type": "max_agg"}}
        )
        assert errors_of(response) == {"recurring": ["not_compatible_with_aggregation_type"]}
        response = api.put("/billable_metrics/storage", json={"billable_metric": {"name": ""}})
        assert errors_of(response) == {"name": ["value_is_mandatory"]}

    def test_taken_code(self, api: Api) -> None:
        create_metric(api)
        create_metric(api, code="other")
        response = api.put("/billable_metrics/other", json={"billable_metric": {"code": "storage"}})
        assert errors_of(response) == {"code": ["value_already_exist"]}

    def test_filters_replaced(self, api: Api, app_session: Session) -> None:
        create_metric(api, filters=[{"key": "region", "values": ["us"]}, {"key": "cloud", "values": ["aws"]}])
        response = api.put(
            "/billable_metrics/storage",
            json={"billable_metric": {"filters": [{"key": "region", "values": ["eu", "us"]}]}},
        )
        assert response.json()["billable_metric"]["filters"] == [{"key": "region", "values": ["eu", "us"]}]
        response = api.put("/billable_metrics/storage", json={"billable_metric": {"filters": []}})
        assert response.json()["billable_metric"]["filters"] == []
        assert app_session.scalar(select(func.count()).select_from(BillableMetricFilter)) == 0

    def test_filters_untouched_when_not_sent(self, api: Api) -> None:
        create_metric(api, filters=[{"key": "region", "values": ["us"]}])
        response = api.put("/billable_metrics/storage", json={"billable_metric": {"name": "x"}})
        assert response.json()["billable_metric"]["filters"] == [{"key": "region", "values": ["us"]}]

    def test_only_name_and_description_change_once_charged(self, api: Api) -> None:
        """As Lago: other fields are ignored while a plan charges the metric."""
        metric = create_metric(api)
        create_plan_on(api, metric)
        response = api.put(
            "/billable_metrics/storage",
            json={
                "billable_metric": {
                    "name": "Disk",
                    "description": "d",
                    "code": "disk",
                    "aggregation_type": "count_agg",
                    "field_name": "other",
                }
            },
        )
        assert response.status_code == 200, response.text
        updated = response.json()["billable_metric"]
        assert (updated["name"], updated["description"]) == ("Disk", "d")
        assert (updated["code"], updated["aggregation_type"], updated["field_name"]) == (
            "storage",
            "sum_agg",
            "gb",
        )
        assert updated["plans_count"] == 1


class TestFiltersUsedByCharges:
    def setup_metric(self, api: Api, charge_values: dict) -> dict:
        metric = create_metric(
            api,
            filters=[{"key": "region", "values": ["us", "eu"]}, {"key": "cloud", "values": ["aws", "gcp"]}],
        )
        create_plan_on(api, metric, filters=[{"values": charge_values, "properties": {"amount": "2"}}])
        return metric

    def put_filters(self, api: Api, filters: list) -> Any:
        return api.put("/billable_metrics/storage", json={"billable_metric": {"filters": filters}})

    def test_removing_a_used_value_is_refused(self, api: Api) -> None:
        self.setup_metric(api, {"region": ["us"]})
        response = self.put_filters(
            api, [{"key": "region", "values": ["eu"]}, {"key": "cloud", "values": ["aws"]}]
        )
        assert errors_of(response) == {"filters": ["value_is_used_by_charge_filters"]}
        assert api.get("/billable_metrics/storage").json()["billable_metric"]["filters"][1] == {
            "key": "region",
            "values": ["us", "eu"],
        }

    def test_removing_a_used_key_is_refused(self, api: Api) -> None:
        self.setup_metric(api, {"cloud": ["__ALL_FILTER_VALUES__"]})
        response = self.put_filters(api, [{"key": "region", "values": ["us", "eu"]}])
        assert errors_of(response) == {"filters": ["value_is_used_by_charge_filters"]}

    def test_unused_keys_and_values_can_go(self, api: Api) -> None:
        self.setup_metric(api, {"region": ["us"], "cloud": ["__ALL_FILTER_VALUES__"]})
        response = self.put_filters(
            api, [{"key": "region", "values": ["us", "ap"]}, {"key": "cloud", "values": ["az"]}]
        )
        assert response.status_code == 200, response.text

    def test_deleted_plans_do_not_count(self, api: Api) -> None:
        self.setup_metric(api, {"region": ["us"]})
        api.delete("/plans/starter")
        assert self.put_filters(api, []).status_code == 200


class TestDelete:
    def test_soft_deletes(self, api: Api, app_session: Session) -> None:
        created = create_metric(api)
        response = api.delete("/billable_metrics/storage")
        assert response.status_code == 200
        assert response.json()["billable_metric"]["lago_id"] == created["lago_id"]
        assert api.get("/billable_metrics/storage").status_code == 404
        assert api.get("/billable_metrics").json()["billable_metrics"] == []
        assert metric_rows(app_session) == 1  # kept for history
        # The code is free again.
        assert create_metric(api)["lago_id"] != created["lago_id"]

    def test_refused_while_a_plan_charges_it(self, api: Api) -> None:
        metric = create_metric(api)
        create_plan_on(api, metric)
        response = api.delete("/billable_metrics/storage")
        assert response.status_code == 405
        assert response.json() == {
            "status": 405,
            "error": "Method Not Allowed",
            "code": "billable_metric_in_use",
        }
        api.delete("/plans/starter")
        assert api.delete("/billable_metrics/storage").status_code == 200

    def test_unknown(self, api: Api) -> None:
        assert api.delete("/billable_metrics/nope").json()["code"] == "billable_metric_not_found"


class TestTenancy:
    def test_other_organization_sees_nothing(self, api: Api, other_api: Api) -> None:
        create_metric(api)
        assert other_api.get("/billable_metrics/storage").status_code == 404
        assert other_api.get("/billable_metrics").json()["billable_metrics"] == []
        assert (
            other_api.put("/billable_metrics/storage", json={"billable_metric": {"name": "x"}}).status_code
            == 404
        )
        assert other_api.delete("/billable_metrics/storage").status_code == 404
        # The same code is free in the other organization.
        assert other_api.post("/billable_metrics", json={"billable_metric": METRIC}).status_code == 200
        assert api.get("/billable_metrics/storage").json()["billable_metric"]["name"] == "Storage"
