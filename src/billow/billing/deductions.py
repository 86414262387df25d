"""What an invoice being finalized takes from the customer's balances, in Lago's order (reference §5.4):
its coupons before taxes (:mod:`billow.billing.coupon_credits`), then after taxes its credit notes and
its prepaid credits (wallets, :mod:`billow.wallets.consumption`). One place for every invoice kind: the
billing run's subscription invoice (:mod:`billow.billing.assembly`), a draft's finalization, an
immediate invoice (pay in advance, progressive billing) and a one-off invoice
(:mod:`billow.billing.writer`). A wallet top-up's ``credit`` invoice takes none of them.

Two steps around the invoice's row: :func:`finalized_amounts` reads the balances under their row locks
(two invoices of a customer finalized at once take them one after the other) and computes the amounts;
:func:`record_deductions` writes what the invoice took, once its row exists, in the same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from billow.billing.amounts import compute_amounts
from billow.billing.context import FeeDraft
from billow.billing.coupon_credits import TakenCoupons, record_coupons, take_coupons
from billow.billing.repository import billing_repository
from billow.billing.run_context import BillingRun, known_absent
from billow.billing.totals import InvoiceAmounts, with_prepaid_credits
from billow.credit_notes.service import credit_note_service
from billow.models.customers import Customer
from billow.models.invoices import Invoice
from billow.wallets.consumption import FeeShare, allocate
from billow.wallets.service import wallet_service


@dataclass
class Deductions:
    """What :func:`finalized_amounts` found, for :func:`record_deductions`."""

    coupons: TakenCoupons = field(default_factory=TakenCoupons)
    #: Cents per wallet id (:func:`billow.wallets.consumption.allocate`).
    wallets: dict[uuid.UUID, int] = field(default_factory=dict)


def finalized_amounts(
    session: Session,
    customer: Customer,
    drafts: Sequence[FeeDraft],
    plans_by_subscription: Mapping[uuid.UUID, uuid.UUID],
    currency: str,
    *,
    run: BillingRun | None = None,
    credited: bool = False,
) -> tuple[Deductions, InvoiceAmounts]:
    """The amounts of an invoice finalized as it is written: coupons, taxes, credit notes, prepaid
    credits. ``run``: the billing run's absence hints (a customer known to have no credit note, coupon or
    wallet is not queried); ``credited``: a credit note was just written for the customer (the hint is
    stale)."""
    coupons = take_coupons(session, customer.id, drafts, plans_by_subscription, run=run)
    available = 0
    if credited or not known_absent(run, "credit_notes", customer.id):
        available = credit_note_service.available_cents(session, customer.id, currency)
    amounts = compute_amounts(drafts, credit_notes_available_cents=available)
    wallets, amounts = prepaid_credits(session, customer, drafts, amounts, currency, run=run)
    return Deductions(coupons, wallets), amounts


def prepaid_credits(
    session: Session,
    customer: Customer,
    drafts: Sequence[FeeDraft],
    amounts: InvoiceAmounts,
    currency: str,
    *,
    run: BillingRun | None = None,
    lock: bool = True,
) -> tuple[dict[uuid.UUID, int], InvoiceAmounts]:
    """The customer's wallets paying what the invoice still owes after its credit notes (Lago's step 7:
    priority, then the oldest; ``applies_to`` limits which fees a wallet pays), read under their locks
    (``lock=False``: a preview, which writes nothing)."""
    owed = amounts.sub_total_including_taxes_amount_cents - amounts.credit_notes_amount_cents
    if owed <= 0 or not drafts or known_absent(run, "wallets", customer.id):
        return {}, amounts
    wallets = wallet_service.shares(session, customer.organization_id, customer.id, lock=lock)
    if not wallets:
        return {}, amounts
    codes = billing_repository.metric_codes_of_charges(
        session, {d.fee.charge_id for d in drafts if d.fee.charge_id is not None}
    )
    fees = [
        FeeShare(
            key=index,
            fee_type=draft.fee.fee_type,
            billable_metric_code=codes.get(draft.fee.charge_id) if draft.fee.charge_id else None,
            # After its deductions before taxes, taxes included.
            amount_cents=draft.fee.amount_cents
            - draft.progressive_credit_cents
            - draft.coupon_cents
            + draft.fee.taxes_amount_cents,
        )
        for index, draft in enumerate(drafts)
    ]
    allocation = allocate(fees, wallets, owed_cents=owed, currency=currency)
    return allocation, with_prepaid_credits(amounts, sum(allocation.values()))


def record_deductions(
    session: Session, invoice: Invoice, deductions: Deductions, amounts: InvoiceAmounts, *, now: datetime
) -> None:
    """What a finalized invoice took: its coupon credits and the coupons' state, its credit notes, its
    wallet transactions (the invoice's row must exist)."""
    record_coupons(
        session,
        organization_id=invoice.organization_id,
        invoice_id=invoice.id,
        currency=invoice.currency,
        taken=deductions.coupons,
        now=now,
    )
    credit_note_service.consume(session, invoice, amounts.credit_notes_amount_cents)
    if deductions.wallets:
        wallet_service.consume(session, invoice, deductions.wallets)
