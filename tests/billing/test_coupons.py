"""The coupons of an invoice (reference §5.4 item 3, §6 "Coupons"), hand-computed. Pure."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billow.billing.coupons import (
    CouponFee,
    CouponTerms,
    Frequency,
    InvoiceCoupons,
    apply_coupons,
    coupon_amount,
    spread_cents,
)
from billow.billing.totals import FeeLine, invoice_amounts


def day(n: int) -> datetime:
    return datetime(2026, 1, n, tzinfo=UTC)


def fee(
    key: str, cents: int, *, plan: str = "plan", metric: str | None = None, currency: str = "USD"
) -> CouponFee:
    return CouponFee(key=key, amount_cents=cents, currency=currency, plan_id=plan, billable_metric_id=metric)


def percentage(
    id: str,
    rate: str,
    *,
    frequency: Frequency = "forever",
    created: int = 1,
    frequency_duration_remaining: int | None = None,
    plan_ids: frozenset[Hashable] = frozenset(),
    billable_metric_ids: frozenset[Hashable] = frozenset(),
) -> CouponTerms:
    return CouponTerms(
        id=id,
        coupon_type="percentage",
        frequency=frequency,
        created_at=day(created),
        percentage_rate=Decimal(rate),
        frequency_duration_remaining=frequency_duration_remaining,
        plan_ids=plan_ids,
        billable_metric_ids=billable_metric_ids,
    )


def fixed(
    id: str,
    cents: int,
    *,
    frequency: Frequency = "forever",
    created: int = 1,
    currency: str = "USD",
    amount_cents_remaining: int | None = None,
    frequency_duration_remaining: int | None = None,
    plan_ids: frozenset[Hashable] = frozenset(),
    billable_metric_ids: frozenset[Hashable] = frozenset(),
) -> CouponTerms:
    return CouponTerms(
        id=id,
        coupon_type="fixed_amount",
        frequency=frequency,
        created_at=day(created),
        amount_cents=cents,
        amount_cents_remaining=amount_cents_remaining,
        amount_currency=currency,
        frequency_duration_remaining=frequency_duration_remaining,
        plan_ids=plan_ids,
        billable_metric_ids=billable_metric_ids,
    )


def credit_of(result: InvoiceCoupons, coupon_id: str) -> tuple[int, dict[object, int]]:
    (credit,) = [c for c in result.credits if c.applied_coupon_id == coupon_id]
    return credit.amount_cents, credit.fee_cents


def test_percentage_over_three_fees_gives_the_odd_cent_to_the_first_largest_remainder() -> None:
    # Base 333 x 3 = 999; 10 % = 99.9 → 100 (half-up to whole cents).
    # Shares 100 x 333 / 999 = 33.33.. each: floors 33 + 33 + 33 = 99, 1 cent left; the three remainders
    # tie, so it goes to the first fee: 34, 33, 33.
    result = apply_coupons(
        [fee("a", 333), fee("b", 333), fee("c", 333)], [percentage("ten", "10", frequency="once")]
    )
    assert result.coupons_amount_cents == 100
    (credit,) = result.credits
    assert credit.fee_cents == {"a": 34, "b": 33, "c": 33}
    assert result.fee_coupons_cents == {"a": 34, "b": 33, "c": 33}
    # A once percentage ends after its first invoice.
    assert credit.terminated is True
    assert credit.amount_cents_remaining is None


def test_percentage_rounds_half_up_and_is_capped_at_the_base() -> None:
    # 100 x 14.5 % = 14.5 → 15 (Lago's float 14.499999999999998 would give 14).
    assert coupon_amount(percentage("p", "14.5"), 100) == 15
    # 1234 x 12.345 % = 152.3373 → 152.
    assert coupon_amount(percentage("p", "12.345"), 1234) == 152
    # 250 % of 80 = 200 ≥ 80 → the whole base.
    assert coupon_amount(percentage("p", "250"), 80) == 80
    assert coupon_amount(percentage("p", "50"), 0) == 0


def test_fixed_once_larger_than_the_invoice_carries_its_remainder_over() -> None:
    coupon = fixed("welcome", 5000, frequency="once")
    # Invoice 1: fees 1500 + 500 = 2000 < 5000 → the coupon takes 2000 (1500 and 500); 3000 left.
    first = apply_coupons([fee("a", 1500), fee("b", 500)], [coupon])
    (credit,) = first.credits
    assert (credit.amount_cents, credit.fee_cents) == (2000, {"a": 1500, "b": 500})
    assert credit.amount_cents_remaining == 3000
    assert credit.terminated is False
    # Invoice 2: fees 1000 + 3000 = 4000 > 3000 → takes 3000: 3000 x 1000 / 4000 = 750, x 3000 / 4000 = 2250.
    carried = fixed("welcome", 5000, frequency="once", amount_cents_remaining=3000)
    second = apply_coupons([fee("a", 1000), fee("b", 3000)], [carried])
    (credit,) = second.credits
    assert (credit.amount_cents, credit.fee_cents) == (3000, {"a": 750, "b": 2250})
    assert credit.amount_cents_remaining == 0
    assert credit.terminated is True


def test_coupon_limited_to_one_billable_metric_takes_only_from_its_fees() -> None:
    fees = [
        fee("subscription", 1000),
        fee("api", 2000, metric="m-api"),
        fee("storage", 500, metric="m-storage"),
    ]
    # Base: the api fee only, 2000; 20 % = 400, all on it.
    result = apply_coupons(fees, [percentage("api20", "20", billable_metric_ids=frozenset({"m-api"}))])
    assert result.coupons_amount_cents == 400
    assert result.fee_coupons_cents == {"subscription": 0, "api": 400, "storage": 0}


def test_plan_limited_coupon_applies_before_an_older_general_one() -> None:
    fees = [fee("basic", 1000, plan="basic"), fee("premium", 3000, plan="premium")]
    general = percentage("half", "50", created=1)
    limited = fixed("basic800", 800, created=20, plan_ids=frozenset({"basic"}))
    # Plan-limited first although newer: base = basic fee 1000 → 800, on basic (200 left).
    # Then the general one: base = 200 + 3000 = 3200; 50 % = 1600, spread 1600 x 200 / 3200 = 100 on basic
    # and 1600 x 3000 / 3200 = 1500 on premium. Total 2400.
    # (In the other order: 50 % of 4000 = 2000, then min(800, 1000 - 500) = 500: 2500.)
    result = apply_coupons(fees, [general, limited])
    assert [c.applied_coupon_id for c in result.credits] == ["basic800", "half"]
    assert credit_of(result, "basic800") == (800, {"basic": 800})
    assert credit_of(result, "half") == (1600, {"basic": 100, "premium": 1500})
    assert result.coupons_amount_cents == 2400
    assert result.fee_coupons_cents == {"basic": 900, "premium": 1500}


def test_order_metric_limited_then_plan_limited_then_others_each_oldest_first() -> None:
    fees = [fee("sub", 10_000, plan="p"), fee("usage", 10_000, plan="p", metric="m")]
    coupons = [
        fixed("general-old", 1, created=1),
        fixed("plan-new", 1, created=9, plan_ids=frozenset({"p"})),
        fixed("metric-new", 1, created=8, billable_metric_ids=frozenset({"m"})),
        fixed("plan-old", 1, created=2, plan_ids=frozenset({"p"})),
        fixed("metric-old", 1, created=3, billable_metric_ids=frozenset({"m"})),
        fixed("general-new", 1, created=5),
    ]
    result = apply_coupons(fees, coupons)
    assert [c.applied_coupon_id for c in result.credits] == [
        "metric-old",
        "metric-new",
        "plan-old",
        "plan-new",
        "general-old",
        "general-new",
    ]


def test_fixed_coupon_in_another_currency_does_not_apply() -> None:
    fees = [fee("a", 1000)]
    euros = fixed("euros", 300, currency="EUR")
    # A percentage has no currency: it applies (10 % of 1000 = 100); the EUR fixed coupon is skipped.
    result = apply_coupons(fees, [euros, percentage("ten", "10", created=2)])
    assert [c.applied_coupon_id for c in result.credits] == ["ten"]
    assert result.coupons_amount_cents == 100


def test_running_sub_total_reaching_zero_stops_the_rest() -> None:
    fees = [fee("a", 600), fee("b", 400)]
    coupons = [
        fixed("all", 1000, frequency="once", created=1),
        fixed("monthly", 200, frequency="recurring", frequency_duration_remaining=3, created=2),
        percentage("tenth", "10", frequency="once", created=3),
    ]
    # "all" takes 1000 = the whole invoice; the sub-total is 0: the others neither apply nor change
    # (no period of "monthly" consumed, "tenth" not ended).
    result = apply_coupons(fees, coupons)
    assert [c.applied_coupon_id for c in result.credits] == ["all"]
    assert result.fee_coupons_cents == {"a": 600, "b": 400}
    assert result.credits[0].terminated is True


def test_limited_coupon_with_fees_but_nothing_left_on_them_applies_for_zero() -> None:
    fees = [fee("sub", 1000), fee("usage", 500, metric="m")]
    first = fixed("usage-free", 500, frequency="once", billable_metric_ids=frozenset({"m"}), created=1)
    second = percentage(
        "usage-tenth", "10", frequency="once", billable_metric_ids=frozenset({"m"}), created=2
    )
    # "usage-free" takes the usage fee's 500; sub-total 1000 > 0, so "usage-tenth" applies to a base of 0:
    # 0 cents, and (once) it ends: Lago checks that the coupon has fees, not what is left on them.
    result = apply_coupons(fees, [first, second])
    assert credit_of(result, "usage-free") == (500, {"usage": 500})
    assert credit_of(result, "usage-tenth") == (0, {"usage": 0})
    assert result.credits[1].terminated is True
    # A limited coupon without any fee on the invoice is skipped and unchanged.
    none = apply_coupons(fees, [percentage("other", "10", frequency="once", plan_ids=frozenset({"other"}))])
    assert none.credits == []
    assert none.fee_coupons_cents == {"sub": 0, "usage": 0}


def test_recurring_decrements_and_terminates_at_zero_forever_never_does() -> None:
    fees = [fee("a", 10_000)]
    last = fixed("last", 300, frequency="recurring", frequency_duration_remaining=1, created=1)
    more = percentage("more", "5", frequency="recurring", frequency_duration_remaining=3, created=2)
    always = fixed("always", 100, created=3)
    # 300; then 5 % of 9700 = 485; then 100. Total 885.
    result = apply_coupons(fees, [last, more, always])
    by_id = {c.applied_coupon_id: c for c in result.credits}
    assert (by_id["last"].amount_cents, by_id["last"].frequency_duration_remaining) == (300, 0)
    assert by_id["last"].terminated is True
    assert (by_id["more"].amount_cents, by_id["more"].frequency_duration_remaining) == (485, 2)
    assert by_id["more"].terminated is False
    assert by_id["always"].amount_cents == 100
    assert by_id["always"].terminated is False
    assert result.coupons_amount_cents == 885


def test_no_fees_no_coupons() -> None:
    assert apply_coupons([], [fixed("a", 100)]).credits == []
    assert apply_coupons([fee("a", 100)], []).coupons_amount_cents == 0


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError):
        fee("a", -1)
    with pytest.raises(ValueError):
        percentage("p", "10", plan_ids=frozenset({"p"}), billable_metric_ids=frozenset({"m"}))
    with pytest.raises(ValueError):
        apply_coupons([fee("a", 1), fee("b", 1, currency="EUR")], [])
    with pytest.raises(ValueError):
        spread_cents(11, {"a": 5, "b": 5})


def test_spread_cents_largest_remainder() -> None:
    # 600 over 1000, 2000, 3001 (Σ 6001): 600000 = 99 x 6001 + 5901; 1200000 = 199 x 6001 + 5801;
    # 1800600 = 300 x 6001 + 300. Floors 598, 2 cents left → the two largest remainders (a, b).
    assert spread_cents(600, {"a": 1000, "b": 2000, "c": 3001}) == {"a": 100, "b": 200, "c": 300}
    assert spread_cents(0, {"a": 5}) == {"a": 0}
    assert spread_cents(0, {"a": 0}) == {"a": 0}
    assert spread_cents(7, {"a": 7, "b": 0}) == {"a": 7, "b": 0}


@given(
    st.lists(st.integers(min_value=0, max_value=10**9), min_size=1, max_size=12).flatmap(
        lambda bases: st.tuples(st.just(bases), st.integers(min_value=0, max_value=sum(bases)))
    )
)
def test_spread_cents_sums_exactly_and_stays_within_a_cent_of_the_share(case: tuple[list[int], int]) -> None:
    bases, amount = case
    keyed = dict(enumerate(bases))
    parts = spread_cents(amount, keyed)
    assert sum(parts.values()) == amount
    total = sum(bases)
    for key, base in keyed.items():
        assert 0 <= parts[key] <= base
        if total:
            assert abs(parts[key] - Fraction(amount * base, total)) < 1


FREQUENCIES: list[Frequency] = ["once", "recurring", "forever"]
FEES = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=10**7),
        st.sampled_from(["p1", "p2"]),
        st.sampled_from([None, "m1", "m2"]),
    ),
    max_size=8,
)
COUPONS = st.lists(
    st.one_of(
        st.builds(
            lambda rate, freq, limit, created: percentage(
                f"pct{created}",
                str(rate),
                frequency=freq,
                created=created,
                frequency_duration_remaining=2,
                **limit,
            ),
            st.decimals(min_value=0, max_value=150, places=3),
            st.sampled_from(FREQUENCIES),
            st.sampled_from(
                [{}, {"plan_ids": frozenset({"p1"})}, {"billable_metric_ids": frozenset({"m1", "m2"})}]
            ),
            st.integers(min_value=1, max_value=28),
        ),
        st.builds(
            lambda cents, freq, limit, created, currency: fixed(
                f"fix{created}",
                cents,
                frequency=freq,
                created=created,
                currency=currency,
                frequency_duration_remaining=1,
                **limit,
            ),
            st.integers(min_value=0, max_value=10**7),
            st.sampled_from(FREQUENCIES),
            st.sampled_from(
                [{}, {"plan_ids": frozenset({"p2"})}, {"billable_metric_ids": frozenset({"m1"})}]
            ),
            st.integers(min_value=1, max_value=28),
            st.sampled_from(["USD", "USD", "EUR"]),
        ),
    ),
    max_size=6,
)


@given(FEES, COUPONS)
def test_coupon_parts_sum_and_no_fee_goes_below_zero(
    raw_fees: list[tuple[int, str, str | None]], coupons: list[CouponTerms]
) -> None:
    fees = [fee(f"f{i}", cents, plan=plan, metric=metric) for i, (cents, plan, metric) in enumerate(raw_fees)]
    result = apply_coupons(fees, coupons)
    for credit in result.credits:
        assert sum(credit.fee_cents.values()) == credit.amount_cents
        assert all(part >= 0 for part in credit.fee_cents.values())
    for f in fees:
        assert 0 <= result.fee_coupons_cents[f.key] <= f.amount_cents
    assert sum(result.fee_coupons_cents.values()) == result.coupons_amount_cents
    assert 0 <= result.coupons_amount_cents <= sum(f.amount_cents for f in fees)


@dataclass(frozen=True)
class Tax:
    id: str
    rate: Decimal


@given(
    FEES,
    COUPONS,
    st.lists(st.sampled_from(["0", "5.5", "20", "100"]), min_size=1, max_size=2),
    st.integers(min_value=0, max_value=10**7),
    st.integers(min_value=0, max_value=10**7),
)
def test_an_invoice_total_is_never_negative(
    raw_fees: list[tuple[int, str, str | None]],
    coupons: list[CouponTerms],
    rates: list[str],
    credit_notes: int,
    prepaid: int,
) -> None:
    """Coupons (spread) then taxes then credit notes then prepaid credits (``billow.billing.totals``): every
    amount is non-negative and the total is what the deductions leave."""
    fees = [fee(f"f{i}", cents, plan=plan, metric=metric) for i, (cents, plan, metric) in enumerate(raw_fees)]
    result = apply_coupons(fees, coupons)
    taxes = [Tax(f"t{i}", Decimal(rate)) for i, rate in enumerate(rates)]
    lines = [
        FeeLine(
            key=f.key,
            amount_cents=f.amount_cents,
            taxes=taxes,
            precise_deductions_cents=Decimal(result.fee_coupons_cents[f.key]),
        )
        for f in fees
    ]
    amounts = invoice_amounts(
        lines,
        coupons_amount_cents=result.coupons_amount_cents,
        credit_notes_available_cents=credit_notes,
        prepaid_credit_available_cents=prepaid,
    )
    assert amounts.sub_total_excluding_taxes_amount_cents >= 0
    assert amounts.taxes_amount_cents >= 0
    assert 0 <= amounts.credit_notes_amount_cents <= credit_notes
    assert 0 <= amounts.prepaid_credit_amount_cents <= prepaid
    assert amounts.total_amount_cents >= 0
    assert amounts.total_amount_cents == (
        amounts.sub_total_including_taxes_amount_cents
        - amounts.credit_notes_amount_cents
        - amounts.prepaid_credit_amount_cents
    )
