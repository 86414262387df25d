"""Pure translation between Billow's snapshots and xero-python's models (no network)."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import Any

from xero_python.accounting import (
    Account,
    Address,
    Allocation,
    BatchPayment,
    BatchPayments,
    Contact,
    CreditNote,
    CurrencyCode,
    Invoice,
    LineAmountTypes,
    LineItem,
    Payment,
    Phone,
)

from billow.providers import ledger
from billow.providers.interface import (
    CreditNoteData,
    CustomerData,
    InvoiceData,
    ItemMapping,
    PaymentData,
    ProviderError,
)

#: Unit amounts are sent with ``unitdp=4``: Xero keeps four decimals of a unit price.
UNIT_PLACES = 4
#: Xero's tax type of a line without tax (when the integration has no ``tax`` mapping).
NO_TAX = "NONE"
NAME_LENGTH = 255
NUMBER_LENGTH = 50


def contact_name(customer: CustomerData) -> str:
    """Xero wants unique contact names: the name and Billow's external id."""
    name = (
        customer.name
        or customer.legal_name
        or " ".join(part for part in (customer.firstname, customer.lastname) if part)
    ).strip()
    return (f"{name} ({customer.external_id})" if name else customer.external_id)[:NAME_LENGTH]


def contact(customer: CustomerData) -> Contact:
    addresses = None
    if any((customer.address_line1, customer.city, customer.zipcode, customer.country)):
        addresses = [
            Address(
                address_type="POBOX",
                address_line1=customer.address_line1,
                address_line2=customer.address_line2,
                city=customer.city,
                region=customer.state,
                postal_code=customer.zipcode,
                country=customer.country,
            )
        ]
    return Contact(
        contact_id=customer.provider_customer_id,
        name=contact_name(customer),
        contact_number=customer.external_id[:NUMBER_LENGTH],
        first_name=customer.firstname,
        last_name=customer.lastname,
        email_address=customer.email.split(",")[0].strip() if customer.email else None,
        phones=[Phone(phone_type="DEFAULT", phone_number=customer.phone)] if customer.phone else None,
        addresses=addresses,
        tax_number=customer.tax_identification_number,
    )


def _currency(code: str) -> CurrencyCode | None:
    try:
        return CurrencyCode(code)
    except ValueError:
        return None


def _line_item(line: ledger.LedgerLine, tax_type: str, tax_cents: int, currency: str) -> LineItem:
    return LineItem(
        description=line.description,
        quantity=line.quantity,
        unit_amount=line.unit_amount,
        line_amount=line.amount,
        item_code=line.mapping.external_id,
        account_code=line.mapping.external_account_code,
        tax_type=tax_type,
        tax_amount=ledger.money(tax_cents, currency),
    )


def _tax_type(mappings: dict[str, ItemMapping], taxes_cents: int) -> str:
    mapping = ledger.tax_mapping(mappings, taxes_cents)
    return mapping.external_id if mapping is not None else NO_TAX


def invoice_line_items(invoice: InvoiceData) -> list[LineItem]:
    """Fee lines carry their taxes (``TaxAmount``, the rounding difference on the largest), deductions
    (coupons, credit notes, prepaid credits) are negative lines without tax; ``LineAmountTypes`` is
    Exclusive, so Xero's total is ``sum(LineAmount) + sum(TaxAmount)``: exactly ``total_amount_cents``."""
    fees = ledger.invoice_fee_lines(invoice, UNIT_PLACES)
    deductions = ledger.invoice_deduction_lines(invoice)
    ledger.check_total(
        [*fees, *deductions],
        invoice.taxes_amount_cents,
        invoice.total_amount_cents,
        f"invoice {invoice.number}",
    )
    tax_type = _tax_type(dict(invoice.mappings), invoice.taxes_amount_cents)
    taxes = ledger.spread_taxes([line.taxes_amount_cents for line in fees], invoice.taxes_amount_cents)
    items = [_line_item(line, tax_type, tax, invoice.currency) for line, tax in zip(fees, taxes, strict=True)]
    items += [_line_item(line, tax_type, 0, invoice.currency) for line in deductions]
    return items


def invoice(data: InvoiceData, contact_id: str) -> Invoice:
    return Invoice(
        invoice_id=data.provider_invoice_id,
        type="ACCREC",
        contact=Contact(contact_id=contact_id),
        invoice_number=data.number,
        reference=f"Billow {data.id}",
        date=data.issuing_date,
        due_date=data.payment_due_date,
        currency_code=_currency(data.currency),
        line_amount_types=LineAmountTypes.EXCLUSIVE,
        status="AUTHORISED",
        line_items=invoice_line_items(data),
    )


def credit_note_line_items(credit_note: CreditNoteData) -> list[LineItem]:
    lines = ledger.credit_note_lines(credit_note)
    deductions = ledger.credit_note_deduction_lines(credit_note)
    ledger.check_total(
        [*lines, *deductions],
        credit_note.taxes_amount_cents,
        credit_note.total_amount_cents,
        f"credit note {credit_note.number}",
    )
    tax_type = _tax_type(dict(credit_note.mappings), credit_note.taxes_amount_cents)
    taxes = spread_proportionally([line.amount_cents for line in lines], credit_note.taxes_amount_cents)
    items = [
        _line_item(line, tax_type, tax, credit_note.currency) for line, tax in zip(lines, taxes, strict=True)
    ]
    return items + [_line_item(line, tax_type, 0, credit_note.currency) for line in deductions]


def spread_proportionally(amounts: list[int], total: int) -> list[int]:
    """``total`` split over ``amounts`` in proportion, in whole minor units, adding up exactly (the
    remainder on the largest line): 200 over (500, 500) → (100, 100); 100 over (1, 2) → 33, 66 + 1."""
    base = sum(amounts)
    if not amounts or base == 0:
        return ledger.spread_taxes([0] * len(amounts), total)
    shares = [total * amount // base for amount in amounts]
    return ledger.spread_taxes(shares, total)


def credit_note(data: CreditNoteData, contact_id: str) -> CreditNote:
    return CreditNote(
        credit_note_id=data.provider_credit_note_id,
        type="ACCRECCREDIT",
        contact=Contact(contact_id=contact_id),
        credit_note_number=data.number,
        reference=f"Billow {data.id} ({data.invoice_number}, {data.reason})",
        date=data.issuing_date,
        currency_code=_currency(data.currency),
        line_amount_types=LineAmountTypes.EXCLUSIVE,
        status="AUTHORISED",
        line_items=credit_note_line_items(data),
    )


def allocation(data: CreditNoteData) -> Allocation | None:
    """The offset part (deducted from what the credited invoice still owes) is allocated to that invoice
    (when synced); the credited part stays the contact's credit, as Billow's customer credit consumed by
    later invoices; a refund is not allocated."""
    if not data.provider_invoice_id or data.offset_amount_cents <= 0:
        return None
    return Allocation(
        invoice=Invoice(invoice_id=data.provider_invoice_id),
        amount=ledger.money(data.offset_amount_cents, data.currency),
        date=data.issuing_date,
    )


def _payment_account(data: PaymentData) -> Account:
    account = data.mappings.get("account")
    if account is None:
        raise ProviderError(
            "no account mapping for payments", code="missing_mapping", details={"line": "account"}
        )
    return Account(code=account.external_account_code or account.external_id)


def batch_split(data: PaymentData) -> list[tuple[str, int]] | None:
    """(Billow's invoice id, cents) per invoice a payment of several invoices was applied to (an invoice
    given nothing is left out); ``None`` when the split is unknown (no ``invoice_amounts`` for every
    invoice)."""
    if not data.invoice_amounts or set(data.invoice_amounts) != set(data.invoices):
        return None
    return [(i, data.invoice_amounts[i]) for i in data.invoices if data.invoice_amounts[i] > 0]


def batch_payment(data: PaymentData, split: list[tuple[str, str, int]]) -> BatchPayments:
    """One receivables batch payment (one bank deposit) with a payment per invoice: ``split`` is
    (Billow's invoice id, Xero's invoice id, cents)."""
    return BatchPayments(
        batch_payments=[
            BatchPayment(
                account=_payment_account(data),
                date=data.paid_at.date(),
                reference=(data.reference or f"Billow {data.id}")[:255],
                payments=[
                    Payment(invoice=Invoice(invoice_id=xero_id), amount=ledger.money(cents, data.currency))
                    for _, xero_id, cents in split
                ],
            )
        ]
    )


def refund_payment(data: CreditNoteData, credit_note_id: str) -> Payment | None:
    """The credit note's refunded part paid back to the customer: a payment against the ACCRECCREDIT
    (Xero's refund of a credit note) from the ``account`` mapping; ``None`` without a refund."""
    if data.refund_amount_cents <= 0:
        return None
    account = data.mappings.get("account")
    if account is None:
        raise ProviderError(
            "no account mapping for refunds", code="missing_mapping", details={"line": "account"}
        )
    return Payment(
        credit_note=CreditNote(credit_note_id=credit_note_id),
        account=Account(code=account.external_account_code or account.external_id),
        amount=ledger.money(data.refund_amount_cents, data.currency),
        date=data.issuing_date,
        reference=f"Billow refund {data.number}"[:255],
    )


def payment(data: PaymentData, invoice_id: str) -> Payment:
    return Payment(
        invoice=Invoice(invoice_id=invoice_id),
        account=_payment_account(data),
        amount=ledger.money(data.amount_cents, data.currency),
        date=data.paid_at.date(),
        reference=data.reference or f"Billow {data.id}",
    )


def idempotency_key(organization_id: str, integration_code: str, kind: str, billow_id: str, body: Any) -> str:
    """Stable across retries of one write (the same document, the same content): Xero answers a replay
    with the first answer. At most 128 characters."""
    content = json.dumps(body, sort_keys=True, default=str)
    digest = hashlib.sha256(
        f"{organization_id}\n{integration_code}\n{kind}\n{billow_id}\n{content}".encode()
    ).hexdigest()
    return f"billow-{kind}-{digest[:64]}"


def amount(value: object) -> Decimal:
    """A Xero amount read back (a float from the SDK) as its shortest decimal."""
    return Decimal(str(value))
