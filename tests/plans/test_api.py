from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from lago_python_client.models.charge import ChargeFilterResponse, ChargeResponse
from lago_python_client.models.plan import PlanResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billow.models.plans import Charge, ChargeFilter, Plan, UsageThreshold
from tests.conftest import Api

PLAN = {
    "name": "Starter",
    "code": "starter",
    "interval": "monthly",
    "amount_cents": 1000,
    "amount_currency": "EUR",
}


def create_metric(api: Api, code: str = "api_calls", **overrides: Any) -> dict:
    body = {"name": code, "code": code, "aggregation_type": "count_agg", **overrides}
    response = api.post("/billable_metrics", json={"billable_metric": body})
    assert response.status_code == 200, response.text
    return response.json()["billable_metric"]


def create_tax(api: Api, code: str = "vat", rate: str = "20") -> dict:
    response = api.post("/taxes", json={"tax": {"name": code, "code": code, "rate": rate}})
    assert response.status_code == 200, response.text
    return response.json()["tax"]


def charge(metric: dict, **overrides: Any) -> dict:
    return {
        "billable_metric_id": metric["lago_id"],
        "charge_model": "standard",
        "properties": {"amount": "0.5"},
        **overrides,
    }


def post_plan(api: Api, **overrides: Any) -> Any:
    return api.post("/plans", json={"plan": {**PLAN, **overrides}})


def create_plan(api: Api, **overrides: Any) -> dict:
    response = post_plan(api, **overrides)
    assert response.status_code == 200, response.text
    return response.json()["plan"]


def update_plan(api: Api, plan_code: str = "starter", **changes: Any) -> Any:
    return api.put(f"/plans/{plan_code}", json={"plan": changes})


def errors_of(response: Any) -> dict:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "validation_errors"
    return body["error_details"]


def not_found(response: Any, code: str) -> None:
    assert response.status_code == 404, response.text
    assert response.json() == {"status": 404, "error": "Not Found", "code": code}


@pytest.fixture
def db(api: Api) -> Iterator[Session]:
    """A separate session to look at what was committed."""
    with api.client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
        yield session


def count(db: Session, model: Any, live_only: bool = True) -> int:
    stmt = select(func.count()).select_from(model)
    if live_only:
        stmt = stmt.where(model.deleted_at.is_(None))
    return db.scalar(stmt) or 0


@pytest.fixture
def regions(api: Api) -> dict:
    """A sum metric filterable by region (us, eu) and cloud (aws, gcp)."""
    return create_metric(
        api,
        code="storage",
        aggregation_type="sum_agg",
        field_name="gb",
        filters=[{"key": "region", "values": ["us", "eu"]}, {"key": "cloud", "values": ["aws", "gcp"]}],
    )


class TestCreate:
    def test_minimal_plan_lago_body(self, api: Api) -> None:
        plan = create_plan(api)
        assert plan.pop("lago_id")
        assert plan.pop("created_at").endswith("Z")
        assert plan == {
            "name": "Starter",
            "invoice_display_name": None,
            "code": "starter",
            "interval": "monthly",
            "description": None,
            "amount_cents": 1000,
            "amount_currency": "EUR",
            "trial_period": None,
            "pay_in_advance": False,
            "bill_charges_monthly": None,
            "bill_fixed_charges_monthly": None,
            "customers_count": 0,
            "active_subscriptions_count": 0,
            "draft_invoices_count": 0,
            "parent_id": None,
            "pending_deletion": False,
            "charges": [],
            "fixed_charges": [],
            "usage_thresholds": [],
            "taxes": [],
            "minimum_commitment": None,
            "metadata": None,
        }

    def test_full_plan(self, api: Api, regions: dict) -> None:
        vat = create_tax(api)
        create_tax(api, "reduced", "5.5")
        plan = create_plan(
            api,
            interval="yearly",
            description="For starters",
            invoice_display_name="Starter plan",
            trial_period=14.5,
            pay_in_advance=True,
            bill_charges_monthly=True,
            metadata={"tier": "small"},
            tax_codes=["vat"],
            minimum_commitment={
                "amount_cents": 5000,
                "invoice_display_name": "Minimum",
                "tax_codes": ["reduced"],
            },
            usage_thresholds=[
                {"amount_cents": 10000, "threshold_display_name": "Alert", "recurring": True},
                {"amount_cents": 2000},
            ],
            charges=[
                charge(
                    regions,
                    invoice_display_name="Storage",
                    tax_codes=["vat"],
                    filters=[
                        {
                            "invoice_display_name": "US",
                            "properties": {"amount": "0.7"},
                            "values": {"region": ["us"], "cloud": ["__ALL_FILTER_VALUES__"]},
                        }
                    ],
                )
            ],
        )
        assert (plan["interval"], plan["trial_period"], plan["pay_in_advance"]) == ("yearly", 14.5, True)
        assert (plan["bill_charges_monthly"], plan["bill_fixed_charges_monthly"]) == (True, False)
        assert plan["metadata"] == {"tier": "small"}
        assert plan["taxes"] == [vat]
        commitment = plan["minimum_commitment"]
        assert commitment.pop("lago_id") and commitment.pop("created_at") and commitment.pop("updated_at")
        assert [t["code"] for t in commitment.pop("taxes")] == ["reduced"]
        assert commitment == {
            "plan_code": "starter",
            "amount_cents": 5000,
            "interval": "yearly",
            "invoice_display_name": "Minimum",
        }
        thresholds = [
            {k: t[k] for k in ("threshold_display_name", "amount_cents", "recurring")}
            for t in plan["usage_thresholds"]
        ]
        assert thresholds == [
            {"threshold_display_name": None, "amount_cents": 2000, "recurring": False},
            {"threshold_display_name": "Alert", "amount_cents": 10000, "recurring": True},
        ]
        assert all(t["lago_id"] and t["updated_at"].endswith("Z") for t in plan["usage_thresholds"])

        (created,) = plan["charges"]
        assert created.pop("lago_id")
        assert created.pop("created_at").endswith("Z")
        (charge_filter,) = created.pop("filters")
        assert created == {
            "lago_billable_metric_id": regions["lago_id"],
            "billable_metric_code": "storage",
            "code": "storage",
            "invoice_display_name": "Storage",
            "charge_model": "standard",
            "invoiceable": True,
            "regroup_paid_fees": None,
            "pay_in_advance": False,
            "prorated": False,
            "min_amount_cents": 0,
            "accepts_target_wallet": False,
            "properties": {"amount": "0.5"},
            "taxes": [vat],
            "applied_pricing_unit": None,
            "lago_parent_id": None,
        }
        assert charge_filter.pop("lago_id") and charge_filter.pop("created_at")
        assert charge_filter == {
            "charge_code": "storage",
            "invoice_display_name": "US",
            "properties": {"amount": "0.7"},
            "values": {"cloud": ["__ALL_FILTER_VALUES__"], "region": ["us"]},
        }

    def test_parses_with_the_python_client(self, api: Api, regions: dict) -> None:
        create_tax(api)
        body = create_plan(
            api,
            tax_codes=["vat"],
            minimum_commitment={"amount_cents": 1},
            usage_thresholds=[{"amount_cents": 5}],
            charges=[
                charge(regions, filters=[{"values": {"region": ["eu"]}, "properties": {"amount": "1"}}])
            ],
        )
        parsed = PlanResponse.parse_obj(body)
        assert parsed.charges.__root__[0].filters.__root__[0].values == {"region": ["eu"]}
        assert parsed.minimum_commitment.amount_cents == 1
        assert parsed.taxes.__root__[0].code == "vat"

    def test_missing_fields(self, api: Api) -> None:
        response = api.post("/plans", json={"plan": {"description": "x"}})
        # As Lago: a missing interval or currency fails the inclusion check (value_is_invalid).
        assert errors_of(response) == {
            "name": ["value_is_mandatory"],
            "code": ["value_is_mandatory"],
            "interval": ["value_is_invalid"],
            "amount_cents": ["value_is_mandatory"],
            "amount_currency": ["value_is_invalid"],
        }

    def test_invalid_values(self, api: Api) -> None:
        response = post_plan(api, interval="hourly", amount_cents=-1, amount_currency="EURO", trial_period=-1)
        assert errors_of(response) == {
            "interval": ["value_is_invalid"],
            "amount_cents": ["value_is_out_of_range"],
            "amount_currency": ["value_is_invalid"],
            "trial_period": ["value_is_out_of_range"],
        }
        assert errors_of(post_plan(api, amount_cents="lots")) == {"amount_cents": ["value_is_invalid"]}

    @pytest.mark.parametrize("interval", ["daily", "weekly", "monthly", "quarterly", "semiannual", "yearly"])
    def test_intervals(self, api: Api, interval: str) -> None:
        plan = create_plan(api, interval=interval, bill_charges_monthly=True)
        assert plan["interval"] == interval
        # Monthly billing of charges only exists inside semiannual and yearly plans.
        expected = True if interval in ("semiannual", "yearly") else None
        assert plan["bill_charges_monthly"] is expected

    def test_amount_cents_is_a_big_integer(self, api: Api) -> None:
        assert create_plan(api, amount_cents=10**15)["amount_cents"] == 10**15

    def test_duplicate_code(self, api: Api) -> None:
        create_plan(api)
        assert errors_of(post_plan(api)) == {"code": ["value_already_exist"]}

    def test_unknown_tax(self, api: Api, db: Session) -> None:
        not_found(post_plan(api, tax_codes=["nope"]), "tax_not_found")
        create_tax(api)
        not_found(
            post_plan(api, minimum_commitment={"amount_cents": 1, "tax_codes": ["vat", "x"]}), "tax_not_found"
        )
        metric = create_metric(api)
        not_found(post_plan(api, charges=[charge(metric, tax_codes=["x"])]), "tax_not_found")
        assert count(db, Plan) == 0

    def test_metadata(self, api: Api) -> None:
        assert create_plan(api, metadata={"a": "1", "b": None})["metadata"] == {"a": "1", "b": None}


class TestCreateCharges:
    def test_code_generated_from_metric(self, api: Api) -> None:
        metric = create_metric(api)
        plan = create_plan(api, charges=[charge(metric), charge(metric), charge(metric, code="custom")])
        assert [c["code"] for c in plan["charges"]] == ["api_calls", "api_calls_2", "custom"]

    def test_explicit_code_unique_in_plan(self, api: Api, db: Session) -> None:
        metric = create_metric(api)
        response = post_plan(api, charges=[charge(metric, code="x"), charge(metric, code="x")])
        assert errors_of(response) == {"code": ["value_already_exist"]}
        assert count(db, Plan) == 0

    def test_same_charge_code_in_two_plans(self, api: Api) -> None:
        metric = create_metric(api)
        create_plan(api, charges=[charge(metric)])
        assert create_plan(api, code="other", charges=[charge(metric)])["charges"][0]["code"] == "api_calls"

    def test_default_properties(self, api: Api) -> None:
        metric = create_metric(api)
        plan = create_plan(
            api, charges=[{"billable_metric_id": metric["lago_id"], "charge_model": "standard"}]
        )
        assert plan["charges"][0]["properties"] == {"amount": "0"}

    def test_charge_flags(self, api: Api) -> None:
        metric = create_metric(api)
        plan = create_plan(
            api,
            charges=[
                charge(metric, pay_in_advance=True, invoiceable=False, regroup_paid_fees="invoice"),
                charge(metric, min_amount_cents=500),
            ],
        )
        first, second = plan["charges"]
        assert (first["pay_in_advance"], first["invoiceable"], first["regroup_paid_fees"]) == (
            True,
            False,
            "invoice",
        )
        assert second["min_amount_cents"] == 500

    @pytest.mark.parametrize(
        "billable_metric_id", [None, "not-a-uuid", "00000000-0000-0000-0000-000000000000"], ids=str
    )
    def test_unknown_metric(self, api: Api, db: Session, billable_metric_id: str | None) -> None:
        response = post_plan(
            api, charges=[{"billable_metric_id": billable_metric_id, "charge_model": "standard"}]
        )
        not_found(response, "billable_metric_not_found")
        assert count(db, Plan) == 0

    def test_deleted_metric(self, api: Api) -> None:
        metric = create_metric(api)
        api.delete("/billable_metrics/api_calls")
        not_found(post_plan(api, charges=[charge(metric)]), "billable_metric_not_found")

    def test_one_bad_charge_writes_nothing(self, api: Api, db: Session) -> None:
        metric = create_metric(api)
        response = post_plan(api, charges=[charge(metric), charge(metric, properties={"amount": 0.5})])
        assert errors_of(response) == {"properties": ["invalid_amount"]}
        assert (count(db, Plan), count(db, Charge)) == (0, 0)

    def test_charge_rules_apply(self, api: Api) -> None:
        """The rules themselves live in billow.plans.charge_rules; here: they are applied."""
        metric = create_metric(api, code="peak", aggregation_type="max_agg", field_name="v")
        response = post_plan(
            api, charges=[charge(metric, pay_in_advance=True), charge(metric, charge_model="unknown")]
        )
        errors = errors_of(response)
        assert errors["pay_in_advance"] == ["invalid_aggregation_type_or_charge_model"]
        assert "value_is_invalid" in errors["charge_model"]
        response = post_plan(api, charges=[charge(metric, invoiceable=False)])
        assert errors_of(response) == {"invoiceable": ["must_be_true_unless_pay_in_advance"]}

    def test_pricing_unit_and_target_wallet_ignored(self, api: Api) -> None:
        metric = create_metric(api)
        extra = {
            "applied_pricing_unit": {"code": "credits", "conversion_rate": "0.5"},
            "accepts_target_wallet": True,
        }
        (created,) = create_plan(api, charges=[charge(metric, **extra)])["charges"]
        assert (created["applied_pricing_unit"], created["accepts_target_wallet"]) == (None, False)


class TestCreateChargeFilters:
    def post_with_filters(self, api: Api, metric: dict, *filters: dict) -> Any:
        return post_plan(api, charges=[charge(metric, filters=list(filters))])

    def test_filters_in_order(self, api: Api, regions: dict) -> None:
        response = self.post_with_filters(
            api,
            regions,
            {"values": {"region": ["us", "eu"]}, "properties": {"amount": "2"}},
            {"values": {"cloud": ["gcp"]}, "properties": {"amount": "1"}},
            {"values": {"region": ["us"], "cloud": ["aws"]}, "properties": {"amount": "3"}},
        )
        assert response.status_code == 200, response.text
        filters = response.json()["plan"]["charges"][0]["filters"]
        assert [f["values"] for f in filters] == [
            {"region": ["us", "eu"]},
            {"cloud": ["gcp"]},
            {"cloud": ["aws"], "region": ["us"]},
        ]
        assert [f["properties"] for f in filters] == [{"amount": "2"}, {"amount": "1"}, {"amount": "3"}]

    @pytest.mark.parametrize(
        "values",
        [
            {"zone": ["a"]},  # not a filter key of the metric
            {"region": ["ap"]},  # not a value of that key
            {"region": ["us", "__ALL_FILTER_VALUES__"]},  # "all" stands alone
            {"region": []},
        ],
    )
    def test_invalid_values(self, api: Api, db: Session, regions: dict, values: dict) -> None:
        response = self.post_with_filters(api, regions, {"values": values, "properties": {"amount": "1"}})
        assert errors_of(response) == {"values": ["value_is_invalid"]}
        assert count(db, Plan) == 0

    def test_values_mandatory(self, api: Api, regions: dict) -> None:
        response = self.post_with_filters(api, regions, {"values": {}, "properties": {"amount": "1"}})
        assert errors_of(response) == {"values": ["value_is_mandatory"]}

    def test_same_values_twice(self, api: Api, regions: dict) -> None:
        response = self.post_with_filters(
            api,
            regions,
            {"values": {"region": ["us", "eu"]}, "properties": {"amount": "1"}},
            {"values": {"region": ["eu", "us"]}, "properties": {"amount": "2"}},
        )
        assert errors_of(response) == {"filters": ["value_already_exist"]}

    def test_filter_properties_validated(self, api: Api, db: Session, regions: dict) -> None:
        response = self.post_with_filters(
            api, regions, {"values": {"region": ["us"]}, "properties": {"amount": 1}}
        )
        assert errors_of(response) == {"properties": ["invalid_amount"]}
        assert (count(db, Plan), count(db, ChargeFilter)) == (0, 0)

    def test_metric_without_filters(self, api: Api) -> None:
        metric = create_metric(api)
        response = self.post_with_filters(
            api, metric, {"values": {"region": ["us"]}, "properties": {"amount": "1"}}
        )
        assert errors_of(response) == {"values": ["value_is_invalid"]}


class TestUsageThresholdsAndCommitment:
    @pytest.mark.parametrize(
        ("thresholds", "errors"),
        [
            ([{"threshold_display_name": "x"}], {"usage_thresholds": ["missing_amount_cents"]}),
            ([{"amount_cents": 0}], {"amount_cents": ["value_is_out_of_range"]}),
            ([{"amount_cents": 5}, {"amount_cents": 5}], {"usage_thresholds": ["duplicated_values"]}),
            (
                [{"amount_cents": 5, "recurring": True}, {"amount_cents": 6, "recurring": True}],
                {"usage_thresholds": ["multiple_recurring_thresholds"]},
            ),
        ],
    )
    def test_threshold_errors(self, api: Api, db: Session, thresholds: list, errors: dict) -> None:
        assert errors_of(post_plan(api, usage_thresholds=thresholds)) == errors
        assert count(db, UsageThreshold) == 0

    def test_same_amount_recurring_and_not(self, api: Api) -> None:
        plan = create_plan(
            api, usage_thresholds=[{"amount_cents": 5}, {"amount_cents": 5, "recurring": True}]
        )
        assert [t["recurring"] for t in plan["usage_thresholds"]] == [False, True]

    @pytest.mark.parametrize(
        ("commitment", "errors"),
        [
            ({"invoice_display_name": "x"}, {"amount_cents": ["value_is_mandatory"]}),
            ({"amount_cents": 0}, {"amount_cents": ["value_is_out_of_range"]}),
        ],
    )
    def test_commitment_errors(self, api: Api, db: Session, commitment: dict, errors: dict) -> None:
        assert errors_of(post_plan(api, minimum_commitment=commitment)) == errors
        assert count(db, Plan) == 0

    def test_empty_commitment_is_none(self, api: Api) -> None:
        assert create_plan(api, minimum_commitment={})["minimum_commitment"] is None


class TestReadAndList:
    def test_find(self, api: Api) -> None:
        metric = create_metric(api)
        created = create_plan(api, charges=[charge(metric)])
        assert api.get("/plans/starter").json() == {"plan": created}

    def test_unknown(self, api: Api) -> None:
        not_found(api.get("/plans/nope"), "plan_not_found")

    def test_list_paginates(self, api: Api) -> None:
        metric = create_metric(api)
        for i in range(3):
            create_plan(api, code=f"p{i}", charges=[charge(metric)])
        body = api.get("/plans", params={"per_page": 2}).json()
        assert [p["code"] for p in body["plans"]] == ["p2", "p1"]
        assert all(len(p["charges"]) == 1 for p in body["plans"])
        assert body["meta"] == {
            "current_page": 1,
            "next_page": 2,
            "prev_page": None,
            "total_pages": 2,
            "total_count": 3,
        }
        assert [p["code"] for p in api.get("/plans", params={"per_page": 2, "page": 2}).json()["plans"]] == [
            "p0"
        ]


class TestUpdate:
    def test_updates_given_fields_only(self, api: Api) -> None:
        create_plan(api, description="d", metadata={"a": "1"})
        response = update_plan(api, name="Basic", amount_cents=1500, code="basic")
        assert response.status_code == 200, response.text
        plan = response.json()["plan"]
        assert (plan["name"], plan["amount_cents"], plan["code"]) == ("Basic", 1500, "basic")
        assert (plan["description"], plan["metadata"], plan["interval"]) == ("d", {"a": "1"}, "monthly")
        not_found(api.get("/plans/starter"), "plan_not_found")

    def test_validates(self, api: Api) -> None:
        create_plan(api)
        create_plan(api, code="other")
        assert errors_of(update_plan(api, code="other")) == {"code": ["value_already_exist"]}
        assert errors_of(update_plan(api, interval="hourly", amount_currency="XX")) == {
            "interval": ["value_is_invalid"],
            "amount_currency": ["value_is_invalid"],
        }

    def test_interval_change_resets_monthly_billing(self, api: Api) -> None:
        create_plan(api, interval="yearly", bill_charges_monthly=True)
        plan = update_plan(api, interval="monthly").json()["plan"]
        assert plan["bill_charges_monthly"] is None
        plan = update_plan(api, interval="semiannual").json()["plan"]
        assert plan["bill_charges_monthly"] is False

    def test_taxes_replaced(self, api: Api) -> None:
        create_tax(api)
        create_tax(api, "other")
        create_plan(api, tax_codes=["vat"])
        assert [t["code"] for t in update_plan(api, tax_codes=["other", "vat"]).json()["plan"]["taxes"]] == [
            "other",
            "vat",
        ]
        assert update_plan(api, name="x").json()["plan"]["taxes"] != []
        assert update_plan(api, tax_codes=[]).json()["plan"]["taxes"] == []

    def test_deleting_a_tax_detaches_it(self, api: Api) -> None:
        create_tax(api)
        metric = create_metric(api)
        create_plan(api, tax_codes=["vat"], charges=[charge(metric, tax_codes=["vat"])])
        assert api.delete("/taxes/vat").status_code == 200
        plan = api.get("/plans/starter").json()["plan"]
        assert (plan["taxes"], plan["charges"][0]["taxes"]) == ([], [])

    def test_metadata_replaced(self, api: Api) -> None:
        create_plan(api, metadata={"a": "1"})
        assert update_plan(api, metadata={"b": "2"}).json()["plan"]["metadata"] == {"b": "2"}

    def test_failed_update_writes_nothing(self, api: Api) -> None:
        metric = create_metric(api)
        before = create_plan(api, charges=[charge(metric)])
        response = update_plan(
            api, name="Changed", charges=[charge(metric, properties={"amount": "-1"})], usage_thresholds=[]
        )
        assert errors_of(response) == {"properties": ["invalid_amount"]}
        assert api.get("/plans/starter").json() == {"plan": before}


class TestUpdateCharges:
    def test_replace_semantics(self, api: Api, db: Session) -> None:
        metric = create_metric(api)
        other = create_metric(api, code="seats")
        first, second = create_plan(api, charges=[charge(metric), charge(metric)])["charges"]
        response = update_plan(
            api,
            charges=[
                {"id": second["lago_id"], "properties": {"amount": "9"}, "invoice_display_name": "Calls"},
                charge(other),
            ],
        )
        assert response.status_code == 200, response.text
        kept, created = response.json()["plan"]["charges"]
        assert (kept["lago_id"], kept["code"], kept["properties"]) == (
            second["lago_id"],
            "api_calls_2",
            {"amount": "9"},
        )
        assert kept["invoice_display_name"] == "Calls"
        assert (created["code"], created["billable_metric_code"]) == ("seats", "seats")
        assert count(db, Charge) == 2
        assert count(db, Charge, live_only=False) == 3  # the first one is soft-deleted
        assert first["lago_id"] not in {
            c["lago_id"] for c in api.get("/plans/starter/charges").json()["charges"]
        }

    def test_charges_untouched_when_not_sent(self, api: Api) -> None:
        metric = create_metric(api)
        charges = create_plan(api, charges=[charge(metric)])["charges"]
        assert update_plan(api, name="x").json()["plan"]["charges"] == charges

    def test_empty_list_removes_all(self, api: Api) -> None:
        metric = create_metric(api)
        create_plan(api, charges=[charge(metric)])
        assert update_plan(api, charges=[]).json()["plan"]["charges"] == []

    def test_unknown_charge_id(self, api: Api, db: Session) -> None:
        metric = create_metric(api)
        create_plan(api, charges=[charge(metric)])
        other_plan = create_plan(api, code="other", charges=[charge(metric)])
        response = update_plan(
            api, charges=[{"id": other_plan["charges"][0]["lago_id"], "charge_model": "standard"}]
        )
        not_found(response, "charge_not_found")
        not_found(update_plan(api, charges=[{"id": "nope"}]), "charge_not_found")
        assert count(db, Charge) == 2

    def test_charge_model_change_resets_properties(self, api: Api) -> None:
        metric = create_metric(api)
        (created,) = create_plan(api, charges=[charge(metric)])["charges"]
        response = update_plan(api, charges=[{"id": created["lago_id"], "charge_model": "package"}])
        (updated,) = response.json()["plan"]["charges"]
        assert updated["charge_model"] == "package"
        assert updated["properties"] == {"package_size": 1, "amount": "0", "free_units": 0}

    def test_code_can_move_to_a_new_charge(self, api: Api) -> None:
        metric = create_metric(api)
        (created,) = create_plan(api, charges=[charge(metric)])["charges"]
        response = update_plan(api, charges=[{"id": created["lago_id"], "code": "old"}, charge(metric)])
        assert [c["code"] for c in response.json()["plan"]["charges"]] == ["old", "api_calls"]

    def test_filters_matched_by_values(self, api: Api, regions: dict) -> None:
        (created,) = create_plan(
            api,
            charges=[
                charge(
                    regions,
                    filters=[
                        {"values": {"region": ["us"]}, "properties": {"amount": "1"}},
                        {"values": {"cloud": ["aws"]}, "properties": {"amount": "2"}},
                    ],
                )
            ],
        )["charges"]
        us, aws = created["filters"]
        response = update_plan(
            api,
            charges=[
                {
                    "id": created["lago_id"],
                    "filters": [
                        {"values": {"cloud": ["gcp"]}, "properties": {"amount": "3"}},
                        {
                            "values": {"region": ["us"]},
                            "properties": {"amount": "4"},
                            "invoice_display_name": "US",
                        },
                    ],
                }
            ],
        )
        assert response.status_code == 200, response.text
        gcp, us_again = response.json()["plan"]["charges"][0]["filters"]
        assert us_again["lago_id"] == us["lago_id"]
        assert (us_again["properties"], us_again["invoice_display_name"]) == ({"amount": "4"}, "US")
        assert gcp["lago_id"] not in (us["lago_id"], aws["lago_id"])

    def test_kept_filters_checked_against_new_model(self, api: Api, regions: dict) -> None:
        (created,) = create_plan(
            api,
            charges=[
                charge(regions, filters=[{"values": {"region": ["us"]}, "properties": {"amount": "1"}}])
            ],
        )["charges"]
        response = update_plan(
            api, charges=[{"id": created["lago_id"], "charge_model": "package", "properties": {}}]
        )
        # The filter's {"amount": "1"} lacks package_size and free_units.
        assert "properties" in errors_of(response)

    def test_thresholds_replaced(self, api: Api, db: Session) -> None:
        plan = create_plan(
            api, usage_thresholds=[{"amount_cents": 100}, {"amount_cents": 500, "recurring": True}]
        )
        hundred, recurring = plan["usage_thresholds"]
        response = update_plan(
            api,
            usage_thresholds=[
                {"amount_cents": 100, "threshold_display_name": "A"},
                {"amount_cents": 50, "recurring": True},
            ],
        )
        after = response.json()["plan"]["usage_thresholds"]
        assert [(t["lago_id"], t["amount_cents"], t["recurring"]) for t in after] == [
            (hundred["lago_id"], 100, False),
            (recurring["lago_id"], 50, True),
        ]
        assert after[0]["threshold_display_name"] == "A"
        assert update_plan(api, usage_thresholds=[]).json()["plan"]["usage_thresholds"] == []
        assert count(db, UsageThreshold, live_only=False) == 2

    def test_commitment_replaced(self, api: Api) -> None:
        create_tax(api)
        plan = create_plan(api, minimum_commitment={"amount_cents": 100, "invoice_display_name": "Min"})
        response = update_plan(api, minimum_commitment={"amount_cents": 200, "tax_codes": ["vat"]})
        commitment = response.json()["plan"]["minimum_commitment"]
        assert commitment["lago_id"] == plan["minimum_commitment"]["lago_id"]
        assert (commitment["amount_cents"], commitment["invoice_display_name"]) == (200, "Min")
        assert [t["code"] for t in commitment["taxes"]] == ["vat"]
        assert update_plan(api, name="x").json()["plan"]["minimum_commitment"] == commitment
        assert update_plan(api, minimum_commitment={}).json()["plan"]["minimum_commitment"] is None


class TestDelete:
    def test_soft_deletes_plan_and_charges(self, api: Api, db: Session) -> None:
        metric = create_metric(api)
        created = create_plan(api, charges=[charge(metric)])
        response = api.delete("/plans/starter")
        assert response.status_code == 200
        assert response.json()["plan"]["charges"] == created["charges"]
        not_found(api.get("/plans/starter"), "plan_not_found")
        assert api.get("/plans").json()["plans"] == []
        assert (count(db, Plan), count(db, Charge)) == (0, 0)
        assert (count(db, Plan, live_only=False), count(db, Charge, live_only=False)) == (1, 1)
        # The code is free again, and the metric can go.
        create_plan(api)
        assert api.delete("/billable_metrics/api_calls").status_code == 200

    def test_unknown(self, api: Api) -> None:
        not_found(api.delete("/plans/nope"), "plan_not_found")


class TestChargesEndpoints:
    def test_crud(self, api: Api, db: Session) -> None:
        metric = create_metric(api)
        create_plan(api, charges=[charge(metric)])
        response = api.post(
            "/plans/starter/charges", json={"charge": charge(metric, invoice_display_name="More")}
        )
        assert response.status_code == 200, response.text
        created = response.json()["charge"]
        assert (created["code"], created["invoice_display_name"]) == ("api_calls_2", "More")
        ChargeResponse.parse_obj(created)

        assert api.get("/plans/starter/charges/api_calls_2").json() == {"charge": created}
        listed = api.get("/plans/starter/charges").json()
        assert [c["code"] for c in listed["charges"]] == ["api_calls_2", "api_calls"]
        assert listed["meta"]["total_count"] == 2

        response = api.put(
            "/plans/starter/charges/api_calls_2", json={"charge": {"properties": {"amount": "2"}}}
        )
        assert response.status_code == 200, response.text
        assert response.json()["charge"]["properties"] == {"amount": "2"}
        assert response.json()["charge"]["invoice_display_name"] == "More"

        response = api.delete("/plans/starter/charges/api_calls_2")
        assert response.json()["charge"]["lago_id"] == created["lago_id"]
        not_found(api.get("/plans/starter/charges/api_calls_2"), "charge_not_found")
        assert [c["code"] for c in api.get("/plans/starter").json()["plan"]["charges"]] == ["api_calls"]

    def test_regroup_paid_fees_dropped_when_it_no_longer_applies(self, api: Api) -> None:
        metric = create_metric(api)
        create_plan(
            api, charges=[charge(metric, pay_in_advance=True, invoiceable=False, regroup_paid_fees="invoice")]
        )
        response = api.put("/plans/starter/charges/api_calls", json={"charge": {"invoiceable": True}})
        assert response.status_code == 200, response.text
        assert response.json()["charge"]["regroup_paid_fees"] is None
        response = api.put(
            "/plans/starter/charges/api_calls", json={"charge": {"regroup_paid_fees": "invoice"}}
        )
        assert errors_of(response) == {
            "regroup_paid_fees": ["only_compatible_with_pay_in_advance_and_non_invoiceable"]
        }

    def test_code_unique(self, api: Api) -> None:
        metric = create_metric(api)
        create_plan(api, charges=[charge(metric), charge(metric, code="other")])
        response = api.post("/plans/starter/charges", json={"charge": charge(metric, code="other")})
        assert errors_of(response) == {"code": ["value_already_exist"]}
        response = api.put("/plans/starter/charges/other", json={"charge": {"code": "api_calls"}})
        assert errors_of(response) == {"code": ["value_already_exist"]}

    def test_validation(self, api: Api, db: Session) -> None:
        metric = create_metric(api)
        create_plan(api)
        response = api.post(
            "/plans/starter/charges", json={"charge": charge(metric, properties={"amount": "x"})}
        )
        assert errors_of(response) == {"properties": ["invalid_amount"]}
        not_found(
            api.post("/plans/starter/charges", json={"charge": {"charge_model": "standard"}}),
            "billable_metric_not_found",
        )
        assert count(db, Charge) == 0

    def test_not_found(self, api: Api) -> None:
        metric = create_metric(api)
        not_found(api.get("/plans/nope/charges"), "plan_not_found")
        not_found(api.post("/plans/nope/charges", json={"charge": charge(metric)}), "plan_not_found")
        create_plan(api)
        not_found(api.get("/plans/starter/charges/nope"), "charge_not_found")
        not_found(api.put("/plans/starter/charges/nope", json={"charge": {}}), "charge_not_found")
        not_found(api.delete("/plans/starter/charges/nope"), "charge_not_found")


class TestChargeFiltersEndpoints:
    @pytest.fixture
    def plan(self, api: Api, regions: dict) -> dict:
        return create_plan(
            api,
            charges=[
                charge(regions, filters=[{"values": {"region": ["us"]}, "properties": {"amount": "1"}}])
            ],
        )

    def test_crud(self, api: Api, plan: dict) -> None:
        base = "/plans/starter/charges/storage/filters"
        (existing,) = api.get(base).json()["filters"]
        assert existing == plan["charges"][0]["filters"][0]

        body = {
            "filter": {
                "values": {"cloud": ["aws"]},
                "properties": {"amount": "2"},
                "invoice_display_name": "AWS",
            }
        }
        response = api.post(base, json=body)
        assert response.status_code == 200, response.text
        created = response.json()["filter"]
        ChargeFilterResponse.parse_obj(created)
        assert (created["values"], created["charge_code"], created["invoice_display_name"]) == (
            {"cloud": ["aws"]},
            "storage",
            "AWS",
        )
        assert api.get(f"{base}/{created['lago_id']}").json() == {"filter": created}
        listed = api.get(base).json()
        assert [f["lago_id"] for f in listed["filters"]] == [existing["lago_id"], created["lago_id"]]
        assert listed["meta"]["total_count"] == 2

        response = api.put(f"{base}/{created['lago_id']}", json={"filter": {"properties": {"amount": "3"}}})
        assert response.status_code == 200, response.text
        assert response.json()["filter"]["properties"] == {"amount": "3"}
        assert response.json()["filter"]["invoice_display_name"] == "AWS"

        assert api.delete(f"{base}/{created['lago_id']}").json()["filter"]["lago_id"] == created["lago_id"]
        not_found(api.get(f"{base}/{created['lago_id']}"), "charge_filter_not_found")
        assert len(api.get("/plans/starter").json()["plan"]["charges"][0]["filters"]) == 1

    def test_validation(self, api: Api, plan: dict, db: Session) -> None:
        base = "/plans/starter/charges/storage/filters"
        response = api.post(
            base, json={"filter": {"values": {"region": ["ap"]}, "properties": {"amount": "1"}}}
        )
        assert errors_of(response) == {"values": ["value_is_invalid"]}
        response = api.post(base, json={"filter": {"properties": {"amount": "1"}}})
        assert errors_of(response) == {"values": ["value_is_mandatory"]}
        response = api.post(
            base, json={"filter": {"values": {"region": ["us"]}, "properties": {"amount": "1"}}}
        )
        assert errors_of(response) == {"values": ["value_already_exist"]}
        response = api.post(
            base, json={"filter": {"values": {"cloud": ["aws"]}, "properties": {"amount": 1}}}
        )
        assert errors_of(response) == {"properties": ["invalid_amount"]}
        filter_id = plan["charges"][0]["filters"][0]["lago_id"]
        response = api.put(f"{base}/{filter_id}", json={"filter": {"properties": {"amount": "-2"}}})
        assert errors_of(response) == {"properties": ["invalid_amount"]}
        assert count(db, ChargeFilter) == 1

    def test_not_found(self, api: Api, plan: dict) -> None:
        not_found(api.get("/plans/nope/charges/storage/filters"), "plan_not_found")
        not_found(api.get("/plans/starter/charges/nope/filters"), "charge_not_found")
        not_found(api.get("/plans/starter/charges/storage/filters/nope"), "charge_filter_not_found")
        unknown = "/plans/starter/charges/storage/filters/00000000-0000-0000-0000-000000000000"
        not_found(api.put(unknown, json={"filter": {}}), "charge_filter_not_found")
        not_found(api.delete(unknown), "charge_filter_not_found")


class TestTenancy:
    def test_other_organization_sees_nothing(self, api: Api, other_api: Api, regions: dict) -> None:
        plan = create_plan(
            api,
            charges=[
                charge(regions, filters=[{"values": {"region": ["us"]}, "properties": {"amount": "1"}}])
            ],
        )
        filter_id = plan["charges"][0]["filters"][0]["lago_id"]
        not_found(other_api.get("/plans/starter"), "plan_not_found")
        assert other_api.get("/plans").json()["plans"] == []
        not_found(other_api.put("/plans/starter", json={"plan": {"name": "x"}}), "plan_not_found")
        not_found(other_api.delete("/plans/starter"), "plan_not_found")
        not_found(other_api.get("/plans/starter/charges"), "plan_not_found")
        not_found(other_api.get(f"/plans/starter/charges/storage/filters/{filter_id}"), "plan_not_found")
        # Our metric cannot be charged by the other organization, even by lago_id.
        not_found(
            other_api.post("/plans", json={"plan": {**PLAN, "charges": [charge(regions)]}}),
            "billable_metric_not_found",
        )
        # The same plan code is free there.
        assert other_api.post("/plans", json={"plan": PLAN}).status_code == 200
        assert api.get("/plans/starter").json()["plan"]["charges"] == plan["charges"]

    def test_charge_ids_of_another_organization(self, api: Api, other_api: Api) -> None:
        metric = create_metric(api)
        ours = create_plan(api, charges=[charge(metric)])
        create_plan(other_api)
        response = other_api.put(
            "/plans/starter", json={"plan": {"charges": [{"id": ours["charges"][0]["lago_id"]}]}}
        )
        not_found(response, "charge_not_found")


class TestMetadata:
    def test_replace_merge_delete(self, api: Api) -> None:
        create_plan(api)
        assert api.post("/plans/starter/metadata", json={"metadata": {"a": "1"}}).json() == {
            "metadata": {"a": "1"}
        }
        merged = api.patch("/plans/starter/metadata", json={"metadata": {"b": None}})
        assert merged.json() == {"metadata": {"a": "1", "b": None}}
        assert api.delete("/plans/starter/metadata/a").json() == {"metadata": {"b": None}}
        assert api.get("/plans/starter").json()["plan"]["metadata"] == {"b": None}
        assert api.delete("/plans/starter/metadata").json() == {"metadata": {}}

    def test_non_string_value_refused_and_nothing_changes(self, api: Api) -> None:
        create_plan(api)
        api.post("/plans/starter/metadata", json={"metadata": {"a": "1"}})
        response = api.patch("/plans/starter/metadata", json={"metadata": {"b": 2}})
        assert response.status_code == 422
        assert errors_of(response) == {"metadata": ["value_is_invalid"]}
        assert api.get("/plans/starter").json()["plan"]["metadata"] == {"a": "1"}

    def test_missing_root_and_unknown_plan(self, api: Api) -> None:
        create_plan(api)
        assert api.post("/plans/starter/metadata", json={"a": "1"}).status_code == 400
        not_found(api.post("/plans/nope/metadata", json={"metadata": {}}), "plan_not_found")
