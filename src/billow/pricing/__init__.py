"""The pricing engine: what do N units cost under a charge model? Pure functions over ``Decimal``.

    price(charge_model, properties, aggregation, currency=...)                 -> ChargeAmount
    price_in_advance(charge_model, properties, before, after, currency=...)    -> ChargeAmount
    unit_amount(amount, units)                                                 -> Decimal (15 decimals)

``properties`` are a charge's (or a charge filter's) validated properties, prices as decimal strings.
Amounts come back in currency units, unrounded; round once per fee with
``billow.kit.money.to_minor_units``. Models: standard, graduated, graduated_percentage, package,
percentage, volume, dynamic (Lago's ``custom`` model is not supported). An unknown model, missing or
malformed properties, or an unknown currency raise ``ValueError``.

Fees are never negative: as Lago does when it builds a fee, a result with negative units or a negative
amount becomes 0 units, 0 amount, 0 unit amount (its amount_details are kept as computed).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal, localcontext
from typing import Any

from billow.kit.currency import exponent
from billow.kit.money import round_to_currency
from billow.pricing import (
    dynamic,
    graduated,
    graduated_percentage,
    package,
    percentage,
    standard,
    volume,
)
from billow.pricing._common import CONTEXT, UNIT_AMOUNT_QUANTUM, ZERO, dec, per_unit
from billow.pricing.types import Aggregation, ChargeAmount, ChargeModel

__all__ = [
    "CHARGE_MODELS",
    "CONTEXT",
    "IN_ADVANCE_CHARGE_MODELS",
    "UNIT_AMOUNT_QUANTUM",
    "Aggregation",
    "ChargeAmount",
    "ChargeModel",
    "price",
    "price_in_advance",
    "unit_amount",
]

_Model = Callable[..., ChargeAmount]

_MODELS: dict[str, _Model] = {
    ChargeModel.STANDARD: standard.compute,
    ChargeModel.GRADUATED: graduated.compute,
    ChargeModel.GRADUATED_PERCENTAGE: graduated_percentage.compute,
    ChargeModel.PACKAGE: package.compute,
    ChargeModel.PERCENTAGE: percentage.compute,
    ChargeModel.VOLUME: volume.compute,
    ChargeModel.DYNAMIC: dynamic.compute,
}

CHARGE_MODELS = frozenset(ChargeModel)
# Volume prices all units at the tier of the total, which a per-event fee cannot do (Lago refuses it too).
IN_ADVANCE_CHARGE_MODELS = CHARGE_MODELS - {ChargeModel.VOLUME}

# Lago reports what one event added for these models only; the others' pay-in-advance fees have {}.
_IN_ADVANCE_DETAILS: dict[str, Callable[[Mapping[str, Any], Mapping[str, Any]], dict[str, Any]]] = {
    ChargeModel.PERCENTAGE: percentage.in_advance_details,
    ChargeModel.GRADUATED_PERCENTAGE: graduated_percentage.in_advance_details,
}


def _model(charge_model: str, allowed: frozenset[str]) -> _Model:
    if charge_model not in allowed:
        if charge_model in CHARGE_MODELS:
            raise ValueError(f"charge model {charge_model!r} cannot be priced in advance")
        raise ValueError(f"unknown charge model {charge_model!r}")
    return _MODELS[charge_model]


def _never_negative(result: ChargeAmount) -> ChargeAmount:
    if result.units < 0 or result.amount < 0:
        return ChargeAmount(amount=ZERO, units=ZERO, unit_amount=ZERO, amount_details=result.amount_details)
    return result


def price(
    charge_model: str, properties: Mapping[str, Any], aggregation: Aggregation, *, currency: str
) -> ChargeAmount:
    """The amount of a period's (or a current usage's) fee for ``aggregation.units``."""
    model = _model(charge_model, CHARGE_MODELS)
    exponent(currency)  # ValueError on an unknown currency, whatever the model
    with localcontext(CONTEXT):
        return _never_negative(model(properties, aggregation, currency=currency))


def price_in_advance(
    charge_model: str,
    properties: Mapping[str, Any],
    before: Aggregation,
    after: Aggregation,
    *,
    currency: str,
) -> ChargeAmount:
    """Fee for one pay-in-advance event: price(after) - price(before).

    ``before`` is the period's aggregation without the event, ``after`` with it (for percentage, each with
    its own ``events_count``, ``running_totals`` and ``event_values``; for dynamic, its own
    ``precise_total_amount_cents``). Rules:

    * graduated / graduated_percentage: a side with 0 units costs 0 (its flat amounts are not counted,
      Lago's ``exclude_event``), so the first range's flat amount is charged once, by the event that first
      brings units. Lago applies this to the "before" side only; Billow to both, so that a zero-valued
      event does not charge the flat amount and, summed over a period's events, the fees equal ``price``
      of the period's total.
    * The fee is never negative (Lago relies on metering for that; Billow also clamps here).
    * ``units`` is the event's units (``after.units - before.units``, never negative); ``unit_amount`` is
      the amount rounded to the currency divided by those units (Lago's in-advance unit amount), with
      15 decimals.
    * amount_details: for percentage and graduated_percentage, what the event added (Lago's
      ``AmountDetailsCalculator``); ``{}`` for the other models, as in Lago.
    * volume cannot be priced in advance (ValueError).
    """
    model = _model(charge_model, IN_ADVANCE_CHARGE_MODELS)
    exponent(currency)
    with localcontext(CONTEXT):
        without_event = _never_negative(model(properties, before, currency=currency, exclude_event=True))
        with_event = _never_negative(model(properties, after, currency=currency, exclude_event=True))
        amount = max(with_event.amount - without_event.amount, ZERO)
        units = max(dec(after.units, "units") - dec(before.units, "units"), ZERO)
        rounded = round_to_currency(amount, currency)
        unit_amount = per_unit(rounded, units)
        details_of = _IN_ADVANCE_DETAILS.get(charge_model)
        details = details_of(with_event.amount_details, without_event.amount_details) if details_of else {}
        return ChargeAmount(amount=amount, units=units, unit_amount=unit_amount, amount_details=details)


def unit_amount(amount: Decimal, units: Decimal) -> Decimal:
    """``amount / units`` rounded half-up to 15 decimals (Lago's stored ``precise_unit_amount``, see
    :data:`UNIT_AMOUNT_QUANTUM`); 0 when ``units`` is 0."""
    return per_unit(amount, units)
