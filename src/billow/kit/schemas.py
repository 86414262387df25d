"""Base classes for request and response bodies."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    PlainSerializer,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from billow.kit.strings import DEFAULT_MAX_LENGTH, all_storable


def iso_seconds(value: datetime) -> str:
    """Lago's timestamp format: ISO-8601 UTC at second precision, ``2022-04-29T08:59:51Z``."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_millis(value: datetime) -> str:
    """ISO-8601 UTC with milliseconds, as Lago's event timestamps."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def decimal_str(value: Decimal) -> str:
    """A decimal as a plain string with no exponent and no superfluous zeros (``"0.5"``, ``"10.0"``)."""
    text = format(value.normalize(), "f")
    return text if "." in text else text + ".0"


Timestamp = Annotated[datetime, PlainSerializer(iso_seconds, return_type=str)]
Date = Annotated[date, PlainSerializer(lambda d: d.isoformat(), return_type=str)]
DecimalString = Annotated[Decimal, PlainSerializer(decimal_str, return_type=str)]


class Input(BaseModel):
    """A request body. Unknown keys are ignored and an explicit JSON ``null`` counts as absent.

    Strings (:mod:`billow.kit.strings`): a string anywhere in a field's value (free-form JSON included)
    that the databases cannot store (a NUL character, a lone surrogate) is ``value_is_invalid``; a
    ``str`` field is at most ``DEFAULT_MAX_LENGTH`` (255) characters unless it declares its own
    ``max_length`` (``value_is_too_long``), so that it fits its column on every database.

    ``provided()`` returns only what the caller sent, which is what an update applies.
    """

    model_config = ConfigDict(extra="ignore", str_max_length=DEFAULT_MAX_LENGTH)

    @model_validator(mode="before")
    @classmethod
    def _drop_nulls(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value is not None}
        return data

    @field_validator("*", mode="before")
    @classmethod
    def _storable_strings(cls, value: Any, info: ValidationInfo) -> Any:
        if (
            isinstance(value, str | dict | list)
            and info.field_name not in _nested_input_fields(cls)
            and not all_storable(value)
        ):
            raise PydanticCustomError("unstorable_string", "contains a character that cannot be stored")
        return value

    def provided(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set}


_NESTED_INPUT_FIELDS: dict[type[Input], frozenset[str]] = {}


def _nested_input_fields(cls: type[Input]) -> frozenset[str]:
    """The fields of ``cls`` that hold other ``Input`` models: those check their own strings (and the
    error then names the field inside the request's root object, never the root object itself)."""
    fields = _NESTED_INPUT_FIELDS.get(cls)
    if fields is None:
        fields = frozenset(name for name, field in cls.model_fields.items() if _holds_input(field.annotation))
        _NESTED_INPUT_FIELDS[cls] = fields
    return fields


def _holds_input(annotation: Any) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, Input):
        return True
    return any(_holds_input(arg) for arg in get_args(annotation))


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


def decimal_number(value: Decimal) -> int | float:
    """A decimal as a JSON number, for the few fields Lago types as numbers (tax ``rate``).

    Only for display at the API edge; every computation keeps the ``Decimal``.
    """
    normalized = value.normalize()
    if normalized == normalized.to_integral_value():
        return int(normalized)
    return float(decimal_str(normalized))


JsonNumber = Annotated[Decimal, PlainSerializer(decimal_number, return_type=float)]
