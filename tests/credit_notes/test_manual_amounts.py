"""The money of manual credit notes (:mod:`billow.credit_notes.amounts`), computed by hand."""

from __future__ import annotations

from decimal import Decimal

from billow.credit_notes import amounts as cn

D = Decimal
RATES = {"local": D("5.5"), "vat": D(20)}


def fee(
    fee_id: str, amount: int, coupons: str = "0", taxes: tuple[str, ...] = ("local", "vat")
) -> cn.CreditedFee:
    return cn.CreditedFee(fee_id, amount, D(coupons), taxes)


class TestManualAmounts:
    def test_two_taxes_no_coupon(self) -> None:
        money = cn.manual_amounts([(fee("sub", 10000), D(2500)), (fee("usage", 20000), D(5000))], RATES)
        # local: base 7500, 7500 x 5.5 / 100 = 412.5 -> row 413; vat: 7500 x 20 / 100 = 1500.
        assert [
            (p.tax_id, p.base_amount_cents, p.amount_cents, p.precise_amount_cents) for p in money.taxes
        ] == [
            ("local", 7500, 413, D("412.5")),
            ("vat", 7500, 1500, D(1500)),
        ]
        # taxes 412.5 + 1500 = 1912.5 -> 1913; total 7500 + 1912.5 = 9412.5 -> 9413 (half up).
        assert (money.precise_taxes_amount_cents, money.taxes_amount_cents) == (D("1912.5"), 1913)
        assert (money.sub_total_excluding_taxes_amount_cents, money.total_amount_cents) == (7500, 9413)
        # rate: 7500 / 7500 x 5.5 + 7500 / 7500 x 20 = 25.5
        assert money.taxes_rate == D("25.5")
        assert (money.coupons_adjustment_amount_cents, money.precise_coupons_adjustment_amount_cents) == (
            0,
            0,
        )

    def test_coupons_pro_rata(self) -> None:
        # Fee coupon shares 1000 (of 10000) and 2000 (of 20000): items take 1000 x 2500 / 10000 = 250 and
        # 2000 x 5000 / 20000 = 500; adjustment 750; base 7500 - 750 = 6750.
        money = cn.manual_amounts(
            [(fee("sub", 10000, "1000"), D(2500)), (fee("usage", 20000, "2000"), D(5000))], RATES
        )
        assert (money.precise_coupons_adjustment_amount_cents, money.coupons_adjustment_amount_cents) == (
            D("750.00000"),
            750,
        )
        # local 6750 x 5.5 % = 371.25 -> 371; vat 6750 x 20 % = 1350; taxes 1721.25 -> 1721.
        assert [(p.base_amount_cents, p.amount_cents) for p in money.taxes] == [(6750, 371), (6750, 1350)]
        assert money.taxes_amount_cents == 1721
        # sub-total 6750; total 6750 + 1721.25 = 8471.25 -> 8471.
        assert (money.sub_total_excluding_taxes_amount_cents, money.total_amount_cents) == (6750, 8471)

    def test_coupon_adjustment_stored_with_five_decimals(self) -> None:
        # 3 coupon cents on a 192-cent fee, item 1: 3 x 1 / 192 = 0.015625 -> 0.01563 (half up).
        money = cn.manual_amounts([(fee("f", 192, "3", ()), D(1))], {})
        assert money.precise_coupons_adjustment_amount_cents == D("0.01563")
        # sub-total round(1 - 0.01563) = 1; no tax.
        assert (money.sub_total_excluding_taxes_amount_cents, money.taxes_amount_cents) == (1, 0)

    def test_tax_only_on_the_fees_carrying_it(self) -> None:
        # vat on both fees (base 100 + 60 = 160), local only on the first (base 100).
        money = cn.manual_amounts(
            [(fee("a", 1000, taxes=("local", "vat")), D(100)), (fee("b", 1000, taxes=("vat",)), D(60))], RATES
        )
        # local 100 x 5.5 % = 5.5 -> 6; vat 160 x 20 % = 32; taxes 37.5 -> 38.
        assert [(p.tax_id, p.base_amount_cents, p.amount_cents) for p in money.taxes] == [
            ("local", 100, 6),
            ("vat", 160, 32),
        ]
        assert money.taxes_amount_cents == 38
        # rate: 100 / 160 x 5.5 + 160 / 160 x 20 = 3.4375 + 20 = 23.4375
        assert money.taxes_rate == D("23.4375")

    def test_rate_rounded_to_five_places(self) -> None:
        # Items 7 (at 5.5 %) and 153 (untaxed): 7 / 160 x 5.5 = 0.240625 -> 0.24063.
        money = cn.manual_amounts(
            [(fee("a", 1000, taxes=("local",)), D(7)), (fee("b", 1000, taxes=()), D(153))], RATES
        )
        assert money.taxes_rate == D("0.24063")

    def test_last_note_takes_the_tax_residue(self) -> None:
        # An earlier note showed 2032 for 2031.87251 of taxes: residue 0.12749.
        residue = cn.taxes_residue([(2032, D("2031.87251"))])
        assert residue == D("0.12749")
        money = cn.manual_amounts(
            [(fee("usage", 20000), D("14687.91501")), (fee("sub", 10000), D("7343.95751"))],
            RATES,
            taxes_residue=residue,
        )
        # base 22031.87252: local x 5.5 % = 1211.7529886, vat x 20 % = 4406.374504;
        # sum 5618.1274926 -> 5618.12749, minus 0.12749 = 5618 (2032 + 5618 = 7650, the invoice's taxes).
        assert (money.precise_taxes_amount_cents, money.taxes_amount_cents) == (D("5618.00000"), 5618)
        # total 22031.87252 + 5618 = 27649.87252 -> 27650
        assert money.total_amount_cents == 27650

    def test_zero_fee_takes_no_coupon(self) -> None:
        assert cn.coupon_share(fee("f", 0, "5"), D(3)) == 0


class TestFeeTaxes:
    TAXES = [("local", D("5.5")), ("vat", D(20)), ("eco", D(2))]

    def test_all_when_rates_add_up(self) -> None:
        assert cn.fee_taxes(D("27.5"), self.TAXES) == ("local", "vat", "eco")

    def test_first_subset_matching_the_fee_rate(self) -> None:
        assert cn.fee_taxes(D(22), self.TAXES) == ("vat", "eco")
        assert cn.fee_taxes(D("5.5"), self.TAXES) == ("local",)

    def test_untaxed_fee(self) -> None:
        assert cn.fee_taxes(D(0), self.TAXES) == ()


STATE = cn.InvoiceState(
    total_amount_cents=37650, total_paid_amount_cents=0, payment_succeeded=False, fee_total_amount_cents=37650
)


class TestValidate:
    def test_valid(self) -> None:
        assert cn.validate(cn.Requested(5000, 0, 4413), 9413, STATE) == {}

    def test_one_cent_tolerance(self) -> None:
        assert cn.validate(cn.Requested(9412, 0, 0), 9413, STATE) == {}
        assert cn.validate(cn.Requested(9411, 0, 0), 9413, STATE) == {"base": ["does_not_match_item_amounts"]}

    def test_refund_of_an_unpaid_invoice(self) -> None:
        assert cn.validate(cn.Requested(0, 9413, 0), 9413, STATE) == {
            "refund_amount_cents": ["cannot_refund_unpaid_invoice"]
        }

    def test_refund_above_what_was_paid(self) -> None:
        # Paid 1000, 300 already refunded: 700 refundable.
        state = cn.InvoiceState(37650, 1000, False, 37650, refunded_cents=300)
        assert cn.validate(cn.Requested(8713, 700, 0), 9413, state) == {}
        assert cn.validate(cn.Requested(8712, 701, 0), 9413, state) == {
            "refund_amount_cents": ["higher_than_remaining_invoice_amount"]
        }

    def test_fully_paid_but_not_succeeded(self) -> None:
        state = cn.InvoiceState(37650, 37650, False, 37650)
        assert cn.validate(cn.Requested(0, 100, 0), 100, state) == {
            "refund_amount_cents": ["cannot_refund_unpaid_invoice"]
        }

    def test_above_the_invoice(self) -> None:
        # 30000 credited before: 7650 left; 7652 is 2 above (the tolerance is 1).
        state = cn.InvoiceState(37650, 0, False, 37650, credited_cents=30000)
        assert cn.validate(cn.Requested(7651, 0, 0), 7651, state) == {}
        assert cn.validate(cn.Requested(7652, 0, 0), 7652, state) == {
            "credit_amount_cents": ["higher_than_remaining_invoice_amount"],
            "base": ["higher_than_remaining_invoice_amount"],
        }

    def test_offset_above_what_is_due(self) -> None:
        # Due 37650 - 37000 paid = 650.
        state = cn.InvoiceState(37650, 37000, False, 37650)
        assert cn.validate(cn.Requested(0, 0, 651), 651, state) == {
            "offset_amount_cents": ["higher_than_remaining_invoice_amount"]
        }

    def test_total_must_be_positive(self) -> None:
        assert cn.validate(cn.Requested(0, 0, 0), 0, STATE) == {"base": ["total_amount_must_be_positive"]}


class TestSettleRounding:
    def test_nothing_to_settle(self) -> None:
        assert cn.settle_rounding(
            cn.Requested(5000, 0, 4413), taxes_amount_cents=1913, sub_total_cents=7500
        ) == (cn.Settled(9413, 5000, 0, 4413))

    def test_one_cent_down_on_the_credit(self) -> None:
        # 9414 - 1913 = 7501 > 7500: the total and the credit lose a cent.
        assert cn.settle_rounding(
            cn.Requested(5001, 0, 4413), taxes_amount_cents=1913, sub_total_cents=7500
        ) == (cn.Settled(9413, 5000, 0, 4413))

    def test_one_cent_up_on_the_offset_then_refund(self) -> None:
        # 9412 - 1913 = 7499 < 7500: one cent more, on the offset (no credit), else the refund.
        assert cn.settle_rounding(
            cn.Requested(0, 0, 9412), taxes_amount_cents=1913, sub_total_cents=7500
        ) == (cn.Settled(9413, 0, 0, 9413))
        assert cn.settle_rounding(
            cn.Requested(0, 9412, 0), taxes_amount_cents=1913, sub_total_cents=7500
        ) == (cn.Settled(9413, 0, 9413, 0))


class TestEstimateBounds:
    def test_unpaid(self) -> None:
        money = cn.manual_amounts([(fee("sub", 10000), D(2500)), (fee("usage", 20000), D(5000))], RATES)
        # creditable 9413; nothing paid: refundable 0; offsettable min(9413, 37650 due) = 9413.
        assert cn.estimate_bounds(money, STATE) == cn.Estimate(9413, 0, 9413, 1913)

    def test_paid_in_part(self) -> None:
        money = cn.manual_amounts([(fee("sub", 10000), D(2500)), (fee("usage", 20000), D(5000))], RATES)
        # paid 5000: refundable min(9413, 5000) = 5000; due 32650: offsettable 9413.
        state = cn.InvoiceState(37650, 5000, False, 37650)
        assert cn.estimate_bounds(money, state) == cn.Estimate(9413, 5000, 9413, 1913)

    def test_one_cent_correction(self) -> None:
        # Fee of 2 cents with 1 coupon cent, item 1: coupon share 1 x 1 / 2 = 0.5, net 0.5 (sub-total
        # round(0.5) = 1); tax 100 %: 0.5 -> taxes 1; total round(0.5 + 0.5) = 1. 1 - 1 = 0 < 1: the
        # taxes lose a cent (0).
        money = cn.manual_amounts([(fee("f", 2, "1", ("all",)), D(1))], {"all": D(100)})
        assert (money.sub_total_excluding_taxes_amount_cents, money.taxes_amount_cents) == (1, 1)
        assert cn.estimate_bounds(money, STATE) == cn.Estimate(1, 0, 1, 0)


class TestVoidSplit:
    def test_split_and_scale(self) -> None:
        assert cn.void_split(37650, 10000, 0) == (10000, 0, 27650)
        assert cn.void_split(37650, 30000, 7650) == (30000, 7650, 0)
        # 20000 x 10000 / 37650 = 5312.0849933... -> 5312.08499; 10000 x 10000 / 37650 -> 2656.04249
        scaled = cn.scale_items(
            [(fee("usage", 20000), D(20000)), (fee("sub", 10000), D(10000))], 10000, 37650
        )
        assert [amount for _, amount in scaled] == [D("5312.08499"), D("2656.04249")]
