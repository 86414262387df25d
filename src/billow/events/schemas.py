"""Event request and response bodies.

Ingestion is the hot path (tens of thousands of events per second), so its bodies are parsed by hand:
one ``json.loads`` (JSON fractions become ``Decimal``, never ``float``, so a timestamp such as
``1720000000.123`` is exact), then plain dict checks that produce Lago's error codes. The Pydantic
classes at the end describe the same shapes for the OpenAPI document and for the read endpoints.

Validation rules (Lago's, unless marked *Billow*):

* ``transaction_id``, ``code``, ``external_subscription_id``: mandatory (``value_is_mandatory`` when
  absent, ``null`` or blank), strings (integers are accepted and stored as text, as Rails casts them);
  *Billow*: at most 255 characters (``value_is_too_long``), no NUL character (``value_is_invalid``).
  ``external_customer_id`` (optional, not stored): when a string, the same length and NUL checks.
* ``timestamp``: Unix seconds (integer, decimal number or numeric string, exact to the microsecond);
  *Billow* also accepts ISO-8601 strings (an offset-less one is UTC). Absent or ``null``: reception time.
  Anything else: ``invalid_format``; *Billow*: outside years 1-9999, ``value_is_out_of_range``.
* ``properties``: a JSON object (``value_is_invalid`` otherwise); absent or ``null``: ``{}``.
* ``precise_total_amount_cents``: a decimal string or number (``invalid_format`` when unparseable,
  ``value_is_invalid`` for other JSON types, ``value_is_out_of_range`` from 10^20); kept to 18 decimals.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel, Field

from billow.errors import BadRequest, Errors
from billow.kit.money import ROUNDING
from billow.kit.pagination import PageMeta
from billow.kit.strings import all_storable, storable
from billow.kit.time import parse_instant

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_ID_LENGTH = 255
#: ``precise_total_amount_cents`` is stored as NUMERIC(38, 18): 20 integer digits, 18 decimals.
MAX_PRECISE_AMOUNT = Decimal(10) ** 20
_AMOUNT_QUANTUM = Decimal(1).scaleb(-18)
_ONE_SECOND = timedelta(seconds=1)

MANDATORY = "value_is_mandatory"
INVALID = "value_is_invalid"
TOO_LONG = "value_is_too_long"
INVALID_FORMAT = "invalid_format"
OUT_OF_RANGE = "value_is_out_of_range"


class TimestampError(ValueError):
    """An unusable ``timestamp``; ``code`` is the Lago error code to answer."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


# --------------------------------------------------------------------------------------------------
# JSON body
# --------------------------------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def load_json(body: bytes) -> Any:
    """Parse a request body; fractions become ``Decimal``. Malformed JSON (including ``NaN`` and
    ``Infinity``, which Python's parser would accept) is a 400, as Lago answers it."""
    if not body.strip():
        return None
    try:
        return json.loads(body, parse_float=Decimal, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise BadRequest("malformed JSON body") from exc


def root_object(data: Any, root: str) -> dict[str, Any]:
    """``data[root]`` when it is a non-empty object, else Lago's 400 for a missing root key."""
    value = data.get(root) if isinstance(data, dict) else None
    if not isinstance(value, dict) or not value:
        raise BadRequest(f"param is missing or the value is empty or invalid: {root}")
    return value


# --------------------------------------------------------------------------------------------------
# Field parsers
# --------------------------------------------------------------------------------------------------


def seconds_to_datetime(seconds: Decimal | int) -> datetime:
    """Unix seconds to an aware UTC datetime, exact to the microsecond (finer digits are dropped)."""
    try:
        if type(seconds) is int:
            return EPOCH + timedelta(seconds=seconds)
        whole = int(seconds // 1)
        micros = int(((seconds - whole) * 1_000_000) // 1)
        return EPOCH + timedelta(seconds=whole, microseconds=micros)
    except (OverflowError, ValueError, InvalidOperation) as exc:
        raise TimestampError(OUT_OF_RANGE) from exc


def parse_timestamp(value: Any) -> datetime | None:
    """An event ``timestamp`` as an aware UTC datetime; ``None`` when absent (the caller uses the
    reception time). Raises :class:`TimestampError`."""
    if value is None:
        return None
    kind = type(value)
    if kind is int:
        return seconds_to_datetime(value)
    if kind is Decimal:
        if not value.is_finite():
            raise TimestampError(INVALID_FORMAT)
        return seconds_to_datetime(value)
    if kind is float:  # not produced by load_json; kept for direct callers
        return parse_timestamp(Decimal(repr(value)))
    if kind is not str:
        raise TimestampError(INVALID_FORMAT)
    text = value.strip()
    try:
        number = Decimal(text)
    except InvalidOperation:
        return parse_iso_datetime(text)
    if not number.is_finite():
        raise TimestampError(INVALID_FORMAT)
    return seconds_to_datetime(number)


def parse_iso_datetime(text: str) -> datetime:
    """An ISO-8601 date or date-time as an aware UTC datetime (no offset: UTC; a full date
    ``YYYY-MM-DD``: :func:`billow.kit.time.parse_instant`). Raises :class:`TimestampError`."""
    try:
        return parse_instant(text, full_date=True)
    except OverflowError as exc:
        raise TimestampError(OUT_OF_RANGE) from exc
    except ValueError as exc:
        raise TimestampError(INVALID_FORMAT) from exc


def unix_seconds(instant: datetime) -> int:
    """Whole Unix seconds (floored), as Lago gives ``event.timestamp`` to expressions."""
    return (instant - EPOCH) // _ONE_SECOND


def parse_precise_amount(value: Any) -> Decimal:
    """``precise_total_amount_cents`` (not ``None``) as an exact decimal. Raises ``ValueError(code)``."""
    kind = type(value)
    if kind is int or kind is Decimal:
        number = Decimal(value)
    elif kind is str:
        try:
            number = Decimal(value.strip())
        except InvalidOperation as exc:
            raise ValueError(INVALID_FORMAT) from exc
    else:
        raise ValueError(INVALID)
    if not number.is_finite():
        raise ValueError(INVALID_FORMAT)
    if abs(number) >= MAX_PRECISE_AMOUNT:
        raise ValueError(OUT_OF_RANGE)
    if number.as_tuple().exponent < -18:  # type: ignore[operator]
        number = number.quantize(_AMOUNT_QUANTUM, rounding=ROUNDING)
    return number


def _identifier(raw: dict[str, Any], name: str, errors: dict[str, list[str]], check_string: bool) -> str:
    value: Any = raw.get(name)  # a JSON value: narrowed by ``kind`` below
    kind = type(value)
    if kind is str:
        if not value.strip():
            errors[name] = [MANDATORY]
        elif len(value) > MAX_ID_LENGTH:
            errors[name] = [TOO_LONG]
        elif check_string:
            try:
                _check_string(value)
            except ValueError:
                errors[name] = [INVALID]
        return value
    if value is None:
        errors[name] = [MANDATORY]
    elif kind is int:
        return str(value)
    else:
        errors[name] = [INVALID]
    return ""


def _clean_properties(value: Any, check_strings: bool) -> Any:
    """JSON fractions back to ``float`` (what Lago stores for numbers in ``properties``); ``ValueError``
    for what the database cannot store (NUL characters, lone surrogates, non-finite numbers)."""
    kind = type(value)
    if kind is Decimal:
        number = float(value)
        if number in (float("inf"), float("-inf")):
            raise ValueError(INVALID)
        return number
    if kind is dict:
        for key, item in value.items():
            if check_strings:
                _check_string(key)
            cleaned = _clean_properties(item, check_strings)
            if cleaned is not item:
                value[key] = cleaned
        return value
    if kind is list:
        for index, item in enumerate(value):
            cleaned = _clean_properties(item, check_strings)
            if cleaned is not item:
                value[index] = cleaned
        return value
    if check_strings and kind is str:
        _check_string(value)
    return value


def _check_string(text: str) -> None:
    if not storable(text):
        raise ValueError(INVALID)


def unstorable_fields(data: Any) -> None:
    """422 ``value_is_invalid`` on each field (of the body, or of its root object) holding a string
    that cannot be stored (:mod:`billow.kit.strings`)."""
    errors = Errors()
    if isinstance(data, dict):
        for key, value in data.items():
            items = value.items() if isinstance(value, dict) else [(key, value)]
            for name, item in items:
                if not (storable(name) and all_storable(item)):
                    errors.add(name.replace("\x00", ""), INVALID)
    errors.raise_if_any()


# --------------------------------------------------------------------------------------------------
# Events
# --------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class NewEvent:
    """A validated event, ready to be stored. Attribute names match :class:`billow.models.events.Event`
    so that one serializer serves stored and new events."""

    transaction_id: str
    external_subscription_id: str
    code: str
    timestamp: datetime
    properties: dict[str, Any]
    precise_total_amount_cents: Decimal | None
    #: The new event's ``lago_id``, as text (canonical UUID form), given by :func:`new_ids`.
    id: str | None = None
    created_at: datetime | None = None


def new_ids(count: int) -> list[str]:
    """``count`` random (version 4) UUIDs in canonical text form; one ``os.urandom`` call for all,
    several times cheaper than ``str(uuid.uuid4())`` each."""
    ids = []
    raw = bytearray(os.urandom(16 * count))
    for offset in range(0, 16 * count, 16):
        raw[offset + 6] = (raw[offset + 6] & 0x0F) | 0x40  # version 4
        raw[offset + 8] = (raw[offset + 8] & 0x3F) | 0x80  # RFC 4122 variant
        h = raw[offset : offset + 16].hex()
        ids.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
    return ids


def iso_millis_utc(instant: datetime) -> str:
    """Lago's event timestamp (``iso8601(3)``), ``2024-07-03T09:46:40.123Z``, for an aware UTC
    datetime (what this module and ``UTCDateTime`` columns give). Like
    :func:`billow.kit.schemas.iso_millis` without the time zone conversion, and with the year always
    on four digits."""
    return instant.isoformat(timespec="milliseconds")[:-6] + "Z"


def parse_event(raw: Any, now: datetime, check_strings: bool = True) -> NewEvent | dict[str, list[str]]:
    """One event of a request body: a :class:`NewEvent`, or its errors ``{field: [code]}``.

    ``now`` is the reception time, used when ``timestamp`` is absent. ``check_strings=False`` skips
    the scan of ``properties`` for NUL characters and lone surrogates; it is safe only when the raw
    body contains no ``\\u`` escape (JSON cannot carry those characters otherwise).
    """
    if type(raw) is not dict:
        return {"event": [INVALID]}
    errors: dict[str, list[str]] = {}
    transaction_id = _identifier(raw, "transaction_id", errors, check_strings)
    external_subscription_id = _identifier(raw, "external_subscription_id", errors, check_strings)
    code = _identifier(raw, "code", errors, check_strings)
    external_customer_id = raw.get("external_customer_id")
    if type(external_customer_id) is str and external_customer_id:
        # Optional and not stored (events belong to subscriptions), but checked alike.
        _identifier(raw, "external_customer_id", errors, check_strings)

    timestamp: datetime | None = now
    value = raw.get("timestamp")
    if value is not None:
        try:
            timestamp = parse_timestamp(value)
        except TimestampError as exc:
            errors["timestamp"] = [exc.code]

    properties = raw.get("properties")
    if properties is None:
        properties = {}
    elif type(properties) is not dict:
        errors["properties"] = [INVALID]
    else:
        try:
            _clean_properties(properties, check_strings)
        except (ValueError, RecursionError):
            errors["properties"] = [INVALID]

    precise: Decimal | None = None
    value = raw.get("precise_total_amount_cents")
    if value is not None:
        try:
            precise = parse_precise_amount(value)
        except ValueError as exc:
            errors["precise_total_amount_cents"] = [str(exc)]

    if errors:
        return errors
    return NewEvent(
        transaction_id=transaction_id,
        external_subscription_id=external_subscription_id,
        code=code,
        timestamp=timestamp,  # type: ignore[arg-type]
        properties=properties,
        precise_total_amount_cents=precise,
    )


# --------------------------------------------------------------------------------------------------
# Pydantic shapes (OpenAPI document; the read endpoints)
# --------------------------------------------------------------------------------------------------


class EventInput(BaseModel):
    transaction_id: str = Field(description="Unique per external subscription: a repeat is refused.")
    external_subscription_id: str
    code: str = Field(description="The billable metric code.")
    timestamp: int | str | None = Field(
        default=None,
        description="Unix seconds (decimals allowed) or ISO-8601; reception time when absent.",
    )
    properties: dict[str, Any] | None = None
    precise_total_amount_cents: str | None = Field(
        default=None, description="The event's own price in minor units (dynamic charges)."
    )


class EventRequest(BaseModel):
    event: EventInput


class EventBatchRequest(BaseModel):
    events: list[EventInput]


NotAggregatedReason = str


class NewEventOut(BaseModel):
    """An event as ``POST /events`` and ``/events/batch`` answer it (Lago's): the subscription and
    customer ids are ``null`` and the diagnostics are left to the read endpoints (:class:`EventOut`)."""

    lago_id: uuid.UUID
    transaction_id: str
    lago_customer_id: uuid.UUID | None
    code: str
    timestamp: str = Field(description="ISO-8601 UTC with milliseconds.")
    precise_total_amount_cents: str | None
    properties: dict[str, Any]
    lago_subscription_id: uuid.UUID | None
    external_subscription_id: str
    created_at: str


class EventOut(NewEventOut):
    """An event as the read endpoints answer it: with Billow's diagnostics."""

    billable_metric_code_matched: bool = Field(description="Billow: a live billable metric has this code.")
    subscription_matched: bool = Field(
        description="Billow: a subscription has this external id (whatever its status)."
    )
    not_aggregated_reason: NotAggregatedReason | None = Field(
        description=(
            "Billow: why usage ignores this event, or null: unknown_billable_metric, unknown_subscription, "
            "outside_subscription_period, missing_aggregation_property, non_numeric_aggregation_property, "
            "period_already_invoiced (stored after the invoice of its period was issued: never billed)."
        )
    )


class EventEnvelope(BaseModel):
    event: EventOut


class NewEventEnvelope(BaseModel):
    event: NewEventOut


class EventBatchOut(BaseModel):
    events: list[NewEventOut]


class EventList(BaseModel):
    events: list[EventOut]
    meta: PageMeta


class EstimateEventInput(BaseModel):
    transaction_id: str | None = Field(default=None, description="Echoed as event_transaction_id.")
    external_subscription_id: str = Field(description="An active subscription's external id.")
    code: str = Field(description="The billable metric code.")
    timestamp: int | str | None = Field(
        default=None, description="Validated only: the event is estimated at the request time, as Lago."
    )
    properties: dict[str, Any] | None = None
    precise_total_amount_cents: str | None = None


class EstimateFeesRequest(BaseModel):
    event: EstimateEventInput


class EstimateInstantEventInput(BaseModel):
    code: str = Field(description="The billable metric code.")
    external_subscription_id: str = Field(description="An active subscription's external id.")
    properties: dict[str, Any] | None = None
    transaction_id: str | None = Field(default=None, description="Echoed as event_transaction_id.")


class EstimateInstantFeesRequest(BaseModel):
    event: EstimateInstantEventInput


class BatchEstimateInstantFeesRequest(BaseModel):
    events: list[EstimateInstantEventInput]


class ExpressionEventInput(BaseModel):
    code: str | None = None
    timestamp: int | str | None = None
    properties: dict[str, Any] | None = None


class EvaluateExpressionRequest(BaseModel):
    expression: str
    event: ExpressionEventInput | None = None


class ExpressionResult(BaseModel):
    value: str | None


class ExpressionResultEnvelope(BaseModel):
    expression_result: ExpressionResult


def request_body_doc(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` documenting a hand-parsed JSON body with ``model``'s schema (inlined)."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return inline(definitions[ref.removeprefix("#/$defs/")])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    return {"requestBody": {"required": True, "content": {"application/json": {"schema": inline(schema)}}}}
