"""What an invoice or credit-note e-mail says: subject, plain text and HTML, in the document locale.

Pure functions over a :class:`Document` (the figures the message shows); the catalog covers ``en``,
``fr``, ``de`` and ``es``; another locale falls back to ``en`` for the words, while amounts and dates
are still formatted by babel in the locale asked (``pt_BR`` amounts read ``R$ 1.234,50``).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.numbers import format_currency

from billow.kit.currency import exponent

DEFAULT_LOCALE = "en"


@dataclass(frozen=True)
class Document:
    kind: str  # ``invoice``, ``credit_note``, ``payment_request`` or ``payment_receipt``
    organization_name: str
    number: str
    currency: str
    total_amount_cents: int
    #: Invoice: its payment due date; credit note: its issuing date; payment request: its creation;
    #: receipt: the payment's date.
    day: date | None
    #: A credit note: the number of the invoice it credits; a payment request or receipt: the numbers
    #: of the invoices it asks for or pays, joined.
    invoice_number: str | None = None
    file_url: str | None = None


@dataclass(frozen=True)
class Content:
    subject: str
    text: str
    html: str


#: locale → kind → (subject, first paragraph). Placeholders: organization, number, total, day, invoice.
CATALOG: dict[str, dict[str, tuple[str, str]]] = {
    "en": {
        "payment_request": (
            "Payment request from {organization}",
            "{organization} asks you to pay {total} for the invoices {invoice}.",
        ),
        "payment_receipt": (
            "Payment receipt {number} from {organization}",
            "{organization} has received your payment of {total} on {day} for {invoice}.",
        ),
        "invoice": (
            "Invoice {number} from {organization}",
            "{organization} has issued invoice {number} for {total}, due on {day}.",
        ),
        "credit_note": (
            "Credit note {number} from {organization}",
            "{organization} has issued credit note {number} for {total} on invoice {invoice}, dated {day}.",
        ),
    },
    "fr": {
        "payment_request": (
            "Demande de paiement de {organization}",
            "{organization} vous demande de régler {total} pour les factures {invoice}.",
        ),
        "payment_receipt": (
            "Reçu de paiement {number} de {organization}",
            "{organization} a bien reçu votre paiement de {total} le {day} pour {invoice}.",
        ),
        "invoice": (
            "Facture {number} de {organization}",
            "{organization} vous a adressé la facture {number} d'un montant de {total}, "
            "à régler au plus tard le {day}.",
        ),
        "credit_note": (
            "Avoir {number} de {organization}",
            "{organization} vous a adressé l'avoir {number} d'un montant de {total} sur la facture "
            "{invoice}, daté du {day}.",
        ),
    },
    "de": {
        "payment_request": (
            "Zahlungsaufforderung von {organization}",
            "{organization} bittet Sie, {total} für die Rechnungen {invoice} zu bezahlen.",
        ),
        "payment_receipt": (
            "Zahlungsbeleg {number} von {organization}",
            "{organization} hat Ihre Zahlung über {total} am {day} für {invoice} erhalten.",
        ),
        "invoice": (
            "Rechnung {number} von {organization}",
            "{organization} hat Ihnen die Rechnung {number} über {total} ausgestellt, fällig am {day}.",
        ),
        "credit_note": (
            "Gutschrift {number} von {organization}",
            "{organization} hat Ihnen die Gutschrift {number} über {total} zur Rechnung {invoice} "
            "ausgestellt, datiert auf den {day}.",
        ),
    },
    "es": {
        "payment_request": (
            "Solicitud de pago de {organization}",
            "{organization} le solicita el pago de {total} por las facturas {invoice}.",
        ),
        "payment_receipt": (
            "Recibo de pago {number} de {organization}",
            "{organization} ha recibido su pago de {total} el {day} por {invoice}.",
        ),
        "invoice": (
            "Factura {number} de {organization}",
            "{organization} le ha emitido la factura {number} por {total}, con vencimiento el {day}.",
        ),
        "credit_note": (
            "Nota de crédito {number} de {organization}",
            "{organization} le ha emitido la nota de crédito {number} por {total} sobre la factura "
            "{invoice}, con fecha del {day}.",
        ),
    },
}

#: locale → (greeting, "download" label, closing line).
PHRASES: dict[str, tuple[str, str, str]] = {
    "en": ("Hello,", "Download the document:", "For any question, reply to this e-mail."),
    "fr": ("Bonjour,", "Télécharger le document :", "Pour toute question, répondez à cet e-mail."),
    "de": ("Guten Tag,", "Dokument herunterladen:", "Bei Fragen antworten Sie einfach auf diese E-Mail."),
    "es": ("Hola,", "Descargar el documento:", "Para cualquier pregunta, responda a este correo."),
}


def babel_locale(value: str | None) -> str:
    """``value`` (Lago's ``document_locale``: ``fr``, ``pt-BR``...) as a babel locale, else ``en``."""
    if not value:
        return DEFAULT_LOCALE
    try:
        return str(Locale.parse(value.replace("-", "_")))
    except (UnknownLocaleError, ValueError, TypeError):
        return DEFAULT_LOCALE


def document_locale(customer_locale: str | None, organization_locale: str | None) -> str:
    """The customer's ``billing_configuration.document_locale``, else the organization's, else ``en``."""
    return babel_locale(customer_locale or organization_locale)


def amount(total_amount_cents: int, currency: str) -> Decimal:
    """Minor units → currency units: 123450 EUR cents → 1234.50 (exact: a Decimal scaled by 10^-2)."""
    return Decimal(total_amount_cents).scaleb(-exponent(currency))


def format_total(total_amount_cents: int, currency: str, locale: str) -> str:
    return format_currency(amount(total_amount_cents, currency), currency, locale=locale)


def render(document: Document, locale: str) -> Content:
    """The message of ``document`` in ``locale`` (words of its language, else English)."""
    language = locale.split("_")[0]
    words = CATALOG.get(language, CATALOG[DEFAULT_LOCALE])
    greeting, download, closing = PHRASES.get(language, PHRASES[DEFAULT_LOCALE])
    subject_template, paragraph_template = words[document.kind]
    values = {
        "organization": document.organization_name,
        "number": document.number,
        "total": format_total(document.total_amount_cents, document.currency, locale),
        "day": format_date(document.day, format="long", locale=locale) if document.day else "",
        "invoice": document.invoice_number or "",
    }
    subject = subject_template.format(**values)
    paragraph = paragraph_template.format(**values)
    lines = [greeting, "", paragraph]
    if document.file_url:
        lines += ["", download, document.file_url]
    lines += ["", closing, "", document.organization_name]
    text = "\n".join(lines) + "\n"
    parts = [f"<p>{html.escape(greeting)}</p>", f"<p>{html.escape(paragraph)}</p>"]
    if document.file_url:
        url = html.escape(document.file_url, quote=True)
        parts.append(f'<p>{html.escape(download)} <a href="{url}">{url}</a></p>')
    parts += [f"<p>{html.escape(closing)}</p>", f"<p>{html.escape(document.organization_name)}</p>"]
    body = (
        f'<!DOCTYPE html>\n<html lang="{html.escape(language)}"><head><meta charset="utf-8">'
        f"<title>{html.escape(subject)}</title></head>\n<body>\n" + "\n".join(parts) + "\n</body></html>\n"
    )
    return Content(subject=subject, text=text, html=body)
