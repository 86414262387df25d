"""The pure money of payments (:mod:`billow.payments.amounts`), computed by hand."""

from __future__ import annotations

import uuid

import pytest

from billow.payments.amounts import InvoicePayments, Overpayment, Owed, apply_payment, due_cents, spread

A, B, C = (uuid.UUID(int=n) for n in (1, 2, 3))


class TestApplyPayment:
    def test_partial_payment_keeps_pending(self) -> None:
        # 10000 total, nothing paid: 10000 - 0 - 0 = 10000 due; 2500 paid -> paid 0 + 2500 = 2500,
        # due 10000 - 2500 = 7500, still pending.
        assert apply_payment(total_amount_cents=10000, total_paid_amount_cents=0, amount_cents=2500) == (
            InvoicePayments(2500, 7500, "pending")
        )

    def test_the_rest_pays_it(self) -> None:
        # 10000 total, 2500 paid: 7500 due; 7500 paid -> paid 2500 + 7500 = 10000, due 0: succeeded.
        assert apply_payment(
            total_amount_cents=10000, total_paid_amount_cents=2500, amount_cents=7500
        ) == InvoicePayments(10000, 0, "succeeded")

    def test_credit_note_offset_lowers_what_is_due(self) -> None:
        # 10000 total, 1000 paid, 3000 offset by a credit note: 10000 - 1000 - 3000 = 6000 due;
        # 6000 paid -> paid 1000 + 6000 = 7000, due 0: succeeded.
        assert apply_payment(
            total_amount_cents=10000, total_paid_amount_cents=1000, amount_cents=6000, offset_cents=3000
        ) == InvoicePayments(7000, 0, "succeeded")

    def test_overpayment_is_refused(self) -> None:
        # 10000 - 2500 - 3000 = 4500 due: 4501 is one cent too many.
        with pytest.raises(Overpayment) as raised:
            apply_payment(
                total_amount_cents=10000, total_paid_amount_cents=2500, amount_cents=4501, offset_cents=3000
            )
        assert (raised.value.amount_cents, raised.value.due_cents) == (4501, 4500)

    def test_nothing_due_refuses_any_amount(self) -> None:
        # 500 total, 500 paid: 0 due.
        with pytest.raises(Overpayment):
            apply_payment(total_amount_cents=500, total_paid_amount_cents=500, amount_cents=1)

    def test_a_failed_invoice_partly_paid_stays_failed(self) -> None:
        # 900 - 0 = 900 due; 100 paid -> 800 due: the status is kept.
        assert apply_payment(
            total_amount_cents=900, total_paid_amount_cents=0, amount_cents=100, payment_status="failed"
        ) == InvoicePayments(100, 800, "failed")

    def test_amount_must_be_positive(self) -> None:
        with pytest.raises(ValueError):
            apply_payment(total_amount_cents=900, total_paid_amount_cents=0, amount_cents=0)

    def test_due_never_below_zero(self) -> None:
        # 1000 - 800 - 500 = -300 -> 0.
        assert due_cents(1000, 800, 500) == 0
        # 1000 - 800 - 100 = 100.
        assert due_cents(1000, 800, 100) == 100


class TestSpread:
    def test_oldest_first(self) -> None:
        # A owes 3000, B 2000, C 5000; 4500 paid: A takes 3000, 4500 - 3000 = 1500 left for B (owes 2000),
        # nothing left for C.
        assert spread(4500, [Owed(A, 3000), Owed(B, 2000), Owed(C, 5000)]) == [(A, 3000), (B, 1500)]

    def test_exactly_everything(self) -> None:
        # 3000 + 2000 = 5000.
        assert spread(5000, [Owed(A, 3000), Owed(B, 2000)]) == [(A, 3000), (B, 2000)]

    def test_an_invoice_owing_nothing_is_skipped(self) -> None:
        # A owes 0: B takes the 700 (it owes 1000).
        assert spread(700, [Owed(A, 0), Owed(B, 1000)]) == [(B, 700)]

    def test_more_than_everything_is_refused(self) -> None:
        # 3000 + 2000 = 5000 owed: 5001 is too much.
        with pytest.raises(Overpayment) as raised:
            spread(5001, [Owed(A, 3000), Owed(B, 2000)])
        assert raised.value.due_cents == 5000
