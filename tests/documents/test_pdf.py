"""The PDFs, read back with pypdf: the number, the parties, every fee line and the totals, as babel
formats them in the document's locale and currency."""

from __future__ import annotations

import io
from typing import Any

import pytest
from fastapi import FastAPI
from pypdf import PdfReader

from billow.billing.run import bill_due
from billow.documents.i18n import CATALOG, Words, document_locale
from billow.documents.pdf import DASH, TIMES
from billow.models.organizations import Organization
from tests.billing.scenarios.helpers import world
from tests.conftest import Api
from tests.documents.conftest import create_catalog, rich_invoice
from tests.fixtures import factories as f
from tests.fixtures.factories import at

pytestmark = pytest.mark.usefixtures("bill_backdated_periods")


def pdf_text(api: Api, url: str) -> str:
    answer = api.client.get(url.removeprefix("http://localhost:3000"))
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/pdf"
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(answer.content)).pages)


def downloaded(api: Api, invoice: dict[str, Any]) -> dict[str, Any]:
    answer = api.post(f"/invoices/{invoice['lago_id']}/download")
    assert answer.status_code == 200
    return dict(answer.json()["invoice"])


class TestWords:
    def test_amounts_are_babel_s_in_the_locale(self) -> None:
        assert Words("en", "EUR").cents(123456) == "€1,234.56"
        assert Words("fr", "EUR").cents(123456) == "1\u202f234,56\xa0€"
        assert Words("de", "EUR").cents(123456) == "1.234,56\xa0€"
        assert Words("en", "INR").cents(123456) == "₹1,234.56"
        assert Words("en", "JPY").cents(1234) == "¥1,234"  # no minor unit
        assert Words("en", "EUR").price(__import__("decimal").Decimal("0.00015")) == "€0.00015"

    def test_locale_customer_then_organization_then_english(self) -> None:
        assert document_locale("fr", "de") == "fr"
        assert document_locale(None, "de") == "de"
        assert document_locale(None, None) == "en"

    def test_the_catalog_translates_every_label(self) -> None:
        for language in ("fr", "de", "es"):
            assert CATALOG[language].keys() == CATALOG["en"].keys()
        assert Words("es", "EUR")["invoice"] == "Factura"
        assert Words("pt-BR", "BRL")["invoice"] == "Invoice"  # no catalog: English words


class TestInvoicePdf:
    def test_english(self, api: Api, invoice: dict[str, Any]) -> None:
        body = downloaded(api, invoice)
        text = pdf_text(api, body["file_url"])
        money = Words("en", "EUR").cents
        assert "Invoice" in text
        assert body["number"] in text
        assert "Zoë Ångström & Søn" in text and "Besançon" in text and "FR40303265045" in text
        assert "Acme" in text
        # Each fee: its name and amount (1,000.00 and 200.00).
        assert "Onboarding — Setup" in text and "€1,000.00" in text
        assert "Livres numériques" in text and "€200.00" in text
        # Totals: subtotal 1,200.00; coupon -50.00; taxes 191.67 (20 %) and 10.54 (5.5 %); 1,352.21
        # including taxes; credit note -30.00; wallet -10.00; due 1,312.21.
        for cents in (120000, -5000, 19167, 1054, 135221, -3000, -1000, 131221):
            assert money(cents) in text, money(cents)
        assert body["total_amount_cents"] == 131221
        assert "VAT 20 (20%)" in text and "VAT 5.5 (5.5%)" in text
        assert "Total due €1,312.21" in text

    @pytest.mark.parametrize(
        ("locale", "title", "due"),
        [
            ("fr", "Facture", "Total dû"),
            ("de", "Rechnung", "Fälliger Betrag"),
            ("es", "Factura", "Total a pagar"),
        ],
    )
    def test_the_customer_s_locale(self, api: Api, locale: str, title: str, due: str) -> None:
        create_catalog(api, locale=locale)
        body = downloaded(api, rich_invoice(api))
        text = pdf_text(api, body["file_url"])
        money = Words(locale, "EUR").cents
        assert title in text
        assert f"{due} {money(131221)}" in text
        assert money(120000) in text and money(19167) in text
        if locale == "fr":
            assert "1\u202f312,21\xa0€" in text

    def test_the_organization_s_locale_when_the_customer_has_none(self, app: FastAPI, api: Api) -> None:
        with app.state.sessionmaker.begin() as session:
            session.get(Organization, api.organization.id).document_locale = "de"  # type: ignore[union-attr]
        create_catalog(api)
        text = pdf_text(api, downloaded(api, rich_invoice(api))["file_url"])
        assert "Rechnung" in text and "1.312,21\xa0€" in text

    def test_tiers_of_a_graduated_fee(self, app: FastAPI, api: Api) -> None:
        """0-10 units at 1.00 and 10+ at 0.50 (flat 2.00): 25 units = 10.00 + 2.00 + 7.50 = 19.50."""
        properties = {
            "graduated_ranges": [
                {"from_value": 0, "to_value": 10, "per_unit_amount": "1", "flat_amount": "0"},
                {"from_value": 11, "to_value": None, "per_unit_amount": "0.5", "flat_amount": "2"},
            ]
        }
        with app.state.sessionmaker.begin() as session:
            org = session.get(Organization, api.organization.id)
            scene = world(
                session, started_at="2024-01-01", charge_model="graduated", properties=properties, org=org
            )
            scene.event(session, "2024-01-10T00:00:00", 25)
            f.tax(session, org, "none", "0")
        bill_due(app.state.sessionmaker, at("2024-02-01T12:00:00"))
        [invoice] = api.get("/invoices").json()["invoices"]
        assert invoice["file_url"]  # rendered after the billing run's commit
        text = pdf_text(api, invoice["file_url"])
        words = Words("en", invoice["currency"])
        charge = next(fee for fee in invoice["fees"] if fee["item"]["type"] == "charge")
        assert words.cents(charge["amount_cents"]) in text
        assert charge["amount_cents"] == 1950
        assert f"Tier 1 (0 {DASH} 10): 10 {TIMES} $1.00" in text
        assert f"Tier 2 (11 {DASH} ∞): 15 {TIMES} $0.50 + Flat fee $2.00" in text
        assert f"Jan 1, 2024 {DASH} Jan 31, 2024" in text  # the billing period


class TestCreditNotePdf:
    def test_items_reason_taxes_and_amounts(self, api: Api, invoice: dict[str, Any]) -> None:
        [note] = api.get("/credit_notes").json()["credit_notes"]
        answer = api.post(f"/credit_notes/{note['lago_id']}/download")
        assert answer.status_code == 200
        text = pdf_text(api, answer.json()["credit_note"]["file_url"])
        money = Words("en", "EUR").cents
        assert "Credit note" in text and note["number"] in text and note["invoice_number"] in text
        assert "Other" in text and "Audit" in text
        # Item 25.00, tax 20 % = 5.00, total 30.00, all credited.
        assert f"Subtotal (excl. tax) {money(2500)}" in text
        assert f"VAT 20 (20%) {money(500)}" in text
        assert f"Total {money(3000)}" in text
        assert f"Credited to the customer's balance {money(3000)}" in text


class TestTierLines:
    """The details of a fee's charge model, from its ``amount_details`` (only that field is read)."""

    @staticmethod
    def lines(details: dict[str, Any], locale: str = "en") -> list[str]:
        from types import SimpleNamespace

        from billow.documents.pdf import tier_lines

        return tier_lines(SimpleNamespace(amount_details=details), Words(locale, "EUR"))  # type: ignore[arg-type]

    def test_package(self) -> None:
        """25 paid units in packages of 10 at 5.00: 3 packages (the third started), 5 free units."""
        details = {
            "free_units": "5.0",
            "paid_units": "25.0",
            "per_package_size": 10,
            "per_package_unit_amount": "5.0",
        }
        assert self.lines(details) == [f"Package (10): 3 {TIMES} €5.00 (free units: 5)"]
        assert self.lines(details, "fr") == [f"Lot (10): 3 {TIMES} 5,00\xa0€ (unités gratuites: 5)"]

    def test_volume(self) -> None:
        details = {"flat_unit_amount": "10.0", "per_unit_amount": "0.25", "per_unit_total_amount": "25.0"}
        assert self.lines(details) == ["Unit price €0.25 + Flat fee €10.00"]

    def test_standard_has_none(self) -> None:
        assert self.lines({}) == []
