"""Lago billable-metric expressions (billow.kit.expression).

Expected values mirror the test cases of getlago/lago-expression (expression-core/src/parser.rs and
evaluate.rs, expression-ruby/spec/lago-expression/*_spec.rb) and the lago-api specs that use it
(spec/services/billable_metrics/evaluate_expression_service_spec.rb, spec/services/events/
calculate_expression_service_spec.rb, spec/requests/api/v1/billable_metrics_controller_spec.rb), plus
BigDecimal behaviour (division precision, rounding modes, formatting) that lago-expression relies on.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billow.kit import expression as expr_module
from billow.kit.expression import (
    MAX_EXPRESSION_LENGTH,
    MAX_NESTING_DEPTH,
    Expression,
    ExpressionError,
    format_number,
    format_ruby_decimal,
    parse,
    validate,
)


def ev(
    source: str, *, code: str = "code", timestamp: Decimal | int = 1234, **properties: Any
) -> Decimal | str:
    return parse(source).evaluate(code=code, timestamp=timestamp, properties=properties)


def same(result: Decimal | str, expected: str) -> bool:
    """Equal value *and* representation (coefficient and exponent), e.g. 1.50 is not 1.5."""
    return isinstance(result, Decimal) and result.as_tuple() == Decimal(expected).as_tuple()


# --------------------------------------------------------------------------------------------------
# lago-expression's own cases
# --------------------------------------------------------------------------------------------------

# expression-core/src/parser.rs: inputs its tests parse successfully (evaluated here).
PARSER_RS_CASES = [
    ("1", Decimal("1")),
    ("event.timestamp", Decimal("1234")),
    ("'test'", "test"),
    ("concat('a', 'b')", "ab"),
    ("CONCAT('a', 'b')", "ab"),
    ("Concat('a', 'b')", "ab"),
    ("ceil(123)", Decimal("123")),
    ("ceil(123, -1)", Decimal("130")),
    ("round(123, 1)", Decimal("123.0")),
    ("round(123)", Decimal("123")),
    ("floor(123, 1)", Decimal("123.0")),
    ("floor(123)", Decimal("123")),
    ("LEAST(1, 2)", Decimal("1")),
    ("GREATEST(1, 2)", Decimal("2")),
]


@pytest.mark.parametrize(("source", "expected"), PARSER_RS_CASES)
def test_lago_parser_cases(source: str, expected: Decimal | str) -> None:
    assert ev(source) == expected


def test_lago_parser_property_case() -> None:
    assert ev("event.properties.blah", blah="x") == "x"


# expression-core/src/evaluate.rs
EVALUATE_RS_CASES: list[tuple[str, dict[str, Any], Decimal | str]] = [
    ("123", {}, Decimal("123")),
    ("event.code", {}, "result_code"),
    ("event.properties.bar", {"bar": "123"}, Decimal("123")),
    ("event.properties.bar", {"bar": "foo"}, "foo"),
    ("'bar'", {}, "bar"),
    ("2 + 4", {}, Decimal("6")),
    ("2 - 4", {}, Decimal("-2")),
    ("2 * 4", {}, Decimal("8")),
    ("4 / 2", {}, Decimal("2")),
    ("-12", {}, Decimal("-12")),
    ("round(12.5)", {}, Decimal("13")),
    ("round(12.345, 2)", {}, Decimal("12.35")),
    ("ceil(12.3)", {}, Decimal("13")),
    ("ceil(12.351, 1)", {}, Decimal("12.4")),
    ("floor(12.3)", {}, Decimal("12")),
    ("floor(12.351, 1)", {}, Decimal("12.3")),
    ("concat('test', '-', '123')", {}, "test-123"),
    ("concat('test', '-', round(123))", {}, "test-123"),
]


@pytest.mark.parametrize(("source", "properties", "expected"), EVALUATE_RS_CASES)
def test_lago_evaluate_cases(source: str, properties: dict[str, Any], expected: Decimal | str) -> None:
    result = ev(source, code="result_code", **properties)
    assert result == expected
    assert type(result) is type(expected)


def test_lago_evaluate_timestamp() -> None:
    assert ev("event.timestamp", timestamp=1234) == 1234


# expression-ruby/spec/lago-expression/expression_spec.rb (its event: Ruby Float 1.23, BigDecimal 2.3 ...)
RUBY_EVENT = {
    "property_1": 1.23,
    "decimal_property": Decimal("2.3"),
    "property_2": "test",
    "property_3": "12.34",
}
RUBY_SPEC_CASES: list[tuple[str, Decimal | str]] = [
    ("1 + 3", Decimal("4")),
    ("'test'", "test"),
    ("(123 - event.properties.property_1) / 10", Decimal("12.177")),
    ("CONCAT(event.properties.property_1, 'test')", "1.23test"),
    ("event.properties.property_1 + event.properties.decimal_property", Decimal("3.53")),
    ("concat(event.properties.property_2, '-', 'suffix')", "test-suffix"),
    ("round(event.properties.property_3, -1)", Decimal("10")),
    ("least(event.properties.property_3, 5.0)", Decimal("5.0")),
    ("least(event.properties.property_3, 15.0)", Decimal("12.34")),
    ("greatest(event.properties.property_3, 5.0)", Decimal("12.34")),
    ("greatest(event.properties.property_3, 15.0)", Decimal("15.0")),
]


@pytest.mark.parametrize(("source", "expected"), RUBY_SPEC_CASES)
def test_lago_ruby_spec_cases(source: str, expected: Decimal | str) -> None:
    result = ev(source, **RUBY_EVENT)
    assert result == expected
    assert type(result) is type(expected)


def test_lago_ruby_spec_missing_property() -> None:
    with pytest.raises(ExpressionError, match="does_not_exists") as info:
        ev("event.properties.does_not_exists", **RUBY_EVENT)
    assert info.value.code == "missing_property"


def test_lago_ruby_parser_spec() -> None:
    assert isinstance(parse("1+2"), Expression)
    assert validate("1+2") is None
    with pytest.raises(ExpressionError) as info:
        validate("1+")
    assert info.value.code == "invalid_expression"
    assert "1+" in info.value.message
    assert "expected" in info.value.message


# lago-api specs that call the gem.
def test_lago_api_evaluate_expression_endpoint_case() -> None:
    # billable_metrics_controller_spec: round(event.properties.value) with "2.4" -> "2.0" in the JSON body
    result = ev("round(event.properties.value)", value="2.4")
    assert same(result, "2")
    assert format_ruby_decimal(result) == "2.0"


def test_lago_api_evaluate_expression_service_cases() -> None:
    assert ev("round(event.properties.value * event.properties.units)", value=10.4, units=2) == 21
    with pytest.raises(ExpressionError) as info:
        ev("round(event.properties.value * event.properties.units)", value="invalid_value", units=2)
    assert info.value.code == "expected_number"
    with pytest.raises(ExpressionError) as info:
        validate("invalid_expression")
    assert info.value.code == "invalid_expression"
    assert ev("event.timestamp", timestamp=1_700_000_000) == 1_700_000_000


def test_lago_api_calculate_expression_service_case() -> None:
    assert ev("event.properties.left + event.properties.right", left="1", right="2") == 3


# --------------------------------------------------------------------------------------------------
# Number semantics (lago-expression evaluate.rs on top of Rust bigdecimal 0.4)
# --------------------------------------------------------------------------------------------------

THIRD = "0." + "3" * 100
NUMBER_CASES = [
    # exact + - *, scale kept like BigDecimal
    ("1.50 + 1", "2.50"),
    ("1.5 * 1.5", "2.25"),
    ("0.1 + 0.2", "0.3"),
    ("2.50 * 2", "5.00"),
    ("10 - 10.00", "0.00"),
    # BigDecimal short-cuts: x * 1 / 1 * x / x / 1 keep the other operand; x - 0 and 0 - x skip rescaling
    ("1.0 * 5", "5"),
    ("5 * 1.00", "5"),
    ("5.5 / 1.0", "5.5"),
    ("5 - 0.00", "5"),
    ("0.00 - 5", "-5"),
    ("5 + 0.00", "5.00"),
    ("0.00 / 5", "0.00"),
    # division: exact when it terminates, else 100 significant digits rounded half away from zero
    ("4 / 2", "2"),
    ("10 / 4", "2.5"),
    ("1 / 8", "0.125"),
    ("1 / 3", THIRD),
    ("2 / 3", "0." + "6" * 99 + "7"),
    ("-2 / 3", "-0." + "6" * 99 + "7"),
    ("2 / -3", "-0." + "6" * 99 + "7"),
    ("1 / 3 * 3", "0." + "9" * 100),
    ("100 / 3", "33." + "3" * 98),
    ("5 / 5", "1"),
    ("50 / 5.0", "1E+1"),
    ("1000 / 10", "100"),
    ("7 / 0.5", "14"),
    ("1 / 1024", "0.0009765625"),
    # a dividend with more than 100 digits keeps its own last digit as the rounding place
    ("1" + "0" * 120 + " / 3", "3" * 120),
    # unary minus and precedence / associativity
    ("-1 - -1", "0"),
    ("2 + 3 * 4", "14"),
    ("(2 + 3) * 4", "20"),
    ("10 - 4 - 3", "3"),
    ("100 / 10 / 5", "2"),
    ("2 * 3 / 4", "1.5"),
    ("-2 * 3", "-6"),
    ("-(2 + 3)", "-5"),
    ("007.50", "7.50"),
    # round: half away from zero; ceil: towards +inf; floor: towards -inf; result scale = digits
    ("round(2.5)", "3"),
    ("round(-2.5)", "-3"),
    ("round(-2.4)", "-2"),
    ("round(0.5)", "1"),
    ("round(1.005, 2)", "1.01"),
    ("ceil(-1.5)", "-1"),
    ("floor(-1.5)", "-2"),
    ("ceil(1.0001)", "2"),
    ("floor(1.9999)", "1"),
    ("round(1.5, 3)", "1.500"),
    ("round(1234.5, -2)", "1.2E+3"),
    ("ceil(1201, -2)", "1.3E+3"),
    ("floor(-1201, -2)", "-1.3E+3"),
    ("round(5, -1)", "1E+1"),
    ("round(4, -1)", "0E+1"),
    ("ceil(5, -3)", "1E+3"),
    ("floor(5, -3)", "0E+3"),
    ("floor(-5, -3)", "-1E+3"),
    ("round(0, 2)", "0.00"),
    ("round(12.345, 1.9)", "12.3"),  # digits are truncated to an integer
    ("round(12.345, -0.9)", "12"),
    ("round(12.345, 4 - 2)", "12.35"),
    # least / greatest: numeric comparison; ties keep the first minimum / the last maximum
    ("least(3, 1, 2)", "1"),
    ("greatest(3, 1, 2)", "3"),
    ("least(5.0, 5, 5.00)", "5.0"),
    ("greatest(5.0, 5, 5.00)", "5.00"),
    ("least(-1, -1.5)", "-1.5"),
    ("least(7)", "7"),
]


@pytest.mark.parametrize(("source", "expected"), NUMBER_CASES)
def test_number_semantics(source: str, expected: str) -> None:
    result = ev(source)
    assert same(result, expected), result


def test_timestamp_and_code() -> None:
    assert ev("event.timestamp + 1", timestamp=10) == 11
    assert same(ev("event.timestamp", timestamp=Decimal("1.50")), "1.50")
    # event.code is always a string, never coerced to a number
    assert ev("event.code", code="123") == "123"
    with pytest.raises(ExpressionError) as info:
        ev("event.code + 1", code="123")
    assert info.value.code == "expected_number"
    assert ev("concat(event.code, '-', event.timestamp)", code="api", timestamp=17) == "api-17"


# --------------------------------------------------------------------------------------------------
# Property values
# --------------------------------------------------------------------------------------------------

# Strings that Lago's decimal parser accepts become numbers (value and representation).
NUMERIC_STRINGS = [
    ("12", "12"),
    ("-12", "-12"),
    ("+12", "12"),
    ("12.50", "12.50"),
    ("-0.5", "-0.5"),
    (".5", "0.5"),
    ("-.5", "-0.5"),
    ("+.5", "0.5"),
    ("5.", "5"),
    ("007", "7"),
    ("1e3", "1E+3"),
    ("1E3", "1E+3"),
    ("1e+3", "1E+3"),
    ("1.5e-3", "0.0015"),
    ("1.e2", "1E+2"),
    (".5e1", "5"),
    ("1_000", "1000"),
    ("1_000.000_1", "1000.0001"),
    ("5_", "5"),
    ("1._5", "1.5"),
    ("1e0005", "1E+5"),
    ("0", "0"),
    ("-0", "0"),
    ("0.000", "0.000"),
]


@pytest.mark.parametrize(("text", "expected"), NUMERIC_STRINGS)
def test_numeric_string_properties_are_numbers(text: str, expected: str) -> None:
    result = ev("event.properties.v", v=text)
    assert same(result, expected), result
    assert ev("event.properties.v * 1", v=text) == Decimal(expected)


# Strings Lago keeps as strings (and therefore cannot be used in arithmetic).
NON_NUMERIC_STRINGS = [
    "",
    " 12",
    "12 ",
    "1 000",
    "abc",
    "12abc",
    "1.2.3",
    "--1",
    "+-1",
    "-+1",
    "++1",
    "+",
    "-",
    ".",
    "-.",
    "_1",
    "-_1",
    "._5",
    "1e",
    "e5",
    "1e5_",
    "1e_5",
    "1e5e5",
    "1e+-5",
    "1e99999999999999999999999999999999999999999",  # exponent beyond i128
    "1e9223372036854775809",  # scale beyond i64
    "inf",
    "Infinity",
    "NaN",
    "0x1F",
    "\uff11\uff12",  # fullwidth digits
    "1,5",
]


@pytest.mark.parametrize("text", NON_NUMERIC_STRINGS)
def test_non_numeric_string_properties_stay_strings(text: str) -> None:
    assert ev("event.properties.v", v=text) == text
    with pytest.raises(ExpressionError) as info:
        ev("event.properties.v + 1", v=text)
    assert info.value.code == "expected_number"


PYTHON_VALUES: list[tuple[Any, Decimal | str]] = [
    (3, Decimal("3")),
    (-3, Decimal("-3")),
    (2.5, Decimal("2.5")),
    (2.0, Decimal("2.0")),  # Ruby Float#to_s "2.0"
    (1e16, Decimal("1.0E+16")),  # Ruby "1.0e+16"
    (1e15, Decimal("1000000000000000.0")),
    (0.0001, Decimal("0.0001")),
    (1e-05, Decimal("0.000010")),  # Ruby "1.0e-05"
    (-0.0, Decimal("0.0")),
    (Decimal("2.50"), Decimal("2.5")),  # like a Ruby Float: trailing zeros dropped, one decimal kept
    (Decimal("3"), Decimal("3.0")),
    (Decimal("0.1234567890123456789"), Decimal("0.1234567890123456789")),  # exact, unlike a double
    (True, "true"),
    (False, "false"),
    (None, ""),
    ({"a": 1, "b": [None, "x"]}, '{"a" => 1, "b" => [nil, "x"]}'),
    ([1, 2.5], "[1, 2.5]"),
]


@pytest.mark.parametrize(("value", "expected"), PYTHON_VALUES)
def test_python_property_values(value: Any, expected: Decimal | str) -> None:
    result = ev("event.properties.v", v=value)
    if isinstance(expected, str):
        assert result == expected
    else:
        assert same(result, str(expected)), result


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, Decimal("NaN"), Decimal("Infinity")])
def test_non_finite_property_values(value: Any) -> None:
    with pytest.raises(ExpressionError) as info:
        ev("event.properties.v", v=value)
    assert info.value.code == "invalid_property_value"


def test_property_names() -> None:
    assert ev("event.properties.Foo_bar9", Foo_bar9="x") == "x"
    with pytest.raises(ExpressionError) as info:
        ev("event.properties.foo", Foo="x")  # names are case-sensitive
    assert info.value.code == "missing_property"
    # a "-" after a name is subtraction
    assert ev("event.properties.a-1", a="5") == 4


# --------------------------------------------------------------------------------------------------
# Text: concat and number formatting
# --------------------------------------------------------------------------------------------------

CONCAT_CASES = [
    ("concat(1.50)", "1.50"),
    ("concat(0.00)", "0"),
    ("concat(1.5 - 1.5)", "0"),
    ("concat(-1.5)", "-1.5"),
    ("concat(round(12.34, -1))", "10"),
    ("concat(0.000001)", "0.000001"),
    ("concat(0.0000001)", "1E-7"),
    ("concat(0.0000012345)", "0.0000012345"),
    ("concat(0.00000012345)", "1.2345E-7"),
    ("concat(-0.00000012345)", "-1.2345E-7"),
    ("concat(ceil(1, -15))", "1000000000000000"),
    ("concat(ceil(1, -16))", "1e+16"),
    ("concat(floor(-12, -17))", "-1e+17"),
    ("concat(10000000000000000 * 10)", "100000000000000000"),
    ("concat(1 / 3)", THIRD),
    ("concat('a', 1, 'b', 2.0)", "a1b2.0"),
    ("concat('')", ""),
    ("concat('€ ', 'ü')", "€ ü"),
    ("concat(event.properties.n)", "12.50"),
]


@pytest.mark.parametrize(("source", "expected"), CONCAT_CASES)
def test_concat(source: str, expected: str) -> None:
    assert ev(source, n="12.50") == expected


# rust bigdecimal 0.4 Display cases (src/impl_fmt.rs tests).
FORMAT_CASES = [
    ("1", "1"),
    ("0.1", "0.1"),
    ("0.01", "0.01"),
    ("1E+2", "100"),
    ("-1", "-1"),
    ("-0.01", "-0.01"),
    ("0.800", "0.800"),
    ("123456", "123456"),
    ("0.099995", "0.099995"),
    ("0.9999999", "0.9999999"),
    ("-90037659.6905", "-90037659.6905"),
    ("0.0002394899999500", "0.0002394899999500"),
    ("1e15", "1000000000000000"),
    ("1e16", "1e+16"),
    ("491326e-12", "4.91326E-7"),
    ("1E-10000", "1E-10000"),
    ("1e100000", "1e+100000"),
    ("1234506789E5", "123450678900000"),
    ("1234506789E15", "1234506789000000000000000"),
    ("13400476439814628800E2502", "13400476439814628800e+2502"),
    ("0", "0"),
    ("0e15", "0"),
    ("0e-15", "0"),
    ("-0e6", "0"),
    ("123.", "123"),
]


@pytest.mark.parametrize(("value", "expected"), FORMAT_CASES)
def test_format_number(value: str, expected: str) -> None:
    assert format_number(Decimal(value)) == expected


RUBY_FORMAT_CASES = [
    ("2", "2.0"),
    ("2.50", "2.5"),
    ("12.177", "12.177"),
    ("1E+1", "10.0"),
    ("0", "0.0"),
    ("0.00", "0.0"),
    ("-0", "0.0"),
    ("-3.5", "-3.5"),
    ("1E-7", "0.0000001"),
    ("123.4500", "123.45"),
]


@pytest.mark.parametrize(("value", "expected"), RUBY_FORMAT_CASES)
def test_format_ruby_decimal(value: str, expected: str) -> None:
    assert format_ruby_decimal(Decimal(value)) == expected


@given(st.decimals(allow_nan=False, allow_infinity=False, min_value=-(10**30), max_value=10**30))
def test_format_number_round_trips(value: Decimal) -> None:
    assert Decimal(format_number(value)) == value
    assert Decimal(format_ruby_decimal(value)) == value


# --------------------------------------------------------------------------------------------------
# Syntax
# --------------------------------------------------------------------------------------------------

VALID_SYNTAX = [
    " 1 + 2 ",
    "1+2",
    "round ( 1 , 2 )",
    "- 1",
    "1 - - 1",
    "1--1",
    "-(-1)",
    "( ( 1 ) )",
    "ROUND(1)",
    "Round(1)",
    "round(1)",
    "CEIL(1)",
    "Floor(1)",
    "LEAST(1, 2, 3)",
    "Greatest(1)",
    "concat('a')",
    "concat( 'a' , 'b' )",
    "event.properties.x_1 / event.timestamp",
]


@pytest.mark.parametrize("source", VALID_SYNTAX)
def test_valid_syntax(source: str) -> None:
    validate(source)


INVALID_SYNTAX = [
    ("", 0),
    ("   ", 3),
    ("1 +", 3),
    ("+1", 0),
    ("--1", 1),
    ("- -1", 2),
    ("(1", 2),
    ("1)", 1),
    ("((1)", 4),
    ("()", 1),
    ("1 2", 2),
    ("1.1.1", 3),
    (".5", 0),
    ("5.", 1),
    ("1e3", 1),
    ("1 .5", 2),
    ("foo(1)", 0),
    ("rOUND(1)", 0),
    ("roundx(1)", 0),
    ("round", 5),
    ("round()", 6),
    ("round(1, 2, 3)", 0),
    ("ceil(1, 2, 3)", 0),
    ("concat()", 7),
    ("least()", 6),
    ("greatest(1,)", 11),
    ("round(1 2)", 8),
    ("'abc", 0),
    ("'it''s'", 4),
    ('"abc"', 0),
    ("event", 0),
    ("event.", 0),
    ("event. code", 0),
    ("event .code", 0),
    ("event.unknown", 0),
    ("event.codes", 10),
    ("event.timestamp2", 15),
    ("event.properties", 0),
    ("event.properties.", 0),
    ("event.properties._x", 0),
    ("event.properties.1x", 0),
    ("event.properties.a.b", 18),
    ("event.properties.a-b", 19),
    ("1\t+ 2", 1),
    ("1 +\n2", 3),
    ("1 + 2\n", 5),
    ("\u00a01", 0),
    ("1 ^ 2", 2),
    ("1 % 2", 2),
    ("true", 0),
    ("null", 0),
]


@pytest.mark.parametrize(("source", "position"), INVALID_SYNTAX)
def test_invalid_syntax(source: str, position: int) -> None:
    with pytest.raises(ExpressionError) as info:
        parse(source)
    assert info.value.code == "invalid_expression"
    assert info.value.position == position
    assert f"column {position + 1}" in info.value.message


def test_unknown_function_message() -> None:
    with pytest.raises(ExpressionError, match="unknown function or name 'sqrt'"):
        parse("sqrt(4)")


def test_wrong_arity_message() -> None:
    with pytest.raises(ExpressionError, match=r"round\(\) takes 1 or 2 arguments, got 3"):
        parse("round(1, 2, 3)")


def test_parse_is_cached_and_expression_is_a_value() -> None:
    first = parse("1 + event.properties.x")
    assert parse("1 + event.properties.x") is first
    assert Expression("1 + event.properties.x") == first
    assert hash(Expression("2")) == hash(parse("2"))
    assert repr(first) == "Expression(source='1 + event.properties.x')"
    with pytest.raises(ExpressionError):
        Expression("1 +")


def test_non_string_source_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        parse(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        parse("1").evaluate(code="c", timestamp=1.5, properties={})  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------
# Evaluation errors
# --------------------------------------------------------------------------------------------------

EVALUATION_ERRORS = [
    ("event.properties.missing", "missing_property"),
    ("'a' + 1", "expected_number"),
    ("1 + 'a'", "expected_number"),
    ("'1' + 1", "expected_number"),  # string literals are never coerced
    ("-'a'", "expected_number"),
    ("-event.properties.s", "expected_number"),
    ("'a' * 'b'", "expected_number"),
    ("round('1.5')", "expected_number"),
    ("round(1.5, '1')", "expected_number"),
    ("least(1, 'a')", "expected_number"),
    ("greatest('a')", "expected_number"),
    ("event.code * 2", "expected_number"),
    ("1 / 0", "division_by_zero"),
    ("1 / 0.000", "division_by_zero"),
    ("1 / (2 - 2)", "division_by_zero"),
    ("0 / 0", "division_by_zero"),
    ("1 / event.properties.zero", "division_by_zero"),
    # digits beyond i64 (Lago: "Expected a decimal")
    ("round(1, 10000000000000000000)", "number_out_of_range"),
    ("round(1, 100000)", "number_out_of_range"),
    ("ceil(5, -100000)", "number_out_of_range"),
    ("round(1, 4001)", "number_out_of_range"),
    ("event.properties.huge + 1", "number_out_of_range"),
    ("event.properties.long", "number_out_of_range"),
    ("event.properties.tiny", "number_out_of_range"),
]


@pytest.mark.parametrize(("source", "code"), EVALUATION_ERRORS)
def test_evaluation_errors(source: str, code: str) -> None:
    properties = {"s": "abc", "zero": "0", "huge": "1e10000", "long": "9" * 4001, "tiny": "1e-10001"}
    with pytest.raises(ExpressionError) as info:
        ev(source, **properties)
    assert info.value.code == code
    assert info.value.position is None


def test_first_error_in_evaluation_order_wins() -> None:
    # left operand is converted to a number before the right one is evaluated
    with pytest.raises(ExpressionError) as info:
        ev("'a' + event.properties.missing")
    assert info.value.code == "expected_number"
    with pytest.raises(ExpressionError) as info:
        ev("event.properties.missing + 'a'")
    assert info.value.code == "missing_property"


def test_errors_do_not_depend_on_unused_branches() -> None:
    # property values are only looked at when used
    assert ev("1 + 1", bad=math.nan) == 2


# --------------------------------------------------------------------------------------------------
# Limits: hostile input fails fast with ExpressionError
# --------------------------------------------------------------------------------------------------


def _timed(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _raises_invalid(source: str) -> ExpressionError:
    with pytest.raises(ExpressionError) as info:
        parse(source)
    assert info.value.code == "invalid_expression"
    return info.value


def test_ten_thousand_nested_parentheses() -> None:
    source = "(" * 10_000 + "1" + ")" * 10_000
    assert _timed(lambda: _raises_invalid(source)) < 0.5
    # under the length limit, nesting is what stops it
    source = "(" * 4_000 + "1" + ")" * 4_000
    assert "nested deeper" in _raises_invalid(source).message


def test_nesting_limit_boundary() -> None:
    ok = "(" * MAX_NESTING_DEPTH + "1" + ")" * MAX_NESTING_DEPTH
    assert ev(ok) == 1
    calls = "round(" * MAX_NESTING_DEPTH + "1.5" + ")" * MAX_NESTING_DEPTH
    assert ev(calls) == 2
    assert "nested deeper" in _raises_invalid("(" + ok + ")").message
    assert "nested deeper" in _raises_invalid("-(" * (MAX_NESTING_DEPTH + 1) + "1" + ")" * 65).message


def test_one_megabyte_inputs() -> None:
    for source in ("1" * 1_000_000, "'" + "a" * 1_000_000 + "'", "1+" * 500_000 + "1", " " * 1_000_000):
        error = _timed(lambda s=source: _raises_invalid(s))
        assert error < 0.5
    assert "longer than" in _raises_invalid("x" * (MAX_EXPRESSION_LENGTH + 1)).message


def test_length_limit_boundary() -> None:
    source = "1" + "+1" * ((MAX_EXPRESSION_LENGTH - 1) // 2)
    assert len(source) <= MAX_EXPRESSION_LENGTH
    assert ev(source) == (MAX_EXPRESSION_LENGTH - 1) // 2 + 1  # long flat chains do not recurse
    assert ev("1" + "*1" * ((MAX_EXPRESSION_LENGTH - 1) // 2)) == 1
    assert ev("-1" + "--1" * ((MAX_EXPRESSION_LENGTH - 2) // 3)) == (MAX_EXPRESSION_LENGTH - 2) // 3 - 1


def test_huge_numbers_fail_fast() -> None:
    cases = [
        ("event.properties.a + event.properties.b", {"a": "1e10000", "b": "1e-10000"}),
        ("event.properties.a * event.properties.a * event.properties.a", {"a": "9" * 3000}),
        ("round(event.properties.a, 10000)", {"a": "1"}),
        ("ceil(event.properties.a, -10001)", {"a": "9" * 4000}),
    ]
    for source, properties in cases:

        def run(source: str = source, properties: dict[str, str] = properties) -> None:
            with pytest.raises(ExpressionError) as info:
                ev(source, **properties)
            assert info.value.code == "number_out_of_range"

        assert _timed(run) < 0.5
    # right at the limits is fine
    assert ev("ceil(event.properties.a, -10000)", a="9" * 3999) == Decimal("1E+10000")
    assert ev("event.properties.a / 7", a="9" * 4000) > 0
    assert len(ev("concat(event.properties.a)", a="1e-10000")) == len("1E-10000")


def test_many_divisions_stay_fast() -> None:
    source = "1" + "/7" * 3000
    elapsed = _timed(lambda: ev(source))
    assert elapsed < 1.0


# --------------------------------------------------------------------------------------------------
# Property-based: random well-formed arithmetic vs an independent reference
# --------------------------------------------------------------------------------------------------
# The reference computes with Fractions plus each number's exponent (BigDecimal's "scale", needed
# because the place where a non-terminating quotient is rounded depends on it) using closed forms:
# quotient = exact value rounded half away from zero at 10**min(E - 99, ea - eb), E = floor(log10|q|).


class RefDivisionByZero(Exception):
    pass


Ref = tuple[Fraction, int]  # (value, exponent)


@dataclass(frozen=True)
class Lit:
    text: str


@dataclass(frozen=True)
class Prop:
    name: str
    text: str


@dataclass(frozen=True)
class Neg:
    x: Any


@dataclass(frozen=True)
class Bin:
    op: str
    left: Any
    right: Any


@dataclass(frozen=True)
class Rounding:
    fn: str
    spelling: str
    x: Any
    digits: int | None


@dataclass(frozen=True)
class Extreme:
    fn: str
    spelling: str
    args: tuple[Any, ...]


@dataclass(frozen=True)
class Paren:
    x: Any


def _number_text(negative: bool, whole: int, fraction: str) -> str:
    return ("-" if negative else "") + str(whole) + ("." + fraction if fraction else "")


literal_texts = st.builds(
    _number_text,
    st.just(False),
    st.one_of(st.integers(0, 20), st.integers(0, 10**6)),
    st.text("0123456789", max_size=4),
)
property_texts = st.builds(
    _number_text, st.booleans(), st.integers(0, 10**5), st.text("0123456789", max_size=4)
)
leaves = st.one_of(
    st.builds(Lit, literal_texts),
    st.builds(Prop, st.sampled_from(["a", "b", "c"]), property_texts),
)


def _spellings(name: str) -> st.SearchStrategy[str]:
    return st.sampled_from([name, name.upper(), name.capitalize()])


def _extend(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    rounding = st.sampled_from(["round", "ceil", "floor"]).flatmap(
        lambda fn: st.builds(
            Rounding, st.just(fn), _spellings(fn), children, st.one_of(st.none(), st.integers(-3, 4))
        )
    )
    extreme = st.sampled_from(["least", "greatest"]).flatmap(
        lambda fn: st.builds(
            Extreme, st.just(fn), _spellings(fn), st.lists(children, min_size=1, max_size=3).map(tuple)
        )
    )
    return st.one_of(
        st.builds(Bin, st.sampled_from("+-*/"), children, children),
        st.builds(Bin, st.just("/"), children, children),
        st.builds(Neg, children),
        st.builds(Paren, children),
        rounding,
        extreme,
    )


trees = st.recursive(leaves, _extend, max_leaves=10)

PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2}


def render(node: Any) -> str:
    if isinstance(node, Lit):
        return node.text
    if isinstance(node, Prop):
        return f"event.properties.{node.name}"
    if isinstance(node, Paren):
        return f"({render(node.x)})"
    if isinstance(node, Neg):
        inner = render(node.x)
        return f"-({inner})" if isinstance(node.x, Bin | Neg) else f"-{inner}"
    if isinstance(node, Bin):
        left, right = render(node.left), render(node.right)
        if isinstance(node.left, Bin) and PRECEDENCE[node.left.op] < PRECEDENCE[node.op]:
            left = f"({left})"
        if isinstance(node.right, Bin) and PRECEDENCE[node.right.op] <= PRECEDENCE[node.op]:
            right = f"({right})"
        return f"{left} {node.op} {right}"
    if isinstance(node, Rounding):
        digits = "" if node.digits is None else f", {node.digits}"
        return f"{node.spelling}({render(node.x)}{digits})"
    if isinstance(node, Extreme):
        return f"{node.spelling}({', '.join(render(a) for a in node.args)})"
    raise AssertionError(node)


def _text_ref(text: str) -> Ref:
    fraction = text.split(".")[1] if "." in text else ""
    return Fraction(text), -len(fraction)


def _is_quick_one(r: Ref) -> bool:
    return r[0] == 1 and -38 <= r[1] <= 0


def _floor_log10(q: Fraction) -> int:
    q = abs(q)
    e = len(str(q.numerator)) - len(str(q.denominator))
    while Fraction(10) ** e > q:
        e -= 1
    while Fraction(10) ** (e + 1) <= q:
        e += 1
    return e


def _half_away(q: Fraction) -> int:
    n = math.floor(abs(q) + Fraction(1, 2))
    return -n if q < 0 else n


def ref_div(a: Ref, b: Ref) -> Ref:
    (va, ea), (vb, eb) = a, b
    if vb == 0:
        raise RefDivisionByZero
    if va == 0 or _is_quick_one(b):
        return a
    q = va / vb
    e_top = _floor_log10(q)
    place = min(e_top - 99, ea - eb)
    if (q / Fraction(10) ** place).denominator == 1:  # terminates: shortest form, but not coarser than e0
        e = min(ea - eb, e_top)
        while (q / Fraction(10) ** e).denominator != 1:
            e -= 1
        return q, e
    return _half_away(q / Fraction(10) ** place) * Fraction(10) ** place, place


def ref_round(fn: str, r: Ref, digits: int) -> Ref:
    value, _ = r
    unit = Fraction(10) ** -digits
    scaled = value / unit
    n = {"round": _half_away, "ceil": math.ceil, "floor": math.floor}[fn](scaled)
    return n * unit, -digits


def reference(node: Any, props: dict[str, str]) -> Ref:
    if isinstance(node, Lit):
        return _text_ref(node.text)
    if isinstance(node, Prop):
        return _text_ref(props[node.name])
    if isinstance(node, Paren):
        return reference(node.x, props)
    if isinstance(node, Neg):
        value, e = reference(node.x, props)
        return -value, e
    if isinstance(node, Bin):
        a = reference(node.left, props)
        b = reference(node.right, props)
        if node.op == "+":
            return a[0] + b[0], min(a[1], b[1])
        if node.op == "-":
            if b[0] == 0:
                return a
            if a[0] == 0:
                return -b[0], b[1]
            return a[0] - b[0], min(a[1], b[1])
        if node.op == "*":
            if _is_quick_one(a):
                return b
            if _is_quick_one(b):
                return a
            return a[0] * b[0], a[1] + b[1]
        return ref_div(a, b)
    if isinstance(node, Rounding):
        x = reference(node.x, props)
        return ref_round(node.fn, x, 0 if node.digits is None else node.digits)
    if isinstance(node, Extreme):
        values = [reference(a, props) for a in node.args]
        if node.fn == "least":
            return min(values, key=lambda r: r[0])  # first of the smallest
        return max(reversed(values), key=lambda r: r[0])  # last of the largest
    raise AssertionError(node)


def _collect_props(node: Any, out: dict[str, str]) -> None:
    if isinstance(node, Prop):
        out.setdefault(node.name, node.text)
    for child in vars(node).values():
        if isinstance(child, tuple):
            for c in child:
                _collect_props(c, out)
        elif not isinstance(child, str | int | type(None)):
            _collect_props(child, out)


def _restore_props(node: Any, values: dict[str, str]) -> Any:
    """Every occurrence of a property name reads the same event value."""
    if isinstance(node, Prop):
        return Prop(node.name, values[node.name])
    if isinstance(node, Lit):
        return node
    changes = {}
    for key, child in vars(node).items():
        if isinstance(child, tuple):
            changes[key] = tuple(_restore_props(c, values) for c in child)
        elif not isinstance(child, str | int | type(None)):
            changes[key] = _restore_props(child, values)
    return type(node)(**{**vars(node), **changes})


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trees)
def test_random_arithmetic_matches_reference(tree: Any) -> None:
    props: dict[str, str] = {}
    _collect_props(tree, props)
    tree = _restore_props(tree, props)
    source = render(tree)
    try:
        expected = reference(tree, props)
    except RefDivisionByZero:
        with pytest.raises(ExpressionError) as info:
            ev(source, **props)
        assert info.value.code == "division_by_zero"
        return
    result = ev(source, **props)
    assert isinstance(result, Decimal), source
    assert Fraction(result) == expected[0], source
    assert result.as_tuple().exponent == expected[1], source


def test_reference_spot_checks() -> None:
    # the reference itself agrees with hand-computed Lago values
    assert ref_div((Fraction(1), 0), (Fraction(3), 0)) == (Fraction(THIRD), -100)
    assert ref_div((Fraction(50), 0), (Fraction(5), -1)) == (Fraction(10), 1)
    assert ref_round("round", (Fraction(-5, 2), -1), 0) == (Fraction(-3), 0)


def test_module_exports() -> None:
    for name in expr_module.__all__:
        assert hasattr(expr_module, name)
