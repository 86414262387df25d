"""Invoice amounts in Lago's order of operations (reference §5.4), hand-computed."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, localcontext

from hypothesis import given
from hypothesis import strategies as st

from billow.billing.totals import FeeLine, invoice_amounts, spread


@dataclass(frozen=True)
class T:
    id: str
    rate: Decimal


VAT = T("vat", Decimal("20"))
LOCAL = T("local", Decimal("8.5"))


def test_fees_and_taxes_without_deductions() -> None:
    # 1000 x 20 % = 200; 333 x 20 % = 66.6 and x 8.5 % = 28.305
    amounts = invoice_amounts([FeeLine("a", 1000, (VAT,)), FeeLine("b", 333, (VAT, LOCAL))])
    assert amounts.fees_amount_cents == 1333
    assert amounts.sub_total_excluding_taxes_amount_cents == 1333
    # per tax: vat 266.6 → 267; local 28.305 → 28; total over exact sums 294.905 → 295
    assert amounts.taxes_by_id == {"vat": 267, "local": 28}
    assert amounts.taxes_amount_cents == 295
    assert amounts.tax_bases_by_id == {"vat": 1333, "local": 333}
    assert amounts.fee_taxes["b"].taxes_precise_amount_cents == Decimal("94.905")
    assert amounts.fee_taxes["b"].taxes_amount_cents == 95
    assert amounts.fee_taxes["b"].taxes_rate == Decimal("28.5")
    assert amounts.sub_total_including_taxes_amount_cents == 1628
    assert amounts.total_amount_cents == 1628


def test_pre_tax_deductions_reduce_the_taxable_base() -> None:
    # Progressive credit 300 over fees 1000 and 500: 200 and 100 → taxable 800 and 400.
    shares = spread(300, {"a": 1000, "b": 500})
    assert shares == {"a": Decimal(200), "b": Decimal(100)}
    lines = [
        FeeLine("a", 1000, (VAT,), precise_deductions_cents=shares["a"]),
        FeeLine("b", 500, (VAT,), precise_deductions_cents=shares["b"]),
    ]
    amounts = invoice_amounts(lines, progressive_billing_credit_amount_cents=300)
    assert amounts.sub_total_excluding_taxes_amount_cents == 1200
    assert amounts.taxes_amount_cents == 240
    assert amounts.tax_bases_by_id == {"vat": 1200}
    assert amounts.total_amount_cents == 1440


def test_credit_notes_then_prepaid_credits_after_tax_are_capped() -> None:
    amounts = invoice_amounts(
        [FeeLine("a", 1000, (VAT,))], credit_notes_available_cents=500, prepaid_credit_available_cents=5000
    )
    assert amounts.sub_total_including_taxes_amount_cents == 1200
    assert amounts.credit_notes_amount_cents == 500
    assert amounts.prepaid_credit_amount_cents == 700
    assert amounts.total_amount_cents == 0

    capped = invoice_amounts([FeeLine("a", 100, ())], credit_notes_available_cents=250)
    assert capped.credit_notes_amount_cents == 100
    assert capped.prepaid_credit_amount_cents == 0
    assert capped.total_amount_cents == 0


def test_no_fees() -> None:
    amounts = invoice_amounts([])
    assert amounts.total_amount_cents == 0
    assert amounts.taxes_by_id == {}


def test_spread_gives_the_residue_to_the_last_fee() -> None:
    shares = spread(100, {"a": 1, "b": 1, "c": 1})
    assert sum(shares.values()) == 100
    assert spread(0, {"a": 5}) == {"a": Decimal(0)}
    assert spread(10, {"a": 0}) == {"a": Decimal(0)}


@given(
    st.integers(min_value=0, max_value=10**9),
    st.lists(st.integers(min_value=1, max_value=10**7), min_size=1, max_size=20),
)
def test_spread_sums_exactly_and_is_proportional(amount: int, bases: list[int]) -> None:
    keyed = {i: base for i, base in enumerate(bases)}
    shares = spread(amount, keyed)
    assert sum(shares.values()) == amount
    total = sum(bases)
    with localcontext() as ctx:
        ctx.prec = 400
        for i, base in list(keyed.items())[:-1]:  # the last share also takes the division's residue
            assert abs(shares[i] * total - Decimal(amount) * base) <= Decimal("1e-150") * total
