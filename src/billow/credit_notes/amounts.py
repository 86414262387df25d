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
