"""Invoice and credit-note PDFs, rendered in-process with fpdf2 (no browser, no service: decision 0008)
from the objects the API answers (:class:`InvoiceOut`, :class:`CreditNoteOut`), so the numbers of the
document and of the API cannot disagree.

Text is set in DejaVu Sans (vendored, ``fonts/LICENSE_DEJAVU``): accents, ``€``, ``₹`` and most scripts
of customer names render. The rendering is deterministic (the creation date is the document's own
instant): the same object gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_CEILING, Decimal
from pathlib import Path
from typing import Any

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from billow.credit_notes.schemas import CreditNoteOut
from billow.customers.schemas import CustomerOut
from billow.documents.i18n import Words
from billow.invoices.schemas import FeeOut, InvoiceOut
from billow.models.organizations import Organization

FONTS = Path(__file__).parent / "fonts"
FONT = "DejaVu"
MARGIN = 15.0
#: Column widths of the lines table (mm; the page is 210 wide, 180 between the margins).
COLUMNS = (84.0, 22.0, 28.0, 18.0, 28.0)
GREY = (110, 110, 110)
DASH = "\u2013"  # en dash
TIMES = "\u00d7"  # multiplication sign
RULE = (200, 200, 200)


@dataclass(frozen=True)
class PaymentReceiptFacts:
    """What a payment receipt's PDF shows."""

    number: str
    created_at: datetime
    paid_at: datetime
    reference: str | None
    invoice_numbers: Sequence[str]
    amount_cents: int
    currency: str


class _Pdf(FPDF):
    def __init__(self, words: Words, footer_text: str | None) -> None:
        super().__init__(format="A4", unit="mm")
        self.words = words
        self.footer_text = footer_text
        self.add_font(FONT, "", str(FONTS / "DejaVuSans.ttf"))
        self.add_font(FONT, "B", str(FONTS / "DejaVuSans-Bold.ttf"))
        self.set_margins(MARGIN, MARGIN, MARGIN)
        self.set_auto_page_break(auto=True, margin=20)
        self.alias_nb_pages()

    def footer(self) -> None:
        self.set_y(-14)
        self.set_font(FONT, "", 7)
        self.set_text_color(*GREY)
        if self.footer_text:
            self.cell(0, 4, self.footer_text, align="L")
            self.set_x(MARGIN)
        self.cell(0, 4, f"{self.words['page']} {self.page_no()}/{{nb}}", align="R")
        self.set_text_color(0, 0, 0)


def _lines(*values: str | None) -> list[str]:
    return [value for value in values if value]


def organization_lines(organization: Organization, words: Words) -> list[str]:
    city = " ".join(_lines(organization.zipcode, organization.city))
    return _lines(
        organization.legal_name or organization.name,
        organization.address_line1,
        organization.address_line2,
        city,
        organization.state,
        organization.country,
        organization.email,
        f"{words['tax_id']}: {organization.tax_identification_number}"
        if organization.tax_identification_number
        else None,
    )


def customer_display_name(customer: CustomerOut) -> str:
    full = " ".join(_lines(customer.firstname, customer.lastname))
    return customer.legal_name or customer.name or full or customer.external_id


def customer_lines(customer: CustomerOut, words: Words) -> list[str]:
    city = " ".join(_lines(customer.zipcode, customer.city))
    return _lines(
        customer_display_name(customer),
        customer.address_line1,
        customer.address_line2,
        city,
        customer.state,
        customer.country,
        customer.email,
        f"{words['tax_id']}: {customer.tax_identification_number}"
        if customer.tax_identification_number
        else None,
    )


def fee_label(fee: FeeOut) -> str:
    """The fee's name as invoices show it: the item's display name, its filter's and its groups."""
    label = fee.item.invoice_display_name or fee.item.name
    if fee.item.filter_invoice_display_name:
        label = f"{label} • {fee.item.filter_invoice_display_name}"
    groups = [str(value) for value in (fee.item.grouped_by or {}).values() if value not in (None, "")]
    if groups:
        label = f"{label} • {' • '.join(groups)}"
    return label


def tier_lines(fee: FeeOut, words: Words) -> list[str]:
    """The details of a graduated, volume or package fee, from its ``amount_details``."""
    details: dict[str, Any] = fee.amount_details or {}
    out: list[str] = []
    for index, tier in enumerate(details.get("graduated_ranges") or [], start=1):
        to_value = tier.get("to_value")
        bounds = f"{tier.get('from_value')} {DASH} {to_value if to_value is not None else '∞'}"
        units = words.number(Decimal(str(tier.get("units", "0"))))
        unit_price = words.price(Decimal(str(tier.get("per_unit_amount", "0"))))
        text = f"{words['tier']} {index} ({bounds}): {units} {TIMES} {unit_price}"
        flat = Decimal(str(tier.get("flat_unit_amount") or "0"))
        if flat:
            text += f" + {words['flat_fee']} {words.price(flat)}"
        out.append(text)
    if details.get("per_package_size"):
        size = int(details["per_package_size"])
        paid = Decimal(str(details.get("paid_units") or "0"))
        packages = (paid / size).to_integral_value(rounding=ROUND_CEILING)  # a started package counts
        price = words.price(Decimal(str(details.get("per_package_unit_amount") or "0")))
        text = f"{words['package']} ({words.number(Decimal(size))}): {words.number(packages)} {TIMES} {price}"
        free = Decimal(str(details.get("free_units") or "0"))
        if free:
            text += f" ({words['free_units']}: {words.number(free)})"
        out.append(text)
    elif "per_unit_total_amount" in details and "graduated_ranges" not in details:
        flat = Decimal(str(details.get("flat_unit_amount") or "0"))
        text = f"{words['unit_price']} {words.price(Decimal(str(details.get('per_unit_amount', '0'))))}"
        if flat:
            text += f" + {words['flat_fee']} {words.price(flat)}"
        out.append(text)
    return out


def _period(words: Words, start: datetime | None, end: datetime | None) -> str | None:
    if start is None or end is None:
        return None
    return f"{words.date(start.date())} {DASH} {words.date(end.date())}"


def _header(pdf: _Pdf, title: str, facts: Sequence[tuple[str, str]]) -> None:
    pdf.add_page()
    pdf.set_font(FONT, "B", 20)
    pdf.cell(0, 10, title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(2)
    pdf.set_font(FONT, "", 9)
    for label, value in facts:
        pdf.set_text_color(*GREY)
        pdf.cell(45, 5, label)
        pdf.set_text_color(0, 0, 0)
        pdf.cell(0, 5, value, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)


def _parties(pdf: _Pdf, left: tuple[str, list[str]], right: tuple[str, list[str]]) -> None:
    top = pdf.get_y()
    bottom = top
    for x, (label, lines) in ((MARGIN, left), (MARGIN + 92, right)):
        pdf.set_xy(x, top)
        pdf.set_font(FONT, "B", 9)
        pdf.cell(88, 5, label, new_x=XPos.LEFT, new_y=YPos.NEXT)
        pdf.set_font(FONT, "", 9)
        for line in lines:
            pdf.multi_cell(88, 4.5, line, new_x=XPos.LEFT, new_y=YPos.NEXT)
        bottom = max(bottom, pdf.get_y())
    pdf.set_xy(MARGIN, bottom + 6)


def _table_head(pdf: _Pdf, labels: Sequence[str]) -> None:
    pdf.set_font(FONT, "B", 8)
    pdf.set_fill_color(242, 242, 242)
    for index, (width, label) in enumerate(zip(COLUMNS, labels, strict=True)):
        pdf.cell(width, 7, label, fill=True, align="L" if index == 0 else "R")
    pdf.ln(7)


def _row(pdf: _Pdf, cells: Sequence[str], notes: Iterable[str] = ()) -> None:
    pdf.set_font(FONT, "", 8.5)
    top = pdf.get_y()
    pdf.multi_cell(COLUMNS[0], 5, cells[0], new_x=XPos.RIGHT, new_y=YPos.TOP)
    name_bottom = pdf.get_y()
    pdf.set_xy(MARGIN + COLUMNS[0], top)
    for width, text in zip(COLUMNS[1:], cells[1:], strict=True):
        pdf.cell(width, 5, text, align="R")
    pdf.set_y(max(name_bottom, top + 5))
    pdf.set_font(FONT, "", 7)
    pdf.set_text_color(*GREY)
    for note in notes:
        pdf.set_x(MARGIN + 3)
        pdf.multi_cell(COLUMNS[0] + COLUMNS[1] - 3, 3.8, note, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(0, 0, 0)
    pdf.set_draw_color(*RULE)
    pdf.line(MARGIN, pdf.get_y() + 1, 210 - MARGIN, pdf.get_y() + 1)
    pdf.ln(2.5)


def _totals(pdf: _Pdf, rows: Sequence[tuple[str, str, bool]]) -> None:
    pdf.ln(2)
    for label, value, strong in rows:
        pdf.set_font(FONT, "B" if strong else "", 10 if strong else 9)
        pdf.set_x(MARGIN + 80)
        pdf.cell(70, 6, label)
        pdf.cell(30, 6, value, align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _finish(pdf: _Pdf, title: str, author: str, at: datetime) -> bytes:
    pdf.set_title(title)
    pdf.set_author(author)
    pdf.set_creator("Billow")
    pdf.set_creation_date(at if at.tzinfo else at.replace(tzinfo=UTC))
    return bytes(pdf.output())


def render_invoice_pdf(invoice: InvoiceOut, organization: Organization, locale: str) -> bytes:
    words = Words(locale, invoice.currency)
    pdf = _Pdf(words, organization.invoice_footer)
    facts = [
        (words["invoice_number"], invoice.number),
        (words["issuing_date"], words.date(invoice.issuing_date)),
        (words["payment_due_date"], words.date(invoice.payment_due_date)),
    ]
    periods = {
        _period(words, period.charges_from_datetime, period.charges_to_datetime)
        for period in invoice.billing_periods
    } | {
        _period(words, period.subscription_from_datetime, period.subscription_to_datetime)
        for period in invoice.billing_periods
    }
    facts.extend((words["billing_period"], period) for period in sorted(p for p in periods if p))
    _header(pdf, words["invoice"], facts)
    _parties(
        pdf,
        (words["from"], organization_lines(organization, words)),
        (words["bill_to"], customer_lines(invoice.customer, words)),
    )
    _table_head(pdf, [words["item"], words["units"], words["unit_price"], words["tax_rate"], words["amount"]])
    for fee in invoice.fees:
        notes = tier_lines(fee, words)
        # A fee's own period when it is not a single day (a one-off fee is dated by its request).
        if fee.from_date and fee.to_date and fee.from_date.date() != fee.to_date.date():
            notes.insert(0, _period(words, fee.from_date, fee.to_date) or "")
        _row(
            pdf,
            [
                fee_label(fee),
                words.number(Decimal(str(fee.units))),
                words.price(Decimal(str(fee.precise_unit_amount))),
                words.percent(fee.taxes_rate),
                words.cents(fee.amount_cents),
            ],
            notes,
        )
    rows: list[tuple[str, str, bool]] = [(words["subtotal"], words.cents(invoice.fees_amount_cents), False)]
    if invoice.progressive_billing_credit_amount_cents:
        rows.append(
            (
                words["progressive_billing"],
                words.cents(-invoice.progressive_billing_credit_amount_cents),
                False,
            )
        )
    for credit in invoice.credits:
        if credit.before_taxes:
            rows.append(
                (f"{words['coupons']} ({credit.item.name})", words.cents(-credit.amount_cents), False)
            )
    if invoice.coupons_amount_cents and not any(credit.before_taxes for credit in invoice.credits):
        rows.append((words["coupons"], words.cents(-invoice.coupons_amount_cents), False))
    for tax in invoice.applied_taxes:
        rows.append((f"{tax.tax_name} ({words.percent(tax.tax_rate)})", words.cents(tax.amount_cents), False))
    if not invoice.applied_taxes:
        rows.append((words["tax"], words.cents(invoice.taxes_amount_cents), False))
    rows.append((words["subtotal_incl"], words.cents(invoice.sub_total_including_taxes_amount_cents), False))
    if invoice.credit_notes_amount_cents:
        rows.append((words["credit_notes"], words.cents(-invoice.credit_notes_amount_cents), False))
    if invoice.prepaid_credit_amount_cents:
        rows.append((words["prepaid_credits"], words.cents(-invoice.prepaid_credit_amount_cents), False))
    rows.append((words["total_due"], words.cents(invoice.total_amount_cents), True))
    _totals(pdf, rows)
    at = invoice.created_at
    return _finish(pdf, f"{words['invoice']} {invoice.number}", organization.name, at)


def render_credit_note_pdf(
    note: CreditNoteOut, customer: CustomerOut, organization: Organization, locale: str
) -> bytes:
    words = Words(locale, note.currency)
    pdf = _Pdf(words, organization.invoice_footer)
    facts = [
        (words["credit_note_number"], note.number),
        (words["issuing_date"], words.date(note.issuing_date)),
        (words["original_invoice"], note.invoice_number),
        (words["reason"], words.reason(note.reason)),
    ]
    if note.description:
        facts.append(("", note.description))
    _header(pdf, words["credit_note"], facts)
    _parties(
        pdf,
        (words["from"], organization_lines(organization, words)),
        (words["bill_to"], customer_lines(customer, words)),
    )
    _table_head(pdf, [words["item"], words["units"], words["unit_price"], words["tax_rate"], words["amount"]])
    for item in note.items:
        _row(
            pdf,
            [
                fee_label(item.fee),
                words.number(Decimal(str(item.fee.units))),
                words.price(Decimal(str(item.fee.precise_unit_amount))),
                words.percent(item.fee.taxes_rate),
                words.cents(item.amount_cents),
            ],
        )
    items_total = sum(item.amount_cents for item in note.items)
    rows: list[tuple[str, str, bool]] = [(words["subtotal"], words.cents(items_total), False)]
    if note.coupons_adjustment_amount_cents:
        rows.append((words["coupons"], words.cents(-note.coupons_adjustment_amount_cents), False))
    for tax in note.applied_taxes:
        rows.append((f"{tax.tax_name} ({words.percent(tax.tax_rate)})", words.cents(tax.amount_cents), False))
    if not note.applied_taxes:
        rows.append((words["tax"], words.cents(note.taxes_amount_cents), False))
    rows.append((words["total"], words.cents(note.total_amount_cents), True))
    if note.credit_amount_cents:
        rows.append((words["credited"], words.cents(note.credit_amount_cents), False))
    if note.refund_amount_cents:
        rows.append((words["refunded"], words.cents(note.refund_amount_cents), False))
    if note.offset_amount_cents:
        rows.append((words["offset"], words.cents(note.offset_amount_cents), False))
    _totals(pdf, rows)
    return _finish(pdf, f"{words['credit_note']} {note.number}", organization.name, note.created_at)


def render_payment_receipt_pdf(
    receipt: PaymentReceiptFacts, customer: CustomerOut, organization: Organization, locale: str
) -> bytes:
    """A payment receipt (:mod:`billow.payments.receipts`: this package sits below payments, which gives
    the receipt's facts as the API renders them)."""
    words = Words(locale, receipt.currency)
    pdf = _Pdf(words, organization.invoice_footer)
    facts = [
        (words["receipt_number"], receipt.number),
        (words["payment_date"], words.date(receipt.paid_at.date())),
    ]
    if receipt.reference:
        facts.append((words["payment_reference"], receipt.reference))
    _header(pdf, words["payment_receipt"], facts)
    _parties(
        pdf,
        (words["from"], organization_lines(organization, words)),
        (words["bill_to"], customer_lines(customer, words)),
    )
    pdf.set_font(FONT, "B", 9)
    pdf.cell(0, 5, words["paid_invoices"], new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT, "", 9)
    for number in receipt.invoice_numbers:
        pdf.cell(0, 5, number, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    _totals(pdf, [(words["amount_paid"], words.cents(receipt.amount_cents), True)])
    return _finish(pdf, f"{words['payment_receipt']} {receipt.number}", organization.name, receipt.created_at)
