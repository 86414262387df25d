"""The SQL functions registered on SQLite connections, and the filter rule, as pure Python."""

from __future__ import annotations

import sqlite3
import uuid
from decimal import Decimal

import pytest

from billow.kit.sqlite_decimal import json_number, json_text, register
from billow.metering.filters import ChargeFilterSpec, matching_filter, property_text, ranked, resolve_values


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


class TestFilterRule:
    def test_resolve_all_values(self) -> None:
        resolved = resolve_values(
            {"region": ["__ALL_FILTER_VALUES__"], "cloud": ["aws"]},
            {"region": ["us", "eu"], "cloud": ["aws"]},
        )
        assert resolved == {"region": ("us", "eu"), "cloud": ("aws",)}

    def test_ranking_and_matching(self) -> None:
        broad = ChargeFilterSpec(uuid.uuid4(), {"region": ("us", "eu")})
        narrow = ChargeFilterSpec(uuid.uuid4(), {"region": ("us",)})
        deep = ChargeFilterSpec(uuid.uuid4(), {"region": ("us", "eu"), "cloud": ("aws",)})
        specs = [broad, narrow, deep]
        assert ranked(specs) == [2, 1, 0]
        assert matching_filter({"region": "us", "cloud": "aws"}, specs) == 2
        assert matching_filter({"region": "us"}, specs) == 1
        assert matching_filter({"region": "eu", "cloud": "gcp"}, specs) == 0
        assert matching_filter({"cloud": "aws"}, specs) is None

    @pytest.mark.parametrize(
        ("value", "text"),
        [("a", "a"), (1, "1"), (2.5, "2.5"), (Decimal("1.50"), "1.50"), (True, "true"), (None, None)],
    )
    def test_property_text(self, value: object, text: str | None) -> None:
        assert property_text(value) == text
