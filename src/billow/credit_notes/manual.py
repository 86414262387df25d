"""Manual credit notes (Lago's ``CreditNotes::CreateService``, ``EstimateService``, ``UpdateService``,
``VoidService``, credit-note metadata) and the credit note of an invoice void
(``POST /invoices/{id}/void`` with ``generate_credit_note``, announced by :mod:`billow.invoices.service`
through the ``invoice.voided_with_credit_note`` hook, registered here: invoices sit below credit notes in
the layers).

The money is in :mod:`billow.credit_notes.amounts` (pure); this module reads the invoice, checks the
request in Lago's order and writes the note. Nothing is written when a check fails.

* Eligibility: a ``finalized`` invoice that is not a ``credit`` invoice (wallet purchases), else 405
  ``invalid_type_or_status``; an unknown invoice (or another organization's) is 404 ``invoice_not_found``.
* Items, in order, the first failing one ending the request: its fee must be one of the invoice's
  (404 ``fee_not_found``), its amount present and >= 0 (422 ``amount_cents``: ``value_is_mandatory``,
  ``invalid_value``) and at most what is left of the fee (``higher_than_remaining_fee_amount``).
* The amounts: :func:`billow.credit_notes.amounts.validate` (422, Lago's fields and codes).
* Fees' coupons: each fee's share of the invoice's coupons (``precise_coupons_amount_cents``, written
  when the invoice took them: :mod:`billow.billing.coupon_credits`).
"""

from __future__ import annotations

import uuid
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

from sqlalchemy.orm import Session

from billow.credit_notes import amounts as cn
from billow.credit_notes.repository import credit_note_repository as repository
from billow.credit_notes.schemas import (
    MAX_METADATA_KEYS,
    METADATA_KEY_MAX_LENGTH,
    CreditNoteCreateInput,
    CreditNoteItemInput,
    CreditNoteUpdateInput,
)
from billow.credit_notes.service import announce_created
from billow.db import utcnow
from billow.errors import NotAllowed, NotFound, ValidationFailed
from billow.invoices.service import INVOICE_VOIDED_WITH_CREDIT_NOTE
from billow.kit.ids import parse_lago_id
from billow.kit.locking import lock_row
from billow.kit.money import round_minor_units
from billow.kit.time import local_date
from billow.models.credit_notes import (
    CreditNote,
    CreditNoteAppliedTax,
    CreditNoteItem,
    CreditNoteReason,
    CreditStatus,
    RefundStatus,
)
from billow.models.customers import Customer
from billow.models.invoices import AppliedTax, Fee, Invoice, InvoiceStatus, InvoiceType, PaymentStatus
from billow.models.organizations import Organization
from billow.worker.dispatch import hook

REASONS = {reason.value for reason in CreditNoteReason}
REFUND_STATUSES = {status.value for status in RefundStatus}


@dataclass
class InvoiceBook:
    """An invoice with what a credit note on it needs: its fees (what is left of each), taxes and
    earlier notes."""

    invoice: Invoice
    fees: dict[uuid.UUID, Fee]
    credited: dict[uuid.UUID, int]
    taxes: list[AppliedTax]
    notes: list[CreditNote]

    def remaining(self, fee: Fee) -> int:
        return fee.amount_cents - self.credited.get(fee.id, 0)

    def credited_fee(self, fee: Fee) -> cn.CreditedFee:
        coupons = Decimal(fee.precise_coupons_amount_cents or 0)
        tax_ids = cn.fee_taxes(Decimal(fee.taxes_rate), [(t.id, Decimal(t.tax_rate)) for t in self.taxes])
        return cn.CreditedFee(fee.id, fee.amount_cents, coupons, tax_ids)

    def rates(self) -> dict[Hashable, Decimal]:
        return {tax.id: Decimal(tax.tax_rate) for tax in self.taxes}

    def state(self) -> cn.InvoiceState:
        invoice = self.invoice
        return cn.InvoiceState(
            total_amount_cents=invoice.total_amount_cents,
            total_paid_amount_cents=invoice.total_paid_amount_cents,
            payment_succeeded=invoice.payment_status == PaymentStatus.SUCCEEDED,
            fee_total_amount_cents=invoice.sub_total_including_taxes_amount_cents,
            credited_cents=sum(n.credit_amount_cents for n in self.notes),
            refunded_cents=sum(n.refund_amount_cents for n in self.notes),
            offset_cents=sum(n.offset_amount_cents for n in self.notes),
        )

    def amounts(
        self, items: Sequence[tuple[cn.CreditedFee, Decimal]], *, last: bool | None = None
    ) -> cn.ManualAmounts:
        """The note's amounts; the last note of the invoice (nothing left on any fee once its items are
        counted, unless ``last`` says) takes the earlier notes' tax rounding residue."""
        taken: dict[Hashable, Decimal] = {}
        for fee, amount in items:
            taken[fee.fee_id] = taken.get(fee.fee_id, Decimal(0)) + amount
        if last is None:
            last = all(
                Decimal(self.remaining(fee)) - taken.get(fee.id, Decimal(0)) <= 0
                for fee in self.fees.values()
            )
        residue = (
            cn.taxes_residue(
                [(n.taxes_amount_cents, Decimal(n.precise_taxes_amount_cents)) for n in self.notes]
            )
            if last and items
            else Decimal(0)
        )
        return cn.manual_amounts(items, self.rates(), taxes_residue=residue)


class ManualCreditNotes:
    # ------------------------------------------------------------------------------------- reading

    def _book(self, session: Session, invoice: Invoice) -> InvoiceBook:
        fees = repository.fees_of_invoice(session, invoice.id)
        return InvoiceBook(
            invoice=invoice,
            fees={fee.id: fee for fee in fees},
            credited=repository.credited_by_fee(session, [fee.id for fee in fees]),
            taxes=repository.applied_taxes(session, invoice.id),
            notes=repository.notes_of_invoice(session, invoice.id),
        )

    def _eligible_invoice(
        self, session: Session, organization: Organization, invoice_id: str | None
    ) -> Invoice:
        invoice = repository.invoice_of(session, organization.id, parse_lago_id(invoice_id or "", "invoice"))
        if invoice is None:
            raise NotFound("invoice")
        invoice = lock_row(session, Invoice, invoice.id)  # one note at a time per invoice
        if invoice.status != InvoiceStatus.FINALIZED or invoice.invoice_type == InvoiceType.CREDIT:
            raise NotAllowed(code="invalid_type_or_status")
        return invoice

    def _items(
        self, book: InvoiceBook, items: Sequence[CreditNoteItemInput]
    ) -> list[tuple[cn.CreditedFee, Decimal]]:
        """The requested items, checked in order (the first invalid one ends the request)."""
        out: list[tuple[cn.CreditedFee, Decimal]] = []
        taken: dict[uuid.UUID, int] = {}
        for item in items:
            try:
                fee_id = uuid.UUID(item.fee_id or "")
            except ValueError:
                raise NotFound("fee") from None
            fee = book.fees.get(fee_id)
            if fee is None:
                raise NotFound("fee")
            if item.amount_cents is None:
                raise ValidationFailed.one("amount_cents", "value_is_mandatory")
            if item.amount_cents < 0:
                raise ValidationFailed.one("amount_cents", "invalid_value")
            if item.amount_cents > book.remaining(fee) - taken.get(fee.id, 0):
                raise ValidationFailed.one("amount_cents", "higher_than_remaining_fee_amount")
            taken[fee.id] = taken.get(fee.id, 0) + item.amount_cents
            out.append((book.credited_fee(fee), Decimal(item.amount_cents)))
        return out

    # -------------------------------------------------------------------------------------- create

    def create(self, session: Session, organization: Organization, data: CreditNoteCreateInput) -> CreditNote:
        invoice = self._eligible_invoice(session, organization, data.invoice_id)
        if data.reason is not None and data.reason not in REASONS:
            raise ValidationFailed.one("reason", "value_is_invalid")
        metadata = self._checked_metadata(data.metadata) if data.metadata is not None else None
        book = self._book(session, invoice)
        items = self._items(book, data.items or [])
        money = book.amounts(items)
        requested = cn.Requested(
            data.credit_amount_cents or 0, data.refund_amount_cents or 0, data.offset_amount_cents or 0
        )
        if (
            min(requested.credit_amount_cents, requested.refund_amount_cents, requested.offset_amount_cents)
            < 0
        ):
            raise ValidationFailed.one("base", "invalid_amount")
        errors = cn.validate(requested, money.total_amount_cents, book.state())
        if errors:
            raise ValidationFailed(errors)
        note = self._write(
            session,
            book,
            money,
            requested,
            reason=data.reason or CreditNoteReason.OTHER,
            description=data.description,
            metadata=metadata,
        )
        return note

    def _write(
        self,
        session: Session,
        book: InvoiceBook,
        money: cn.ManualAmounts,
        requested: cn.Requested,
        *,
        reason: str,
        description: str | None = None,
        metadata: dict[str, str | None] | None = None,
        voided: bool = False,
    ) -> CreditNote:
        invoice = book.invoice
        settled = cn.settle_rounding(
            requested,
            taxes_amount_cents=money.taxes_amount_cents,
            sub_total_cents=money.sub_total_excluding_taxes_amount_cents,
        )
        customer = session.get(Customer, invoice.customer_id)
        organization = session.get(Organization, invoice.organization_id)
        assert customer is not None and organization is not None
        now = utcnow()
        sequential_id = repository.count_of_invoice(session, invoice.id) + 1
        note = CreditNote(
            organization_id=invoice.organization_id,
            customer_id=invoice.customer_id,
            invoice_id=invoice.id,
            sequential_id=sequential_id,
            number=f"{invoice.number}-CN{sequential_id:03d}",
            issuing_date=local_date(now, customer.applicable_timezone(organization)),
            status="finalized",
            credit_status=CreditStatus.VOIDED if voided else CreditStatus.AVAILABLE,
            refund_status=RefundStatus.PENDING if requested.refund_amount_cents > 0 else None,
            reason=reason,
            description=description,
            currency=invoice.currency,
            total_amount_cents=settled.total_amount_cents,
            precise_total_amount_cents=money.precise_total_amount_cents,
            taxes_amount_cents=money.taxes_amount_cents,
            precise_taxes_amount_cents=money.precise_taxes_amount_cents,
            taxes_rate=money.taxes_rate,
            sub_total_excluding_taxes_amount_cents=money.sub_total_excluding_taxes_amount_cents,
            coupons_adjustment_amount_cents=money.coupons_adjustment_amount_cents,
            precise_coupons_adjustment_amount_cents=money.precise_coupons_adjustment_amount_cents,
            credit_amount_cents=settled.credit_amount_cents,
            balance_amount_cents=0 if voided else settled.credit_amount_cents,
            refund_amount_cents=settled.refund_amount_cents,
            offset_amount_cents=settled.offset_amount_cents,
            voided_at=now if voided else None,
            key_values=metadata,
        )
        session.add(note)
        session.flush()
        for fee, amount in money.items:
            session.add(
                CreditNoteItem(
                    organization_id=invoice.organization_id,
                    credit_note_id=note.id,
                    fee_id=fee.fee_id,
                    amount_cents=round_minor_units(amount),
                    precise_amount_cents=amount,
                    amount_currency=invoice.currency,
                )
            )
        rows = {tax.id: tax for tax in book.taxes}
        for part in money.taxes:
            row = rows[part.tax_id]  # type: ignore[index]  # keyed by AppliedTax.id
            session.add(
                CreditNoteAppliedTax(
                    organization_id=invoice.organization_id,
                    credit_note_id=note.id,
                    tax_id=row.tax_id,
                    tax_code=row.tax_code,
                    tax_name=row.tax_name,
                    tax_description=row.tax_description,
                    tax_rate=row.tax_rate,
                    amount_cents=part.amount_cents,
                    amount_currency=invoice.currency,
                    base_amount_cents=part.base_amount_cents,
                )
            )
        if settled.offset_amount_cents > 0:
            # The offset settles the invoice; fully settled, it is paid.
            due = (
                invoice.total_amount_cents
                - invoice.total_paid_amount_cents
                - book.state().offset_cents
                - settled.offset_amount_cents
            )
            if due <= 0:
                invoice.payment_status = PaymentStatus.SUCCEEDED
        book.notes.append(note)
        for fee, amount in money.items:
            fee_id = cast(uuid.UUID, fee.fee_id)
            book.credited[fee_id] = book.credited.get(fee_id, 0) + round_minor_units(amount)
        session.flush()
        announce_created(session, note)
        return note

    # ------------------------------------------------------------------------------------ estimate

    def estimate(
        self,
        session: Session,
        organization: Organization,
        invoice_id: str | None,
        items: Sequence[CreditNoteItemInput],
    ) -> tuple[Invoice, cn.ManualAmounts, cn.Estimate]:
        """What a note of ``items`` would be (writes nothing)."""
        invoice = self._eligible_invoice(session, organization, invoice_id)
        book = self._book(session, invoice)
        money = book.amounts(self._items(book, items))
        return invoice, money, cn.estimate_bounds(money, book.state())

    # ---------------------------------------------------------------------------- update and void

    def _note(self, session: Session, organization: Organization, lago_id: str) -> CreditNote:
        note = repository.by_id(session, organization.id, parse_lago_id(lago_id, "credit_note"))
        if note is None:
            raise NotFound("credit_note")
        return lock_row(session, CreditNote, note.id)

    def update(
        self, session: Session, organization: Organization, lago_id: str, data: CreditNoteUpdateInput
    ) -> CreditNote:
        note = self._note(session, organization, lago_id)
        if data.refund_status is not None and data.refund_status not in REFUND_STATUSES:
            raise ValidationFailed.one("refund_status", "value_is_invalid")
        metadata = self._checked_metadata(data.metadata) if data.metadata is not None else None
        if data.refund_status is not None:
            note.refund_status = data.refund_status
            if data.refund_status == RefundStatus.SUCCEEDED:
                note.refunded_at = utcnow()
        if metadata is not None:
            note.key_values = {**(note.key_values or {}), **metadata}
        session.flush()
        return note

    def void(self, session: Session, organization: Organization, lago_id: str) -> CreditNote:
        """Void what is left of the note's credit (Lago: only a note with a balance)."""
        note = self._note(session, organization, lago_id)
        if note.balance_amount_cents <= 0 or note.credit_status == CreditStatus.VOIDED:
            raise NotAllowed(code="no_voidable_amount")
        note.credit_status = CreditStatus.VOIDED
        note.balance_amount_cents = 0
        note.voided_at = utcnow()
        session.flush()
        return note

    # ------------------------------------------------------------------------------------ metadata

    def _checked_metadata(self, metadata: dict[str, str | None]) -> dict[str, str | None]:
        if len(metadata) > MAX_METADATA_KEYS:
            raise ValidationFailed.one("metadata", "value_is_invalid")
        for key in metadata:
            if not key or len(key) > METADATA_KEY_MAX_LENGTH:
                raise ValidationFailed.one("metadata", "value_is_invalid")
        return dict(metadata)

    def set_metadata(
        self,
        session: Session,
        organization: Organization,
        lago_id: str,
        metadata: dict[str, str | None] | None,
        *,
        merge: bool,
    ) -> CreditNote:
        """Replace (``merge=False``), merge, or with ``None`` delete the note's metadata."""
        note = self._note(session, organization, lago_id)
        if metadata is None:
            note.key_values = None
        else:
            checked = self._checked_metadata(metadata)
            merged = {**(note.key_values or {}), **checked} if merge else checked
            if len(merged) > MAX_METADATA_KEYS:
                raise ValidationFailed.one("metadata", "value_is_invalid")
            note.key_values = merged
        session.flush()
        return note

    def delete_metadata_key(
        self, session: Session, organization: Organization, lago_id: str, key: str
    ) -> CreditNote:
        note = self._note(session, organization, lago_id)
        if note.key_values and key in note.key_values:
            note.key_values = {k: v for k, v in note.key_values.items() if k != key}
            session.flush()
        return note

    # --------------------------------------------------------------------------------- invoice void

    def on_invoice_void(
        self, session: Session, invoice: Invoice, *, credit_amount: int, refund_amount: int
    ) -> list[CreditNote]:
        """The credit note of a voided invoice: everything left on its fees, ``credit_amount`` as credit
        and ``refund_amount`` as refund; what neither covers goes on a second note, voided at once."""
        book = self._book(session, invoice)
        full = [
            (book.credited_fee(fee), Decimal(book.remaining(fee)))
            for fee in book.fees.values()
            if book.remaining(fee) > 0
        ]
        if credit_amount < 0 or refund_amount < 0:
            raise ValidationFailed.one("base", "invalid_amount")
        if not full:
            if credit_amount or refund_amount:
                raise ValidationFailed.one("base", "higher_than_remaining_invoice_amount")
            return []
        total = book.amounts(full).total_amount_cents
        state = book.state()
        errors = cn.validate(
            cn.Requested(credit_amount, refund_amount, 0), credit_amount + refund_amount, state
        )
        errors.pop("base", None)  # the items follow the amounts here; checked below
        if credit_amount + refund_amount > total:
            errors.setdefault("base", []).append("higher_than_remaining_invoice_amount")
        if errors:
            raise ValidationFailed(errors)
        credit, refund, rest = cn.void_split(total, credit_amount, refund_amount)
        notes = []
        if credit + refund > 0:
            kept = full if rest == 0 else cn.scale_items(full, credit + refund, total)
            money = book.amounts(kept)
            notes.append(
                self._write(
                    session, book, money, cn.Requested(credit, refund, 0), reason=CreditNoteReason.OTHER
                )
            )
            full = [(fee, amount - part) for (fee, amount), (_, part) in zip(full, kept, strict=True)]
        if rest > 0:
            left = [(fee, amount) for fee, amount in full if amount > 0]
            money = book.amounts(left, last=True)
            notes.append(
                self._write(
                    session,
                    book,
                    money,
                    cn.Requested(money.total_amount_cents, 0, 0),
                    reason=CreditNoteReason.OTHER,
                    voided=True,
                )
            )
        return notes


manual_credit_notes = ManualCreditNotes()


@hook(INVOICE_VOIDED_WITH_CREDIT_NOTE)
def issue_on_invoice_void(session: Session, **details: Any) -> None:
    invoice: Invoice = details["invoice"]
    manual_credit_notes.on_invoice_void(
        session,
        invoice,
        credit_amount=int(details.get("credit_amount") or 0),
        refund_amount=int(details.get("refund_amount") or 0),
    )
