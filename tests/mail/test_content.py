"""The message's words and figures (pure) and the address rules."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from billow.mail.addresses import is_email, split_addresses
from billow.mail.content import Document, amount, babel_locale, document_locale, format_total, render


def invoice(**fields: object) -> Document:
    values: dict[str, object] = {
        "kind": "invoice",
        "organization_name": "Acme <Ltd> & Co",
        "number": "ACM-202401-001",
        "currency": "EUR",
        "total_amount_cents": 123450,
        "day": date(2024, 2, 15),
    }
    values.update(fields)
    return Document(**values)  # type: ignore[arg-type]


class TestAmounts:
    @pytest.mark.parametrize(
        ("cents", "currency", "units"),
        [
            (123450, "EUR", Decimal("1234.50")),  # 2 decimals: 123450 / 100
            (1000, "JPY", Decimal("1000")),  # no minor unit
            (1234, "KWD", Decimal("1.234")),  # 3 decimals: 1234 / 1000
        ],
    )
    def test_minor_units(self, cents: int, currency: str, units: Decimal) -> None:
        assert amount(cents, currency) == units

    def test_formatted_in_the_locale(self) -> None:
        assert format_total(123450, "EUR", "en") == "€1,234.50"
        assert format_total(123450, "EUR", "de") == "1.234,50\u00a0€"
        assert format_total(123450, "USD", "es") == "1.234,50\u00a0US$"
        assert format_total(1000, "JPY", "en") == "¥1,000"


class TestLocale:
    def test_customer_then_organization_then_english(self) -> None:
        assert document_locale("fr", "de") == "fr"
        assert document_locale(None, "de") == "de"
        assert document_locale(None, None) == "en"
        assert document_locale("", "es") == "es"

    def test_lago_spellings_and_unknown(self) -> None:
        assert babel_locale("pt-BR") == "pt_BR"
        assert babel_locale("xx") == "en"
        assert babel_locale("not a locale") == "en"


class TestRender:
    def test_english_invoice(self) -> None:
        content = render(invoice(file_url="https://files.example/inv.pdf?a=1&b=2"), "en")
        assert content.subject == "Invoice ACM-202401-001 from Acme <Ltd> & Co"
        assert content.text == (
            "Hello,\n\n"
            "Acme <Ltd> & Co has issued invoice ACM-202401-001 for €1,234.50, due on February 15, 2024.\n\n"
            "Download the document:\nhttps://files.example/inv.pdf?a=1&b=2\n\n"
            "For any question, reply to this e-mail.\n\nAcme <Ltd> & Co\n"
        )
        # HTML: every text escaped, the link kept.
        assert "Acme &lt;Ltd&gt; &amp; Co has issued" in content.html
        assert '<a href="https://files.example/inv.pdf?a=1&amp;b=2">' in content.html
        assert "<Ltd>" not in content.html

    def test_no_link_without_file(self) -> None:
        content = render(invoice(), "en")
        assert "Download" not in content.text and "<a " not in content.html

    def test_spanish_credit_note(self) -> None:
        note = invoice(kind="credit_note", number="ACM-202401-001-CN001", invoice_number="ACM-202401-001")
        content = render(note, "es")
        assert content.subject == "Nota de crédito ACM-202401-001-CN001 de Acme <Ltd> & Co"
        expected = "por 1.234,50\u00a0€ sobre la factura ACM-202401-001, con fecha del 15 de febrero de 2024."
        assert expected in content.text

    def test_other_locale_english_words_local_figures(self) -> None:
        content = render(invoice(), "it")
        assert content.subject.startswith("Invoice ")
        assert "for 1.234,50\u00a0€, due on 15 febbraio 2024." in content.text


class TestAddresses:
    def test_split(self) -> None:
        assert split_addresses("a@x.com, b@y.org ,,") == ["a@x.com", "b@y.org"]
        assert split_addresses(None) == [] and split_addresses("  ") == []

    @pytest.mark.parametrize("value", ["a@x.com", "first.last+tag@sub.example.org", "x@localhost"])
    def test_valid(self, value: str) -> None:
        assert is_email(value)

    @pytest.mark.parametrize("value", ["nope", "bad@", "@x.com", "x y@example.com", "a@-x.com", "a@x..com"])
    def test_invalid(self, value: str) -> None:
        assert not is_email(value)
