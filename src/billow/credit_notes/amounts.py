"""The money of a credit note for a pay-in-advance plan's unused days (Lago's
``CreditNotes::CreateFromTermination``). Pure: dates and amounts in, amounts out.

* Unused days, on the customer's local calendar: the days of the paid period after the termination
  day (``last_day - terminated_day``); on an **upgrade** the termination day is unused too (the new plan
  pays for it). Days of a free trial are never credited.
* Item (before taxes): ``plan_amount_cents x unused_days / period_days`` (exact, truncated to 5
  decimals as Lago stores it), capped at the fee, minus what earlier credit notes already took from it.
* Taxes pro rata: each of the fee's taxes on the item; ``taxes_amount_cents = round(Σ)``;
  ``total = round(item + Σ taxes)`` (half up).
* The total is split by ``on_termination_credit_note``: ``credit`` (all of it becomes customer credit),
  ``refund`` (what the customer paid for the unused days, the rest as credit), ``offset`` (deducted from
  what is still due on the source invoice, the rest as credit).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_DOWN, Decimal
from itertools import combinations

from billow.kit.money import CONTEXT, round_minor_units
from billow.taxes.rules import TaxLike

#: Lago keeps credit-note item amounts with 5 decimals (``CreditNote::DB_PRECISION_SCALE``).
_SCALE = Decimal("0.00001")

CREDIT = "credit"
REFUND = "refund"
OFFSET = "offset"
SKIP = "skip"


def truncate(value: Decimal) -> Decimal:
    return value.quantize(_SCALE, rounding=ROUND_DOWN)


def unused_days(
    *, last_day: date, terminated_day: date, upgrade: bool, trial_end_day: date | None = None
) -> int:
    """Days of the paid period left unused (``last_day`` is the period's last local day)."""
    billed_to = terminated_day
    if upgrade:
        billed_to = date.fromordinal(terminated_day.toordinal() - 1)
    if trial_end_day is not None and trial_end_day >= billed_to:
        # Trial days were not paid for: credit from the trial end only.
        billed_to = last_day if trial_end_day > last_day else date.fromordinal(trial_end_day.toordinal() - 1)
    return max((last_day - billed_to).days, 0)


def used_days(
    *, first_day: date, last_day: date, terminated_day: date, trial_end_day: date | None = None
) -> int:
    """Days of the paid period used, the termination day included (for refunds)."""
    start = first_day if trial_end_day is None or trial_end_day <= first_day else trial_end_day
    end = min(terminated_day, last_day)
    return max((end - start).days + 1, 0)


def day_share(amount_cents: int, days: int, period_days: int) -> Decimal:
    """``amount_cents x days / period_days``, exact."""
    if days <= 0 or period_days <= 0:
        return Decimal(0)
    return CONTEXT.divide(CONTEXT.multiply(Decimal(amount_cents), Decimal(days)), Decimal(period_days))


@dataclass(frozen=True)
class TaxPart:
    tax_id: Hashable
    rate: Decimal
    base_amount_cents: int
    amount_cents: int
    precise_amount_cents: Decimal


@dataclass(frozen=True)
class CreditNoteAmounts:
    item_precise_amount_cents: Decimal
    item_amount_cents: int
    sub_total_excluding_taxes_amount_cents: int
    precise_taxes_amount_cents: Decimal
    taxes_amount_cents: int
    taxes_rate: Decimal
    taxes: tuple[TaxPart, ...]
    precise_total_amount_cents: Decimal
    total_amount_cents: int


def credit_note_amounts(item_precise_amount_cents: Decimal, taxes: Sequence[TaxLike]) -> CreditNoteAmounts:
    """Item, taxes and total of a one-item credit note (no coupon adjustment: coupons are not spread
    over fees in Billow yet)."""
    item = truncate(item_precise_amount_cents)
    parts = []
    for tax in taxes:
        rate = Decimal(tax.rate)
        precise = CONTEXT.divide(CONTEXT.multiply(item, rate), Decimal(100))
        parts.append(TaxPart(tax.id, rate, round_minor_units(item), round_minor_units(precise), precise))
    precise_taxes = sum((p.precise_amount_cents for p in parts), Decimal(0))
    total = item + precise_taxes
    return CreditNoteAmounts(
        item_precise_amount_cents=item,
        item_amount_cents=round_minor_units(item),
        sub_total_excluding_taxes_amount_cents=round_minor_units(item),
        precise_taxes_amount_cents=precise_taxes,
        taxes_amount_cents=round_minor_units(precise_taxes),
        taxes_rate=sum((p.rate for p in parts), Decimal(0)),
        taxes=tuple(parts),
        precise_total_amount_cents=total,
        total_amount_cents=round_minor_units(total),
    )


def with_taxes(amount: Decimal, taxes: Sequence[TaxLike]) -> int:
    """``round(amount + its taxes)``."""
    return credit_note_amounts(amount, taxes).total_amount_cents


@dataclass(frozen=True)
class Split:
    credit_amount_cents: int
    refund_amount_cents: int
    offset_amount_cents: int


def split_total(
    total_cents: int, choice: str, *, refundable_cents: int = 0, offsettable_cents: int = 0
) -> Split:
    """Share ``total_cents`` between credit, refund and offset for ``on_termination_credit_note``."""
    if choice == REFUND:
        refund = max(0, min(refundable_cents, total_cents))
        return Split(total_cents - refund, refund, 0)
    if choice == OFFSET:
        offset = max(0, min(offsettable_cents, total_cents))
        return Split(total_cents - offset, 0, offset)
    return Split(total_cents, 0, 0)


def refundable_cents(
    *,
    fee_total_precise: Decimal,
    invoice_sub_total_including_taxes_cents: int,
    invoice_total_paid_cents: int,
    used_amount_with_taxes_cents: int,
) -> int:
    """What the customer paid for the fee beyond what was used: the invoice's payment shared pro rata
    to the fee (fee + its taxes over the invoice's sub-total including taxes), minus the used days."""
    if invoice_sub_total_including_taxes_cents <= 0 or invoice_total_paid_cents <= 0:
        return 0
    paid_for_fee = CONTEXT.divide(
        CONTEXT.multiply(fee_total_precise, Decimal(invoice_total_paid_cents)),
        Decimal(invoice_sub_total_including_taxes_cents),
    )
    return max(0, round_minor_units(paid_for_fee - Decimal(used_amount_with_taxes_cents)))


# ------------------------------------------------------------------------------- manual credit notes
#
# A manual credit note (``POST /credit_notes``, its estimate, the credit note of an invoice void) credits
# parts of an invoice's fees (items, before taxes). Lago's rules (exact decimals here, where Lago mixes in
# floats):
#
# * Coupon adjustment: an item takes the fee's coupon share pro rata, ``fee coupons x item / fee amount``
#   (0 when the fee amount is 0); the note's adjustment is their sum, stored with 5 decimals (half up).
# * Taxes, per tax of the items' fees: ``base = Σ (item - its coupon share)`` over the items whose fee
#   carries the tax; ``precise tax = base x rate / 100``; a tax row shows ``round(precise)`` on
#   ``round(base)``. The note's precise taxes are the sum of the precise taxes (5 decimals), minus, for the
#   note that credits what is left of the invoice, the rounding residue of the earlier notes' taxes.
# * ``sub_total_excluding_taxes = round(Σ items - adjustment)``; ``total = round(Σ items - adjustment +
#   precise taxes)``; ``taxes_rate = Σ_tax base / (Σ items - adjustment) x rate`` (5 decimals, half up).


def store5(value: Decimal) -> Decimal:
    """A precise amount as Lago stores it: 5 decimals, half up."""
    return value.quantize(_SCALE, context=CONTEXT)


@dataclass(frozen=True)
class CreditedFee:
    """What the amounts of an item need from its fee."""

    fee_id: Hashable
    amount_cents: int
    #: The fee's share of the invoice's coupons (exact).
    precise_coupons_amount_cents: Decimal
    #: The taxes the fee carries (keys of ``rates``).
    tax_ids: tuple[Hashable, ...]


@dataclass(frozen=True)
class ManualAmounts:
    items: tuple[tuple[CreditedFee, Decimal], ...]
    items_precise_amount_cents: Decimal
    precise_coupons_adjustment_amount_cents: Decimal
    coupons_adjustment_amount_cents: int
    taxes: tuple[TaxPart, ...]
    precise_taxes_amount_cents: Decimal
    taxes_amount_cents: int
    taxes_rate: Decimal
    sub_total_excluding_taxes_amount_cents: int
    precise_total_amount_cents: Decimal
    #: ``round(precise total)``: what credit + refund + offset must add up to.
    total_amount_cents: int


def coupon_share(fee: CreditedFee, item: Decimal) -> Decimal:
    """The part of the fee's coupons an item of ``item`` cents takes back."""
    if fee.amount_cents == 0:
        return Decimal(0)
    return CONTEXT.divide(CONTEXT.multiply(fee.precise_coupons_amount_cents, item), Decimal(fee.amount_cents))


def manual_amounts(
    items: Sequence[tuple[CreditedFee, Decimal]],
    rates: dict[Hashable, Decimal],
    *,
    taxes_residue: Decimal = Decimal(0),
) -> ManualAmounts:
    """The amounts of a credit note of ``items`` (fee, precise cents before taxes); ``rates`` are the
    invoice's taxes (percent) by id, in the order of the note's tax rows; ``taxes_residue`` is
    :func:`taxes_residue` when this note credits what is left of the invoice, else 0."""
    items_total = sum((amount for _, amount in items), Decimal(0))
    adjustment = store5(sum((coupon_share(fee, amount) for fee, amount in items), Decimal(0)))
    net = items_total - adjustment
    parts: list[TaxPart] = []
    rate_sum = Decimal(0)
    for tax_id, rate in rates.items():
        carrying = [(fee, amount) for fee, amount in items if tax_id in fee.tax_ids]
        if not carrying:
            continue
        base = sum((amount - coupon_share(fee, amount) for fee, amount in carrying), Decimal(0))
        precise = CONTEXT.divide(CONTEXT.multiply(base, rate), Decimal(100))
        parts.append(TaxPart(tax_id, rate, round_minor_units(base), round_minor_units(precise), precise))
        if net != 0:
            rate_sum += CONTEXT.multiply(CONTEXT.divide(base, net), rate)
    precise_taxes = store5(sum((p.precise_amount_cents for p in parts), Decimal(0))) - taxes_residue
    total = net + precise_taxes
    return ManualAmounts(
        items=tuple(items),
        items_precise_amount_cents=items_total,
        precise_coupons_adjustment_amount_cents=adjustment,
        coupons_adjustment_amount_cents=round_minor_units(adjustment),
        taxes=tuple(parts),
        precise_taxes_amount_cents=precise_taxes,
        taxes_amount_cents=round_minor_units(precise_taxes),
        taxes_rate=store5(rate_sum),
        sub_total_excluding_taxes_amount_cents=round_minor_units(net),
        precise_total_amount_cents=total,
        total_amount_cents=round_minor_units(total),
    )


def taxes_residue(earlier: Sequence[tuple[int, Decimal]]) -> Decimal:
    """``Σ (taxes_amount_cents - precise_taxes_amount_cents)`` of the invoice's earlier notes: what the
    last note gives back so that the notes' taxes add up to the invoice's."""
    return sum((Decimal(rounded) - precise for rounded, precise in earlier), Decimal(0))


def fee_taxes(fee_rate: Decimal, taxes: Sequence[tuple[Hashable, Decimal]]) -> tuple[Hashable, ...]:
    """Which of the invoice's taxes (id, rate) a fee of ``fee_rate`` percent carries: all of them when
    their rates add up to the fee's, else the first subset (in the invoice's order) that does; none for a
    fee without taxes. (Billow keeps a fee's total rate, not its tax list.)"""
    if fee_rate == 0:
        return ()
    if sum((rate for _, rate in taxes), Decimal(0)) == fee_rate:
        return tuple(tax_id for tax_id, _ in taxes)
    count = len(taxes)
    for size in range(1, min(count, 12) + 1):
        for subset in combinations(range(count), size):
            if sum((taxes[i][1] for i in subset), Decimal(0)) == fee_rate:
                return tuple(taxes[i][0] for i in subset)
    return tuple(tax_id for tax_id, _ in taxes)


@dataclass(frozen=True)
class Requested:
    credit_amount_cents: int
    refund_amount_cents: int
    offset_amount_cents: int

    @property
    def total(self) -> int:
        return self.credit_amount_cents + self.refund_amount_cents + self.offset_amount_cents


@dataclass(frozen=True)
class InvoiceState:
    """What the bounds of a new note need from its invoice and the invoice's other (finalized, not
    voided) notes."""

    total_amount_cents: int
    total_paid_amount_cents: int
    payment_succeeded: bool
    #: Fees after coupons, with their taxes (``sub_total_including_taxes_amount_cents``).
    fee_total_amount_cents: int
    credited_cents: int = 0
    refunded_cents: int = 0
    offset_cents: int = 0


def creditable_cents(invoice: InvoiceState) -> int:
    """What is left to credit (or offset) on the invoice."""
    return invoice.fee_total_amount_cents - invoice.credited_cents - invoice.offset_cents


def refundable_paid_cents(invoice: InvoiceState) -> int:
    """What the customer paid that was not refunded yet."""
    return max(0, invoice.total_paid_amount_cents - invoice.refunded_cents)


def offsettable_cents(invoice: InvoiceState) -> int:
    """What is still due on the invoice (and creditable)."""
    due = invoice.total_amount_cents - invoice.total_paid_amount_cents - invoice.offset_cents
    return max(0, min(due, creditable_cents(invoice)))


def validate(requested: Requested, items_total_cents: int, invoice: InvoiceState) -> dict[str, list[str]]:
    """Lago's checks of a note's amounts, in Lago's order (field -> codes); a one-cent tolerance where
    Lago has one. ``items_total_cents`` is :attr:`ManualAmounts.total_amount_cents`."""
    errors: dict[str, list[str]] = {}

    def add(field: str, code: str) -> None:
        errors.setdefault(field, []).append(code)

    credit, refund, offset = (
        requested.credit_amount_cents,
        requested.refund_amount_cents,
        requested.offset_amount_cents,
    )
    if (
        refund > 0
        and not invoice.payment_succeeded
        and invoice.total_amount_cents > 0
        and invoice.total_paid_amount_cents == invoice.total_amount_cents
    ):
        add("refund_amount_cents", "cannot_refund_unpaid_invoice")
    if abs(requested.total - items_total_cents) > 1:
        add("base", "does_not_match_item_amounts")
    if refund > 0:
        if invoice.total_paid_amount_cents <= 0:
            add("refund_amount_cents", "cannot_refund_unpaid_invoice")
        elif refund > refundable_paid_cents(invoice):
            add("refund_amount_cents", "higher_than_remaining_invoice_amount")
    if credit > creditable_cents(invoice) + 1:
        add("credit_amount_cents", "higher_than_remaining_invoice_amount")
    if offset > 0 and offset > offsettable_cents(invoice):
        add("offset_amount_cents", "higher_than_remaining_invoice_amount")
    remaining = (
        invoice.fee_total_amount_cents
        - invoice.credited_cents
        - invoice.refunded_cents
        - invoice.offset_cents
    )
    if requested.total > remaining + 1:
        add("base", "higher_than_remaining_invoice_amount")
    if requested.total <= 0:
        add("base", "total_amount_must_be_positive")
    return errors


@dataclass(frozen=True)
class Settled:
    total_amount_cents: int
    credit_amount_cents: int
    refund_amount_cents: int
    offset_amount_cents: int


def settle_rounding(requested: Requested, *, taxes_amount_cents: int, sub_total_cents: int) -> Settled:
    """The note's total is what was requested, moved by one cent when ``total - taxes`` is not the
    sub-total (Lago's rounding correction); the cent lands on the credit when there is one, else on the
    offset, else on the refund, so that credit + refund + offset is the total (Lago moves it on the credit
    or the refund only, which breaks that sum on notes with an offset)."""
    total = requested.total
    credit, refund, offset = (
        requested.credit_amount_cents,
        requested.refund_amount_cents,
        requested.offset_amount_cents,
    )
    if total - taxes_amount_cents != sub_total_cents:
        step = -1 if total - taxes_amount_cents > sub_total_cents else 1
        total += step
        if credit > 0:
            credit += step
        elif offset > 0:
            offset += step
        else:
            refund += step
    return Settled(total, credit, refund, offset)


@dataclass(frozen=True)
class Estimate:
    max_creditable_amount_cents: int
    max_refundable_amount_cents: int
    max_offsettable_amount_cents: int
    taxes_amount_cents: int


def estimate_bounds(amounts: ManualAmounts, invoice: InvoiceState) -> Estimate:
    """``max_creditable`` is the items' total with taxes; the refundable and offsettable maxima are it,
    capped by what was paid and not refunded, and by what is still due; then the one-cent correction:
    a creditable amount one cent above ``sub-total + taxes`` loses it, else taxes one cent short of it
    lose one (when there are taxes)."""
    creditable = amounts.total_amount_cents
    refundable = min(creditable, refundable_paid_cents(invoice)) if invoice.total_paid_amount_cents > 0 else 0
    offsettable = min(creditable, offsettable_cents(invoice))
    taxes = amounts.taxes_amount_cents
    sub_total = amounts.sub_total_excluding_taxes_amount_cents
    if creditable - taxes > sub_total:
        creditable -= 1
    elif taxes > 0 and creditable - taxes < sub_total:
        taxes -= 1
    return Estimate(creditable, refundable, offsettable, taxes)


def void_split(total_cents: int, credit_cents: int, refund_cents: int) -> tuple[int, int, int]:
    """Voiding an invoice with a credit note: ``(credit, refund, voided)`` where ``voided`` is the part
    of ``total_cents`` neither credited nor refunded (issued on a second note, voided at once)."""
    return credit_cents, refund_cents, max(0, total_cents - credit_cents - refund_cents)


def scale_items(
    items: Sequence[tuple[CreditedFee, Decimal]], numerator: int, denominator: int
) -> list[tuple[CreditedFee, Decimal]]:
    """Each item times ``numerator / denominator``, truncated to 5 decimals (the remainder of an item is
    ``item - scaled``)."""
    if denominator <= 0:
        return [(fee, Decimal(0)) for fee, _ in items]
    return [
        (fee, truncate(CONTEXT.divide(CONTEXT.multiply(amount, Decimal(numerator)), Decimal(denominator))))
        for fee, amount in items
    ]
