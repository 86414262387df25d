"""The SQL functions registered on SQLite connections (:mod:`billow.kit.sqlite_decimal`), as pure Python."""

from __future__ import annotations

import sqlite3

import pytest

from billow.kit.sqlite_decimal import json_number, json_text, register


@pytest.mark.parametrize(
    ("raw", "text", "number"),
    [
        ('"12"', "12", "12"),
        ('"-1.50"', "-1.50", "-1.50"),
        ("12", "12", "12"),
        ("1.10", "1.10", "1.10"),
        ("1e3", "1000", "1000"),
        ("1.5E-3", "0.0015", "0.0015"),
        ("-0", "0", "0"),
        ("-0.0", "0.0", "0.0"),
        ("12345678901234567890123", "12345678901234567890123", "12345678901234567890123"),
        ('"1e3"', "1e3", None),
        ('"+5"', "+5", None),
        ('".5"', ".5", None),
        ('" 1"', " 1", None),
        ('"٣"', "٣", None),  # a non-ASCII digit
        ('""', "", None),
        ("true", "true", None),
        ("false", "false", None),
        ("null", None, None),
        (None, None, None),
        ("[1, 2]", "[1, 2]", None),
        ('{"a":1}', '{"a":1}', None),
        (12, "12", "12"),  # json_extract's integers and reals are accepted too
        (0.1, "0.1", "0.1"),
        (1e20, "100000000000000000000", "100000000000000000000"),
    ],
)
def test_json_text_and_number(raw: str | None, text: str | None, number: str | None) -> None:
    assert json_text(raw) == text
    assert json_number(raw) == number


def test_aggregates_are_exact_decimals() -> None:
    connection = sqlite3.connect(":memory:")
    register(connection)
    connection.execute("CREATE TABLE t (p TEXT)")
    connection.executemany(
        "INSERT INTO t VALUES (?)", [('{"v": 0.1}',), ('{"v": "0.2"}',), ('{"v": "x"}',), ("{}",)]
    )
    row = connection.execute(
        "SELECT billow_dsum(billow_num(p -> '$.\"v\"')), billow_dmax(billow_num(p -> '$.\"v\"')),"
        " billow_dsum(NULL) FROM t"
    ).fetchone()
    assert row == ("0.3", "0.2", None)
    with pytest.raises(sqlite3.OperationalError):  # floats are refused, never summed
        connection.execute("SELECT billow_dsum(0.5)").fetchone()
