"""Charge validation and properties normalization (Lago's rules), table-driven."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from billow.plans.charge_rules import CHARGE_MODELS, ChargeSpec, validate_charge, validate_properties

VALID_PROPERTIES: dict[str, dict[str, Any]] = {
    "standard": {"amount": "5.12345"},
    "graduated": {
        "graduated_ranges": [
            {"from_value": 0, "to_value": 10, "per_unit_amount": "10", "flat_amount": "2"},
            {"from_value": 11, "to_value": 20, "per_unit_amount": "5", "flat_amount": "3"},
            {"from_value": 21, "to_value": None, "per_unit_amount": "5", "flat_amount": "3"},
        ]
    },
    "graduated_percentage": {
        "graduated_percentage_ranges": [
            {"from_value": 0, "to_value": 10, "rate": "1", "flat_amount": "200"},
            {"from_value": 11, "to_value": 20, "rate": "2", "flat_amount": "300"},
            {"from_value": 21, "to_value": None, "rate": "3", "flat_amount": "400"},
        ]
    },
    "package": {"amount": "100", "package_size": 10, "free_units": 0},
    "percentage": {
        "rate": "1.3",
        "fixed_amount": "2.0",
        "free_units_per_events": 3,
        "free_units_per_total_aggregation": "250",
        "per_transaction_min_amount": "1.75",
        "per_transaction_max_amount": "12",
    },
    "volume": {
        "volume_ranges": [
            {"from_value": 0, "to_value": 100, "per_unit_amount": "2", "flat_amount": "10"},
            {"from_value": 101, "to_value": 200, "per_unit_amount": "1", "flat_amount": "0"},
            {"from_value": 201, "to_value": None, "per_unit_amount": "0.5", "flat_amount": "50"},
        ]
    },
    "dynamic": {},
}


def spec(**overrides: Any) -> ChargeSpec:
    """A valid standard charge in arrears on a sum_agg metric, changed by ``overrides``."""
    base = ChargeSpec(
        charge_model="standard",
        properties={"amount": "1"},
        aggregation_type="sum_agg",
        recurring=False,
        pay_in_advance=False,
        prorated=False,
        invoiceable=True,
        regroup_paid_fees=None,
        min_amount_cents=0,
    )
    return replace(base, **overrides)


def errors_of(**overrides: Any) -> dict[str, list[str]]:
    return validate_charge(spec(**overrides))[1]


def property_errors(model: str, properties: Any, aggregation_type: str = "sum_agg") -> dict[str, list[str]]:
    return validate_properties(model, properties, aggregation_type=aggregation_type)[1]


def graduated(*bounds: tuple[Any, Any]) -> dict[str, Any]:
    return {
        "graduated_ranges": [
            {"from_value": low, "to_value": high, "per_unit_amount": "1", "flat_amount": "0"}
            for low, high in bounds
        ]
    }


def volume(*bounds: tuple[Any, Any]) -> dict[str, Any]:
    return {
        "volume_ranges": [
            {"from_value": low, "to_value": high, "per_unit_amount": "1", "flat_amount": "0"}
            for low, high in bounds
        ]
    }


def graduated_percentage(*bounds: tuple[Any, Any]) -> dict[str, Any]:
    return {
        "graduated_percentage_ranges": [
            {"from_value": low, "to_value": high, "rate": "1", "flat_amount": "0"} for low, high in bounds
        ]
    }


def test_charge_models() -> None:
    assert CHARGE_MODELS == (
        "standard",
        "graduated",
        "graduated_percentage",
        "package",
        "percentage",
        "volume",
        "dynamic",
    )


@pytest.mark.parametrize("model", CHARGE_MODELS)
def test_every_model_accepts_its_valid_properties(model: str) -> None:
    properties, errors = validate_charge(spec(charge_model=model, properties=VALID_PROPERTIES[model]))
    assert errors == {}
    assert properties == VALID_PROPERTIES[model]


# --- charge_model -------------------------------------------------------------------------------

INVALID = "invalid_aggregation_type_or_charge_model"


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        # Rails: the enum's inclusion check runs before the presence check, so a missing model gets both.
        ({"charge_model": None}, {"charge_model": ["value_is_invalid", "value_is_mandatory"]}),
        ({"charge_model": ""}, {"charge_model": ["value_is_invalid", "value_is_mandatory"]}),
        ({"charge_model": "tiered"}, {"charge_model": ["value_is_invalid"]}),
        ({"charge_model": "STANDARD"}, {"charge_model": ["value_is_invalid"]}),
        # custom needs a custom_agg metric, which Billow does not implement: always refused.
        ({"charge_model": "custom", "properties": None}, {"charge_model": [INVALID]}),
        ({"charge_model": "custom", "aggregation_type": "custom_agg"}, {"charge_model": [INVALID]}),
    ],
)
def test_charge_model(overrides: dict[str, Any], expected: dict[str, list[str]]) -> None:
    assert errors_of(**overrides) == expected


def test_missing_charge_model_drops_every_property() -> None:
    properties, _ = validate_charge(
        spec(charge_model=None, properties={"amount": "1", "pricing_group_keys": ["a"]})
    )
    assert properties == {}


# --- model / aggregation compatibility ----------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "aggregation_type", "expected"),
    [
        ("dynamic", "sum_agg", {}),
        ("dynamic", "count_agg", {"charge_model": [INVALID]}),
        ("dynamic", "max_agg", {"charge_model": [INVALID]}),
        ("dynamic", "unique_count_agg", {"charge_model": [INVALID]}),
        ("dynamic", "weighted_sum_agg", {"charge_model": [INVALID]}),
        ("dynamic", "latest_agg", {"charge_model": [INVALID]}),
        # percentage models refuse latest_agg only, and Lago files it under properties.
        ("percentage", "latest_agg", {"properties": ["invalid_value"]}),
        ("graduated_percentage", "latest_agg", {"properties": ["invalid_value"]}),
        ("percentage", "max_agg", {}),
        ("percentage", "weighted_sum_agg", {}),
        ("graduated_percentage", "max_agg", {}),
        ("graduated_percentage", "count_agg", {}),
        ("standard", "latest_agg", {}),
        ("volume", "weighted_sum_agg", {}),
    ],
)
def test_model_and_aggregation(model: str, aggregation_type: str, expected: dict[str, list[str]]) -> None:
    assert (
        errors_of(charge_model=model, properties=VALID_PROPERTIES[model], aggregation_type=aggregation_type)
        == expected
    )


# --- pay_in_advance, invoiceable, regroup_paid_fees, min_amount_cents --------------------------

IN_ADVANCE_ERROR = {"pay_in_advance": [INVALID]}


@pytest.mark.parametrize(
    ("model", "aggregation_type", "expected"),
    [
        ("standard", "count_agg", {}),
        ("standard", "sum_agg", {}),
        ("standard", "unique_count_agg", {}),
        ("standard", "max_agg", IN_ADVANCE_ERROR),
        ("standard", "latest_agg", IN_ADVANCE_ERROR),
        ("standard", "weighted_sum_agg", IN_ADVANCE_ERROR),
        ("graduated", "sum_agg", {}),
        ("package", "count_agg", {}),
        ("percentage", "sum_agg", {}),
        ("graduated_percentage", "sum_agg", {}),
        ("dynamic", "sum_agg", {}),
        ("volume", "sum_agg", IN_ADVANCE_ERROR),
        ("volume", "count_agg", IN_ADVANCE_ERROR),
    ],
)
def test_pay_in_advance(model: str, aggregation_type: str, expected: dict[str, list[str]]) -> None:
    assert (
        errors_of(
            charge_model=model,
            properties=VALID_PROPERTIES[model],
            aggregation_type=aggregation_type,
            pay_in_advance=True,
        )
        == expected
    )


REGROUP_ERROR = "only_compatible_with_pay_in_advance_and_non_invoiceable"
INVOICEABLE_ERROR = "must_be_true_unless_pay_in_advance"


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"invoiceable": False}, {"invoiceable": [INVOICEABLE_ERROR]}),
        ({"invoiceable": False, "pay_in_advance": True}, {}),
        ({"regroup_paid_fees": "invoice", "pay_in_advance": True, "invoiceable": False}, {}),
        ({"regroup_paid_fees": "invoice", "pay_in_advance": True}, {"regroup_paid_fees": [REGROUP_ERROR]}),
        ({"regroup_paid_fees": "invoice"}, {"regroup_paid_fees": [REGROUP_ERROR]}),
        (
            {"regroup_paid_fees": "invoice", "invoiceable": False},
            {"regroup_paid_fees": [REGROUP_ERROR], "invoiceable": [INVOICEABLE_ERROR]},
        ),
        (
            {"regroup_paid_fees": "weekly", "pay_in_advance": True, "invoiceable": False},
            {"regroup_paid_fees": ["value_is_invalid"]},
        ),
        ({"min_amount_cents": 0, "pay_in_advance": True}, {}),
        ({"min_amount_cents": 1000}, {}),
        (
            {"min_amount_cents": 1000, "pay_in_advance": True},
            {"min_amount_cents": ["not_compatible_with_pay_in_advance"]},
        ),
        ({"min_amount_cents": -1}, {"min_amount_cents": ["value_is_out_of_range"]}),
        ({"min_amount_cents": -1, "pay_in_advance": True}, {"min_amount_cents": ["value_is_out_of_range"]}),
    ],
)
def test_billing_flags(overrides: dict[str, Any], expected: dict[str, list[str]]) -> None:
    assert errors_of(**overrides) == expected


# --- prorated -----------------------------------------------------------------------------------

PRORATED_ERROR = {"prorated": ["invalid_billable_metric_or_charge_model"]}


@pytest.mark.parametrize(
    ("model", "aggregation_type", "recurring", "pay_in_advance", "expected"),
    [
        ("standard", "sum_agg", True, False, {}),
        ("standard", "sum_agg", True, True, {}),
        ("standard", "unique_count_agg", True, True, {}),
        ("volume", "sum_agg", True, False, {}),
        ("graduated", "unique_count_agg", True, False, {}),
        ("graduated", "sum_agg", True, True, PRORATED_ERROR),
        ("package", "sum_agg", True, False, PRORATED_ERROR),
        ("package", "sum_agg", True, True, PRORATED_ERROR),
        ("percentage", "sum_agg", True, False, PRORATED_ERROR),
        ("graduated_percentage", "sum_agg", True, False, PRORATED_ERROR),
        ("dynamic", "sum_agg", True, False, PRORATED_ERROR),
        ("standard", "sum_agg", False, False, PRORATED_ERROR),
        ("standard", "count_agg", False, True, PRORATED_ERROR),
        ("standard", "weighted_sum_agg", True, False, PRORATED_ERROR),
        ("volume", "weighted_sum_agg", True, False, PRORATED_ERROR),
    ],
)
def test_prorated(
    model: str, aggregation_type: str, recurring: bool, pay_in_advance: bool, expected: dict[str, list[str]]
) -> None:
    errors = errors_of(
        charge_model=model,
        properties=VALID_PROPERTIES[model],
        aggregation_type=aggregation_type,
        recurring=recurring,
        pay_in_advance=pay_in_advance,
        prorated=True,
    )
    assert errors == expected


def test_every_rule_is_reported_at_once() -> None:
    errors = errors_of(
        charge_model="volume",
        properties={
            "volume_ranges": [{"from_value": 0, "to_value": 10, "per_unit_amount": 1, "flat_amount": "0"}]
        },
        aggregation_type="max_agg",
        pay_in_advance=True,
        prorated=True,
        invoiceable=True,
        regroup_paid_fees="invoice",
        min_amount_cents=100,
    )
    assert errors == {
        "properties": ["invalid_amount", "invalid_volume_ranges"],
        "pay_in_advance": [INVALID],
        "regroup_paid_fees": [REGROUP_ERROR],
        "prorated": ["invalid_billable_metric_or_charge_model"],
        "min_amount_cents": ["not_compatible_with_pay_in_advance"],
    }


# --- default properties and filtering -----------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("standard", {"amount": "0"}),
        (
            "graduated",
            {
                "graduated_ranges": [
                    {"from_value": 0, "to_value": None, "per_unit_amount": "0", "flat_amount": "0"}
                ]
            },
        ),
        (
            "volume",
            {
                "volume_ranges": [
                    {"from_value": 0, "to_value": None, "per_unit_amount": "0", "flat_amount": "0"}
                ]
            },
        ),
        (
            "graduated_percentage",
            {
                "graduated_percentage_ranges": [
                    {"from_value": 0, "to_value": None, "rate": "0", "fixed_amount": "0", "flat_amount": "0"}
                ]
            },
        ),
        ("package", {"package_size": 1, "amount": "0", "free_units": 0}),
        ("percentage", {"rate": "0"}),
        ("dynamic", {}),
    ],
)
@pytest.mark.parametrize("absent", [None, {}])
def test_default_properties(model: str, expected: dict[str, Any], absent: dict[str, Any] | None) -> None:
    assert validate_charge(spec(charge_model=model, properties=absent)) == (expected, {})


@pytest.mark.parametrize(
    ("model", "given", "expected"),
    [
        ("standard", {"amount": "1", "rate": "2", "package_size": 3, "foo": "bar"}, {"amount": "1"}),
        (
            "package",
            {"amount": "1", "package_size": 2, "free_units": 0, "rate": "5"},
            {"amount": "1", "package_size": 2, "free_units": 0},
        ),
        ("percentage", {"rate": "1", "amount": "3", "graduated_ranges": []}, {"rate": "1"}),
        ("dynamic", {"amount": "1", "pricing_group_keys": ["region"]}, {"pricing_group_keys": ["region"]}),
        ("volume", VALID_PROPERTIES["volume"] | {"amount": "1"}, VALID_PROPERTIES["volume"]),
        # keys present with a null value are kept (and then validated)
        ("percentage", {"rate": "1", "fixed_amount": None}, {"rate": "1", "fixed_amount": None}),
        # prices stay the strings the caller sent
        ("standard", {"amount": "0010.500"}, {"amount": "0010.500"}),
        # custom_properties only belong to custom_agg metrics
        ("standard", {"amount": "1", "custom_properties": {"a": 1}}, {"amount": "1"}),
    ],
)
def test_properties_are_filtered(model: str, given: dict[str, Any], expected: dict[str, Any]) -> None:
    assert validate_charge(spec(charge_model=model, properties=given)) == (expected, {})


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"pricing_group_keys": ["region", "tier"]}, {"pricing_group_keys": ["region", "tier"]}),
        ({"grouped_by": ["region"]}, {"pricing_group_keys": ["region"]}),
        ({"grouped_by": ["region"], "pricing_group_keys": ["tier"]}, {"pricing_group_keys": ["tier"]}),
        ({"grouped_by": ["region"], "pricing_group_keys": []}, {"pricing_group_keys": ["region"]}),
        ({"grouped_by": []}, {}),
        ({"pricing_group_keys": []}, {}),
        ({"pricing_group_keys": None}, {}),
        ({"pricing_group_keys": ["region", ""]}, {"pricing_group_keys": ["region"]}),
        ({"pricing_group_keys": [""]}, {"pricing_group_keys": []}),
        (
            {"presentation_group_keys": [{"value": "region"}]},
            {"presentation_group_keys": [{"value": "region"}]},
        ),
        ({"presentation_group_keys": []}, {}),
    ],
)
@pytest.mark.parametrize("model", CHARGE_MODELS)
def test_grouping_keys_are_kept_for_every_model(
    model: str, given: dict[str, Any], expected: dict[str, Any]
) -> None:
    properties, errors = validate_charge(spec(charge_model=model, properties=VALID_PROPERTIES[model] | given))
    assert errors == {}
    assert properties == VALID_PROPERTIES[model] | expected


def test_custom_agg_metric_keeps_custom_properties() -> None:
    properties, _ = validate_charge(
        spec(aggregation_type="custom_agg", properties={"amount": "1", "custom_properties": '{"ratio": 2}'})
    )
    assert properties == {"custom_properties": {"ratio": 2}, "amount": "1"}
    properties, _ = validate_charge(
        spec(aggregation_type="custom_agg", properties={"amount": "1", "custom_properties": "not json"})
    )
    assert properties["custom_properties"] == {}


def test_normalized_properties_are_a_copy() -> None:
    given = {
        "graduated_ranges": [{"from_value": 0, "to_value": None, "per_unit_amount": "1", "flat_amount": "0"}]
    }
    properties, _ = validate_charge(spec(charge_model="graduated", properties=given))
    properties["graduated_ranges"][0]["per_unit_amount"] = "9"
    assert given["graduated_ranges"][0]["per_unit_amount"] == "1"


def test_properties_must_be_an_object() -> None:
    assert validate_charge(spec(properties=["amount"])) == ({}, {"properties": ["value_is_invalid"]})
    assert validate_properties("standard", "1", aggregation_type="sum_agg") == (
        {},
        {"properties": ["value_is_invalid"]},
    )


# --- amounts ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "valid"),
    [
        ("0", True),
        ("5.12345", True),
        ("100", True),
        ("0.0000001", True),
        ("1e3", True),
        ("-0", True),
        (" 12.5 ", True),
        ("-1", False),
        ("-0.01", False),
        ("abc", False),
        ("", False),
        ("NaN", False),
        ("Infinity", False),
        ("١٢", False),  # non-ASCII digits
        (5, False),  # a JSON number is not a price
        (5.5, False),
        (0, False),
        (True, False),
        (None, False),
        (["1"], False),
    ],
)
def test_amount(amount: Any, valid: bool) -> None:
    assert property_errors("standard", {"amount": amount}) == (
        {} if valid else {"properties": ["invalid_amount"]}
    )


# --- properties per model -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("properties", "expected"),
    [
        ({"amount": "100", "package_size": 1, "free_units": 0}, []),
        ({"amount": "100", "package_size": 10, "free_units": 200}, []),
        ({"amount": 100, "package_size": 10, "free_units": 0}, ["invalid_amount"]),
        ({"amount": "100", "package_size": 0, "free_units": 0}, ["invalid_package_size"]),
        ({"amount": "100", "package_size": -1, "free_units": 0}, ["invalid_package_size"]),
        ({"amount": "100", "package_size": "10", "free_units": 0}, ["invalid_package_size"]),
        ({"amount": "100", "package_size": 10.0, "free_units": 0}, ["invalid_package_size"]),
        ({"amount": "100", "package_size": True, "free_units": 0}, ["invalid_package_size"]),
        ({"amount": "100", "free_units": 0}, ["invalid_package_size"]),
        ({"amount": "100", "package_size": 10, "free_units": -1}, ["invalid_free_units"]),
        ({"amount": "100", "package_size": 10, "free_units": "5"}, ["invalid_free_units"]),
        ({"amount": "100", "package_size": 10}, ["invalid_free_units"]),
        ({}, ["invalid_amount", "invalid_free_units", "invalid_package_size"]),
    ],
)
def test_package(properties: dict[str, Any], expected: list[str]) -> None:
    assert property_errors("package", properties) == ({"properties": expected} if expected else {})


@pytest.mark.parametrize(
    ("properties", "expected"),
    [
        ({"rate": "1.3"}, []),
        ({"rate": "0"}, []),
        (VALID_PROPERTIES["percentage"], []),
        ({"rate": "2.99", "per_transaction_min_amount": "12", "per_transaction_max_amount": "12"}, []),
        ({"rate": "1", "fixed_amount": None, "free_units_per_events": None}, []),
        ({}, ["invalid_rate"]),
        ({"rate": 1.3}, ["invalid_rate"]),
        ({"rate": "-1"}, ["invalid_rate"]),
        ({"rate": "1", "fixed_amount": 2}, ["invalid_fixed_amount"]),
        ({"rate": "1", "fixed_amount": "-2"}, ["invalid_fixed_amount"]),
        ({"rate": "1", "free_units_per_events": 0}, ["invalid_free_units_per_events"]),
        ({"rate": "1", "free_units_per_events": "3"}, ["invalid_free_units_per_events"]),
        ({"rate": "1", "free_units_per_events": 2.5}, ["invalid_free_units_per_events"]),
        (
            {"rate": "1", "free_units_per_total_aggregation": 250},
            ["invalid_free_units_per_total_aggregation"],
        ),
        (
            {"rate": "1", "free_units_per_total_aggregation": "x"},
            ["invalid_free_units_per_total_aggregation"],
        ),
        ({"rate": "1", "per_transaction_min_amount": 1}, ["invalid_amount"]),
        ({"rate": "1", "per_transaction_max_amount": "-12"}, ["invalid_amount"]),
        (
            {"rate": "1", "per_transaction_min_amount": "12", "per_transaction_max_amount": "1.75"},
            ["per_transaction_max_lower_than_per_transaction_min"],
        ),
        (
            {"rate": "1", "per_transaction_min_amount": "x", "per_transaction_max_amount": "1.75"},
            ["invalid_amount"],
        ),
        (
            {
                "rate": None,
                "fixed_amount": "a",
                "free_units_per_events": -1,
                "free_units_per_total_aggregation": "-1",
                "per_transaction_min_amount": "3",
                "per_transaction_max_amount": "2",
            },
            [
                "invalid_rate",
                "invalid_fixed_amount",
                "invalid_free_units_per_events",
                "invalid_free_units_per_total_aggregation",
                "per_transaction_max_lower_than_per_transaction_min",
            ],
        ),
    ],
)
def test_percentage(properties: dict[str, Any], expected: list[str]) -> None:
    assert property_errors("percentage", properties) == ({"properties": expected} if expected else {})


def test_percentage_on_latest_agg_reports_the_metric_first() -> None:
    assert property_errors("percentage", {"rate": "x"}, "latest_agg") == {
        "properties": ["invalid_value", "invalid_rate"]
    }


GRADUATED_RANGES = "invalid_graduated_ranges"


@pytest.mark.parametrize(
    ("properties", "expected"),
    [
        # Lago's classic layout: the next range starts one above the previous end
        (graduated((0, 10), (11, 20), (21, None)), []),
        # adjacent decimal layout: the next range starts at the previous end
        (graduated((0, 0.1), (0.1, 1), (1, None)), []),
        (graduated((0, "0.1"), ("0.1", "1"), ("1", None)), []),
        (graduated((0, 10), (10, 20), (21, None)), []),  # both layouts may be mixed
        (graduated((0, None)), []),
        (graduated((1, 10), (11, None)), []),  # a first range from 1 is tolerated
        (graduated((2, 10), (11, None)), [GRADUATED_RANGES]),
        (graduated((-1, 10), (11, None)), [GRADUATED_RANGES]),
        (graduated((0, 10), (12, None)), [GRADUATED_RANGES]),  # gap
        (graduated((0, 0.1), (0.5, None)), [GRADUATED_RANGES]),  # decimal gap
        (graduated((0, 10), (5, None)), [GRADUATED_RANGES]),  # overlap
        (graduated((0, 10), (9, 20), (21, None)), [GRADUATED_RANGES]),
        (graduated((0, 10)), [GRADUATED_RANGES]),  # last range not open
        (graduated((0, 10), (11, 20)), [GRADUATED_RANGES]),
        (graduated((0, None), (1, None)), [GRADUATED_RANGES]),  # open range before the last
        (graduated((0, 0), (1, None)), [GRADUATED_RANGES]),  # to must exceed from
        (graduated((0, 10), (11, 11), (12, None)), [GRADUATED_RANGES]),
        (graduated((None, None)), [GRADUATED_RANGES]),
        (graduated(("zero", None)), [GRADUATED_RANGES]),
        (graduated((0, "ten"), (11, None)), [GRADUATED_RANGES]),
        ({"graduated_ranges": []}, ["missing_graduated_ranges"]),
        ({"graduated_ranges": None}, ["missing_graduated_ranges"]),
        ({}, ["missing_graduated_ranges"]),
        ({"graduated_ranges": {"from_value": 0}}, [GRADUATED_RANGES]),
        (
            {
                "graduated_ranges": [
                    {"from_value": 0, "to_value": None, "per_unit_amount": 1, "flat_amount": "0"}
                ]
            },
            ["invalid_amount"],
        ),
        (
            {
                "graduated_ranges": [
                    {"from_value": 0, "to_value": None, "per_unit_amount": "0", "flat_amount": "-2"}
                ]
            },
            ["invalid_amount"],
        ),
        ({"graduated_ranges": [{"from_value": 0, "to_value": None}]}, ["invalid_amount"]),
        (
            {
                "graduated_ranges": [
                    {"from_value": 0, "to_value": 0, "per_unit_amount": "1", "flat_amount": "0"},
                    {"from_value": 1, "to_value": None, "per_unit_amount": "x", "flat_amount": "0"},
                ]
            },
            [GRADUATED_RANGES, "invalid_amount"],  # in the order their fields first failed
        ),
        (
            {
                "graduated_ranges": [
                    {"from_value": 0, "to_value": 10, "per_unit_amount": "1", "flat_amount": "0"},
                    {"from_value": 12, "to_value": None, "per_unit_amount": "x", "flat_amount": "0"},
                ]
            },
            ["invalid_amount", GRADUATED_RANGES],
        ),
        ({"graduated_ranges": ["range"]}, ["invalid_amount", GRADUATED_RANGES]),
    ],
)
def test_graduated(properties: dict[str, Any], expected: list[str]) -> None:
    assert property_errors("graduated", properties) == ({"properties": expected} if expected else {})


VOLUME_RANGES = "invalid_volume_ranges"


@pytest.mark.parametrize(
    ("properties", "expected"),
    [
        (volume((0, 100), (101, 200), (201, None)), []),
        (volume((0, None)), []),
        (volume((1, 100), (101, None)), []),
        (volume((0, 0.5), (1.5, None)), []),
        # Lago's volume rule: the next start is the previous end + 1, or + 2
        (volume((0, 100), (102, None)), []),
        (volume((0, 100), (103, None)), [VOLUME_RANGES]),
        (volume((0, 100), (100, None)), [VOLUME_RANGES]),  # adjacent bounds are graduated-only
        (volume((0, 0.1), (0.1, 1), (1, None)), [VOLUME_RANGES]),
        (volume((0, 100), (90, None)), [VOLUME_RANGES]),
        (volume((0, 100), (120, 100)), [VOLUME_RANGES]),
        (volume((-1, 100)), [VOLUME_RANGES]),
        (volume((0, 100)), [VOLUME_RANGES]),
        (volume((0, None), (1, None)), [VOLUME_RANGES]),
        ({"volume_ranges": []}, ["missing_volume_ranges"]),
        ({}, ["missing_volume_ranges"]),
        (
            {
                "volume_ranges": [
                    {"from_value": 0, "to_value": None, "per_unit_amount": "foo", "flat_amount": 0}
                ]
            },
            ["invalid_amount"],
        ),
    ],
)
def test_volume(properties: dict[str, Any], expected: list[str]) -> None:
    assert property_errors("volume", properties) == ({"properties": expected} if expected else {})


PERCENTAGE_RANGES = "invalid_graduated_percentage_ranges"


@pytest.mark.parametrize(
    ("properties", "aggregation_type", "expected"),
    [
        (graduated_percentage((0, 10), (11, 20), (21, None)), "sum_agg", []),
        (graduated_percentage((0, 0.1), (0.1, None)), "sum_agg", []),
        (graduated_percentage((0, 10), (12, None)), "sum_agg", [PERCENTAGE_RANGES]),
        (graduated_percentage((0, 10)), "sum_agg", [PERCENTAGE_RANGES]),
        ({"graduated_percentage_ranges": []}, "sum_agg", ["missing_graduated_percentage_ranges"]),
        ({}, "sum_agg", ["missing_graduated_percentage_ranges"]),
        (
            {
                "graduated_percentage_ranges": [
                    {"from_value": 0, "to_value": None, "rate": 1, "flat_amount": "0"}
                ]
            },
            "sum_agg",
            ["invalid_rate"],
        ),
        (
            {
                "graduated_percentage_ranges": [
                    {"from_value": 0, "to_value": None, "rate": "1", "flat_amount": 5}
                ]
            },
            "sum_agg",
            ["invalid_amount"],
        ),
        (
            {"graduated_percentage_ranges": [{"from_value": 0, "to_value": None}]},
            "sum_agg",
            ["invalid_amount", "invalid_rate"],
        ),
        (graduated_percentage((0, None)), "latest_agg", ["invalid_value"]),
        ({}, "latest_agg", ["invalid_value", "missing_graduated_percentage_ranges"]),
    ],
)
def test_graduated_percentage(properties: dict[str, Any], aggregation_type: str, expected: list[str]) -> None:
    errors = property_errors("graduated_percentage", properties, aggregation_type)
    assert errors == ({"properties": expected} if expected else {})


def test_dynamic_has_no_properties() -> None:
    assert validate_properties("dynamic", {"amount": "x"}, aggregation_type="sum_agg") == ({}, {})


# --- grouping keys ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"pricing_group_keys": "region"}, ["invalid_type"]),
        ({"pricing_group_keys": [1]}, ["invalid_type"]),
        ({"pricing_group_keys": ["region", None]}, ["invalid_type"]),
        ({"pricing_group_keys": ["  "]}, ["invalid_type"]),
        ({"pricing_group_keys": {"a": "b"}}, ["invalid_type"]),
        ({"grouped_by": "region"}, ["invalid_type"]),
        (
            {
                "presentation_group_keys": [
                    {"value": "a", "options": {"display_in_invoice": True}},
                    {"value": "b"},
                ]
            },
            [],
        ),
        ({"presentation_group_keys": [{"value": "a", "options": {"display_in_invoice": False}}]}, []),
        ({"presentation_group_keys": "region"}, ["invalid_type"]),
        ({"presentation_group_keys": ["region"]}, ["invalid_type"]),
        ({"presentation_group_keys": [{"value": ""}]}, ["invalid_type"]),
        ({"presentation_group_keys": [{"value": 1}]}, ["invalid_type"]),
        ({"presentation_group_keys": [{"options": {"display_in_invoice": True}}]}, ["invalid_type"]),
        ({"presentation_group_keys": [{"value": "a", "label": "A"}]}, ["invalid_type"]),
        (
            {"presentation_group_keys": [{"value": "a", "options": {"display_in_invoice": "yes"}}]},
            ["invalid_type"],
        ),
        ({"presentation_group_keys": [{"value": "a", "options": {}}]}, ["invalid_type"]),
        (
            {"presentation_group_keys": [{"value": "a", "options": {"display_in_invoice": True, "x": 1}}]},
            ["invalid_type"],
        ),
        ({"presentation_group_keys": [{"value": "a"}, {"value": "b"}, {"value": "c"}]}, ["too_many_keys"]),
        ({"presentation_group_keys": [{"value": "a"}, {"value": "a"}]}, ["value_is_duplicated"]),
        # entries are read up to the first malformed one, as Lago does
        (
            {"presentation_group_keys": [{"value": "a"}, {"bad": 1}, {"value": "a"}]},
            ["invalid_type", "too_many_keys"],
        ),
        (
            {"presentation_group_keys": [{"value": "a"}, {"value": "a", "x": 1}, {"value": "c"}]},
            ["invalid_type", "too_many_keys", "value_is_duplicated"],
        ),
        (
            {"pricing_group_keys": [1], "presentation_group_keys": "x", "amount": "-1"},
            ["invalid_amount", "invalid_type"],
        ),
    ],
)
def test_grouping_keys(given: dict[str, Any], expected: list[str]) -> None:
    errors = validate_charge(spec(properties={"amount": "1"} | given))[1]
    assert errors == ({"properties": expected} if expected else {})


# --- charge filter properties -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "given", "expected_properties", "expected_errors"),
    [
        ("standard", {"amount": "2", "rate": "1"}, {"amount": "2"}, {}),
        # no default properties for a filter: absent properties are checked as {}
        ("standard", None, {}, {"properties": ["invalid_amount"]}),
        ("graduated", None, {}, {"properties": ["missing_graduated_ranges"]}),
        ("dynamic", None, {}, {}),
        # presentation_group_keys belong to the charge, never to a filter
        ("standard", {"amount": "2", "presentation_group_keys": [{"value": "a"}]}, {"amount": "2"}, {}),
        ("standard", {"amount": "2", "grouped_by": ["a"]}, {"amount": "2", "pricing_group_keys": ["a"]}, {}),
        ("volume", volume((0, 10), (10, None)), volume((0, 10), (10, None)), {"properties": [VOLUME_RANGES]}),
        (
            "package",
            {"amount": "1"},
            {"amount": "1"},
            {"properties": ["invalid_free_units", "invalid_package_size"]},
        ),
    ],
)
def test_filter_properties(
    model: str, given: Any, expected_properties: dict[str, Any], expected_errors: dict[str, list[str]]
) -> None:
    assert validate_properties(model, given, aggregation_type="sum_agg") == (
        expected_properties,
        expected_errors,
    )


def test_filter_properties_know_the_metric() -> None:
    assert property_errors("percentage", {"rate": "1"}, "latest_agg") == {"properties": ["invalid_value"]}


@pytest.mark.parametrize("model", ["custom", "tiered"])
def test_filter_of_an_unsupported_model_keeps_only_grouping_keys(model: str) -> None:
    # the charge itself is refused by validate_charge; the filter adds no error of its own
    given = {"amount": "x", "pricing_group_keys": ["region"]}
    assert validate_properties(model, given, aggregation_type="sum_agg") == (
        {"pricing_group_keys": ["region"]},
        {},
    )
    assert validate_properties(model, {"pricing_group_keys": "region"}, aggregation_type="sum_agg") == (
        {"pricing_group_keys": "region"},
        {"properties": ["invalid_type"]},
    )


def test_unknown_aggregation_type_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        validate_charge(spec(aggregation_type="recurring_count_agg"))
    with pytest.raises(ValueError):
        validate_properties("standard", {"amount": "1"}, aggregation_type="nope")
