"""ISO 4217 currencies and their exponents, from babel's CLDR data (no hand-made table)."""

from __future__ import annotations

from functools import lru_cache

from babel.numbers import get_currency_precision, list_currencies


@lru_cache(maxsize=1)
def _known() -> frozenset[str]:
    return frozenset(code for code in list_currencies() if len(code) == 3 and code.isalpha())


def is_currency(code: object) -> bool:
    return isinstance(code, str) and code in _known()


@lru_cache(maxsize=512)
def exponent(code: str) -> int:
    """Number of minor-unit digits: USD 2, JPY 0, KWD 3."""
    if not is_currency(code):
        raise ValueError(f"unknown currency {code!r}")
    return get_currency_precision(code)
