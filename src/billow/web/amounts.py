"""Amounts typed in a form, in the currency's major unit ("49.50" EUR), to and from the minor units
(``4950``) the services take.

People type what an invoice shows; the API takes ``amount_cents``. The conversion is exact (``Decimal``,
the currency's exponent from :func:`billow.kit.currency.exponent`: EUR 2, JPY 0, KWD 3) and refuses,
rather than rounds, an amount with more decimals than the currency has ("49.505" EUR, "10.5" JPY).
"""

from __future__ import annotations

import re
from decimal import Decimal

from billow.errors import ValidationFailed
from billow.kit.currency import exponent, is_currency

#: Digits with an optional sign and decimal point: no exponent ("1e3"), no grouping ("1,000" would be
#: 1.000 in much of Europe), no "NaN"/"Infinity".
_AMOUNT = re.compile(r"[+-]?(?:\d+(?:\.(\d*))?|\.(\d+))")
#: Longer than any amount the API accepts (``kit.limits``), and within ``Decimal``'s 28 digits, so the
#: conversion never rounds.
MAX_LENGTH = 28


def to_minor_units(text: str, currency: str, field: str = "amount_cents") -> int:
    """``"49.5"``, ``"EUR"`` -> ``4950``; ``"1000"``, ``"JPY"`` -> ``1000``; ``"1.250"``, ``"KWD"`` ->
    ``1250``. Not a plain decimal number, more decimals than the currency has, or an unknown currency:
    :class:`~billow.errors.ValidationFailed` ``{field: ["value_is_invalid"]}``. Surrounding spaces are
    ignored; the sign is kept (the service refuses a negative amount with its own code)."""
    cleaned = text.strip()
    match = _AMOUNT.fullmatch(cleaned) if len(cleaned) <= MAX_LENGTH else None
    if match is None or not is_currency(currency):
        raise ValidationFailed.one(field, "value_is_invalid")
    decimals = match.group(1) or match.group(2) or ""
    digits = exponent(currency)
    if len(decimals) > digits:
        raise ValidationFailed.one(field, "value_is_invalid")
    return int(Decimal(cleaned).scaleb(digits))


def to_major_units(cents: int, currency: str) -> str:
    """The form's text of a stored amount: ``4950``, ``"EUR"`` -> ``"49.50"``; ``1000``, ``"JPY"`` ->
    ``"1000"``; ``1250``, ``"KWD"`` -> ``"1.250"`` (no grouping, so it reads back unchanged)."""
    digits = exponent(currency)
    return f"{Decimal(cents).scaleb(-digits):.{digits}f}"
