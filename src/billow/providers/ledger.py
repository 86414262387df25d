"""Pure translation of Billow's invoices and credit notes into accounting lines (shared by the
accounting providers): every amount from integer minor units, exactly, as ``Decimal`` in currency units.

An invoice becomes its fee lines (the line's own mapping, else ``mappings["fallback_item"]``), then the
deductions as negative lines (``coupon``, ``credit_note``, ``prepaid_credit`` mappings) and the taxes
(``tax`` mapping). Lago's arithmetic: ``total = fees - coupons + taxes - credit_notes - prepaid_credit``;
a snapshot whose figures do not add up is refused rather than synced with a wrong total.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext

from billow.kit.currency import exponent
from billow.kit.money import QUANTIZE
from billow.providers.interface import CreditNoteData, InvoiceData, ItemMapping, ProviderError


@dataclass(frozen=True)
class LedgerLine:
    kind: str  #: ``fee``, ``coupon``, ``credit_note``, ``prepaid_credit``, ``tax``, ``credit``
    description: str
    mapping: ItemMapping
    amount_cents: int  #: negative for a deduction
    quantity: Decimal
    unit_amount: Decimal  #: currency units (may carry more digits than the currency)
    amount: Decimal  #: currency units, exactly ``amount_cents`` at the currency's exponent
    taxes_amount_cents: int = 0
    source_id: str | None = None


def money(cents: int, currency: str) -> Decimal:
    """Integer minor units → currency units at the currency's exponent: 1050 EUR → 10.50, 1050 JPY → 1050,
    1050 KWD → 1.050 (exact: a shift of the decimal point)."""
    return Decimal(cents).scaleb(-exponent(currency))


def to_float(value: Decimal) -> float:
    """For an SDK that only takes floats: the shortest float repr of a quantized Decimal reads back as the
    same decimal (Decimal("0.30") → 0.3, not 0.30000000000000004)."""
    return float(value)


def quantity_and_unit(
    units: Decimal, unit_amount_cents: Decimal, amount_cents: int, currency: str, max_places: int
) -> tuple[Decimal, Decimal]:
    """The quantity and unit price to send so that ``quantity * unit`` rounds to the line's amount.

    Billow's unit price may carry sub-cent digits; when ``units * unit`` rounded half-up to the currency
    does not land on ``amount_cents`` (a prorated or graduated fee), or the unit needs more than
    ``max_places`` decimals, the line is sent as quantity 1 at its amount."""
    digits = exponent(currency)
    amount = money(amount_cents, currency)
    quantum = Decimal(1).scaleb(-digits)
    with localcontext(QUANTIZE):
        unit = Decimal(unit_amount_cents).scaleb(-digits)
        exact = unit.quantize(quantum)
        unit = exact if exact == unit else unit.normalize()  # 10.5 → 10.50; 0.001250 → 0.00125
        places = -int(unit.as_tuple().exponent)
        rounded = (units * unit).quantize(quantum, rounding=ROUND_HALF_UP)
        if places <= max_places and units > 0 and rounded == amount:
            return units, unit
    return Decimal(1), amount


def _require(mappings: dict[str, ItemMapping], key: str, what: str) -> ItemMapping:
    mapping = mappings.get(key)
    if mapping is None:
        raise ProviderError(f"no {key} mapping for {what}", code="missing_mapping", details={"line": what})
    return mapping


def _deduction(kind: str, cents: int, currency: str, mapping: ItemMapping, label: str) -> LedgerLine:
    amount = money(-cents, currency)
    return LedgerLine(kind, label, mapping, -cents, Decimal(1), amount, amount)


def invoice_fee_lines(invoice: InvoiceData, max_places: int) -> list[LedgerLine]:
    mappings = dict(invoice.mappings)
    lines = []
    for line in invoice.lines:
        mapping = line.mapping or mappings.get("fallback_item")
        if mapping is None:
            what = f"{line.fee_type} {line.item_code} ({line.id})"
            raise ProviderError(
                f"no mapping for the invoice line {what}", code="missing_mapping", details={"line": what}
            )
        qty, unit = quantity_and_unit(
            line.units, line.unit_amount_cents, line.amount_cents, invoice.currency, max_places
        )
        lines.append(
            LedgerLine(
                "fee",
                line.description or line.item_name,
                mapping,
                line.amount_cents,
                qty,
                unit,
                money(line.amount_cents, invoice.currency),
                line.taxes_amount_cents,
                line.id,
            )
        )
    return lines


def invoice_deduction_lines(invoice: InvoiceData) -> list[LedgerLine]:
    """Coupons, credit notes and prepaid credits taken from the invoice, as negative lines."""
    mappings = dict(invoice.mappings)
    out = []
    for kind, cents, label in (
        ("coupon", invoice.coupons_amount_cents, "Coupons"),
        ("credit_note", invoice.credit_notes_amount_cents, "Credit notes"),
        ("prepaid_credit", invoice.prepaid_credit_amount_cents, "Prepaid credits"),
    ):
        if cents:
            out.append(_deduction(kind, cents, invoice.currency, _require(mappings, kind, label), label))
    return out


def tax_mapping(mappings: dict[str, ItemMapping], taxes_cents: int) -> ItemMapping | None:
    """The ``tax`` mapping; required only when there are taxes."""
    if taxes_cents:
        return _require(mappings, "tax", "Taxes")
    return mappings.get("tax")


def tax_line(mappings: dict[str, ItemMapping], taxes_cents: int, currency: str) -> LedgerLine | None:
    mapping = tax_mapping(mappings, taxes_cents)
    if not taxes_cents or mapping is None:
        return None
    amount = money(taxes_cents, currency)
    return LedgerLine("tax", "Taxes", mapping, taxes_cents, Decimal(1), amount, amount)


def check_total(lines: Sequence[LedgerLine], extra_cents: int, expected_cents: int, what: str) -> None:
    """``sum(lines) + extra`` must be Billow's total to the cent, else nothing is sent."""
    total = sum(line.amount_cents for line in lines) + extra_cents
    if total != expected_cents:
        raise ProviderError(
            f"{what}: lines add up to {total}, Billow's total is {expected_cents}",
            code="amounts_mismatch",
            details={"lines_total_cents": total, "total_amount_cents": expected_cents},
        )


def spread_taxes(line_taxes: Sequence[int], total_cents: int) -> list[int]:
    """Per-line taxes adjusted so that they add up to the document's taxes: the difference (rounding of
    the applied taxes) goes to the line with the largest tax (the first of them); no line: unchanged."""
    out = list(line_taxes)
    if not out:
        return out
    difference = total_cents - sum(out)
    largest = max(range(len(out)), key=lambda i: (out[i], -i))
    out[largest] += difference
    return out


def credit_note_deduction_lines(credit_note: CreditNoteData) -> list[LedgerLine]:
    """The coupons the credited lines carried, taken back from the credit note as a negative line (the
    ``coupon`` mapping): the credit note's subtotal is ``sum(lines) - coupons_adjustment``."""
    cents = credit_note.coupons_adjustment_amount_cents
    if not cents:
        return []
    mapping = _require(dict(credit_note.mappings), "coupon", "Coupons")
    return [_deduction("coupon", cents, credit_note.currency, mapping, "Coupons")]


def credit_note_lines(credit_note: CreditNoteData) -> list[LedgerLine]:
    mappings = dict(credit_note.mappings)
    lines = []
    for line in credit_note.lines:
        mapping = line.mapping or mappings.get("fallback_item")
        if mapping is None:
            what = f"{line.item_code} ({line.id})"
            raise ProviderError(
                f"no mapping for the credit note line {what}",
                code="missing_mapping",
                details={"line": what},
            )
        amount = money(line.amount_cents, credit_note.currency)
        lines.append(
            LedgerLine(
                "credit", line.item_name, mapping, line.amount_cents, Decimal(1), amount, amount, 0, line.id
            )
        )
    return lines
