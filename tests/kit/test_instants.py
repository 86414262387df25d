"""``billow.kit.time``'s ISO-8601 parsers: the one instant parser of the API and its lenient forms."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from billow.kit.time import parse_date_or_none, parse_instant, parse_instant_or_none


class TestParseInstant:
    def test_offsets_are_converted_to_utc(self) -> None:
        assert parse_instant("2024-03-01T10:30:00+02:00") == datetime(2024, 3, 1, 8, 30, tzinfo=UTC)
        assert parse_instant("2024-03-01T10:30:00+02:00").tzinfo is UTC
        assert parse_instant("2024-03-01T10:30:00Z") == datetime(2024, 3, 1, 10, 30, tzinfo=UTC)

    def test_no_offset_is_utc_and_a_date_is_its_midnight(self) -> None:
        assert parse_instant("2024-03-01T10:30:00.5") == datetime(2024, 3, 1, 10, 30, 0, 500_000, tzinfo=UTC)
        assert parse_instant("2024-03-01") == datetime(2024, 3, 1, tzinfo=UTC)

    def test_unreadable_raises_value_error(self) -> None:
        for text in ("", "nope", "2024-13-01", " 2024-03-01", "2024-03-01T25:00"):
            with pytest.raises(ValueError):
                parse_instant(text)

    def test_full_date_refuses_the_short_forms(self) -> None:
        assert parse_instant("20240301") == datetime(2024, 3, 1, tzinfo=UTC)
        for text in ("20240301", "2024W011", "+2024-03-01"):
            with pytest.raises(ValueError):
                parse_instant(text, full_date=True)
        assert parse_instant("2024-03-01T00:00:00Z", full_date=True) == datetime(2024, 3, 1, tzinfo=UTC)

    def test_out_of_range_in_utc_raises_overflow_error(self) -> None:
        with pytest.raises(OverflowError):
            parse_instant("0001-01-01T00:00:00+01:00")
        with pytest.raises(OverflowError):
            parse_instant("9999-12-31T23:59:59-01:00")
        assert parse_instant("0001-01-01T00:00:00") == datetime(1, 1, 1, tzinfo=UTC)


class TestLenientForms:
    def test_instant_or_none(self) -> None:
        assert parse_instant_or_none(" 2024-03-01T00:00:00+01:00 ") == datetime(2024, 2, 29, 23, tzinfo=UTC)
        assert parse_instant_or_none("2024-03-01") == datetime(2024, 3, 1, tzinfo=UTC)
        assert parse_instant_or_none("nope") is None
        assert parse_instant_or_none("") is None
        assert parse_instant_or_none(20240301) is None
        assert parse_instant_or_none(None) is None
        with pytest.raises(OverflowError):
            parse_instant_or_none("0001-01-01T00:00:00+01:00")

    def test_date_or_none(self) -> None:
        assert parse_date_or_none("2024-03-01") == date(2024, 3, 1)
        assert parse_date_or_none("20240301") == date(2024, 3, 1)
        assert parse_date_or_none("2024-03-01T00:00:00") is None
        assert parse_date_or_none("") is None
        assert parse_date_or_none(None) is None

    def test_the_result_is_comparable_with_other_aware_instants(self) -> None:
        paris_winter = timezone(timedelta(hours=1))
        assert parse_instant("2024-01-01T01:00:00+01:00") == datetime(2024, 1, 1, 1, tzinfo=paris_winter)
