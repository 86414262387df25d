"""SQL functions Billow registers on every SQLite connection, so that SQLite aggregates events the way
PostgreSQL does (exactly, in decimal).

SQLite's ``json_extract`` turns a JSON number into a REAL (a binary float: ``0.1`` is not ``0.1``, big
integers lose digits), so metering never reads numbers through it. It reads the JSON text of a property
with ``properties -> '$."key"'`` (SQLite keeps a number's text as written) and hands it to:

``billow_text(json_text)``
    The property as PostgreSQL's ``properties ->> 'key'`` writes it: a string unquoted, a number in
    PostgreSQL's ``numeric`` notation (``1e3`` → ``"1000"``, ``1.50`` → ``"1.50"``, ``-0`` → ``"0"``),
    ``true``/``false`` as such, JSON ``null`` or an absent key as SQL ``NULL``; objects and arrays as
    their JSON text (PostgreSQL would re-space them: such values are not meant for filters or groups).

``billow_num(json_text)``
    The same text when it is a plain decimal (``^-?[0-9]+(\\.[0-9]+)?$``, Lago's numeric rule), else
    ``NULL``: ``"12"`` and ``12`` qualify, ``"1e3"``, ``"+5"``, ``".5"``, ``" 1"``, ``true`` do not.

``billow_dsum(text)``, ``billow_dmax(text)``
    Aggregates over decimal strings (``NULL`` ignored), computed with :class:`decimal.Decimal` and
    returned as strings (``NULL`` over no rows), so that no float is ever summed.

This module only depends on the standard library: :mod:`billow.db` imports it when it opens a
connection.
"""

from __future__ import annotations

import json
import re
import sqlite3
from decimal import Decimal, InvalidOperation

from billow.kit.money import EXACT

#: Lago's rule for a usable numeric property value (``postgres_store.rb#numeric_condition``), ASCII digits.
NUMERIC_TEXT = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def number_text(literal: str) -> str | None:
    """A JSON number literal in PostgreSQL's ``numeric`` output notation (``None`` if it is not one)."""
    try:
        value = Decimal(literal)
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    if value.is_zero():
        value = value.copy_abs()  # numeric has no negative zero
    return format(value, "f")


def json_text(raw: str | bytes | int | float | None) -> str | None:
    """``billow_text``: PostgreSQL's ``->>`` rendering of a JSON value given as JSON text (an SQL integer or
    real, as ``json_extract`` returns them, is read as that number: a real through its ``repr``)."""
    if raw is None:
        return None
    if isinstance(raw, int):
        return str(raw)
    if isinstance(raw, float):
        return number_text(repr(raw))
    if isinstance(raw, bytes):
        raw = raw.decode()
    if not raw:
        return None
    first = raw[0]
    if first == '"':
        value = json.loads(raw)
        return value if isinstance(value, str) else None
    if raw == "null":
        return None
    if raw in ("true", "false") or first in "[{":
        return raw
    return number_text(raw)


def json_number(raw: str | bytes | int | float | None) -> str | None:
    """``billow_num``: the value's text when it is a plain decimal, else ``None``."""
    text = json_text(raw)
    return text if text is not None and NUMERIC_TEXT.fullmatch(text) else None


def _decimal(value: object) -> Decimal:
    if isinstance(value, float):
        raise TypeError("billow decimal aggregates take strings or integers, never floats")
    return Decimal(str(value))


class DecimalSum:
    """``billow_dsum``."""

    def __init__(self) -> None:
        self.total: Decimal | None = None

    def step(self, value: object) -> None:
        if value is None:
            return
        number = _decimal(value)
        self.total = number if self.total is None else EXACT.add(self.total, number)

    def finalize(self) -> str | None:
        return None if self.total is None else str(self.total)


class DecimalMax:
    """``billow_dmax``: the largest value, as the text it was given in."""

    def __init__(self) -> None:
        self.best: Decimal | None = None
        self.text: str | None = None

    def step(self, value: object) -> None:
        if value is None:
            return
        number = _decimal(value)
        if self.best is None or number > self.best:
            self.best, self.text = number, str(value)

    def finalize(self) -> str | None:
        return self.text


def register(connection: sqlite3.Connection) -> None:
    """Register the functions on a DB-API SQLite connection."""
    connection.create_function("billow_text", 1, json_text, deterministic=True)
    connection.create_function("billow_num", 1, json_number, deterministic=True)
    connection.create_aggregate("billow_dsum", 1, DecimalSum)  # type: ignore[arg-type]
    connection.create_aggregate("billow_dmax", 1, DecimalMax)  # type: ignore[arg-type]
