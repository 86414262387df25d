"""billow.taxes.rules: which taxes apply to a charge fee, and the tax of a set of fees."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from billow.taxes.rules import applicable_charge_taxes, fee_taxes_amount_cents, taxes_of_fees


@dataclass(frozen=True)
class FakeTax:
    id: str
    rate: Decimal


VAT = FakeTax("vat", Decimal("20"))
REDUCED = FakeTax("reduced", Decimal("5.5"))
LOCAL = FakeTax("local", Decimal("1.25"))


class TestSelection:
    def test_first_non_empty_source_wins(self) -> None:
        def pick(charge: list[FakeTax], plan: list[FakeTax], customer: list[FakeTax], org: list[FakeTax]):
            return list(
                applicable_charge_taxes(
                    charge_taxes=charge, plan_taxes=plan, customer_taxes=customer, organization_taxes=org
                )
            )

        assert pick([VAT], [REDUCED], [LOCAL], [LOCAL]) == [VAT]
        assert pick([], [REDUCED, LOCAL], [VAT], [VAT]) == [REDUCED, LOCAL]
        assert pick([], [], [LOCAL], [VAT]) == [LOCAL]
        assert pick([], [], [], [VAT]) == [VAT]
        assert pick([], [], [], []) == []


class TestAmounts:
    def test_fee_taxes_sum_then_round_half_up(self) -> None:
        # 1000 * 20 % + 1000 * 1.25 % = 212.5 → 213
        assert fee_taxes_amount_cents(1000, [VAT, LOCAL]) == 213
        assert fee_taxes_amount_cents(0, [VAT]) == 0
        assert fee_taxes_amount_cents(-1000, [LOCAL]) == -13  # halves away from zero

    def test_set_of_fees_rounds_per_tax_and_once_in_total(self) -> None:
        totals = taxes_of_fees([(333, [REDUCED]), (333, [REDUCED]), (1001, [VAT, REDUCED])])
        # reduced: (333 + 333 + 1001) * 5.5 % = 91.685 → 92; vat: 200.2 → 200; total 291.885 → 292
        assert totals.by_tax == {"reduced": 92, "vat": 200}
        assert totals.taxes_amount_cents == 292

    def test_no_fees(self) -> None:
        totals = taxes_of_fees([])
        assert (totals.by_tax, totals.taxes_amount_cents) == ({}, 0)

    def test_exact_decimals(self) -> None:
        # A float computation of 0.1 + 0.2 style rates would drift; decimals do not.
        rate = FakeTax("odd", Decimal("8.875"))
        assert taxes_of_fees([(200, [rate]), (200, [rate])]).taxes_amount_cents == 36  # 35.5 → 36
