"""Base classes for request and response bodies."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, PlainSerializer, model_validator


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

    ``provided()`` returns only what the caller sent, which is what an update applies.
    """

    model_config = ConfigDict(extra="ignore")

    @model_validator(mode="before")
    @classmethod
    def _drop_nulls(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value is not None}
        return data

    def provided(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set}


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
