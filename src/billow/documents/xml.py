"""EN 16931 e-invoices in UN/CEFACT CII (Factur-X profile ``EN16931``), built with lxml from the objects
the API answers: type 380 (invoice) and 381 (credit note).

The figures follow EN 16931's arithmetic (BR-CO-10..16), in minor units then written with the currency's
decimals:

* each fee (credit-note item) is a line; its net amount is the fee's ``amount_cents``; line total
  (BT-106) = Σ lines;
* the deductions before tax (coupons, usage already billed) are document-level allowances, one per VAT
  rate: a rate's allowance = its lines - its taxable basis; allowances (BT-107) = Σ;
* VAT breakdown per rate (the fee's total tax rate): basis = Σ the fees' amounts net of coupons, tax = Σ
  the fees' taxes; the largest rate absorbs the cents the invoice's own rounding differs by, so that
  Σ bases = tax basis total (BT-109 = line total - allowances) and Σ taxes = tax total (BT-110);
* grand total (BT-112) = basis + tax; prepaid (BT-113) = credit notes + prepaid credits (wallets);
  due (BT-115) = grand total - prepaid.

A rate above 0 is category ``S``; 0 is ``Z`` (zero rated).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from lxml import etree

from billow.credit_notes.schemas import CreditNoteOut
from billow.customers.schemas import CustomerOut
from billow.documents.pdf import customer_display_name, fee_label
from billow.invoices.schemas import FeeOut, InvoiceOut
from billow.kit.currency import exponent
from billow.kit.money import round_minor_units
from billow.models.organizations import Organization

RSM = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
UDT = "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"
QDT = "urn:un:unece:uncefact:data:standard:QualifiedDataType:100"
NSMAP = {"rsm": RSM, "ram": RAM, "udt": UDT, "qdt": QDT}
#: The EN 16931 profile of Factur-X / ZUGFeRD.
GUIDELINE = "urn:cen.eu:en16931:2017"
INVOICE = "380"
CREDIT_NOTE = "381"


@dataclass(frozen=True)
class Line:
    name: str
    quantity: Decimal
    net_cents: int
    rate: Decimal
    #: The line's amount net of coupons (its part of the taxable basis) and its tax.
    basis_cents: int
    tax_cents: int


@dataclass
class Breakdown:
    rate: Decimal
    lines_cents: int = 0
    basis_cents: int = 0
    tax_cents: int = 0

    @property
    def allowance_cents(self) -> int:
        return self.lines_cents - self.basis_cents

    @property
    def category(self) -> str:
        return "S" if self.rate > 0 else "Z"


@dataclass
class Totals:
    """The document-level figures (minor units) and their VAT breakdown."""

    lines: list[Line]
    breakdowns: list[Breakdown] = field(default_factory=list)
    line_total_cents: int = 0
    allowance_total_cents: int = 0
    tax_basis_cents: int = 0
    tax_total_cents: int = 0
    grand_total_cents: int = 0
    prepaid_cents: int = 0
    due_cents: int = 0


def compute_totals(
    lines: Sequence[Line], *, tax_basis_cents: int, tax_total_cents: int, prepaid_cents: int
) -> Totals:
    """The figures of :mod:`this module's docstring <billow.documents.xml>` (pure)."""
    groups: dict[Decimal, Breakdown] = {}
    for line in lines:
        group = groups.setdefault(line.rate, Breakdown(line.rate))
        group.lines_cents += line.net_cents
        group.basis_cents += line.basis_cents
        group.tax_cents += line.tax_cents
    breakdowns = sorted(groups.values(), key=lambda group: group.rate)
    if breakdowns:
        largest = max(breakdowns, key=lambda group: (group.basis_cents, group.rate))
        largest.basis_cents += tax_basis_cents - sum(group.basis_cents for group in breakdowns)
        largest.tax_cents += tax_total_cents - sum(group.tax_cents for group in breakdowns)
    line_total = sum(line.net_cents for line in lines)
    grand_total = tax_basis_cents + tax_total_cents
    return Totals(
        lines=list(lines),
        breakdowns=breakdowns,
        line_total_cents=line_total,
        allowance_total_cents=line_total - tax_basis_cents,
        tax_basis_cents=tax_basis_cents,
        tax_total_cents=tax_total_cents,
        grand_total_cents=grand_total,
        prepaid_cents=prepaid_cents,
        due_cents=grand_total - prepaid_cents,
    )


def _fee_line(fee: FeeOut, net_cents: int, basis_cents: int, tax_cents: int) -> Line:
    return Line(
        name=fee_label(fee),
        quantity=Decimal(str(fee.units)) or Decimal(1),
        net_cents=net_cents,
        rate=Decimal(str(fee.taxes_rate)).normalize(),
        basis_cents=basis_cents,
        tax_cents=tax_cents,
    )


def invoice_totals(invoice: InvoiceOut) -> Totals:
    lines = [
        _fee_line(fee, fee.amount_cents, fee.sub_total_excluding_taxes_amount_cents, fee.taxes_amount_cents)
        for fee in invoice.fees
    ]
    return compute_totals(
        lines,
        tax_basis_cents=invoice.sub_total_excluding_taxes_amount_cents,
        tax_total_cents=invoice.taxes_amount_cents,
        prepaid_cents=invoice.credit_notes_amount_cents + invoice.prepaid_credit_amount_cents,
    )


def credit_note_totals(note: CreditNoteOut) -> Totals:
    """A credit note's items carry amounts before coupons and taxes: each line's basis is its share of the
    credit note's basis (pro rata of the items), its tax that basis at its rate; the rounding differences
    go to the largest rate (:func:`compute_totals`)."""
    items_total = sum(item.amount_cents for item in note.items)
    basis_total = note.sub_total_excluding_taxes_amount_cents
    lines = []
    for item in note.items:
        rate = Decimal(str(item.fee.taxes_rate))
        basis = (
            round_minor_units(Decimal(item.amount_cents * basis_total) / items_total) if items_total else 0
        )
        lines.append(
            Line(
                name=fee_label(item.fee),
                quantity=Decimal(1),
                net_cents=item.amount_cents,
                rate=rate.normalize(),
                basis_cents=basis,
                tax_cents=round_minor_units(basis * rate / 100),
            )
        )
    return compute_totals(
        lines, tax_basis_cents=basis_total, tax_total_cents=note.taxes_amount_cents, prepaid_cents=0
    )


# ------------------------------------------------------------------------------------------ writing


class _Writer:
    def __init__(self, currency: str) -> None:
        self.currency = currency
        self.digits = exponent(currency)

    def amount(self, cents: int) -> str:
        return f"{Decimal(cents).scaleb(-self.digits):.{self.digits}f}"


def _el(parent: etree._Element, tag: str, text: str | None = None, **attributes: str) -> etree._Element:
    prefix, _, name = tag.partition(":")
    element = etree.SubElement(parent, f"{{{NSMAP[prefix]}}}{name}", attributes)
    if text is not None:
        element.text = text
    return element


def _date(parent: etree._Element, tag: str, value: date) -> None:
    _el(_el(parent, tag), "udt:DateTimeString", value.strftime("%Y%m%d"), format="102")


def _rate(rate: Decimal) -> str:
    text = f"{rate:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _party(
    parent: etree._Element,
    tag: str,
    *,
    name: str,
    lines: tuple[str | None, str | None, str | None, str | None, str | None],
    country: str | None,
    email: str | None,
    tax_id: str | None,
) -> None:
    party = _el(parent, tag)
    _el(party, "ram:Name", name)
    if country:
        zipcode, line1, line2, city, state = lines
        address = _el(party, "ram:PostalTradeAddress")
        for child, value in (
            ("ram:PostcodeCode", zipcode),
            ("ram:LineOne", line1),
            ("ram:LineTwo", line2),
            ("ram:CityName", city),
        ):
            if value:
                _el(address, child, value)
        _el(address, "ram:CountryID", country.upper())
        if state:
            _el(address, "ram:CountrySubDivisionName", state)
    if email:
        _el(_el(party, "ram:URIUniversalCommunication"), "ram:URIID", email, schemeID="EM")
    if tax_id:
        _el(_el(party, "ram:SpecifiedTaxRegistration"), "ram:ID", tax_id, schemeID="VA")


def _document(
    *,
    type_code: str,
    number: str,
    issuing_date: date,
    currency: str,
    organization: Organization,
    customer: CustomerOut,
    totals: Totals,
    due_date: date | None,
    period: tuple[date, date] | None,
    note: str | None,
    referenced_invoice: str | None,
) -> bytes:
    money = _Writer(currency)
    root = etree.Element(f"{{{RSM}}}CrossIndustryInvoice", nsmap=NSMAP)
    context = _el(root, "rsm:ExchangedDocumentContext")
    _el(_el(context, "ram:GuidelineSpecifiedDocumentContextParameter"), "ram:ID", GUIDELINE)
    document = _el(root, "rsm:ExchangedDocument")
    _el(document, "ram:ID", number)
    _el(document, "ram:TypeCode", type_code)
    _date(document, "ram:IssueDateTime", issuing_date)
    if note:
        _el(_el(document, "ram:IncludedNote"), "ram:Content", note)
    transaction = _el(root, "rsm:SupplyChainTradeTransaction")
    for index, line in enumerate(totals.lines, start=1):
        item = _el(transaction, "ram:IncludedSupplyChainTradeLineItem")
        _el(_el(item, "ram:AssociatedDocumentLineDocument"), "ram:LineID", str(index))
        _el(_el(item, "ram:SpecifiedTradeProduct"), "ram:Name", line.name)
        agreement = _el(item, "ram:SpecifiedLineTradeAgreement")
        # Quantity 1 at the line's net amount: BT-131 = BT-146 x BT-129 holds exactly (the unit prices of
        # usage fees have more decimals than an amount).
        _el(_el(agreement, "ram:NetPriceProductTradePrice"), "ram:ChargeAmount", money.amount(line.net_cents))
        _el(_el(item, "ram:SpecifiedLineTradeDelivery"), "ram:BilledQuantity", "1", unitCode="C62")
        settlement = _el(item, "ram:SpecifiedLineTradeSettlement")
        tax = _el(settlement, "ram:ApplicableTradeTax")
        _el(tax, "ram:TypeCode", "VAT")
        _el(tax, "ram:CategoryCode", "S" if line.rate > 0 else "Z")
        _el(tax, "ram:RateApplicablePercent", _rate(line.rate))
        summation = _el(settlement, "ram:SpecifiedTradeSettlementLineMonetarySummation")
        _el(summation, "ram:LineTotalAmount", money.amount(line.net_cents))
    agreement = _el(transaction, "ram:ApplicableHeaderTradeAgreement")
    _party(
        agreement,
        "ram:SellerTradeParty",
        name=organization.legal_name or organization.name,
        lines=(
            organization.zipcode,
            organization.address_line1,
            organization.address_line2,
            organization.city,
            organization.state,
        ),
        country=organization.country,
        email=organization.email,
        tax_id=organization.tax_identification_number,
    )
    _party(
        agreement,
        "ram:BuyerTradeParty",
        name=customer_display_name(customer),
        lines=(
            customer.zipcode,
            customer.address_line1,
            customer.address_line2,
            customer.city,
            customer.state,
        ),
        country=customer.country,
        email=customer.email,
        tax_id=customer.tax_identification_number,
    )
    _el(transaction, "ram:ApplicableHeaderTradeDelivery")
    settlement = _el(transaction, "ram:ApplicableHeaderTradeSettlement")
    _el(settlement, "ram:InvoiceCurrencyCode", currency)
    for group in totals.breakdowns:
        tax = _el(settlement, "ram:ApplicableTradeTax")
        _el(tax, "ram:CalculatedAmount", money.amount(group.tax_cents))
        _el(tax, "ram:TypeCode", "VAT")
        _el(tax, "ram:BasisAmount", money.amount(group.basis_cents))
        _el(tax, "ram:CategoryCode", group.category)
        _el(tax, "ram:RateApplicablePercent", _rate(group.rate))
    if period is not None:
        billing = _el(settlement, "ram:BillingSpecifiedPeriod")
        _date(billing, "ram:StartDateTime", period[0])
        _date(billing, "ram:EndDateTime", period[1])
    for group in totals.breakdowns:
        if not group.allowance_cents:
            continue
        allowance = _el(settlement, "ram:SpecifiedTradeAllowanceCharge")
        _el(_el(allowance, "ram:ChargeIndicator"), "udt:Indicator", "false")
        _el(allowance, "ram:ActualAmount", money.amount(group.allowance_cents))
        _el(allowance, "ram:Reason", "Discount")
        category = _el(allowance, "ram:CategoryTradeTax")
        _el(category, "ram:TypeCode", "VAT")
        _el(category, "ram:CategoryCode", group.category)
        _el(category, "ram:RateApplicablePercent", _rate(group.rate))
    if due_date is not None:
        terms = _el(settlement, "ram:SpecifiedTradePaymentTerms")
        _date(terms, "ram:DueDateDateTime", due_date)
    summation = _el(settlement, "ram:SpecifiedTradeSettlementHeaderMonetarySummation")
    _el(summation, "ram:LineTotalAmount", money.amount(totals.line_total_cents))
    _el(summation, "ram:AllowanceTotalAmount", money.amount(totals.allowance_total_cents))
    _el(summation, "ram:TaxBasisTotalAmount", money.amount(totals.tax_basis_cents))
    _el(summation, "ram:TaxTotalAmount", money.amount(totals.tax_total_cents), currencyID=currency)
    _el(summation, "ram:GrandTotalAmount", money.amount(totals.grand_total_cents))
    _el(summation, "ram:TotalPrepaidAmount", money.amount(totals.prepaid_cents))
    _el(summation, "ram:DuePayableAmount", money.amount(totals.due_cents))
    if referenced_invoice:
        _el(_el(settlement, "ram:InvoiceReferencedDocument"), "ram:IssuerAssignedID", referenced_invoice)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def render_invoice_xml(invoice: InvoiceOut, organization: Organization) -> bytes:
    periods = invoice.billing_periods
    period = (
        (
            min(p.charges_from_datetime for p in periods).date(),
            max(p.charges_to_datetime for p in periods).date(),
        )
        if periods
        else None
    )
    return _document(
        type_code=INVOICE,
        number=invoice.number,
        issuing_date=invoice.issuing_date,
        currency=invoice.currency,
        organization=organization,
        customer=invoice.customer,
        totals=invoice_totals(invoice),
        due_date=invoice.payment_due_date,
        period=period,
        note=organization.invoice_footer,
        referenced_invoice=None,
    )


def render_credit_note_xml(note: CreditNoteOut, customer: CustomerOut, organization: Organization) -> bytes:
    return _document(
        type_code=CREDIT_NOTE,
        number=note.number,
        issuing_date=note.issuing_date,
        currency=note.currency,
        organization=organization,
        customer=customer,
        totals=credit_note_totals(note),
        due_date=None,
        period=None,
        note=note.description,
        referenced_invoice=note.invoice_number,
    )
