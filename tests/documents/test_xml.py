"""The EN 16931 CII XML: valid against Factur-X's EN16931 schema, its totals the invoice's, and EN 16931's
arithmetic (BR-CO-10..16) on an invoice with a coupon, two tax rates, a credit note and wallet credits."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from facturx import xml_check_xsd
from lxml import etree

from billow.documents.xml import RAM, Line, compute_totals
from tests.conftest import Api

NS = {"ram": RAM, "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"}


def fetch(api: Api, url: str) -> bytes:
    answer = api.client.get(url.removeprefix("http://localhost:3000"))
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/xml"
    return bytes(answer.content)


def amounts(root: Any, path: str) -> list[Decimal]:
    return [Decimal(node.text) for node in root.iterfind(path, NS)]


def one(root: Any, path: str) -> Decimal:
    [value] = amounts(root, path)
    return value


SUMMATION = ".//ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:"


def check_business_rules(root: Any) -> None:
    """BR-CO-10..16 on the document's figures (exact: amounts have two decimals)."""
    lines = amounts(root, ".//ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount")
    allowances = amounts(
        root, ".//ram:ApplicableHeaderTradeSettlement/ram:SpecifiedTradeAllowanceCharge/ram:ActualAmount"
    )
    taxes = amounts(
        root, ".//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax/ram:CalculatedAmount"
    )
    bases = amounts(root, ".//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax/ram:BasisAmount")
    line_total = one(root, SUMMATION + "LineTotalAmount")
    allowance_total = one(root, SUMMATION + "AllowanceTotalAmount")
    basis = one(root, SUMMATION + "TaxBasisTotalAmount")
    tax = one(root, SUMMATION + "TaxTotalAmount")
    grand = one(root, SUMMATION + "GrandTotalAmount")
    prepaid = one(root, SUMMATION + "TotalPrepaidAmount")
    due = one(root, SUMMATION + "DuePayableAmount")
    assert line_total == sum(lines)  # BR-CO-10
    assert allowance_total == sum(allowances)  # BR-CO-11
    assert basis == line_total - allowance_total  # BR-CO-13
    assert tax == sum(taxes)  # BR-CO-14
    assert grand == basis + tax  # BR-CO-15
    assert due == grand - prepaid  # BR-CO-16
    assert sum(bases) == basis  # the VAT breakdown covers the basis (BR-S-08 summed)
    for group in root.iterfind(".//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax", NS):
        rate = Decimal(group.find("ram:RateApplicablePercent", NS).text)
        basis_amount = Decimal(group.find("ram:BasisAmount", NS).text)
        calculated = Decimal(group.find("ram:CalculatedAmount", NS).text)
        assert abs(calculated - basis_amount * rate / 100) <= Decimal("0.01")  # BR-S-09 (rounding)


class TestInvoiceXml:
    def test_valid_and_its_totals_are_the_invoice_s(self, api: Api, invoice: dict[str, Any]) -> None:
        body = api.post(f"/invoices/{invoice['lago_id']}/download_xml").json()["invoice"]
        data = fetch(api, body["xml_url"])
        assert xml_check_xsd(data, flavor="factur-x", level="en16931")
        root = etree.fromstring(data)
        check_business_rules(root)
        assert root.find(".//rsm:ExchangedDocument/ram:TypeCode", NS).text == "380"
        assert root.find(".//rsm:ExchangedDocument/ram:ID", NS).text == body["number"]
        # Lines 1,000.00 + 200.00; coupon 50.00 spread 41.67 / 8.33 over the two rates; basis 1,150.00;
        # taxes 191.67 + 10.54 = 202.21; grand total 1,352.21; prepaid 30.00 (credit note) + 10.00
        # (wallet) = 40.00; due 1,312.21.
        assert one(root, SUMMATION + "LineTotalAmount") == Decimal("1200.00")
        assert one(root, SUMMATION + "AllowanceTotalAmount") == Decimal("50.00")
        assert (
            one(root, SUMMATION + "TaxBasisTotalAmount")
            == Decimal(body["sub_total_excluding_taxes_amount_cents"]) / 100
        )
        assert (
            one(root, SUMMATION + "TaxTotalAmount")
            == Decimal("202.21")
            == Decimal(body["taxes_amount_cents"]) / 100
        )
        assert one(root, SUMMATION + "GrandTotalAmount") == Decimal("1352.21")
        assert one(root, SUMMATION + "TotalPrepaidAmount") == Decimal("40.00")
        assert one(root, SUMMATION + "DuePayableAmount") == Decimal(body["total_amount_cents"]) / 100
        breakdown = {
            Decimal(group.find("ram:RateApplicablePercent", NS).text): (
                Decimal(group.find("ram:BasisAmount", NS).text),
                Decimal(group.find("ram:CalculatedAmount", NS).text),
            )
            for group in root.iterfind(".//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax", NS)
        }
        assert breakdown == {
            Decimal("5.5"): (Decimal("191.67"), Decimal("10.54")),
            Decimal("20"): (Decimal("958.33"), Decimal("191.67")),
        }
        seller = root.find(".//ram:SellerTradeParty/ram:Name", NS).text
        buyer = root.find(".//ram:BuyerTradeParty", NS)
        assert seller == "Acme"
        assert buyer.find("ram:Name", NS).text == "Zoë Ångström & Søn"
        assert buyer.find(".//ram:CountryID", NS).text == "FR"
        assert buyer.find(".//ram:SpecifiedTaxRegistration/ram:ID", NS).text == "FR40303265045"


class TestCreditNoteXml:
    def test_valid_type_381_referencing_its_invoice(self, api: Api, invoice: dict[str, Any]) -> None:
        [note] = api.get("/credit_notes").json()["credit_notes"]
        body = api.post(f"/credit_notes/{note['lago_id']}/download_xml").json()["credit_note"]
        data = fetch(api, body["xml_url"])
        assert xml_check_xsd(data, flavor="factur-x", level="en16931")
        root = etree.fromstring(data)
        check_business_rules(root)
        assert root.find(".//rsm:ExchangedDocument/ram:TypeCode", NS).text == "381"
        assert (
            root.find(".//ram:InvoiceReferencedDocument/ram:IssuerAssignedID", NS).text
            == note["invoice_number"]
        )
        # 25.00 at 20 % = 5.00: 30.00.
        assert one(root, SUMMATION + "GrandTotalAmount") == Decimal("30.00")
        assert one(root, SUMMATION + "DuePayableAmount") == Decimal("30.00")


class TestComputeTotals:
    def test_rounding_goes_to_the_largest_rate(self) -> None:
        """Lines 100.00 at 20 % (basis 90.00 after a 10.00 coupon, tax 18.00) and 33.33 at 5.5 % (no coupon,
        tax 1.83); the invoice computed basis 123.33 and tax 19.84 (one cent more than the lines' 19.83):
        the cent goes to the 20 % group (the largest basis)."""
        lines = [
            Line("a", Decimal(1), 10000, Decimal(20), 9000, 1800),
            Line("b", Decimal(1), 3333, Decimal("5.5"), 3333, 183),
        ]
        totals = compute_totals(lines, tax_basis_cents=12333, tax_total_cents=1984, prepaid_cents=500)
        assert totals.line_total_cents == 13333
        assert totals.allowance_total_cents == 1000  # 13333 - 12333
        assert [(g.rate, g.basis_cents, g.tax_cents, g.allowance_cents) for g in totals.breakdowns] == [
            (Decimal("5.5"), 3333, 183, 0),
            (Decimal(20), 9000, 1801, 1000),
        ]
        assert totals.grand_total_cents == 14317  # 12333 + 1984
        assert totals.due_cents == 13817  # 14317 - 500

    def test_no_tax_is_zero_rated(self) -> None:
        totals = compute_totals(
            [Line("a", Decimal(1), 500, Decimal(0), 500, 0)],
            tax_basis_cents=500,
            tax_total_cents=0,
            prepaid_cents=0,
        )
        assert [g.category for g in totals.breakdowns] == ["Z"]
        assert totals.due_cents == 500


@pytest.mark.parametrize("suffix", ["download", "download_pdf", "download_xml"])
def test_every_download_answers_both_links(api: Api, invoice: dict[str, Any], suffix: str) -> None:
    body = api.post(f"/invoices/{invoice['lago_id']}/{suffix}").json()["invoice"]
    assert body["file_url"] and body["xml_url"]
