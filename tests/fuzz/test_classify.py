"""How the fuzz test names the cause of a server error (its tolerated, known-open causes)."""

from __future__ import annotations

from tests.fuzz.test_openapi_fuzz import KNOWN_OPEN, classify

NO_REQUEST: dict[str, object] = {"method": "GET", "url": "/api/v1/taxes"}


def test_nul_character() -> None:
    error = "DataError: PostgreSQL text fields cannot contain NUL (0x00) bytes"
    assert classify(error, NO_REQUEST) == "nul-character"


def test_string_too_long() -> None:
    error = "DataError: (psycopg.errors.StringDataRightTruncation) value too long for type varchar(255)"
    assert classify(error, NO_REQUEST) == "string-too-long"


def test_integer_out_of_range_and_huge_page() -> None:
    error = "OverflowError: Python int too large to convert to SQLite INTEGER"
    assert classify(error, NO_REQUEST) == "integer-out-of-range"
    huge_page = {**NO_REQUEST, "params": {"page": str(2**64)}}
    assert classify(error, huge_page) == "huge-page"
    assert classify("DataError: (psycopg.errors.NumericValueOutOfRange) bigint out of range", huge_page) == (
        "huge-page"
    )


def test_anything_else_is_its_own_cause_and_not_tolerated() -> None:
    cause = classify("KeyError: 'amount'\nmore lines", NO_REQUEST)
    assert cause == "KeyError: 'amount'"
    assert cause not in KNOWN_OPEN
