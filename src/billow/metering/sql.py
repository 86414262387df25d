"""The SQL that differs between PostgreSQL and SQLite, side by side.

Both dialects must give the same answers; the functions here build SQLAlchemy expressions over
``events.properties`` with the same meaning on each:

* ``text(key)``, a property as text: PostgreSQL ``properties ->> key``; SQLite
  ``billow_text(properties -> '$."key"')``.
* ``is_number(key)``, Lago's numeric rule: PostgreSQL ``properties ->> key ~ '^-?[0-9]+(\\.[0-9]+)?$'``;
  SQLite ``billow_num(properties -> '$."key"') IS NOT NULL``.
* ``number(key)``, the exact value: PostgreSQL ``(properties ->> key)::numeric``; SQLite ``billow_num(...)``
  (decimal text).
* ``dsum(x)`` / ``dmax(x)``: PostgreSQL ``SUM`` / ``MAX``; SQLite ``billow_dsum`` / ``billow_dmax`` (in
  ``Decimal``, returning text).

SQLite's functions are registered on each connection (:mod:`billow.kit.sqlite_decimal`). Results
come back as ``Decimal`` (PostgreSQL) or decimal text (SQLite); :func:`to_decimal` reads both.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, Numeric, SQLColumnExpression, String, Text, bindparam, cast, func, text
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from billow.models.events import Event

NUMERIC_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"

_PREPARE = text(
    "SELECT set_config('plan_cache_mode', 'force_custom_plan', true),"
    " set_config('work_mem', CASE WHEN (SELECT setting::bigint FROM pg_settings WHERE name = 'work_mem')"
    " < 32768 THEN '32MB' ELSE current_setting('work_mem') END, true)"
)


class MeteringDialect:
    """PostgreSQL's expressions; :class:`SqliteMetering` overrides the ones that differ."""

    name = "postgresql"

    def prepare(self, session: Session) -> None:
        """Settings for the rest of the transaction (``SET LOCAL``), both measured with bench/usage.py:

        * plan every query for its actual parameters: psycopg prepares a statement on the server after a
          few executions and PostgreSQL then switches to a generic plan that ignores which subscription
          and period are asked for, 3 to 4 times slower (no parallel scan) for a large subscription;
        * ``work_mem`` of at least 32 MB, so that a unique count's per-value aggregation stays a hash
          aggregation in memory instead of a sort spilled to disk (never lowered).
        """
        transaction = session.get_transaction()
        if transaction is not None and session.info.get("billow_metering_prepared") is transaction:
            return  # already set in this transaction (a billing run aggregates several charges per invoice)
        session.execute(_PREPARE)
        session.info["billow_metering_prepared"] = session.get_transaction()

    def text(self, key: str) -> ColumnElement[Any]:
        """A property as text (``NULL`` when absent or JSON null)."""
        return Event.properties.op("->>", return_type=Text)(bindparam(None, key, type_=String))

    def is_number(self, key: str) -> ColumnElement[bool]:
        """The property exists and is a plain decimal (Lago's numeric rule)."""
        pattern = bindparam(None, NUMERIC_PATTERN, type_=String)
        return self.text(key).op("~", return_type=Boolean)(pattern)

    def number(self, key: str) -> ColumnElement[Any]:
        """The property as an exact decimal; only meaningful where :meth:`is_number` holds."""
        return cast(self.text(key), Numeric())

    def dsum(self, expression: ColumnElement[Any]) -> ColumnElement[Any]:
        return func.sum(expression)

    def dmax(self, expression: ColumnElement[Any]) -> ColumnElement[Any]:
        return func.max(expression)

    def precise_amount(self) -> SQLColumnExpression[Any]:
        return Event.precise_total_amount_cents


class SqliteMetering(MeteringDialect):
    name = "sqlite"

    def prepare(self, session: Session) -> None:
        return None

    def _raw(self, key: str) -> ColumnElement[Any]:
        path = '$."' + key + '"'
        return Event.properties.op("->", return_type=Text)(bindparam(None, path, type_=String))

    def text(self, key: str) -> ColumnElement[Any]:
        return func.billow_text(self._raw(key), type_=Text)

    def is_number(self, key: str) -> ColumnElement[bool]:
        return self.number(key).is_not(None)

    def number(self, key: str) -> ColumnElement[Any]:
        return func.billow_num(self._raw(key), type_=Text)

    def dsum(self, expression: ColumnElement[Any]) -> ColumnElement[Any]:
        return func.billow_dsum(expression, type_=Text)

    def dmax(self, expression: ColumnElement[Any]) -> ColumnElement[Any]:
        return func.billow_dmax(expression, type_=Text)

    def precise_amount(self) -> SQLColumnExpression[Any]:
        # ExactDecimal is text on SQLite; read it raw so that billow_dsum gets the exact digits.
        return cast(Event.precise_total_amount_cents, Text)


def metering_dialect(dialect_name: str) -> MeteringDialect:
    if dialect_name == "sqlite":
        return SqliteMetering()
    if dialect_name == "postgresql":
        return MeteringDialect()
    raise ValueError(f"metering does not support the {dialect_name!r} database")


def to_decimal(value: Any) -> Decimal | None:
    """A numeric result of either dialect as a ``Decimal`` (never through a float)."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        raise TypeError("metering results must not be floats")
    return Decimal(str(value))
