"""Event parsing (timestamps, amounts, fields) and diagnosis: pure functions of billow.events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billow.errors import BadRequest
from billow.events.repository import MetricInfo
from billow.events.schemas import (
    NewEvent,
    TimestampError,
    iso_millis_utc,
    load_json,
    new_ids,
    parse_event,
    parse_precise_amount,
    parse_timestamp,
    seconds_to_datetime,
    unix_seconds,
)
from billow.events.service import diagnose, is_numeric_value
from billow.kit.schemas import iso_millis

NOW = datetime(2025, 1, 1, tzinfo=UTC)


class TestParseTimestamp:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (1720000000, datetime(2024, 7, 3, 9, 46, 40, tzinfo=UTC)),
            (Decimal("1720000000.123456"), datetime(2024, 7, 3, 9, 46, 40, 123456, tzinfo=UTC)),
            (Decimal("1720000000.1234569"), datetime(2024, 7, 3, 9, 46, 40, 123456, tzinfo=UTC)),
            ("1720000000.000001", datetime(2024, 7, 3, 9, 46, 40, 1, tzinfo=UTC)),
            (Decimal("-0.000001"), datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
            ("1e3", datetime(1970, 1, 1, 0, 16, 40, tzinfo=UTC)),
            ("+5", datetime(1970, 1, 1, 0, 0, 5, tzinfo=UTC)),
            ("2024-07-03T09:46:40.5Z", datetime(2024, 7, 3, 9, 46, 40, 500000, tzinfo=UTC)),
            ("2024-07-03T09:46:40-05:00", datetime(2024, 7, 3, 14, 46, 40, tzinfo=UTC)),
            ("2024-07-03 09:46:40", datetime(2024, 7, 3, 9, 46, 40, tzinfo=UTC)),
            (1720000000.25, datetime(2024, 7, 3, 9, 46, 40, 250000, tzinfo=UTC)),
        ],
    )
    def test_valid(self, value: Any, expected: datetime) -> None:
        assert parse_timestamp(value) == expected

    def test_absent(self) -> None:
        assert parse_timestamp(None) is None

    @pytest.mark.parametrize(
        ("value", "code"),
        [
            ("", "invalid_format"),
            ("now", "invalid_format"),
            ("nan", "invalid_format"),
            ("-Infinity", "invalid_format"),
            (Decimal("NaN"), "invalid_format"),
            (True, "invalid_format"),
            ([], "invalid_format"),
            ("07/03/2024", "invalid_format"),
            (253402300800, "value_is_out_of_range"),  # 10000-01-01
            (-62135596801, "value_is_out_of_range"),  # before 0001-01-01
            ("9" * 40, "value_is_out_of_range"),
        ],
    )
    def test_invalid(self, value: Any, code: str) -> None:
        with pytest.raises(TimestampError) as caught:
            parse_timestamp(value)
        assert caught.value.code == code

    def test_range_limits(self) -> None:
        assert parse_timestamp(253402300799) == datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
        assert parse_timestamp(-62135596800) == datetime(1, 1, 1, tzinfo=UTC)

    @given(st.integers(min_value=-62135596800 * 10**6, max_value=253402300799 * 10**6))
    def test_microseconds_are_exact(self, micros: int) -> None:
        seconds = Decimal(micros).scaleb(-6)
        expected = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)
        assert seconds_to_datetime(seconds) == expected
        assert parse_timestamp(str(seconds)) == expected
        assert unix_seconds(expected) == micros // 10**6


class TestJsonBody:
    def test_fractions_are_decimals(self) -> None:
        assert load_json(b'{"t": 1720000000.123}') == {"t": Decimal("1720000000.123")}

    @pytest.mark.parametrize("body", [b"{", b'{"t": NaN}', b'{"t": Infinity}', b'{"t": -Infinity}', b"\xff"])
    def test_malformed(self, body: bytes) -> None:
        with pytest.raises(BadRequest):
            load_json(body)

    def test_empty(self) -> None:
        assert load_json(b"  ") is None

    @pytest.mark.parametrize(
        ("body", "scanned"),
        [
            (b'{"a": "plain"}', False),
            (b'{"a": "Z\\u00fcrich \\u2603"}', False),
            (b'{"a": "x\\u0000y"}', True),
            (b'{"a\\u0000": 1}', True),
            (b'{"a": "\\ud800"}', True),
            (b'{"a": "\\uDFFF"}', True),
            (b'{"a": "\\ud83d\\ude00"}', True),  # a valid pair: scanned, and accepted
            (b'{"a": "\xed\xa0\x80"}', True),  # a raw surrogate: json.loads lets it through
            ('{"a": "\ud55c\uad6d"}'.encode(), False),  # Hangul: ED 95 9C, no surrogate
        ],
    )
    def test_strings_are_scanned_only_with_unstorable_escapes(self, body: bytes, scanned: bool) -> None:
        from billow.events.endpoints import JsonBody

        assert JsonBody(body).has_escapes is scanned


class TestPreciseAmount:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("12.5", Decimal("12.5")),
            (" 3 ", Decimal("3")),
            (7, Decimal("7")),
            (Decimal("0.1"), Decimal("0.1")),
            ("0.0000000000000000015", Decimal("0.000000000000000002")),
            ("-99999999999999999999.5", Decimal("-99999999999999999999.5")),
        ],
    )
    def test_valid(self, value: Any, expected: Decimal) -> None:
        assert parse_precise_amount(value) == expected

    @pytest.mark.parametrize(
        ("value", "code"),
        [
            ("x", "invalid_format"),
            ("", "invalid_format"),
            ("sNaN", "invalid_format"),
            ("inf", "invalid_format"),
            (False, "value_is_invalid"),
            ([1], "value_is_invalid"),
            ("1e20", "value_is_out_of_range"),
            (-(10**20), "value_is_out_of_range"),
        ],
    )
    def test_invalid(self, value: Any, code: str) -> None:
        with pytest.raises(ValueError, match=code):
            parse_precise_amount(value)


class TestParseEvent:
    def test_defaults(self) -> None:
        event = parse_event({"transaction_id": "t", "external_subscription_id": "s", "code": "c"}, NOW)
        assert isinstance(event, NewEvent)
        assert (event.timestamp, event.properties, event.precise_total_amount_cents) == (NOW, {}, None)

    def test_property_fractions_become_floats(self) -> None:
        raw = load_json(
            b'{"transaction_id":"t","external_subscription_id":"s","code":"c","properties":'
            b'{"a":1.5,"b":[2.25,{"c":1e400}]}}'
        )
        assert parse_event(raw, NOW) == {"properties": ["value_is_invalid"]}  # 1e400 is no float
        raw["properties"]["b"][1]["c"] = Decimal("3.0")
        event = parse_event(raw, NOW)
        assert isinstance(event, NewEvent)
        assert event.properties == {"a": 1.5, "b": [2.25, {"c": 3.0}]}
        assert type(event.properties["a"]) is float

    def test_string_checks_can_be_skipped(self) -> None:
        raw = {
            "transaction_id": "t",
            "external_subscription_id": "s",
            "code": "c",
            "properties": {"k\x00": 1},
        }
        assert parse_event(raw, NOW) == {"properties": ["value_is_invalid"]}
        assert isinstance(parse_event(raw, NOW, check_strings=False), NewEvent)

    def test_all_errors_at_once(self) -> None:
        raw = {"code": 1.5, "timestamp": "x", "properties": [], "precise_total_amount_cents": "?"}
        assert parse_event(raw, NOW) == {
            "transaction_id": ["value_is_mandatory"],
            "external_subscription_id": ["value_is_mandatory"],
            "code": ["value_is_invalid"],
            "timestamp": ["invalid_format"],
            "properties": ["value_is_invalid"],
            "precise_total_amount_cents": ["invalid_format"],
        }


class TestHelpers:
    def test_new_ids_are_version_4_uuids(self) -> None:
        ids = new_ids(500)
        assert len(set(ids)) == 500
        for text in ids:
            parsed = uuid.UUID(text)
            assert (str(parsed), parsed.version, parsed.variant) == (text, 4, uuid.RFC_4122)
        assert new_ids(0) == []

    @given(st.datetimes(min_value=datetime(1000, 1, 1), timezones=st.just(UTC)))
    def test_iso_millis_utc_matches_kit(self, instant: datetime) -> None:
        assert iso_millis_utc(instant) == iso_millis(instant)

    def test_iso_millis_utc_pads_the_year(self) -> None:
        assert iso_millis_utc(datetime(999, 1, 2, 3, 4, 5, 6789, tzinfo=UTC)) == "0999-01-02T03:04:05.006Z"


def sub(
    started_at: datetime | None,
    terminated_at: datetime | None = None,
    status: str = "active",
    created_at: datetime = NOW,
) -> Any:
    return SimpleNamespace(
        id=uuid.uuid4(),
        customer_id=uuid.uuid4(),
        status=status,
        started_at=started_at,
        terminated_at=terminated_at,
        created_at=created_at,
    )


def event(properties: dict[str, Any] | None = None, timestamp: datetime = NOW) -> Any:
    return SimpleNamespace(timestamp=timestamp, properties=properties or {})


SUM = MetricInfo("storage", "sum_agg", "gb", None)
COUNT = MetricInfo("calls", "count_agg", None, None)


class TestDiagnose:
    def test_reasons_in_order(self) -> None:
        active = [sub(NOW - timedelta(days=1))]
        assert diagnose(event(), None, []).not_aggregated_reason == "unknown_billable_metric"
        assert diagnose(event(), SUM, []).not_aggregated_reason == "unknown_subscription"
        late = [sub(NOW + timedelta(days=1))]
        assert diagnose(event(), SUM, late).not_aggregated_reason == "outside_subscription_period"
        assert diagnose(event(), SUM, active).not_aggregated_reason == "missing_aggregation_property"
        assert (
            diagnose(event({"gb": "x"}), SUM, active).not_aggregated_reason
            == "non_numeric_aggregation_property"
        )
        assert diagnose(event({"gb": "1"}), SUM, active).not_aggregated_reason is None
        assert diagnose(event(), COUNT, active).not_aggregated_reason is None

    def test_bounds_are_inclusive_at_the_millisecond(self) -> None:
        start = NOW + timedelta(microseconds=900)  # truncated to NOW
        end = NOW - timedelta(microseconds=100) + timedelta(milliseconds=1)  # truncated to NOW
        assert diagnose(event(), COUNT, [sub(start, end, "terminated")]).not_aggregated_reason is None
        after = event(timestamp=NOW + timedelta(milliseconds=1))
        assert (
            diagnose(after, COUNT, [sub(start, end)]).not_aggregated_reason == "outside_subscription_period"
        )

    def test_subscription_chosen(self) -> None:
        old = sub(NOW - timedelta(days=30), NOW - timedelta(days=1), "terminated")
        current = sub(NOW - timedelta(days=1))
        pending = sub(None, status="pending", created_at=NOW + timedelta(days=1))
        newest_first = [pending, current, old]
        assert diagnose(event(), COUNT, newest_first).lago_subscription_id == current.id
        assert (
            diagnose(event(timestamp=NOW - timedelta(days=2)), COUNT, newest_first).lago_subscription_id
            == old.id
        )
        before_all = diagnose(event(timestamp=NOW - timedelta(days=90)), COUNT, newest_first)
        assert before_all.lago_subscription_id == current.id  # the active one
        assert before_all.lago_customer_id == current.customer_id
        only_pending = diagnose(event(), COUNT, [pending])
        assert (only_pending.lago_subscription_id, only_pending.subscription_matched) == (pending.id, True)

    @pytest.mark.parametrize(
        ("value", "numeric"),
        [
            ("12", True),
            ("-1.50", True),
            ("0", True),
            (3, True),
            (2.5, True),
            (Decimal("1"), True),
            ("1e3", False),
            ("+5", False),
            (".5", False),
            ("5.", False),
            (" 5", False),
            ("5\n", False),
            ("٣", False),  # a non-ASCII digit
            (True, False),
            ([1], False),
            ({"v": 1}, False),
        ],
    )
    def test_numeric_rule(self, value: Any, numeric: bool) -> None:
        assert is_numeric_value(value) is numeric
