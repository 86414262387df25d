"""The deductions of an invoice preview (:mod:`billow.billing.preview`): the coupons given inline as
:class:`~billow.billing.coupons.CouponTerms`, what each coupon and credit note takes, for the answer's
``credits``. Reads only."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy.orm import Session

from billow.billing.coupon_credits import applied_terms
from billow.billing.coupons import CouponTerms, CouponType, Frequency, InvoiceCoupons
from billow.billing.preview_repository import preview_repository
from billow.billing.schemas import PreviewCouponInput
from billow.coupons.repository import coupon_repository
from billow.credit_notes.repository import credit_note_repository
from billow.errors import ValidationFailed
from billow.models.coupons import AppliedCoupon, Coupon
from billow.models.credit_notes import CreditNote
from billow.models.customers import Customer
from billow.models.invoices import Invoice
from billow.models.organizations import Organization


@dataclass(frozen=True)
class CouponCreditLine:
    """What one coupon takes from the previewed invoice (Lago's coupon ``credit``)."""

    amount_cents: int
    coupon_id: uuid.UUID | None
    code: str | None
    name: str | None


@dataclass(frozen=True)
class CreditNoteCreditLine:
    """What one credit note would give the previewed invoice (after taxes)."""

    amount_cents: int
    credit_note_id: uuid.UUID
    number: str
    invoice_number: str | None


# ------------------------------------------------------------------------------------------ coupons


def inline_terms(
    session: Session, organization: Organization, coupons: Sequence[PreviewCouponInput], now: datetime
) -> list[tuple[CouponTerms, CouponCreditLine]]:
    """The coupons given inline, in their order: a stored coupon's terms when ``code`` names one (Lago),
    else the terms given (``once`` by default)."""
    terms: list[tuple[CouponTerms, CouponCreditLine]] = []
    for index, given in enumerate(coupons):
        stored = coupon_repository.by_code(session, organization.id, given.code) if given.code else None
        key = uuid.uuid4()
        if stored is not None:
            term = _stored_coupon_terms(session, stored, key, now)
            terms.append((term, CouponCreditLine(0, stored.id, stored.code, stored.name)))
            continue
        coupon_type = given.coupon_type
        if coupon_type not in ("fixed_amount", "percentage"):
            raise ValidationFailed.one("coupon_type", "value_is_invalid")
        frequency = given.frequency or "once"
        if frequency not in ("once", "recurring", "forever"):
            raise ValidationFailed.one("frequency", "value_is_invalid")
        rate = _rate(given.percentage_rate) if coupon_type == "percentage" else None
        if coupon_type == "fixed_amount" and given.amount_cents is None:
            raise ValidationFailed.one("amount_cents", "value_is_mandatory")
        terms.append(
            (
                CouponTerms(
                    id=key,
                    coupon_type=cast(CouponType, coupon_type),
                    frequency=cast(Frequency, frequency),
                    created_at=now + timedelta(microseconds=index),
                    amount_cents=given.amount_cents,
                    amount_currency=given.amount_currency,
                    percentage_rate=rate,
                    frequency_duration_remaining=given.frequency_duration,
                ),
                CouponCreditLine(0, None, given.code, given.name),
            )
        )
    return terms


def _rate(value: object) -> Decimal:
    if value is None:
        raise ValidationFailed.one("percentage_rate", "value_is_mandatory")
    try:
        rate = Decimal(str(value))
    except InvalidOperation:
        raise ValidationFailed.one("percentage_rate", "value_is_invalid") from None
    if not rate.is_finite() or rate < 0 or rate > 100:
        raise ValidationFailed.one("percentage_rate", "value_is_out_of_range")
    return rate


def _stored_coupon_terms(session: Session, coupon: Coupon, key: uuid.UUID, now: datetime) -> CouponTerms:
    """A stored coupon as if applied now (its amount, rate, frequency and targets)."""
    probe = SimpleNamespace(
        id=key,
        coupon_id=coupon.id,
        frequency=coupon.frequency,
        created_at=now,
        amount_cents=coupon.amount_cents,
        amount_cents_remaining=None,
        amount_currency=coupon.amount_currency,
        percentage_rate=coupon.percentage_rate,
        frequency_duration_remaining=coupon.frequency_duration,
    )
    [term] = applied_terms(session, [cast(AppliedCoupon, probe)])
    return term


def active_applied_coupons(session: Session, customer: Customer) -> list[AppliedCoupon]:
    return preview_repository.active_applied_coupons(session, customer)


def coupon_names(session: Session, coupons: dict[uuid.UUID, uuid.UUID]) -> dict[Any, CouponCreditLine]:
    stored = {coupon_id: session.get(Coupon, coupon_id) for coupon_id in set(coupons.values())}
    return {
        applied_id: CouponCreditLine(0, coupon_id, coupon.code, coupon.name)
        for applied_id, coupon_id in coupons.items()
        if (coupon := stored[coupon_id]) is not None
    }


def coupon_lines(result: InvoiceCoupons, names: dict[Any, CouponCreditLine]) -> list[CouponCreditLine]:
    lines = []
    for credit in result.credits:
        name = names[credit.applied_coupon_id]
        lines.append(CouponCreditLine(credit.amount_cents, name.coupon_id, name.code, name.name))
    return lines


# ------------------------------------------------------------------------------------------ credit notes


def available_credit_notes(
    session: Session, customer_id: uuid.UUID, currency: str
) -> list[tuple[CreditNote, str | None]]:
    """The customer's credit notes with credit left, oldest first, with their invoice's number; no lock."""
    notes = credit_note_repository.available(session, customer_id, currency, lock=False)
    invoices = {note.invoice_id: session.get(Invoice, note.invoice_id) for note in notes}
    return [(note, getattr(invoices[note.invoice_id], "number", None)) for note in notes]


def credit_note_parts(amount_cents: int, balances: Sequence[int]) -> list[int]:
    """What an invoice takes from each credit note, oldest first, for ``amount_cents`` in all (as
    :meth:`billow.credit_notes.service.CreditNoteService.consume`): each note its whole balance until the
    amount is reached. Notes that give nothing are 0."""
    parts = []
    remaining = amount_cents
    for balance in balances:
        take = max(min(balance, remaining), 0)
        parts.append(take)
        remaining -= take
    return parts


def credit_note_lines(
    notes: list[tuple[CreditNote, str | None]], amount_cents: int
) -> list[CreditNoteCreditLine]:
    parts = credit_note_parts(amount_cents, [note.balance_amount_cents for note, _ in notes])
    return [
        CreditNoteCreditLine(part, note.id, note.number, invoice_number)
        for (note, invoice_number), part in zip(notes, parts, strict=True)
        if part > 0
    ]
