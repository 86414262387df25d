"""An invoice's amounts from its fees, in Lago's order of operations (reference §5.4). Pure.

1. ``fees_amount_cents`` = Σ fee amounts (each already rounded to minor units);
2. pre-tax deductions — the progressive-billing credit, then coupons — are spread over the fees they
   apply to (:func:`spread`) and subtracted: ``sub_total_excluding_taxes``;
3. taxes per fee on ``amount - deductions`` (:mod:`billow.taxes.rules`);
4. ``sub_total_including_taxes`` = excluding + taxes;
5. after tax: credit notes, then prepaid credits (wallets), each capped at what is left;
6. ``total_amount_cents`` is what remains.

Coupons, credit notes and wallets are later issues: their amounts enter here as arguments, already
computed by their owners, so this order stays in one place.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Context, Decimal, InvalidOperation

from billow.kit.money import ROUNDING, round_minor_units
from billow.taxes.rules import TaxLike, fee_tax_amounts, taxes_of_fees

#: The shares of a deduction (:func:`spread`): 200 digits, half-up.
_SHARES = Context(prec=200, rounding=ROUNDING, traps=[InvalidOperation])


@dataclass(frozen=True)
class FeeLine:
    key: Hashable
    amount_cents: int
    taxes: Sequence[TaxLike] = ()
    #: Exact pre-tax deductions on this fee (its share of coupons and of the progressive-billing credit).
    precise_deductions_cents: Decimal = Decimal(0)

    @property
    def taxable_cents(self) -> Decimal:
        return Decimal(self.amount_cents) - self.precise_deductions_cents


@dataclass(frozen=True)
class FeeTaxes:
    taxes_precise_amount_cents: Decimal
    taxes_amount_cents: int
    taxes_rate: Decimal


@dataclass(frozen=True)
class InvoiceAmounts:
    fees_amount_cents: int
    progressive_billing_credit_amount_cents: int
    coupons_amount_cents: int
    sub_total_excluding_taxes_amount_cents: int
    taxes_amount_cents: int
    sub_total_including_taxes_amount_cents: int
    credit_notes_amount_cents: int
    prepaid_credit_amount_cents: int
    total_amount_cents: int
    #: Per tax id: the rounded amount owed, and its taxable base (Σ taxable amounts of its fees, rounded).
    taxes_by_id: dict[Hashable, int] = field(default_factory=dict)
    tax_bases_by_id: dict[Hashable, int] = field(default_factory=dict)
    fee_taxes: dict[Hashable, FeeTaxes] = field(default_factory=dict)


def spread(amount_cents: int | Decimal, bases: Mapping[Hashable, int]) -> dict[Hashable, Decimal]:
    """Split ``amount_cents`` over ``bases`` pro rata (exact decimals; the parts sum to the amount)."""
    total = sum(bases.values())
    if total <= 0 or not amount_cents:
        return {key: Decimal(0) for key in bases}
    amount = Decimal(amount_cents)
    parts = {
        key: _SHARES.divide(_SHARES.multiply(amount, Decimal(base)), Decimal(total))
        for key, base in bases.items()
    }
    # Give the division's residue to the last key so the parts sum exactly to the amount.
    residue = amount - sum(parts.values(), Decimal(0))
    if residue and parts:
        last = next(reversed(parts))
        parts[last] += residue
    return parts


def invoice_amounts(
    lines: Sequence[FeeLine],
    *,
    progressive_billing_credit_amount_cents: int = 0,
    coupons_amount_cents: int = 0,
    credit_notes_available_cents: int = 0,
    prepaid_credit_available_cents: int = 0,
) -> InvoiceAmounts:
    """The invoice's amounts. The deductions must already be spread over ``lines`` by the caller."""
    fees_amount = sum(line.amount_cents for line in lines)
    sub_total_excluding = fees_amount - progressive_billing_credit_amount_cents - coupons_amount_cents
    fee_taxes = {}
    for line in lines:
        exact = fee_tax_amounts(line.taxable_cents, line.taxes)
        precise = sum(exact.values(), Decimal(0))
        fee_taxes[line.key] = FeeTaxes(
            taxes_precise_amount_cents=precise,
            taxes_amount_cents=round_minor_units(precise),
            taxes_rate=sum((Decimal(t.rate) for t in line.taxes), Decimal(0)),
        )
    totals = taxes_of_fees((line.taxable_cents, line.taxes) for line in lines)
    bases: dict[Hashable, Decimal] = {}
    for line in lines:
        for tax in line.taxes:
            bases[tax.id] = bases.get(tax.id, Decimal(0)) + line.taxable_cents
    sub_total_including = sub_total_excluding + totals.taxes_amount_cents
    credit_notes = max(0, min(credit_notes_available_cents, sub_total_including))
    prepaid = max(0, min(prepaid_credit_available_cents, sub_total_including - credit_notes))
    return InvoiceAmounts(
        fees_amount_cents=fees_amount,
        progressive_billing_credit_amount_cents=progressive_billing_credit_amount_cents,
        coupons_amount_cents=coupons_amount_cents,
        sub_total_excluding_taxes_amount_cents=sub_total_excluding,
        taxes_amount_cents=totals.taxes_amount_cents,
        sub_total_including_taxes_amount_cents=sub_total_including,
        credit_notes_amount_cents=credit_notes,
        prepaid_credit_amount_cents=prepaid,
        total_amount_cents=sub_total_including - credit_notes - prepaid,
        taxes_by_id=dict(totals.by_tax),
        tax_bases_by_id={tax_id: round_minor_units(base) for tax_id, base in bases.items()},
        fee_taxes=fee_taxes,
    )


def with_prepaid_credits(amounts: InvoiceAmounts, available_cents: int) -> InvoiceAmounts:
    """``amounts`` paying ``available_cents`` of prepaid credits (wallets) after the credit notes, capped at
    what is still owed (step 5: the credits are known only once the amounts before them are)."""
    owed = amounts.sub_total_including_taxes_amount_cents - amounts.credit_notes_amount_cents
    prepaid = max(0, min(available_cents, owed))
    return replace(amounts, prepaid_credit_amount_cents=prepaid, total_amount_cents=owed - prepaid)
