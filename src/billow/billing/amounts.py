"""A fee set's amounts and taxes (:func:`compute_amounts`, over :mod:`billow.billing.totals`) and the
invoice's amount columns (:func:`set_amounts`): shared by every invoice writer."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from billow.billing.context import FeeDraft
from billow.billing.totals import FeeLine, InvoiceAmounts, invoice_amounts
from billow.models.invoices import Invoice


def compute_amounts(drafts: Sequence[FeeDraft], *, credit_notes_available_cents: int = 0) -> InvoiceAmounts:
    """Amounts of the invoice, writing each fee's taxes and coupon share onto it. The pre-tax deductions
    are on the drafts already (``progressive_credit_cents``, ``coupon_cents``:
    :func:`billow.billing.coupon_credits.take_coupons`)."""
    lines = [
        FeeLine(
            key=id(d.fee),
            amount_cents=d.fee.amount_cents,
            taxes=d.taxes,
            precise_deductions_cents=Decimal(d.progressive_credit_cents + d.coupon_cents),
        )
        for d in drafts
    ]
    amounts = invoice_amounts(
        lines,
        progressive_billing_credit_amount_cents=sum(d.progressive_credit_cents for d in drafts),
        coupons_amount_cents=sum(d.coupon_cents for d in drafts),
        credit_notes_available_cents=credit_notes_available_cents,
    )
    for draft in drafts:
        draft.fee.precise_coupons_amount_cents = Decimal(draft.coupon_cents)
        fee_taxes = amounts.fee_taxes[id(draft.fee)]
        draft.fee.taxes_precise_amount_cents = fee_taxes.taxes_precise_amount_cents
        draft.fee.taxes_amount_cents = fee_taxes.taxes_amount_cents
        draft.fee.taxes_rate = fee_taxes.taxes_rate
    return amounts


def set_amounts(invoice: Invoice, amounts: InvoiceAmounts) -> None:
    invoice.fees_amount_cents = amounts.fees_amount_cents
    invoice.taxes_amount_cents = amounts.taxes_amount_cents
    invoice.progressive_billing_credit_amount_cents = amounts.progressive_billing_credit_amount_cents
    invoice.coupons_amount_cents = amounts.coupons_amount_cents
    invoice.credit_notes_amount_cents = amounts.credit_notes_amount_cents
    invoice.prepaid_credit_amount_cents = amounts.prepaid_credit_amount_cents
    invoice.sub_total_excluding_taxes_amount_cents = amounts.sub_total_excluding_taxes_amount_cents
    invoice.sub_total_including_taxes_amount_cents = amounts.sub_total_including_taxes_amount_cents
    invoice.total_amount_cents = amounts.total_amount_cents
