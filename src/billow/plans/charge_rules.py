"""Which charges Lago accepts, and how their ``properties`` are normalized before they are stored.

Pure functions: no database, no clock, no I/O. The plans endpoints call :func:`validate_charge` for a charge
and :func:`validate_properties` for the properties of one of its filters, then raise
``ValidationFailed(error_details)`` when the details are not empty.

Shape of the errors, as Lago puts them on the wire:

* rules about the charge itself are keyed by the charge field (``pay_in_advance``, ``prorated``,
  ``invoiceable``, ``regroup_paid_fees``, ``min_amount_cents``, ``charge_model``);
* every problem found inside ``properties`` is reported under the single key ``"properties"``
  (``{"properties": ["invalid_amount", "invalid_graduated_ranges"]}``): Lago validates the properties
  field by field and then files every code under ``properties``, in field order. Billow drops repeats.

Normalization (Lago's filtering of properties): keys that do not belong to the charge model are dropped,
the legacy ``grouped_by`` becomes ``pricing_group_keys``, and prices stay the strings the caller sent.
A charge sent without properties gets the model's default properties; a filter does not.

Prices are decimal **strings** ``>= 0``; a JSON number is refused (``invalid_amount``), exactly as Lago
refuses any non-string so that no float ever reaches a price. Beyond Lago, prices, range bounds and
quantities are bounded (:mod:`billow.kit.limits`): a value past its bound gets the code of a malformed one.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeGuard

from billow.errors import Errors
from billow.kit.limits import MAX_QUANTITY, is_price, is_quantity, parse_decimal_text
from billow.models.billable_metrics import PAYABLE_IN_ADVANCE_AGGREGATIONS, AggregationType
from billow.pricing import ChargeModel

CHARGE_MODELS: tuple[str, ...] = tuple(ChargeModel)
# Lago's seventh model needs a ``custom_agg`` metric (a sandboxed script), which Billow does not run.
CUSTOM_MODEL = "custom"

AGGREGATION_TYPES: tuple[str, ...] = tuple(AggregationType)
REGROUP_PAID_FEES_OPTIONS = frozenset({"invoice"})

# Properties each model keeps; anything else is dropped. The grouping keys are kept for every model.
MODEL_PROPERTY_KEYS: Mapping[str, tuple[str, ...]] = {
    "standard": ("amount",),
    "graduated": ("graduated_ranges",),
    "graduated_percentage": ("graduated_percentage_ranges",),
    "package": ("amount", "free_units", "package_size"),
    "percentage": (
        "fixed_amount",
        "free_units_per_events",
        "free_units_per_total_aggregation",
        "per_transaction_max_amount",
        "per_transaction_min_amount",
        "rate",
    ),
    "volume": ("volume_ranges",),
    "dynamic": (),
    CUSTOM_MODEL: (),
}


@dataclass(frozen=True)
class ChargeSpec:
    charge_model: str | None
    properties: Mapping[str, Any] | None
    aggregation_type: str  # of the billable metric
    recurring: bool  # of the billable metric
    pay_in_advance: bool
    prorated: bool
    invoiceable: bool
    regroup_paid_fees: str | None  # None or "invoice"
    min_amount_cents: int


def validate_charge(spec: ChargeSpec) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """(normalized properties, error_details). error_details is {} when valid.

    The rules run in the order Lago declares them, so each field lists its codes in Lago's order.
    """
    _check_aggregation_type(spec.aggregation_type)
    model = spec.charge_model or None
    errors = Errors()

    if model not in CHARGE_MODELS and model != CUSTOM_MODEL:
        errors.add("charge_model", "value_is_invalid")

    if spec.properties is not None and not isinstance(spec.properties, Mapping):
        errors.add("properties", "value_is_invalid")
        properties: dict[str, Any] = {}
    else:
        if spec.properties is not None and _present(spec.properties):
            source: Mapping[str, Any] = spec.properties
        else:
            source = _default_properties(model)
        properties = _filter_properties(model, source, spec.aggregation_type, keep_presentation=True)
        if model is not None:
            for code in _property_codes(model, properties, spec.aggregation_type):
                errors.add("properties", code)

    if model == "dynamic" and spec.aggregation_type != AggregationType.SUM:
        errors.add("charge_model", "invalid_aggregation_type_or_charge_model")
    if spec.min_amount_cents < 0:
        errors.add("min_amount_cents", "value_is_out_of_range")
    if model is None:
        errors.add("charge_model", "value_is_mandatory")
    if spec.pay_in_advance and not _payable_in_advance(spec, model):
        errors.add("pay_in_advance", "invalid_aggregation_type_or_charge_model")
    _check_regroup_paid_fees(spec, errors)
    if spec.prorated and not _prorated_allowed(spec, model):
        errors.add("prorated", "invalid_billable_metric_or_charge_model")
    if spec.pay_in_advance and spec.min_amount_cents > 0:
        errors.add("min_amount_cents", "not_compatible_with_pay_in_advance")
    if model == CUSTOM_MODEL:
        # Lago accepts it with a custom_agg metric; Billow has no custom aggregation, so never.
        errors.add("charge_model", "invalid_aggregation_type_or_charge_model")
    if not spec.pay_in_advance and not spec.invoiceable:
        errors.add("invoiceable", "must_be_true_unless_pay_in_advance")

    return properties, errors.details


def validate_properties(
    charge_model: str, properties: Mapping[str, Any] | None, *, aggregation_type: str
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Properties only (used for a charge filter's own properties).

    As Lago does for filters: no default properties (absent properties are validated as ``{}``) and no
    ``presentation_group_keys`` (those belong to the charge). ``charge_model`` is the charge's; when it is
    not a supported model (``validate_charge`` reports that) only the grouping keys are kept and checked.
    """
    _check_aggregation_type(aggregation_type)
    if properties is not None and not isinstance(properties, Mapping):
        return {}, {"properties": ["value_is_invalid"]}

    normalized = _filter_properties(charge_model, properties or {}, aggregation_type, keep_presentation=False)
    codes = _property_codes(charge_model, normalized, aggregation_type)
    return normalized, ({"properties": codes} if codes else {})


# --- charge-level rules -------------------------------------------------------------------------


def _check_aggregation_type(aggregation_type: str) -> None:
    if aggregation_type not in AGGREGATION_TYPES:
        raise ValueError(f"unknown aggregation type: {aggregation_type!r}")


def _check_regroup_paid_fees(spec: ChargeSpec, errors: Errors) -> None:
    """Regrouping paid fees into an invoice only makes sense for fees paid in advance without an invoice."""
    if spec.regroup_paid_fees is None:
        return
    if spec.regroup_paid_fees not in REGROUP_PAID_FEES_OPTIONS:
        errors.add("regroup_paid_fees", "value_is_invalid")
    elif not (spec.pay_in_advance and not spec.invoiceable):
        errors.add("regroup_paid_fees", "only_compatible_with_pay_in_advance_and_non_invoiceable")


def _payable_in_advance(spec: ChargeSpec, model: str | None) -> bool:
    """Billed event by event: never volume (priced on the period total), only additive metrics."""
    return model != "volume" and spec.aggregation_type in PAYABLE_IN_ADVANCE_AGGREGATIONS


def _prorated_allowed(spec: ChargeSpec, model: str | None) -> bool:
    """Proration needs a recurring metric: standard in advance; standard, volume or graduated in arrears.

    Never with ``weighted_sum_agg``, whose aggregation already weights by time.
    """
    if spec.aggregation_type == AggregationType.WEIGHTED_SUM or not spec.recurring:
        return False
    if spec.pay_in_advance:
        return model == "standard"
    return model in ("standard", "volume", "graduated")


# --- normalization ------------------------------------------------------------------------------


def _default_properties(model: str | None) -> dict[str, Any]:
    """Lago's properties for a charge created without any."""

    def open_range(**prices: str) -> dict[str, Any]:
        return {"from_value": 0, "to_value": None, **prices}

    if model == "standard":
        return {"amount": "0"}
    if model == "graduated":
        return {"graduated_ranges": [open_range(per_unit_amount="0", flat_amount="0")]}
    if model == "volume":
        return {"volume_ranges": [open_range(per_unit_amount="0", flat_amount="0")]}
    if model == "graduated_percentage":
        ranges = [open_range(rate="0", fixed_amount="0", flat_amount="0")]
        return {"graduated_percentage_ranges": ranges}
    if model == "package":
        return {"package_size": 1, "amount": "0", "free_units": 0}
    if model == "percentage":
        return {"rate": "0"}
    return {}


def _filter_properties(
    model: str | None, source: Mapping[str, Any], aggregation_type: str, *, keep_presentation: bool
) -> dict[str, Any]:
    """Keep what the model uses (a deep copy), plus the grouping keys; map ``grouped_by``."""
    keys: list[str] = ["custom_properties"] if aggregation_type == AggregationType.CUSTOM else []
    if model is not None:
        keys += MODEL_PROPERTY_KEYS.get(model, ())
    kept = {key: copy.deepcopy(source[key]) for key in keys if key in source}

    custom = kept.get("custom_properties")
    if isinstance(custom, str) and _present(custom):
        kept["custom_properties"] = _parse_json(custom)  # sent as a JSON string; unreadable → {}

    if model is None:
        return kept

    group_keys = source.get("pricing_group_keys")
    if not _present(group_keys) and _present(source.get("grouped_by")):
        group_keys = source["grouped_by"]  # legacy name
    if _present(group_keys):
        group_keys = copy.deepcopy(group_keys)
        if isinstance(group_keys, list):
            group_keys = [key for key in group_keys if key != ""]
        kept["pricing_group_keys"] = group_keys

    if keep_presentation and _present(source.get("presentation_group_keys")):
        kept["presentation_group_keys"] = copy.deepcopy(source["presentation_group_keys"])
    return kept


def _parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return {}


# --- properties, one validator per model ----------------------------------------------------------
#
# Each validator files codes by Lago's field name (``amount``, ``graduated_ranges``, ``rate``...);
# ``_property_codes`` then flattens them, field by field, as Lago does.

PropertiesValidator = Callable[[Mapping[str, Any], Errors, str], None]


def _property_codes(model: str, properties: Mapping[str, Any], aggregation_type: str) -> list[str]:
    errors = Errors()
    validator = _VALIDATORS.get(model)
    if validator is not None:
        validator(properties, errors, aggregation_type)
    _check_pricing_group_keys(properties, errors)
    _check_presentation_group_keys(properties, errors)

    codes: list[str] = []
    for field_codes in errors.details.values():
        codes += [code for code in field_codes if code not in codes]
    return codes


def _check_standard(properties: Mapping[str, Any], errors: Errors, aggregation_type: str) -> None:
    if not _is_amount(properties.get("amount")):
        errors.add("amount", "invalid_amount")


def _check_package(properties: Mapping[str, Any], errors: Errors, aggregation_type: str) -> None:
    if not _is_amount(properties.get("amount")):
        errors.add("amount", "invalid_amount")
    free_units = properties.get("free_units")
    if not (_is_int(free_units) and free_units >= 0):
        errors.add("free_units", "invalid_free_units")
    package_size = properties.get("package_size")
    if not (_is_int(package_size) and package_size > 0):
        errors.add("package_size", "invalid_package_size")


def _check_percentage(properties: Mapping[str, Any], errors: Errors, aggregation_type: str) -> None:
    if aggregation_type == AggregationType.LATEST:
        errors.add("billable_metric", "invalid_value")
    if not _is_amount(properties.get("rate")):
        errors.add("rate", "invalid_rate")

    fixed_amount = properties.get("fixed_amount")
    if fixed_amount is not None and not _is_amount(fixed_amount):
        errors.add("fixed_amount", "invalid_fixed_amount")
    per_events = properties.get("free_units_per_events")
    if per_events is not None and not (_is_int(per_events) and per_events > 0):
        errors.add("free_units_per_events", "invalid_free_units_per_events")
    per_total = properties.get("free_units_per_total_aggregation")
    if per_total is not None and not _is_amount(per_total):
        errors.add("free_units_per_total_aggregation", "invalid_free_units_per_total_aggregation")

    minimum = properties.get("per_transaction_min_amount")
    maximum = properties.get("per_transaction_max_amount")
    if minimum is not None and not _is_amount(minimum):
        errors.add("per_transaction_min_amount", "invalid_amount")
    if maximum is not None and not _is_amount(maximum):
        errors.add("per_transaction_max_amount", "invalid_amount")
    if _is_amount(minimum) and _is_amount(maximum) and Decimal(minimum) > Decimal(maximum):
        errors.add("per_transaction_max_amount", "per_transaction_max_lower_than_per_transaction_min")


def _check_graduated(properties: Mapping[str, Any], errors: Errors, aggregation_type: str) -> None:
    _check_ranges(
        properties.get("graduated_ranges"),
        errors,
        field="graduated_ranges",
        next_from_offset=Decimal(0),
        check_prices=_check_unit_and_flat_amounts,
    )


def _check_volume(properties: Mapping[str, Any], errors: Errors, aggregation_type: str) -> None:
    _check_ranges(
        properties.get("volume_ranges"),
        errors,
        field="volume_ranges",
        next_from_offset=Decimal(1),
        check_prices=_check_unit_and_flat_amounts,
    )


def _check_graduated_percentage(properties: Mapping[str, Any], errors: Errors, aggregation_type: str) -> None:
    if aggregation_type == AggregationType.LATEST:
        errors.add("billable_metric", "invalid_value")
    _check_ranges(
        properties.get("graduated_percentage_ranges"),
        errors,
        field="graduated_percentage_ranges",
        next_from_offset=Decimal(0),
        check_prices=_check_flat_amount_and_rate,
    )


def _check_dynamic(properties: Mapping[str, Any], errors: Errors, aggregation_type: str) -> None:
    """The price comes with each event (``precise_total_amount_cents``): nothing to check here."""


_VALIDATORS: Mapping[str, PropertiesValidator] = {
    "standard": _check_standard,
    "graduated": _check_graduated,
    "graduated_percentage": _check_graduated_percentage,
    "package": _check_package,
    "percentage": _check_percentage,
    "volume": _check_volume,
    "dynamic": _check_dynamic,
}


# --- ranges -------------------------------------------------------------------------------------


def _check_unit_and_flat_amounts(tier: Mapping[str, Any], errors: Errors) -> None:
    if not _is_amount(tier.get("per_unit_amount")):
        errors.add("per_unit_amount", "invalid_amount")
    if not _is_amount(tier.get("flat_amount")):
        errors.add("flat_amount", "invalid_amount")


def _check_flat_amount_and_rate(tier: Mapping[str, Any], errors: Errors) -> None:
    if not _is_amount(tier.get("flat_amount")):
        errors.add("flat_amount", "invalid_amount")
    if not _is_amount(tier.get("rate")):
        errors.add("rate", "invalid_rate")


def _check_ranges(
    ranges: Any,
    errors: Errors,
    *,
    field: str,
    next_from_offset: Decimal,
    check_prices: Callable[[Mapping[str, Any], Errors], None],
) -> None:
    """Lago's tier layout, for ``graduated_ranges``, ``graduated_percentage_ranges`` and ``volume_ranges``.

    The first range starts at 0 (1 tolerated); the last one is open (``to_value`` null); the others end
    above their start. Each next range starts at ``expected`` or ``expected + 1``, where ``expected`` is
    the previous ``to_value`` (+ ``next_from_offset``: 0 for graduated, whose ranges may share a bound,
    ``0-0.1, 0.1-1, 1-∞``; 1 for volume, whose ranges may not).
    """
    if not _present(ranges):
        errors.add(field, f"missing_{field}")
        return
    if not isinstance(ranges, list):
        errors.add(field, f"invalid_{field}")
        return

    expected: Decimal | None = Decimal(0)
    for index, tier in enumerate(ranges):
        tier = tier if isinstance(tier, Mapping) else {}
        check_prices(tier, errors)

        start = _bound(tier.get("from_value"))
        raw_end = tier.get("to_value")
        end = Decimal(0) if raw_end is None else _bound(raw_end)
        is_last = index == len(ranges) - 1
        if not _bounds_ok(start, end, open_ended=raw_end is None, is_last=is_last, expected=expected):
            errors.add(field, f"invalid_{field}")

        expected = None if end is None else end + next_from_offset


def _bounds_ok(
    start: Decimal | None, end: Decimal | None, *, open_ended: bool, is_last: bool, expected: Decimal | None
) -> bool:
    if start is None or expected is None or start not in (expected, expected + 1):
        return False
    if is_last:
        return open_ended
    return end is not None and end > start


# --- grouping keys ------------------------------------------------------------------------------


def _check_pricing_group_keys(properties: Mapping[str, Any], errors: Errors) -> None:
    """A list of non-blank strings (empty or absent is fine)."""
    keys = properties.get("pricing_group_keys")
    if keys is None or keys == []:
        return
    if not (isinstance(keys, list) and all(isinstance(key, str) and _present(key) for key in keys)):
        errors.add("pricing_group_keys", "invalid_type")


def _check_presentation_group_keys(properties: Mapping[str, Any], errors: Errors) -> None:
    """At most two ``{"value": str, "options": {"display_in_invoice": bool}}`` with distinct values.

    As Lago, the entries are read up to the first malformed one: duplicates are looked for among the
    values read so far.
    """
    entries = properties.get("presentation_group_keys")
    if not _present(entries):
        return
    if not isinstance(entries, list):
        errors.add("presentation_group_keys", "invalid_type")
        return

    values: list[str] = []
    for entry in entries:
        value = entry.get("value") if isinstance(entry, Mapping) else None
        if isinstance(value, str) and _present(value):
            values.append(value)
        if not _is_presentation_entry(entry):
            errors.add("presentation_group_keys", "invalid_type")
            break
    if len(entries) > 2:
        errors.add("presentation_group_keys", "too_many_keys")
    if len(values) != len(set(values)):
        errors.add("presentation_group_keys", "value_is_duplicated")


def _is_presentation_entry(entry: Any) -> bool:
    if not isinstance(entry, Mapping) or not set(entry) <= {"value", "options"}:
        return False
    value = entry.get("value")
    if not (isinstance(value, str) and _present(value)):
        return False
    if "options" not in entry:
        return True
    options = entry["options"]
    return (
        isinstance(options, Mapping)
        and list(options) == ["display_in_invoice"]
        and isinstance(options["display_in_invoice"], bool)
    )


# --- scalar checks ------------------------------------------------------------------------------


def _present(value: Any) -> bool:
    """Ruby's ``present?``: not None/False, not a blank string, not an empty collection."""
    if value is None or value is False:
        return False
    if isinstance(value, str):
        return value.strip() != ""
    if isinstance(value, Mapping | list | tuple):
        return len(value) > 0
    return True


def _is_int(value: Any) -> TypeGuard[int]:
    """An integer quantity (``free_units``, ``package_size``...): a JSON integer up to ``MAX_QUANTITY``."""
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) <= MAX_QUANTITY


def _is_amount(value: Any) -> TypeGuard[str]:
    """A price: a string holding a decimal in ``[0, MAX_PRICE]`` with at most 15 decimals
    (:mod:`billow.kit.limits`). Numbers are refused, never coerced; ``"1e400"``, ``"NaN"`` too."""
    return is_price(value)


def _bound(value: Any) -> Decimal | None:
    """A range bound: a JSON number or a numeric string (Lago reads both), within ``[0, MAX_QUANTITY]``
    with at most 15 decimals; None otherwise."""
    number: Decimal | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = Decimal(value)
    elif isinstance(value, float | Decimal):
        number = parse_decimal_text(repr(value) if isinstance(value, float) else str(value))
    elif isinstance(value, str):
        number = parse_decimal_text(value)
    return number if number is not None and is_quantity(number) else None
