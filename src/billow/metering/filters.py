"""Charge filters: which bucket of a charge an event belongs to.

A charge with filters has one bucket per filter plus a default bucket (``None``) for the events that match
no filter (Lago's ``fees/charge_service.rb#init_fees``). An event matches a filter when, for every key of
the filter, the event's property (as text, PostgreSQL's ``properties ->> key``) is one of the filter's
values; ``__ALL_FILTER_VALUES__`` stands for every value the billable metric declares for that key.

An event matching several filters goes to exactly one, the most specific
(``charge_filters/event_matching_service.rb``): the one with the most keys; among those with as many keys,
the one allowing the fewest values (so ``{region: [us]}`` wins over ``{region: [us, eu]}``, as Lago's
ignored-filters cascade decides), then the first in the charge's order (Lago keeps the oldest of two
identical filters). Lago's SQL cascade can count an event in two filters that share no key
(``{region: [us]}`` and ``{cloud: [aws]}``); Billow never counts an event twice.

Pure: the SQL form of this rule is built by :mod:`billow.metering.aggregation` from :func:`ranked`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from billow.kit.sqlite_decimal import number_text

ALL_FILTER_VALUES = "__ALL_FILTER_VALUES__"


@dataclass(frozen=True)
class ChargeFilterSpec:
    """One filter of a charge, ready for aggregation.

    ``values``: by key, the accepted property values, already resolved (no ``__ALL_FILTER_VALUES__``;
    see :func:`resolve_values`). ``pricing_group_keys``: the filter's own grouping keys (a filter does not
    inherit the charge's, as in Lago).
    """

    id: uuid.UUID
    values: Mapping[str, Sequence[str]]
    pricing_group_keys: Sequence[str] = field(default_factory=tuple)

    @property
    def specificity(self) -> tuple[int, int]:
        """Sort key, smallest = most specific: more keys first, then fewer accepted values."""
        return (-len(self.values), sum(len(set(values)) for values in self.values.values()))


def resolve_values(
    filter_values: Mapping[str, Sequence[Any]], metric_filters: Mapping[str, Sequence[Any]]
) -> dict[str, tuple[str, ...]]:
    """A charge filter's values with ``__ALL_FILTER_VALUES__`` replaced by the metric's values for the key
    (Lago's ``to_h_with_all_values``). Values are compared as text."""
    resolved: dict[str, tuple[str, ...]] = {}
    for key, values in filter_values.items():
        if list(values) == [ALL_FILTER_VALUES]:
            values = metric_filters.get(key, ())
        resolved[key] = tuple(str(value) for value in values)
    return resolved


def ranked(specs: Sequence[ChargeFilterSpec]) -> list[int]:
    """Indexes of ``specs``, the most specific first (ties keep the given order)."""
    return sorted(range(len(specs)), key=lambda index: specs[index].specificity)


def property_text(value: Any) -> str | None:
    """A property value as PostgreSQL's ``->>`` writes it (``None`` for JSON null / absent)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | Decimal):
        return number_text(str(value))
    if isinstance(value, float):
        return number_text(repr(value))
    return str(value)


def matching_filter(properties: Mapping[str, Any], specs: Sequence[ChargeFilterSpec]) -> int | None:
    """The index of the filter an event with these properties belongs to; ``None``: the default bucket."""
    for index in ranked(specs):
        spec = specs[index]
        if all(property_text(properties.get(key)) in set(values) for key, values in spec.values.items()):
            return index
    return None
