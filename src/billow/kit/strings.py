"""Strings the databases cannot store, and the length limits of request strings.

PostgreSQL refuses a NUL character (``\\x00``) in ``text``/``varchar`` and in ``jsonb``, and neither
database can encode a lone surrogate (``"\\ud800"`` is valid JSON); SQLite stores strings of any length
while PostgreSQL refuses one longer than its ``varchar(n)``. Billow applies one rule on both databases:
such strings are refused at the API edge (422 ``value_is_invalid`` / ``value_is_too_long``), in a path
parameter the object is not found, in a query parameter 422.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, event, inspect
from sqlalchemy.orm import Session, sessionmaker

from billow.errors import ValidationFailed

#: The limit of a request string that has no explicit one (``billow.kit.schemas.Input``): the length of
#: Billow's ``String(255)`` columns, which hold names, codes and external ids.
DEFAULT_MAX_LENGTH = 255
#: Descriptions (``String(2048)`` columns).
DESCRIPTION_MAX_LENGTH = 2048
#: URLs and e-mail addresses (``String(1024)`` columns).
URL_MAX_LENGTH = 1024
#: Zip codes (``String(64)`` columns).
ZIPCODE_MAX_LENGTH = 64
#: A billable metric's ``expression`` (*Billow*: its column is ``Text``, Lago's has no limit either; an
#: expression is a short formula).
EXPRESSION_MAX_LENGTH = 2048
#: ``invoice_footer`` (Lago's ``validates :invoice_footer, length: {maximum: 600}``).
INVOICE_FOOTER_MAX_LENGTH = 600


def storable(text: str) -> bool:
    """Whether both databases can store ``text``: no NUL character, no lone surrogate."""
    if "\x00" in text:
        return False
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def all_storable(value: Any) -> bool:
    """Whether every string in a JSON value (object keys included, at any depth) is :func:`storable`.
    Iterative: a deeply nested document cannot exhaust the stack."""
    pending = [value]
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind is str:
            if not storable(item):
                return False
        elif kind is dict or isinstance(item, dict):
            for key, child in item.items():
                if type(key) is str and not storable(key):
                    return False
                pending.append(child)
        elif kind is list or kind is tuple or isinstance(item, list | tuple):
            pending.extend(item)
        elif isinstance(item, str) and not storable(item):
            return False
    return True


# --------------------------------------------------------------------------------------------------
# The safety net at flush time
# --------------------------------------------------------------------------------------------------

_STRING_COLUMNS: dict[Any, list[tuple[str, str, int | None]]] = {}


def _string_columns(mapper: Any) -> list[tuple[str, str, int | None]]:
    """``(attribute, column name, length)`` of a mapper's string columns (``Text`` included)."""
    columns = _STRING_COLUMNS.get(mapper)
    if columns is None:
        columns = []
        for prop in mapper.column_attrs:
            column = prop.columns[0]
            if isinstance(column.type, String):
                columns.append((prop.key, column.name, column.type.length))
        _STRING_COLUMNS[mapper] = columns
    return columns


def check_flushed_strings(session: Session, _context: Any, _instances: Any) -> None:
    """``before_flush`` hook: a string longer than its ``String(n)`` column (SQLite would store it,
    PostgreSQL refuse it) or that no database can store is refused with Lago's 422 on that column,
    the same on every database. The API edge refuses them first with the field's own name
    (:class:`billow.kit.schemas.Input`); this net catches what a request or a task would otherwise
    write differently on SQLite and PostgreSQL."""
    details: dict[str, list[str]] = {}
    for instance, new in (*((i, True) for i in session.new), *((i, False) for i in session.dirty)):
        state = inspect(instance)
        values = state.dict
        # A changed row: only the changed attributes (a string stored before these rules, such as a
        # long code on SQLite, must not make every later update of its row fail).
        changed = None if new else state.committed_state
        for key, name, length in _string_columns(state.mapper):
            if changed is not None and key not in changed:
                continue
            value = values.get(key)
            if type(value) is not str and not isinstance(value, str):
                continue
            if length is not None and len(value) > length:
                details.setdefault(name, ["value_is_too_long"])
            elif not storable(value):
                details.setdefault(name, ["value_is_invalid"])
    if details:
        raise ValidationFailed(details)


def guard_flushes(factory: sessionmaker[Session]) -> sessionmaker[Session]:
    """Install :func:`check_flushed_strings` on the sessions of ``factory``."""
    event.listen(factory, "before_flush", check_flushed_strings)
    return factory
