"""A plan form's charges: the form fields of one charge <-> the API's ``ChargeInput`` properties, and
the live price calculator.

A charge's fields are named ``charges-<i>-<field>`` (``<i>`` any number, unique in the form) and its
tiers ``charges-<i>-tiers-<j>-<field>``. Prices stay the strings typed; whole numbers (range bounds,
package size, free units) become ``int`` as the API's JSON carries them. The calculator prices N units
with :func:`billow.pricing.price`, the function billing uses, after the properties pass
:func:`billow.plans.charge_rules.validate_properties`, the rule the plans service applies.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from starlette.datastructures import FormData

from billow.dashboard.catalog_forms import number
from billow.kit.money import to_minor_units
from billow.plans.charge_rules import validate_properties
from billow.pricing import Aggregation, price
from billow.pricing.percentage import running_totals

#: The models the dashboard edits, in the order offered.
MODELS: tuple[str, ...] = ("standard", "graduated", "volume", "package", "percentage", "graduated_percentage")
#: Models priced by tiers, and their properties key.
TIERED = {
    "graduated": "graduated_ranges",
    "volume": "volume_ranges",
    "graduated_percentage": "graduated_percentage_ranges",
}
#: Single-value properties per model (besides tiers).
SCALARS: dict[str, tuple[str, ...]] = {
    "standard": ("amount",),
    "package": ("amount", "package_size", "free_units"),
    "percentage": (
        "rate",
        "fixed_amount",
        "free_units_per_events",
        "free_units_per_total_aggregation",
        "per_transaction_min_amount",
        "per_transaction_max_amount",
    ),
}
#: Properties that are whole numbers in Lago's JSON.
WHOLE = frozenset({"package_size", "free_units", "free_units_per_events", "from_value", "to_value"})
TIER_FIELDS = ("from_value", "to_value", "per_unit_amount", "rate", "flat_amount")

_CHARGE_FIELD = re.compile(r"^charges-(\d+)-charge_model$")


@dataclass
class ChargeForm:
    index: int
    id: str = ""
    billable_metric_id: str = ""
    charge_model: str = "standard"
    pay_in_advance: bool = False
    remove: bool = False
    scalars: dict[str, str] = field(default_factory=dict)
    tiers: list[dict[str, str]] = field(default_factory=list)
    #: error codes of the properties (``validate_properties``), shown in the charge
    errors: list[str] = field(default_factory=list)

    @property
    def prefix(self) -> str:
        return f"charges-{self.index}-"

    def properties(self) -> dict[str, Any]:
        model = self.charge_model
        if model in TIERED:
            price_key = "rate" if model == "graduated_percentage" else "per_unit_amount"
            ranges = []
            for tier in self.tiers:
                ranges.append(
                    {
                        "from_value": _value("from_value", tier.get("from_value")) or 0,
                        "to_value": _value("to_value", tier.get("to_value")),
                        price_key: tier.get(price_key) or "0",
                        "flat_amount": tier.get("flat_amount") or "0",
                    }
                )
            return {TIERED[model]: ranges}
        found = {name: _value(name, self.scalars.get(name)) for name in SCALARS.get(model, ())}
        return {name: value for name, value in found.items() if value is not None}

    def as_input(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "billable_metric_id": self.billable_metric_id or None,
            "charge_model": self.charge_model,
            "pay_in_advance": self.pay_in_advance,
            "properties": self.properties(),
        }
        if self.id:
            payload["id"] = self.id
        return payload


def _value(name: str, text: str | None) -> Any:
    if text is None or not text.strip():
        return None
    return number(text.strip()) if name in WHOLE else text.strip()


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def indexes(form: FormData) -> list[int]:
    """The charges present in the form, in their order of index."""
    found = {int(match.group(1)) for key in form if (match := _CHARGE_FIELD.match(key))}
    return sorted(found)


def read_charge(form: FormData, index: int) -> ChargeForm:
    prefix = f"charges-{index}-"
    charge = ChargeForm(
        index=index,
        id=_text(form, prefix + "id"),
        billable_metric_id=_text(form, prefix + "billable_metric_id"),
        charge_model=_text(form, prefix + "charge_model") or "standard",
        pay_in_advance=form.get(prefix + "pay_in_advance") == "on",
        remove=form.get(prefix + "remove") == "on",
    )
    charge.scalars = {name: _text(form, prefix + name) for names in SCALARS.values() for name in names}
    tier_indexes = sorted(
        {
            int(match.group(1))
            for key in form
            if (match := re.match(rf"^{re.escape(prefix)}tiers-(\d+)-from_value$", key))
        }
    )
    charge.tiers = [
        {name: _text(form, f"{prefix}tiers-{j}-{name}") for name in TIER_FIELDS} for j in tier_indexes
    ]
    return charge


def new_charge(index: int, charge_model: str = "standard") -> ChargeForm:
    charge = ChargeForm(index=index, charge_model=charge_model)
    if charge_model in TIERED:
        charge.tiers = [{"from_value": "0", "to_value": "", "flat_amount": "0"}]
    return charge


def switch_model(charge: ChargeForm, charge_model: str) -> None:
    """The model changed: a tiered model gets a first open tier if it has none."""
    charge.charge_model = charge_model
    if charge_model in TIERED and not charge.tiers:
        charge.tiers = [{"from_value": "0", "to_value": "", "flat_amount": "0"}]


def add_tier(charge: ChargeForm) -> None:
    """A tier after the last: it starts above the last one's end (which was open: it gets one)."""
    if not charge.tiers:
        charge.tiers.append({"from_value": "0", "to_value": "", "flat_amount": "0"})
        return
    last = charge.tiers[-1]
    start = _int(last.get("to_value"))
    if start is None:
        start = (_int(last.get("from_value")) or 0) + 100
        last["to_value"] = str(start)
    charge.tiers.append({"from_value": str(start + 1), "to_value": "", "flat_amount": "0"})


def remove_tier(charge: ChargeForm, position: int) -> None:
    if 0 <= position < len(charge.tiers) and len(charge.tiers) > 1:
        del charge.tiers[position]


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text else None
    except ValueError:
        return None


def from_properties(
    index: int,
    charge_id: str,
    metric_id: str,
    model: str,
    pay_in_advance: bool,
    properties: Mapping[str, Any],
) -> ChargeForm:
    """A stored charge as its form."""
    charge = ChargeForm(
        index=index,
        id=charge_id,
        billable_metric_id=metric_id,
        charge_model=model,
        pay_in_advance=pay_in_advance,
    )
    for name in SCALARS.get(model, ()):
        value = properties.get(name)
        charge.scalars[name] = "" if value is None else str(value)
    if model in TIERED:
        charge.tiers = [
            {name: "" if tier.get(name) is None else str(tier.get(name)) for name in TIER_FIELDS}
            for tier in properties.get(TIERED[model]) or []
        ]
    return charge


def check(charge: ChargeForm, aggregation_type: str) -> dict[str, Any]:
    """The normalized properties; their error codes go to ``charge.errors``."""
    normalized, problems = validate_properties(
        charge.charge_model, charge.properties(), aggregation_type=aggregation_type
    )
    charge.errors = list(problems.get("properties", []))
    return normalized


@dataclass(frozen=True)
class Quote:
    units: Decimal
    amount_cents: int
    #: per tier (graduated, graduated percentage): Lago's amount_details rows
    tiers: list[dict[str, Any]]
    #: the other models' amount_details (volume: the matched tier's flat and per-unit amounts)
    details: dict[str, Any]


def calculate(charge: ChargeForm, aggregation_type: str, units_text: str, currency: str) -> Quote | None:
    """What ``units`` cost under the charge, as one event of that many units in a period; ``None`` with
    ``charge.errors`` set when the properties or the units are not valid."""
    normalized = check(charge, aggregation_type)
    try:
        units = Decimal(units_text)
    except (InvalidOperation, ValueError):
        units = Decimal(-1)
    if not units.is_finite() or units < 0:
        charge.errors.append("units_is_invalid")
    if charge.errors:
        return None
    events = (units,)
    aggregation = Aggregation(
        units=units,
        events_count=1,
        event_values=events,
        running_totals=running_totals(normalized, events) if charge.charge_model == "percentage" else (),
    )
    try:
        result = price(charge.charge_model, normalized, aggregation, currency=currency)
    except ValueError:
        charge.errors.append("value_is_invalid")
        return None
    details = result.amount_details
    tiers = list(details.get(TIERED.get(charge.charge_model, ""), []) or [])
    flat = {key: value for key, value in details.items() if not isinstance(value, list | dict)}
    return Quote(units=units, amount_cents=to_minor_units(result.amount, currency), tiers=tiers, details=flat)
