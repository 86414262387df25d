"""The coupons of an invoice: how much each applied coupon takes, and from which fees (reference §5.4
item 3, §6 "Coupons"). Pure: plain data in, plain data out; the caller reads and writes the rows.

Rules (Lago's ``Credits::AppliedCouponsService``, ``Credits::AppliedCouponService``,
``AppliedCoupons::AmountService``):

1. **Order**: coupons limited to billable metrics first, then coupons limited to plans, then the others;
   within each group by the applied coupon's ``created_at``, oldest first (ties keep the given order).
2. **Stop**: before each coupon, if the invoice's running sub-total (its fees net of the coupons already
   applied) is not positive, that coupon and every later one do not apply.
3. **Skipped coupons** (left untouched: no credit, no duration consumed): a ``fixed_amount`` coupon in
   another currency than the invoice (a percentage has no currency), and a limited coupon none of whose
   plans / metrics has a fee on the invoice. A limited coupon that has fees but nothing left on them still
   applies, for 0 (Lago checks that the fees exist, not their amount): it consumes a recurring period and
   ends a ``once`` percentage.
4. **Base**: what remains of the fees the coupon may apply to, each fee net of the coupons already applied
   to it: every fee for an unlimited coupon (the running sub-total), the fees of its billable metrics or of
   its plans for a limited one. A plan-limited coupon's plan ids include the child plans of its plans'
   overrides (Lago's ``parent_and_overriden_plans``): the caller lists them.
5. **Amount**: ``fixed_amount``: ``min(amount, base)`` where amount is ``amount_cents`` for a
   ``recurring``/``forever`` coupon and ``amount_cents_remaining`` for a ``once`` one. ``percentage``:
   ``base * rate / 100``, the base if that reaches it, else rounded half-up to whole cents
   (:func:`billow.kit.money.round_minor_units`). Billow multiplies exact decimals; Lago multiplies by the
   float ``rate.fdiv(100)`` and rounds (half away from zero), so on an exact half cent a float just
   below it makes Lago round down where Billow rounds up (100 * 14.5 % = 14.5: Lago 14, Billow 15).
6. **Spread**: the amount is split over the coupon's fees pro rata to what remains of each
   (:func:`spread_cents`), in whole cents by largest remainder: the parts are non-negative, never above a
   fee's remainder, and sum exactly to the amount. Lago keeps fractional parts (its
   ``precise_coupons_amount_cents``, 5 decimals); Billow's whole cents make each fee's taxable base an
   integer and keep the parts exact on both databases. The invoice's coupon total is the same; a fee's
   rounded tax (and an invoice's, when its fees have different tax rates) may differ from Lago's by a cent.
7. **State after the invoice**: ``once`` fixed: ``amount_cents_remaining`` decreases by the amount, the
   coupon terminates at 0 (a remainder carries to the next invoices); ``once`` percentage: terminates;
   ``recurring``: ``frequency_duration_remaining`` decreases by one (not below 0), the coupon terminates at
   0; ``forever``: never terminates.

The invoice's ``coupons_amount_cents`` is the sum of the amounts; each fee's coupon cents (its
``precise_coupons_amount_cents``) go to :class:`billow.billing.totals.FeeLine` as deductions.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Literal, TypeVar

from billow.kit.money import EXACT, round_minor_units

CouponType = Literal["fixed_amount", "percentage"]
Frequency = Literal["once", "recurring", "forever"]
K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class CouponFee:
    """A fee of the invoice, as coupons see it."""

    key: Hashable
    #: In minor units, after the progressive-billing credit (not negative).
    amount_cents: int
    currency: str
    plan_id: Hashable | None = None
    #: ``None`` for a fee of no billable metric (a subscription fee).
    billable_metric_id: Hashable | None = None

    def __post_init__(self) -> None:
        if self.amount_cents < 0:
            raise ValueError(f"fee {self.key!r}: a negative amount takes no coupon ({self.amount_cents})")


@dataclass(frozen=True)
class CouponTerms:
    """An active applied coupon of the customer, as it stands before the invoice."""

    id: Hashable
    coupon_type: CouponType
    frequency: Frequency
    created_at: datetime
    #: ``fixed_amount``: the amount per invoice (``recurring``/``forever``), the original one (``once``).
    amount_cents: int | None = None
    #: ``fixed_amount`` ``once``: what is left of it (``amount_cents`` when ``None``).
    amount_cents_remaining: int | None = None
    amount_currency: str | None = None
    #: ``percentage``: a percent (``Decimal("12.5")`` = 12.5 %).
    percentage_rate: Decimal | None = None
    #: ``recurring``: invoices left.
    frequency_duration_remaining: int | None = None
    #: Limited to these plans / billable metrics (empty: not limited; never both).
    plan_ids: frozenset[Hashable] = frozenset()
    billable_metric_ids: frozenset[Hashable] = frozenset()

    def __post_init__(self) -> None:
        if self.plan_ids and self.billable_metric_ids:
            raise ValueError(f"coupon {self.id!r}: limited to plans or to billable metrics, not both")
        if self.coupon_type == "percentage":
            if self.percentage_rate is None or self.percentage_rate < 0:
                raise ValueError(f"coupon {self.id!r}: a percentage needs a rate >= 0")
        elif self.amount_cents is None or self.amount_cents < 0 or (self.amount_cents_remaining or 0) < 0:
            raise ValueError(f"coupon {self.id!r}: a fixed amount needs amount_cents >= 0")

    @property
    def available_cents(self) -> int:
        """A fixed coupon's most for one invoice (before the base caps it)."""
        if self.frequency == "once" and self.amount_cents_remaining is not None:
            return self.amount_cents_remaining
        return self.amount_cents or 0

    @property
    def group(self) -> int:
        """Lago's order: billable-metric-limited (0), plan-limited (1), the others (2)."""
        return 0 if self.billable_metric_ids else 1 if self.plan_ids else 2


@dataclass(frozen=True)
class CouponCredit:
    """What one applied coupon took from the invoice (Lago's coupon ``credit``) and its state after it."""

    applied_coupon_id: Hashable
    amount_cents: int
    #: Per fee key of its fees, whole cents summing to ``amount_cents``.
    fee_cents: dict[Hashable, int]
    #: ``once`` fixed: what is left for later invoices; ``None`` otherwise.
    amount_cents_remaining: int | None
    #: ``recurring``: the invoices left; otherwise unchanged (``None`` when not given).
    frequency_duration_remaining: int | None
    #: Consumed (``once``) or at the end of its duration (``recurring``): the applied coupon terminates.
    terminated: bool


@dataclass(frozen=True)
class InvoiceCoupons:
    #: The coupons that applied, in application order (a skipped coupon is absent and unchanged).
    credits: list[CouponCredit] = field(default_factory=list)
    #: Per fee key, every fee included: its coupon cents (Lago's ``precise_coupons_amount_cents``).
    fee_coupons_cents: dict[Hashable, int] = field(default_factory=dict)

    @property
    def coupons_amount_cents(self) -> int:
        return sum(credit.amount_cents for credit in self.credits)


def spread_cents(amount_cents: int, bases: Mapping[K, int]) -> dict[K, int]:
    """Split ``amount_cents`` over ``bases`` pro rata, in whole cents (largest remainder).

    Each key first takes the floor of its exact share ``amount * base / Σ bases``; the cents left (fewer
    than the keys with a fractional share) go one each to the largest remainders, the earlier key first on
    a tie. So the parts sum to the amount, and none exceeds its base: ``amount`` must not exceed ``Σ
    bases``. Integer arithmetic only: :func:`billow.billing.totals.spread` gives exact decimal shares
    instead, which whole-cent coupon parts do not want.
    """
    if amount_cents < 0 or any(base < 0 for base in bases.values()):
        raise ValueError("spread_cents takes a non-negative amount and bases")
    total = sum(bases.values())
    if amount_cents > total:
        raise ValueError(f"cannot spread {amount_cents} over bases summing to {total}")
    if not amount_cents:
        return {key: 0 for key in bases}
    parts: dict[K, int] = {}
    remainders: list[tuple[int, int, K]] = []
    for index, (key, base) in enumerate(bases.items()):
        parts[key], remainder = divmod(amount_cents * base, total)
        remainders.append((-remainder, index, key))
    left = amount_cents - sum(parts.values())
    for _, _, key in sorted(remainders)[:left]:
        parts[key] += 1
    return parts


def _eligible(coupon: CouponTerms, fee: CouponFee) -> bool:
    if coupon.billable_metric_ids:
        return fee.billable_metric_id is not None and fee.billable_metric_id in coupon.billable_metric_ids
    if coupon.plan_ids:
        return fee.plan_id is not None and fee.plan_id in coupon.plan_ids
    return True


def coupon_amount(coupon: CouponTerms, base_cents: int) -> int:
    """What ``coupon`` takes from a base of ``base_cents`` (rule 5 above)."""
    if base_cents <= 0:
        return 0
    if coupon.coupon_type == "percentage":
        rate = coupon.percentage_rate or Decimal(0)  # never None: CouponTerms checks it
        discounted = EXACT.multiply(Decimal(base_cents), rate).scaleb(-2, EXACT)
        return base_cents if discounted >= base_cents else round_minor_units(discounted)
    return min(coupon.available_cents, base_cents)


def _after(coupon: CouponTerms, amount_cents: int) -> tuple[int | None, int | None, bool]:
    """The coupon's ``amount_cents_remaining``, ``frequency_duration_remaining`` and termination."""
    remaining_amount = None
    duration = coupon.frequency_duration_remaining
    if coupon.frequency == "once":
        if coupon.coupon_type == "percentage":
            return None, duration, True
        remaining_amount = coupon.available_cents - amount_cents
        return remaining_amount, duration, remaining_amount <= 0
    if coupon.frequency == "recurring":
        duration = max((duration or 0) - 1, 0)
        return None, duration, duration <= 0
    return None, duration, False


def apply_coupons(fees: Sequence[CouponFee], coupons: Sequence[CouponTerms]) -> InvoiceCoupons:
    """Apply the customer's active ``coupons`` to the invoice of ``fees`` (one currency), in Lago's order."""
    currencies = {fee.currency for fee in fees}
    if len(currencies) > 1:
        raise ValueError(f"an invoice has one currency, got {sorted(currencies)}")
    currency = next(iter(currencies), None)
    remaining = {fee.key: fee.amount_cents for fee in fees}
    if len(remaining) != len(fees):
        raise ValueError("fee keys must be unique")
    taken = dict.fromkeys(remaining, 0)
    sub_total = sum(remaining.values())
    credits: list[CouponCredit] = []
    ordered = sorted(enumerate(coupons), key=lambda item: (item[1].group, item[1].created_at, item[0]))
    for _, coupon in ordered:
        if sub_total <= 0:
            break
        if coupon.coupon_type == "fixed_amount" and coupon.amount_currency != currency:
            continue
        eligible = [fee.key for fee in fees if _eligible(coupon, fee)]
        if not eligible:
            continue
        bases = {key: remaining[key] for key in eligible}
        amount = coupon_amount(coupon, sum(bases.values()))
        parts = spread_cents(amount, bases)
        for key, part in parts.items():
            remaining[key] -= part
            taken[key] += part
        sub_total -= amount
        amount_remaining, duration, terminated = _after(coupon, amount)
        credits.append(
            CouponCredit(
                applied_coupon_id=coupon.id,
                amount_cents=amount,
                fee_cents=parts,
                amount_cents_remaining=amount_remaining,
                frequency_duration_remaining=duration,
                terminated=terminated,
            )
        )
    return InvoiceCoupons(credits=credits, fee_coupons_cents=taken)
