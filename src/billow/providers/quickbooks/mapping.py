"""Pure translation between Billow's snapshots and QuickBooks Online's JSON objects (no network)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from billow.providers import ledger
from billow.providers.interface import CreditNoteData, CustomerData, InvoiceData, PaymentData

#: QuickBooks keeps up to 7 decimals of a unit price.
UNIT_PRICE_PLACES = 7
#: QuickBooks' ``DocNumber`` is at most 21 characters; ``DisplayName`` 500.
DOC_NUMBER_LENGTH = 21
DISPLAY_NAME_LENGTH = 500

#: QuickBooks' ``Fault.Error[].code`` → Billow's code (others: ``quickbooks_<code>``).
ERROR_CODES = {
    610: "object_not_found",
    2020: "required_param_missing",
    2050: "invalid_string_length",
    2500: "invalid_reference_id",
    3200: "invalid_credentials",
    5010: "stale_object",
    6000: "business_validation_error",
    6070: "amount_mismatch",
    6140: "duplicate_document_number",
    6240: "duplicate_name",
}
#: Codes that may succeed when the same call is made again (a stale SyncToken: the update is re-read).
RETRYABLE_CODES = {5010}


def error_code(code: int) -> str:
    return ERROR_CODES.get(code, f"quickbooks_{code}")


def dumps(payload: dict[str, Any]) -> str:
    """JSON for the SDK's ``create_object``: Decimals (already at the currency's exponent) become JSON
    numbers at this last step (``Decimal("0.30")`` → ``0.3``)."""

    def default(value: object) -> float:
        if isinstance(value, Decimal):
            return ledger.to_float(value)
        raise TypeError(f"not JSON serializable: {type(value).__name__}")

    return json.dumps(payload, default=default)


def display_name(customer: CustomerData) -> str:
    """QuickBooks wants unique display names (across customers, vendors, employees) without colons:
    the name and Billow's external id."""
    name = (
        customer.name
        or customer.legal_name
        or " ".join(part for part in (customer.firstname, customer.lastname) if part)
    ).strip()
    label = f"{name} ({customer.external_id})" if name else customer.external_id
    return label.replace(":", "-").replace("\t", " ").replace("\n", " ")[:DISPLAY_NAME_LENGTH]


def customer_payload(customer: CustomerData) -> dict[str, Any]:
    payload: dict[str, Any] = {"DisplayName": display_name(customer)}
    if customer.legal_name or customer.customer_type == "company":
        payload["CompanyName"] = customer.legal_name or customer.name
    if customer.firstname:
        payload["GivenName"] = customer.firstname
    if customer.lastname:
        payload["FamilyName"] = customer.lastname
    if customer.email:
        payload["PrimaryEmailAddr"] = {"Address": customer.email.split(",")[0].strip()}
    if customer.phone:
        payload["PrimaryPhone"] = {"FreeFormNumber": customer.phone}
    address = {
        key: value
        for key, value in (
            ("Line1", customer.address_line1),
            ("Line2", customer.address_line2),
            ("City", customer.city),
            ("CountrySubDivisionCode", customer.state),
            ("PostalCode", customer.zipcode),
            ("Country", customer.country),
        )
        if value
    }
    if address:
        payload["BillAddr"] = address
    if customer.tax_identification_number:
        payload["ResaleNum"] = customer.tax_identification_number
    payload["Notes"] = f"Billow customer {customer.external_id}"
    return payload


def _item_line(line: ledger.LedgerLine) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "ItemRef": {"value": line.mapping.external_id},
        "Qty": line.quantity,
        "UnitPrice": line.unit_amount,
    }
    if line.mapping.external_name:
        detail["ItemRef"]["name"] = line.mapping.external_name
    return {
        "DetailType": "SalesItemLineDetail",
        "Amount": line.amount,
        "Description": line.description,
        "SalesItemLineDetail": detail,
    }


def _discount_line(line: ledger.LedgerLine) -> dict[str, Any]:
    """A coupon: QuickBooks' discount line, a positive amount taken from the subtotal, booked to the
    mapping's account (its account code, else its id)."""
    account = line.mapping.external_account_code or line.mapping.external_id
    return {
        "DetailType": "DiscountLineDetail",
        "Amount": -line.amount,
        "Description": line.description,
        "DiscountLineDetail": {"PercentBased": False, "DiscountAccountRef": {"value": account}},
    }


def invoice_payload(invoice: InvoiceData, customer_ref: str) -> dict[str, Any]:
    """Fee lines (item, quantity, unit price, amount), the coupons as a discount line, credit notes and
    prepaid credits as negative item lines, the taxes as a line of the ``tax`` item: their sum is
    exactly ``total_amount_cents`` (checked)."""
    lines = ledger.invoice_fee_lines(invoice, UNIT_PRICE_PLACES)
    deductions = ledger.invoice_deduction_lines(invoice)
    tax = ledger.tax_line(dict(invoice.mappings), invoice.taxes_amount_cents, invoice.currency)
    every = [*lines, *deductions, *([tax] if tax else [])]
    ledger.check_total(every, 0, invoice.total_amount_cents, f"invoice {invoice.number}")
    payload_lines = [_discount_line(line) if line.kind == "coupon" else _item_line(line) for line in every]
    return {
        "DocNumber": invoice.number[:DOC_NUMBER_LENGTH],
        "TxnDate": invoice.issuing_date.isoformat(),
        "DueDate": invoice.payment_due_date.isoformat(),
        "CustomerRef": {"value": customer_ref},
        "PrivateNote": f"Billow invoice {invoice.number} ({invoice.id})",
        "Line": payload_lines,
    }


def credit_memo_payload(credit_note: CreditNoteData, customer_ref: str) -> dict[str, Any]:
    lines = ledger.credit_note_lines(credit_note)
    deductions = ledger.credit_note_deduction_lines(credit_note)
    tax = ledger.tax_line(dict(credit_note.mappings), credit_note.taxes_amount_cents, credit_note.currency)
    every = [*lines, *deductions, *([tax] if tax else [])]
    ledger.check_total(every, 0, credit_note.total_amount_cents, f"credit note {credit_note.number}")
    return {
        "DocNumber": credit_note.number[:DOC_NUMBER_LENGTH],
        "TxnDate": credit_note.issuing_date.isoformat(),
        "CustomerRef": {"value": customer_ref},
        "PrivateNote": (
            f"Billow credit note {credit_note.number} ({credit_note.id}) of invoice "
            f"{credit_note.invoice_number}; reason: {credit_note.reason}"
        ),
        "Line": [_discount_line(line) if line.kind == "coupon" else _item_line(line) for line in every],
    }


def credit_application_payload(
    credit_note: CreditNoteData, customer_ref: str, invoice_ref: str, memo_ref: str
) -> dict[str, Any]:
    """The offset part of a credit note applied to the credited invoice: QuickBooks applies a credit memo
    through a payment of 0 linking both (the invoice's balance goes down, the memo's remaining credit
    too)."""
    amount = ledger.money(credit_note.offset_amount_cents, credit_note.currency)
    return {
        "TotalAmt": ledger.money(0, credit_note.currency),
        "CustomerRef": {"value": customer_ref},
        "TxnDate": credit_note.issuing_date.isoformat(),
        "PrivateNote": (
            f"Billow credit note {credit_note.number} ({credit_note.id}) offsets {credit_note.invoice_number}"
        ),
        "Line": [
            {
                "Amount": amount,
                "LinkedTxn": [{"TxnId": invoice_ref, "TxnType": "Invoice"}],
            },
            {"Amount": amount, "LinkedTxn": [{"TxnId": memo_ref, "TxnType": "CreditMemo"}]},
        ],
    }


def payment_links(payment: PaymentData, refs: Mapping[str, str]) -> list[tuple[str, int]]:
    """(QuickBooks' invoice id, cents applied) per invoice the payment pays, in its order: one invoice
    takes the whole payment; several take what Billow applied to each (``invoice_amounts``; an invoice
    given nothing gets no line). Empty when the split is unknown (the payment stays unapplied)."""
    if len(payment.invoices) == 1:
        [invoice_id] = payment.invoices
        return [(refs[invoice_id], payment.amount_cents)]
    if not payment.invoice_amounts or set(payment.invoice_amounts) != set(payment.invoices):
        return []
    return [(refs[i], payment.invoice_amounts[i]) for i in payment.invoices if payment.invoice_amounts[i] > 0]


def payment_payload(
    payment: PaymentData, customer_ref: str, links: Sequence[tuple[str, int]]
) -> dict[str, Any]:
    """The payment's total, with a line per invoice it is applied to (``LinkedTxn``); without links,
    unapplied."""
    amount = ledger.money(payment.amount_cents, payment.currency)
    payload: dict[str, Any] = {
        "TotalAmt": amount,
        "CustomerRef": {"value": customer_ref},
        "TxnDate": payment.paid_at.date().isoformat(),
        "PrivateNote": f"Billow payment {payment.id}",
    }
    if payment.reference:
        payload["PaymentRefNum"] = payment.reference[:21]
    if links:
        payload["Line"] = [
            {
                "Amount": ledger.money(cents, payment.currency),
                "LinkedTxn": [{"TxnId": ref, "TxnType": "Invoice"}],
            }
            for ref, cents in links
        ]
    return payload


def request_id(organization_id: str, integration_code: str, kind: str, billow_id: str, body: str) -> str:
    """QuickBooks' ``requestid`` (its idempotency key: a replay answers the first answer), stable across
    retries of one create with the same content; 32 hex characters (QuickBooks takes up to 50)."""
    text = f"{organization_id}\n{integration_code}\n{kind}\n{billow_id}\n{body}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def query_literal(value: str) -> str:
    """A string literal of QuickBooks' query language: quotes escaped with a backslash."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
