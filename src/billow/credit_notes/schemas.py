"""Credit-note JSON (Lago's ``V1::CreditNoteSerializer`` with ``items`` and ``applied_taxes``)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import Field

from billow.customers.schemas import CustomerOut
from billow.invoices.schemas import FeeOut
from billow.kit.limits import AmountCents
from billow.kit.pagination import PageMeta
from billow.kit.schemas import Date, DecimalString, Input, JsonNumber, Output, Timestamp
from billow.kit.strings import DESCRIPTION_MAX_LENGTH
from billow.models.credit_notes import CreditNote, CreditNoteAppliedTax, CreditNoteItem
from billow.models.invoices import Invoice


@dataclass
class CreditNoteFilters:
    """``GET /credit_notes`` query filters, as sent (Lago's names)."""

    external_customer_id: str | None = None
    customer_id: uuid.UUID | None = None
    credit_status: str | None = None
    refund_status: str | None = None
    reason: str | None = None
    currency: str | None = None
    invoice_number: str | None = None
    issuing_date_from: date | None = None
    issuing_date_to: date | None = None
    amount_from: int | None = None
    amount_to: int | None = None
    search_term: str | None = None
    self_billed: bool | None = None


class CreditNoteItemOut(Output):
    lago_id: uuid.UUID
    amount_cents: int
    precise_amount_cents: DecimalString
    amount_currency: str
    fee: FeeOut


class CreditNoteAppliedTaxOut(Output):
    lago_id: uuid.UUID
    lago_credit_note_id: uuid.UUID
    lago_tax_id: uuid.UUID | None
    tax_name: str
    tax_code: str
    tax_rate: JsonNumber
    tax_description: str | None
    base_amount_cents: int
    amount_cents: int
    amount_currency: str
    created_at: Timestamp


class CreditNoteOut(Output):
    lago_id: uuid.UUID
    billing_entity_code: str | None = None
    sequential_id: int
    number: str
    lago_invoice_id: uuid.UUID
    invoice_number: str
    issuing_date: Date
    credit_status: str | None
    refund_status: str | None
    reason: str
    description: str | None
    currency: str
    total_amount_cents: int
    precise_total_amount_cents: DecimalString
    taxes_amount_cents: int
    precise_taxes_amount_cents: DecimalString
    sub_total_excluding_taxes_amount_cents: int
    balance_amount_cents: int
    credit_amount_cents: int
    refund_amount_cents: int
    offset_amount_cents: int
    applied_to_source_invoice_amount_cents: int = 0
    coupons_adjustment_amount_cents: int
    taxes_rate: JsonNumber
    created_at: Timestamp
    updated_at: Timestamp
    voided_at: Timestamp | None
    file_url: str | None = None
    xml_url: str | None = None
    self_billed: bool = False
    items: list[CreditNoteItemOut]
    applied_taxes: list[CreditNoteAppliedTaxOut]
    metadata: dict[str, str | None] | None = None
    error_details: list[Any] = []


class CreditNoteListedOut(CreditNoteOut):
    """Listed credit notes also carry their customer (Lago's index includes it)."""

    customer: CustomerOut


class CreditNoteEnvelope(Output):
    credit_note: CreditNoteOut


class CreditNoteList(Output):
    credit_notes: list[CreditNoteListedOut]
    meta: PageMeta


def credit_note_out(
    note: CreditNote,
    invoice: Invoice,
    items: Sequence[tuple[CreditNoteItem, FeeOut]],
    applied_taxes: Sequence[CreditNoteAppliedTax],
) -> CreditNoteOut:
    return CreditNoteOut(
        lago_id=note.id,
        sequential_id=note.sequential_id,
        number=note.number,
        lago_invoice_id=note.invoice_id,
        invoice_number=invoice.number,
        issuing_date=note.issuing_date,
        credit_status=note.credit_status,
        refund_status=note.refund_status,
        reason=note.reason,
        description=note.description,
        currency=note.currency,
        total_amount_cents=note.total_amount_cents,
        precise_total_amount_cents=note.precise_total_amount_cents,
        taxes_amount_cents=note.taxes_amount_cents,
        precise_taxes_amount_cents=note.precise_taxes_amount_cents,
        sub_total_excluding_taxes_amount_cents=note.sub_total_excluding_taxes_amount_cents,
        balance_amount_cents=note.balance_amount_cents,
        credit_amount_cents=note.credit_amount_cents,
        refund_amount_cents=note.refund_amount_cents,
        offset_amount_cents=note.offset_amount_cents,
        coupons_adjustment_amount_cents=note.coupons_adjustment_amount_cents,
        taxes_rate=Decimal(note.taxes_rate),
        created_at=note.created_at,
        updated_at=note.updated_at,
        voided_at=note.voided_at,
        metadata=note.key_values,
        items=[
            CreditNoteItemOut(
                lago_id=item.id,
                amount_cents=item.amount_cents,
                precise_amount_cents=item.precise_amount_cents,
                amount_currency=item.amount_currency,
                fee=fee,
            )
            for item, fee in items
        ],
        applied_taxes=[
            CreditNoteAppliedTaxOut(
                lago_id=tax.id,
                lago_credit_note_id=tax.credit_note_id,
                lago_tax_id=tax.tax_id,
                tax_name=tax.tax_name,
                tax_code=tax.tax_code,
                tax_rate=tax.tax_rate,
                tax_description=tax.tax_description,
                base_amount_cents=tax.base_amount_cents,
                amount_cents=tax.amount_cents,
                amount_currency=tax.amount_currency,
                created_at=tax.created_at,
            )
            for tax in applied_taxes
        ],
    )


# ------------------------------------------------------------------------------------------ requests

#: The most items one credit note may have (Lago has no limit; one per fee of an invoice in practice).
MAX_ITEMS = 1000
#: Lago's metadata bounds: keys of 100 characters at most, values of 255.
METADATA_KEY_MAX_LENGTH = 100
#: Lago's bound on the number of metadata keys of an object.
MAX_METADATA_KEYS = 50


class CreditNoteItemInput(Input):
    fee_id: str | None = None
    amount_cents: AmountCents | None = None


class CreditNoteCreateInput(Input):
    invoice_id: str | None = None
    reason: str | None = None
    description: str | None = Field(default=None, max_length=DESCRIPTION_MAX_LENGTH)
    credit_amount_cents: AmountCents | None = None
    refund_amount_cents: AmountCents | None = None
    offset_amount_cents: AmountCents | None = None
    items: list[CreditNoteItemInput] | None = Field(default=None, max_length=MAX_ITEMS)
    metadata: dict[str, str | None] | None = None


class CreditNoteCreateRequest(Input):
    credit_note: CreditNoteCreateInput


class CreditNoteEstimateInput(Input):
    invoice_id: str | None = None
    items: list[CreditNoteItemInput] | None = Field(default=None, max_length=MAX_ITEMS)


class CreditNoteEstimateRequest(Input):
    credit_note: CreditNoteEstimateInput


class CreditNoteUpdateInput(Input):
    refund_status: str | None = None
    metadata: dict[str, str | None] | None = None


class CreditNoteUpdateRequest(Input):
    credit_note: CreditNoteUpdateInput


class CreditNoteMetadataRequest(Input):
    metadata: dict[str, str | None]


class CreditNoteMetadataOut(Output):
    metadata: dict[str, str | None] | None


# ----------------------------------------------------------------------------------------- estimate


class EstimatedItemOut(Output):
    amount_cents: int
    lago_fee_id: uuid.UUID


class EstimatedAppliedTaxOut(Output):
    lago_tax_id: uuid.UUID | None
    tax_name: str
    tax_code: str
    tax_rate: JsonNumber
    tax_description: str | None
    base_amount_cents: int
    amount_cents: int
    amount_currency: str


class EstimatedCreditNoteOut(Output):
    lago_invoice_id: uuid.UUID
    invoice_number: str
    currency: str
    taxes_amount_cents: int
    precise_taxes_amount_cents: DecimalString
    taxes_rate: JsonNumber
    sub_total_excluding_taxes_amount_cents: int
    max_creditable_amount_cents: int
    max_refundable_amount_cents: int
    max_offsettable_amount_cents: int
    coupons_adjustment_amount_cents: int
    precise_coupons_adjustment_amount_cents: DecimalString
    items: list[EstimatedItemOut]
    applied_taxes: list[EstimatedAppliedTaxOut]


class EstimatedCreditNoteEnvelope(Output):
    estimated_credit_note: EstimatedCreditNoteOut
