"""Billable-metric expressions: a parser and evaluator compatible with Lago's ``lago-expression``.

A billable metric may carry an ``expression``; at ingestion Lago evaluates it against each event and stores
the result in ``properties[field_name]``. This module is a clean-room implementation of that language
(Lago's is a Rust crate, getlago/lago-expression, read for behaviour only).

Syntax (only the ASCII space U+0020 counts as whitespace; it may appear between any two tokens, never
inside one; tabs and newlines are syntax errors, as in Lago)::

    expression := operand (("+" | "-" | "*" | "/") operand)*   -- "*" "/" bind tighter; all left-associative
    operand    := ["-"] primary                                -- one unary minus at most: "--1" is an error
    primary    := call | variable | decimal | string | "(" expression ")"
    call       := name "(" expression ("," expression)* ")"
    name       := round | ceil | floor | concat | least | greatest, each spelt all-lowercase,
                  ALL-UPPERCASE or Capitalised (no other mix)
    variable   := "event.code" | "event.timestamp" | "event.properties." [A-Za-z][A-Za-z0-9_]*
    decimal    := [0-9]+ ("." [0-9]+)?                         -- no sign, no exponent, no ".5" or "5."
    string     := "'" (any character but "'")* "'"             -- no escapes

Values are exact decimals or strings. Numbers keep their coefficient and exponent the way Lago's BigDecimal
does (``1.50`` stays ``1.50``) and every operation reproduces Lago's result, including its representation:

* ``+ - *`` are exact. ``a / b`` is exact when the quotient terminates soon enough; otherwise it is rounded
  half away from zero at 10**min(E - 99, exp(a) - exp(b)), E being the exponent of its first digit:
  100 significant digits, or more when the dividend carries more digits than that.
  ``x / 0`` raises ``division_by_zero`` (Lago's Rust code panics there).
* Arithmetic, unary minus, ``round``/``ceil``/``floor`` and ``least``/``greatest`` need numbers; a string
  operand raises ``expected_number``. ``+`` never joins strings: use ``concat``.
* ``round(x[, d])`` rounds half away from zero, ``ceil`` towards +inf, ``floor`` towards -inf, to ``d``
  decimal places (default 0; negative ``d`` rounds to tens, hundreds...; ``d`` is truncated to an integer).
* ``concat(a, ...)`` joins its arguments as text; numbers are written the way Lago writes them
  (``format_number``).
* ``least``/``greatest`` compare numerically; on ties ``least`` keeps the first and ``greatest`` the last.
* ``event.code`` is always a string. ``event.properties.x`` raises ``missing_property`` when absent; a string
  value that Lago's number parser accepts becomes a number (``"12"``, ``"-1.5"``, ``"1e3"``, ``"+5"``,
  ``".5"``, ``"5."``, ``"1_000"``), anything else stays a string (``" 12"``, ``"abc"``, ``""``).

Python property values are converted the way Lago's Ruby binding converts Ruby values: ``int`` as is,
``float`` and ``Decimal`` through Ruby's ``Float#to_s`` notation (``2.50`` -> ``2.5``, ``2.0`` -> ``2.0``,
``1e16`` -> ``1.0e+16``; Decimal digits are kept exactly, Lago would have rounded them to a double),
``bool`` as ``"true"``/``"false"``, ``None`` as ``""``, lists/dicts as Ruby's ``inspect`` text
(best effort). NaN and infinities raise ``invalid_property_value``.

Limits (Lago has none; these make hostile input fail fast instead of exhausting memory or the stack):
``MAX_EXPRESSION_LENGTH`` characters, ``MAX_NESTING_DEPTH`` levels of parentheses/calls, numbers of at
most ``MAX_DIGITS`` significant digits and exponents within +/-``MAX_EXPONENT``. Long ``+``/``*`` chains are
kept flat, so ``1+1+...+1`` up to the length limit neither recurses deeply nor fails.
"""

from __future__ import annotations

import decimal
import functools
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

__all__ = [
    "DIVISION_BY_ZERO",
    "EXPECTED_NUMBER",
    "INVALID_EXPRESSION",
    "INVALID_PROPERTY_VALUE",
    "MAX_DIGITS",
    "MAX_EXPONENT",
    "MAX_EXPRESSION_LENGTH",
    "MAX_NESTING_DEPTH",
    "MISSING_PROPERTY",
    "NUMBER_OUT_OF_RANGE",
    "Expression",
    "ExpressionError",
    "format_number",
    "format_ruby_decimal",
    "parse",
    "validate",
]

MAX_EXPRESSION_LENGTH = 10_000
"""Longest accepted source text, in characters."""
MAX_NESTING_DEPTH = 64
"""Deepest accepted nesting of parentheses and function calls."""
MAX_DIGITS = 4_000
"""Most significant digits a number may have (literal, property, timestamp or intermediate result).
Kept below Python's default 4300-digit int/str conversion limit."""
MAX_EXPONENT = 10_000
"""Largest absolute decimal exponent a number may have (``1e-10000`` is fine, ``1e-10001`` is not)."""
DIVISION_PRECISION = 100
"""Significant digits of a non-terminating quotient (Lago's BigDecimal default precision)."""

# Error codes (``ExpressionError.code``).
INVALID_EXPRESSION = "invalid_expression"
MISSING_PROPERTY = "missing_property"
EXPECTED_NUMBER = "expected_number"
DIVISION_BY_ZERO = "division_by_zero"
NUMBER_OUT_OF_RANGE = "number_out_of_range"
INVALID_PROPERTY_VALUE = "invalid_property_value"


class ExpressionError(ValueError):
    """An expression that does not parse, or an event it cannot be evaluated against.

    ``code`` is a short snake_case identifier (one of the module's error-code constants); ``position`` is
    the 0-based offset in the source for syntax errors, ``None`` otherwise.
    """

    def __init__(self, message: str, *, code: str = INVALID_EXPRESSION, position: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.position = position


# --------------------------------------------------------------------------------------------------
# Numbers: an exact integer coefficient and a power-of-ten exponent, value = coef * 10**exp.
# --------------------------------------------------------------------------------------------------

_LOG10_2 = math.log10(2)
_EXACT = decimal.Context(
    prec=decimal.MAX_PREC, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN, traps=[decimal.InvalidOperation]
)
_ROUND, _CEIL, _FLOOR = "round", "ceil", "floor"


class _Num:
    __slots__ = ("coef", "exp")

    def __init__(self, coef: int, exp: int) -> None:
        self.coef = coef
        self.exp = exp

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"_Num({self.coef}e{self.exp})"


_Value = _Num | str


def _ndigits(n: int) -> int:
    """Number of decimal digits of |n| (1 for zero), without converting to a string."""
    n = abs(n)
    if n == 0:
        return 1
    estimate = int(n.bit_length() * _LOG10_2)  # either the digit count or one less
    return estimate + 1 if n >= 10**estimate else estimate


def _out_of_range(what: str) -> ExpressionError:
    return ExpressionError(
        f"{what} is out of range (at most {MAX_DIGITS} significant digits "
        f"and exponents within +/-{MAX_EXPONENT})",
        code=NUMBER_OUT_OF_RANGE,
    )


def _make(coef: int, exp: int, what: str = "number") -> _Num:
    if abs(exp) > MAX_EXPONENT or (coef and _ndigits(coef) > MAX_DIGITS):
        raise _out_of_range(what)
    return _Num(coef, exp)


def _to_decimal(n: _Num) -> Decimal:
    return Decimal(n.coef).scaleb(n.exp, _EXACT)


def _is_one_quick(n: _Num) -> bool:
    # Lago's BigDecimal short-cuts "x * 1", "1 * x" and "x / 1" when the 1 is written with 0 to 38 decimals;
    # the short-cut keeps the other operand's representation.
    return n.coef > 0 and -38 <= n.exp <= 0 and n.coef == 10**-n.exp


def _align(a: _Num, b: _Num) -> tuple[int, int, int]:
    """Both coefficients at the smaller exponent (exact), refusing to build oversized integers."""
    if a.exp == b.exp:
        return a.coef, b.coef, a.exp
    high, low = (a, b) if a.exp > b.exp else (b, a)
    shift = high.exp - low.exp
    if high.coef and _ndigits(high.coef) + shift > MAX_DIGITS:
        raise _out_of_range("intermediate result")
    scaled = high.coef * 10**shift
    return (scaled, low.coef, low.exp) if high is a else (low.coef, scaled, low.exp)


def _add(a: _Num, b: _Num) -> _Num:
    ca, cb, exp = _align(a, b)
    return _make(ca + cb, exp, "sum")


def _sub(a: _Num, b: _Num) -> _Num:
    if b.coef == 0:  # Lago returns the left operand unchanged (no rescaling)
        return a
    if a.coef == 0:  # ... and the negated right operand here
        return _Num(-b.coef, b.exp)
    ca, cb, exp = _align(a, b)
    return _make(ca - cb, exp, "difference")


def _mul(a: _Num, b: _Num) -> _Num:
    if _is_one_quick(a):
        return b
    if _is_one_quick(b):
        return a
    return _make(a.coef * b.coef, a.exp + b.exp, "product")


def _div(a: _Num, b: _Num) -> _Num:
    if b.coef == 0:
        raise ExpressionError("division by zero", code=DIVISION_BY_ZERO)
    if a.coef == 0 or _is_one_quick(b):
        return a
    exp = a.exp - b.exp
    if a.coef == b.coef:
        return _make(1, exp, "quotient")
    negative = (a.coef < 0) != (b.coef < 0)
    num, den = abs(a.coef), abs(b.coef)
    # Scale the dividend up until it is at least the divisor; the first quotient then has >= 1 digit.
    if num < den:
        shift = _ndigits(den) - _ndigits(num)
        num *= 10**shift
        if num < den:
            num *= 10
            shift += 1
        exp -= shift
    quotient, remainder = divmod(num, den)
    if remainder:
        precision = _ndigits(quotient)
        remainder *= 10
        while remainder and precision < DIVISION_PRECISION:
            digit, remainder = divmod(remainder, den)
            quotient = quotient * 10 + digit
            remainder *= 10
            precision += 1
            exp -= 1
        if remainder and remainder // den >= 5:  # the next digit decides: half away from zero
            quotient += 1
    return _make(-quotient if negative else quotient, exp, "quotient")


def _compare(a: _Num, b: _Num) -> int:
    x, y = _to_decimal(a), _to_decimal(b)
    return (x > y) - (x < y)


def _rounded(x: _Num, places: int, mode: str) -> _Num:
    target = -places
    if abs(target) > MAX_EXPONENT:
        raise _out_of_range(f"{mode}() digits argument {places}")
    if x.coef == 0:
        return _Num(0, target)
    if target == x.exp:
        return x
    if target < x.exp:  # more decimals: pad with zeros
        shift = x.exp - target
        if _ndigits(x.coef) + shift > MAX_DIGITS:
            raise _out_of_range(f"{mode}() result")
        return _Num(x.coef * 10**shift, target)
    drop = target - x.exp
    magnitude = abs(x.coef)
    if drop > _ndigits(magnitude) + 1:
        # Every digit goes and the value is below half a unit of the target place.
        kept, remainder, half_or_more = 0, magnitude, False
    else:
        unit = 10**drop
        kept, remainder = divmod(magnitude, unit)
        half_or_more = 2 * remainder >= unit
    if remainder:
        if mode == _ROUND:
            kept += half_or_more
        elif mode == _CEIL:
            kept += x.coef > 0
        else:
            kept += x.coef < 0
    return _Num(-kept if x.coef < 0 else kept, target)


# --------------------------------------------------------------------------------------------------
# Text <-> numbers
# --------------------------------------------------------------------------------------------------


def _parse_int_literal(text: str) -> int | None:
    """A signed integer as Rust's ``i128::from_str`` reads it (exponent part of a number), or None."""
    body = text[1:] if text[:1] in ("+", "-") else text
    if not body or not all("0" <= ch <= "9" for ch in body):
        return None
    body = body.lstrip("0") or "0"
    if len(body) > 40:
        return None
    value = int(body)
    value = -value if text[:1] == "-" else value
    return value if -(2**127) <= value < 2**127 else None


class _TooManyDigits(Exception):
    pass


def _parse_bigint(text: str) -> int | None:
    """A signed integer as Lago's big-integer parser reads it: one optional sign, digits, and "_"
    separators anywhere but first. Returns None when it is not such an integer."""
    negative = False
    if text.startswith("-"):
        negative = True
        if not text[1:].startswith("+"):
            text = text[1:]
    if text.startswith("+") and not text[1:].startswith("+"):
        text = text[1:]
    if not text or text.startswith("_"):
        return None
    digits = []
    for ch in text:
        if "0" <= ch <= "9":
            digits.append(ch)
        elif ch != "_":
            return None
    significant = "".join(digits).lstrip("0") or "0"
    if len(significant) > MAX_DIGITS:
        raise _TooManyDigits
    value = int(significant)
    return -value if negative else value


def _parse_number_text(text: str) -> tuple[int, int] | None:
    """(coefficient, exponent) when Lago's decimal parser accepts ``text``, else None.

    Accepted: an optional sign, digits with optional "_" separators, an optional "." (leading or
    trailing allowed: ".5", "5."), an optional exponent "e"/"E" with an optional sign. Nothing else
    (no spaces, no "inf"/"nan", no hex).
    """
    marker = min((i for i in (text.find("e"), text.find("E")) if i >= 0), default=-1)
    if marker >= 0:
        base = text[:marker]
        exponent = _parse_int_literal(text[marker + 1 :])
        if exponent is None:
            return None
    else:
        base, exponent = text, 0
    if not base:
        return None
    dot = base.find(".")
    if dot < 0:
        digits, decimals = base, 0
    elif dot == len(base) - 1:
        digits, decimals = base[:-1], 0
    else:
        fraction = base[dot + 1 :]
        digits = base[:dot] + fraction
        decimals = sum(1 for ch in fraction if ch != "_")
    scale = decimals - exponent
    if not -(2**63) <= scale < 2**63:
        return None
    coef = _parse_bigint(digits)
    if coef is None:
        return None
    return coef, -scale


def _number_from_text(text: str, what: str) -> _Num | None:
    try:
        parsed = _parse_number_text(text)
    except _TooManyDigits:
        raise _out_of_range(what) from None
    if parsed is None:
        return None
    return _make(parsed[0], parsed[1], what)


def _display(negative: bool, digits: str, exp: int) -> str:
    """Lago's (Rust BigDecimal's) text for digits * 10**exp: plain notation unless there would be more
    than 5 zeros between the point and the first digit ("1.5E-7") or more than 15 trailing zeros
    before the point ("1e+16")."""
    if digits.strip("0") == "":
        return "0"
    sign = "-" if negative else ""
    n = len(digits)
    scale = -exp
    leading_zeros = scale - n if scale >= n else 0
    if leading_zeros > 5:
        mantissa = digits[0] + ("." + digits[1:] if n > 1 else "")
        return f"{sign}{mantissa}E{n - scale - 1:+d}"
    if scale < 0 and -scale > 15:
        return f"{sign}{digits}e{-scale:+d}"
    if scale <= 0:
        return sign + digits + "0" * -scale
    if scale < n:
        return f"{sign}{digits[: n - scale]}.{digits[n - scale :]}"
    return f"{sign}0.{'0' * (scale - n)}{digits}"


def _num_text(n: _Num) -> str:
    return _display(n.coef < 0, str(abs(n.coef)), n.exp)


def format_number(value: Decimal) -> str:
    """A number written the way Lago writes it when it becomes text (``concat``, Lago's Go event
    processor): ``1.50``, ``10`` for round(12.34, -1), ``0`` for any zero, ``1.2E-7``, ``1e+16``."""
    if not value.is_finite():
        raise ValueError(f"not a finite number: {value}")
    sign, digits, exp = value.as_tuple()
    return _display(bool(sign), "".join(map(str, digits)), int(exp))


def format_ruby_decimal(value: Decimal) -> str:
    """A number as Lago's Rails API serialises it (Ruby ``BigDecimal#to_s("F")``): plain notation,
    trailing zeros dropped but at least one decimal (``2.0``, ``12.177``, ``0.0000001``, ``-3.5``).
    This is the shape of ``expression_result.value`` and of a computed event property in Lago."""
    if not value.is_finite():
        raise ValueError(f"not a finite number: {value}")
    sign, digit_tuple, exp = value.as_tuple()
    digits = "".join(map(str, digit_tuple)).lstrip("0")
    if not digits:
        return "0.0"
    stripped = digits.rstrip("0")
    exp = int(exp) + len(digits) - len(stripped)
    digits = stripped
    if exp >= 0:
        whole, fraction = digits + "0" * exp, "0"
    elif -exp >= len(digits):
        whole, fraction = "0", "0" * (-exp - len(digits)) + digits
    else:
        whole, fraction = digits[:exp], digits[exp:]
    return f"{'-' if sign else ''}{whole}.{fraction}"


def _ruby_float_text(negative: bool, digits: str, exp: int) -> str:
    """Ruby's ``Float#to_s`` layout for the (shortest) digits of a float: fixed notation with at least
    one decimal when the point falls within the first 16 positions or at most 3 zeros after it,
    otherwise ``d.ddde+XX``."""
    sign = "-" if negative else ""
    stripped = digits.lstrip("0")
    if not stripped:
        return sign + "0.0"
    exp += len(stripped) - len(stripped.rstrip("0"))
    digits = stripped.rstrip("0")
    n = len(digits)
    point = n + exp  # position of the decimal point relative to the first digit
    if 0 < point <= 16:
        if point < n:
            return f"{sign}{digits[:point]}.{digits[point:]}"
        return f"{sign}{digits}{'0' * (point - n)}.0"
    if -4 < point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    return f"{sign}{digits[0]}.{digits[1:] or '0'}e{point - 1:+03d}"


def _ruby_inspect(value: Any) -> str:
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
        return f'"{escaped}"'
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_ruby_inspect(k)} => {_ruby_inspect(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_ruby_inspect(v) for v in value) + "]"
    return _ruby_to_s(value)


def _ruby_to_s(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float | Decimal):
        sign, digits, exp = Decimal(repr(value) if isinstance(value, float) else value).as_tuple()
        return _ruby_float_text(bool(sign), "".join(map(str, digits)), int(exp))
    if isinstance(value, Mapping | list | tuple):
        return _ruby_inspect(value)
    return str(value)


def _property_value(name: str, value: Any) -> _Value:
    what = f"property {name!r}"
    if isinstance(value, str):
        number = _number_from_text(value, what)
        return value if number is None else number
    if isinstance(value, bool) or value is None or isinstance(value, Mapping | list | tuple):
        return _ruby_to_s(value)
    if isinstance(value, int):
        return _make(value, 0, what)
    if isinstance(value, float | Decimal):
        finite = math.isfinite(value) if isinstance(value, float) else value.is_finite()
        if not finite:
            raise ExpressionError(f"{what} is not a finite number: {value}", code=INVALID_PROPERTY_VALUE)
        number = _number_from_text(_ruby_to_s(value), what)
        assert number is not None
        return number
    return str(value)


def _timestamp_value(timestamp: Decimal | int) -> _Num:
    if isinstance(timestamp, bool) or not isinstance(timestamp, int | Decimal):
        raise TypeError(
            f"timestamp must be an int or a Decimal (Unix seconds), not {type(timestamp).__name__}"
        )
    if isinstance(timestamp, int):
        return _make(timestamp, 0, "event.timestamp")
    if not timestamp.is_finite():
        raise ExpressionError(
            f"event.timestamp is not a finite number: {timestamp}", code=INVALID_PROPERTY_VALUE
        )
    exp = int(timestamp.as_tuple().exponent)
    if abs(exp) > MAX_EXPONENT:
        raise _out_of_range("event.timestamp")
    return _make(int(timestamp.scaleb(-exp, _EXACT)), exp, "event.timestamp")


# --------------------------------------------------------------------------------------------------
# Syntax tree and evaluation
# --------------------------------------------------------------------------------------------------


class _Env:
    __slots__ = ("code", "properties", "timestamp")

    def __init__(self, code: str, timestamp: _Num, properties: Mapping[str, Any]) -> None:
        self.code = code
        self.timestamp = timestamp
        self.properties = properties


def _describe(value: _Value) -> str:
    if isinstance(value, str):
        return f"the string {value[:40]!r}" + ("..." if len(value) > 40 else "")
    return _num_text(value)


def _number(value: _Value, context: str) -> _Num:
    if isinstance(value, str):
        raise ExpressionError(f"{context} expects a number, got {_describe(value)}", code=EXPECTED_NUMBER)
    return value


class _Node(ABC):
    __slots__ = ()

    @abstractmethod
    def eval(self, env: _Env) -> _Value:
        """The node's value in ``env`` (every node kind implements it)."""


class _Const(_Node):
    __slots__ = ("value",)

    def __init__(self, value: _Value) -> None:
        self.value = value

    def eval(self, env: _Env) -> _Value:
        return self.value


class _Code(_Node):
    __slots__ = ()

    def eval(self, env: _Env) -> _Value:
        return env.code


class _Timestamp(_Node):
    __slots__ = ()

    def eval(self, env: _Env) -> _Value:
        return env.timestamp


class _Property(_Node):
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def eval(self, env: _Env) -> _Value:
        try:
            raw = env.properties[self.name]
        except KeyError:
            raise ExpressionError(
                f"event.properties.{self.name} is missing from the event", code=MISSING_PROPERTY
            ) from None
        return _property_value(self.name, raw)


class _Negate(_Node):
    __slots__ = ("operand",)

    def __init__(self, operand: _Node) -> None:
        self.operand = operand

    def eval(self, env: _Env) -> _Value:
        value = _number(self.operand.eval(env), "unary '-'")
        return _Num(-value.coef, value.exp)


_OPERATIONS: dict[str, Callable[[_Num, _Num], _Num]] = {"+": _add, "-": _sub, "*": _mul, "/": _div}


class _Chain(_Node):
    """``first op1 x1 op2 x2 ...`` for operators of one precedence level, applied left to right.

    Kept flat (rather than as a left-leaning binary tree) so long chains never recurse deeply."""

    __slots__ = ("first", "rest")

    def __init__(self, first: _Node, rest: tuple[tuple[str, _Node], ...]) -> None:
        self.first = first
        self.rest = rest

    def eval(self, env: _Env) -> _Value:
        op = self.rest[0][0]
        acc = _number(self.first.eval(env), f"operator '{op}'")
        for op, node in self.rest:
            rhs = _number(node.eval(env), f"operator '{op}'")
            acc = _OPERATIONS[op](acc, rhs)
        return acc


class _Call(_Node):
    __slots__ = ("args", "name")

    def __init__(self, name: str, args: tuple[_Node, ...]) -> None:
        self.name = name
        self.args = args

    def eval(self, env: _Env) -> _Value:
        name = self.name
        if name == "concat":
            parts = [arg.eval(env) for arg in self.args]
            return "".join(p if isinstance(p, str) else _num_text(p) for p in parts)
        if name in (_ROUND, _CEIL, _FLOOR):
            x = _number(self.args[0].eval(env), f"{name}()")
            places = 0
            if len(self.args) == 2:
                d = _number(self.args[1].eval(env), f"{name}() digits")
                places = _truncate_to_i64(d, name)
            return _rounded(x, places, name)
        values = [_number(arg.eval(env), f"{name}()") for arg in self.args]
        best = values[0]
        for candidate in values[1:]:
            order = _compare(candidate, best)
            # ties: least keeps the first minimum, greatest the last maximum (Rust's min()/max())
            if (name == "least" and order < 0) or (name == "greatest" and order >= 0):
                best = candidate
        return best


def _truncate_to_i64(d: _Num, name: str) -> int:
    if d.exp >= 0:
        if d.coef and _ndigits(d.coef) + d.exp > 20:
            raise _out_of_range(f"{name}() digits argument")
        value = d.coef * 10**d.exp
    else:
        drop = -d.exp
        value = 0 if drop > _ndigits(d.coef) else abs(d.coef) // 10**drop * (1 if d.coef >= 0 else -1)
    if not -(2**63) <= value < 2**63:
        raise _out_of_range(f"{name}() digits argument")
    return value


# --------------------------------------------------------------------------------------------------
# Parser (recursive descent over the source text; no tokenizer state beyond a position)
# --------------------------------------------------------------------------------------------------

_FUNCTION_ARITY: dict[str, tuple[int, int | None]] = {
    "round": (1, 2),
    "ceil": (1, 2),
    "floor": (1, 2),
    "concat": (1, None),
    "least": (1, None),
    "greatest": (1, None),
}
_FUNCTION_SPELLINGS = {
    spelling: name for name in _FUNCTION_ARITY for spelling in (name, name.upper(), name.capitalize())
}
_EXPECTED_OPERAND = (
    "expected a number, a 'string', event.code, event.timestamp, event.properties.<name>, "
    "a function call or '('"
)


def _is_alpha(ch: str) -> bool:
    return ("a" <= ch <= "z") or ("A" <= ch <= "Z")


def _is_word_char(ch: str) -> bool:
    return _is_alpha(ch) or ("0" <= ch <= "9") or ch == "_"


class _Parser:
    def __init__(self, source: str) -> None:
        self.src = source
        self.n = len(source)
        self.pos = 0
        self.depth = 0

    # -- helpers ---------------------------------------------------------------------------------
    def fail(self, reason: str, position: int | None = None) -> ExpressionError:
        pos = self.pos if position is None else position
        found = repr(self.src[pos]) if pos < self.n else "end of input"
        start = max(0, pos - 20)
        excerpt = ("..." if start else "") + self.src[start : pos + 20] + ("..." if pos + 20 < self.n else "")
        return ExpressionError(
            f"invalid expression: {reason} at column {pos + 1} (found {found}) in {excerpt!r}",
            code=INVALID_EXPRESSION,
            position=pos,
        )

    def peek(self) -> str:
        while self.pos < self.n and self.src[self.pos] == " ":
            self.pos += 1
        return self.src[self.pos] if self.pos < self.n else ""

    def expect(self, char: str, reason: str) -> None:
        if self.peek() != char:
            raise self.fail(reason)
        self.pos += 1

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING_DEPTH:
            raise self.fail(f"parentheses and function calls nested deeper than {MAX_NESTING_DEPTH} levels")

    # -- grammar ---------------------------------------------------------------------------------
    def parse(self) -> _Node:
        if self.n > MAX_EXPRESSION_LENGTH:
            raise ExpressionError(
                f"invalid expression: longer than {MAX_EXPRESSION_LENGTH} characters ({self.n})",
                code=INVALID_EXPRESSION,
                position=MAX_EXPRESSION_LENGTH,
            )
        if self.peek() == "":
            raise self.fail("empty expression")
        node = self.expression()
        if self.peek() != "":
            raise self.fail("expected an operator (+ - * /) or the end of the expression")
        return node

    def expression(self) -> _Node:
        return self.chain(("+", "-"), self.term)

    def term(self) -> _Node:
        return self.chain(("*", "/"), self.operand)

    def chain(self, operators: tuple[str, str], parse_next: Callable[[], _Node]) -> _Node:
        first = parse_next()
        rest: list[tuple[str, _Node]] = []
        while (op := self.peek()) and op in operators:
            self.pos += 1
            rest.append((op, parse_next()))
        return _Chain(first, tuple(rest)) if rest else first

    def operand(self) -> _Node:
        if self.peek() == "-":
            self.pos += 1
            if self.peek() == "-":
                raise self.fail("only one unary '-' may precede an operand; write -(-x)")
            return _Negate(self.primary())
        return self.primary()

    def primary(self) -> _Node:
        ch = self.peek()
        if ch == "(":
            self.pos += 1
            self.enter()
            node = self.expression()
            self.expect(")", "expected ')' or an operator")
            self.depth -= 1
            return node
        if ch == "'":
            end = self.src.find("'", self.pos + 1)
            if end < 0:
                raise self.fail("unterminated string (strings are 'single-quoted')")
            text = self.src[self.pos + 1 : end]
            self.pos = end + 1
            return _Const(text)
        if "0" <= ch <= "9":
            return self.decimal()
        if _is_alpha(ch):
            if self.src.startswith("event.", self.pos):
                return self.variable()
            return self.call()
        raise self.fail(_EXPECTED_OPERAND)

    def decimal(self) -> _Node:
        start = self.pos
        src, n = self.src, self.n
        pos = start
        while pos < n and "0" <= src[pos] <= "9":
            pos += 1
        whole = src[start:pos]
        fraction = ""
        if pos + 1 < n and src[pos] == "." and "0" <= src[pos + 1] <= "9":
            frac_start = pos + 1
            pos = frac_start
            while pos < n and "0" <= src[pos] <= "9":
                pos += 1
            fraction = src[frac_start:pos]
        significant = (whole + fraction).lstrip("0") or "0"
        if len(significant) > MAX_DIGITS:
            raise self.fail(f"number literal has more than {MAX_DIGITS} significant digits", start)
        self.pos = pos
        return _Const(_Num(int(significant), -len(fraction)))

    def variable(self) -> _Node:
        start = self.pos
        src = self.src
        pos = start + len("event.")
        if src.startswith("timestamp", pos):
            self.pos = pos + len("timestamp")
            return _Timestamp()
        prefix = "properties."
        if src.startswith(prefix, pos) and pos + len(prefix) < self.n and _is_alpha(src[pos + len(prefix)]):
            name_start = pos + len(prefix)
            end = name_start + 1
            while end < self.n and _is_word_char(src[end]):
                end += 1
            self.pos = end
            return _Property(src[name_start:end])
        if src.startswith("code", pos):
            self.pos = pos + len("code")
            return _Code()
        raise self.fail(
            "expected event.code, event.timestamp or event.properties.<name> "
            "(a name starts with a letter, then letters, digits or '_')",
            start,
        )

    def call(self) -> _Node:
        start = self.pos
        end = start
        while end < self.n and _is_word_char(self.src[end]):
            end += 1
        word = self.src[start:end]
        name = _FUNCTION_SPELLINGS.get(word)
        if name is None:
            raise self.fail(
                f"unknown function or name {word!r} (functions: round, ceil, floor, concat, least, greatest; "
                "spelt lowercase, UPPERCASE or Capitalised)",
                start,
            )
        self.pos = end
        self.expect("(", f"expected '(' after {word}")
        self.enter()
        args = [self.expression()]
        while self.peek() == ",":
            self.pos += 1
            args.append(self.expression())
        self.expect(")", "expected ',' or ')' in the argument list")
        self.depth -= 1
        low, high = _FUNCTION_ARITY[name]
        if len(args) < low or (high is not None and len(args) > high):
            raise self.fail(f"{word}() takes 1 or 2 arguments, got {len(args)}", start)
        return _Call(name, tuple(args))


# --------------------------------------------------------------------------------------------------
# Public interface
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expression:
    """A parsed expression. Build it with ``parse()`` (cached); constructing it directly parses too."""

    source: str
    _root: _Node = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.source, str):
            raise TypeError(f"expression source must be a str, not {type(self.source).__name__}")
        object.__setattr__(self, "_root", _Parser(self.source).parse())

    def evaluate(
        self, *, code: str, timestamp: Decimal | int, properties: Mapping[str, Any]
    ) -> Decimal | str:
        """The expression's value for one event: a ``Decimal`` (with Lago's coefficient and exponent,
        e.g. ``Decimal('1.50')``, ``Decimal('1E+1')``) or a ``str``.

        Raises ``ExpressionError`` with code ``missing_property``, ``expected_number``,
        ``division_by_zero``, ``number_out_of_range`` or ``invalid_property_value``."""
        if not isinstance(code, str):
            raise TypeError(f"code must be a str, not {type(code).__name__}")
        env = _Env(code, _timestamp_value(timestamp), properties)
        value = self._root.eval(env)
        return value if isinstance(value, str) else _to_decimal(value)


@functools.lru_cache(maxsize=1024)
def _parse_cached(source: str) -> Expression:
    return Expression(source)


def parse(source: str) -> Expression:
    """Parse ``source``; raises ``ExpressionError`` (code ``invalid_expression``). Results are cached."""
    if not isinstance(source, str):
        raise TypeError(f"expression source must be a str, not {type(source).__name__}")
    if len(source) > MAX_EXPRESSION_LENGTH:  # rejected before it becomes a cache key
        return Expression(source)  # raises
    return _parse_cached(source)


def validate(source: str) -> None:
    """Raise ``ExpressionError`` (code ``invalid_expression``) unless ``source`` parses."""
    parse(source)
