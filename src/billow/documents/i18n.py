"""The words and numbers of a document in its locale: the customer's ``document_locale``, else the
organization's, else ``en``. Amounts are formatted by babel in the document's currency (``€1,234.56`` in
``en``, ``1 234,56 €`` in ``fr``); labels come from :data:`CATALOG` (en, fr, de, es; other locales take
English words with their own number formats).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.numbers import format_currency, format_decimal, format_percent

from billow.kit.currency import exponent

CATALOG: dict[str, dict[str, str]] = {
    "en": {
        "invoice": "Invoice",
        "credit_note": "Credit note",
        "invoice_number": "Invoice number",
        "credit_note_number": "Credit note number",
        "issuing_date": "Issue date",
        "payment_due_date": "Payment due date",
        "from": "From",
        "bill_to": "Bill to",
        "tax_id": "Tax ID",
        "billing_period": "Billing period",
        "item": "Item",
        "units": "Units",
        "unit_price": "Unit price",
        "tax_rate": "Tax rate",
        "amount": "Amount",
        "subtotal": "Subtotal (excl. tax)",
        "coupons": "Coupons",
        "progressive_billing": "Usage already billed",
        "tax": "Tax",
        "subtotal_incl": "Subtotal (incl. tax)",
        "credit_notes": "Credit notes",
        "prepaid_credits": "Prepaid credits",
        "total_due": "Total due",
        "total": "Total",
        "reason": "Reason",
        "original_invoice": "Original invoice",
        "credited": "Credited to the customer's balance",
        "refunded": "Refunded",
        "offset": "Offset against the invoice",
        "tier": "Tier",
        "payment_receipt": "Payment receipt",
        "receipt_number": "Receipt number",
        "payment_date": "Payment date",
        "payment_reference": "Payment reference",
        "paid_invoices": "Paid invoices",
        "amount_paid": "Amount paid",
        "flat_fee": "Flat fee",
        "package": "Package",
        "free_units": "free units",
        "page": "Page",
    },
    "fr": {
        "invoice": "Facture",
        "credit_note": "Avoir",
        "invoice_number": "Numéro de facture",
        "credit_note_number": "Numéro d'avoir",
        "issuing_date": "Date d'émission",
        "payment_due_date": "Date d'échéance",
        "from": "De",
        "bill_to": "Facturé à",
        "tax_id": "N° de TVA",
        "billing_period": "Période de facturation",
        "item": "Article",
        "units": "Unités",
        "unit_price": "Prix unitaire",
        "tax_rate": "Taux de taxe",
        "amount": "Montant",
        "subtotal": "Sous-total (HT)",
        "coupons": "Coupons",
        "progressive_billing": "Consommation déjà facturée",
        "tax": "Taxe",
        "subtotal_incl": "Sous-total (TTC)",
        "credit_notes": "Avoirs",
        "prepaid_credits": "Crédits prépayés",
        "total_due": "Total dû",
        "total": "Total",
        "reason": "Motif",
        "original_invoice": "Facture d'origine",
        "credited": "Crédité sur le solde du client",
        "refunded": "Remboursé",
        "offset": "Déduit de la facture",
        "tier": "Palier",
        "payment_receipt": "Reçu de paiement",
        "receipt_number": "Numéro de reçu",
        "payment_date": "Date du paiement",
        "payment_reference": "Référence du paiement",
        "paid_invoices": "Factures payées",
        "amount_paid": "Montant payé",
        "flat_fee": "Forfait",
        "package": "Lot",
        "free_units": "unités gratuites",
        "page": "Page",
    },
    "de": {
        "invoice": "Rechnung",
        "credit_note": "Gutschrift",
        "invoice_number": "Rechnungsnummer",
        "credit_note_number": "Gutschriftnummer",
        "issuing_date": "Rechnungsdatum",
        "payment_due_date": "Fälligkeitsdatum",
        "from": "Von",
        "bill_to": "Rechnung an",
        "tax_id": "USt-IdNr.",
        "billing_period": "Abrechnungszeitraum",
        "item": "Position",
        "units": "Einheiten",
        "unit_price": "Einzelpreis",
        "tax_rate": "Steuersatz",
        "amount": "Betrag",
        "subtotal": "Zwischensumme (netto)",
        "coupons": "Gutscheine",
        "progressive_billing": "Bereits abgerechnete Nutzung",
        "tax": "Steuer",
        "subtotal_incl": "Zwischensumme (brutto)",
        "credit_notes": "Gutschriften",
        "prepaid_credits": "Prepaid-Guthaben",
        "total_due": "Fälliger Betrag",
        "total": "Gesamt",
        "reason": "Grund",
        "original_invoice": "Ursprüngliche Rechnung",
        "credited": "Dem Kundenguthaben gutgeschrieben",
        "refunded": "Erstattet",
        "offset": "Mit der Rechnung verrechnet",
        "tier": "Stufe",
        "payment_receipt": "Zahlungsbeleg",
        "receipt_number": "Belegnummer",
        "payment_date": "Zahlungsdatum",
        "payment_reference": "Zahlungsreferenz",
        "paid_invoices": "Bezahlte Rechnungen",
        "amount_paid": "Gezahlter Betrag",
        "flat_fee": "Pauschale",
        "package": "Paket",
        "free_units": "Freieinheiten",
        "page": "Seite",
    },
    "es": {
        "invoice": "Factura",
        "credit_note": "Nota de crédito",
        "invoice_number": "Número de factura",
        "credit_note_number": "Número de nota de crédito",
        "issuing_date": "Fecha de emisión",
        "payment_due_date": "Fecha de vencimiento",
        "from": "De",
        "bill_to": "Facturar a",
        "tax_id": "NIF",
        "billing_period": "Periodo de facturación",
        "item": "Concepto",
        "units": "Unidades",
        "unit_price": "Precio unitario",
        "tax_rate": "Tipo impositivo",
        "amount": "Importe",
        "subtotal": "Subtotal (sin impuestos)",
        "coupons": "Cupones",
        "progressive_billing": "Consumo ya facturado",
        "tax": "Impuesto",
        "subtotal_incl": "Subtotal (con impuestos)",
        "credit_notes": "Notas de crédito",
        "prepaid_credits": "Créditos prepagados",
        "total_due": "Total a pagar",
        "total": "Total",
        "reason": "Motivo",
        "original_invoice": "Factura original",
        "credited": "Abonado al saldo del cliente",
        "refunded": "Reembolsado",
        "offset": "Compensado con la factura",
        "tier": "Tramo",
        "payment_receipt": "Recibo de pago",
        "receipt_number": "Número de recibo",
        "payment_date": "Fecha de pago",
        "payment_reference": "Referencia del pago",
        "paid_invoices": "Facturas pagadas",
        "amount_paid": "Importe pagado",
        "flat_fee": "Tarifa fija",
        "package": "Paquete",
        "free_units": "unidades gratuitas",
        "page": "Página",
    },
}

#: Credit-note reasons (Lago's values) in words.
REASONS: dict[str, dict[str, str]] = {
    "en": {
        "duplicated_charge": "Duplicated charge",
        "product_unsatisfactory": "Product unsatisfactory",
        "order_change": "Order change",
        "order_cancellation": "Order cancellation",
        "fraudulent_charge": "Fraudulent charge",
        "other": "Other",
    },
    "fr": {
        "duplicated_charge": "Facturation en double",
        "product_unsatisfactory": "Produit insatisfaisant",
        "order_change": "Modification de commande",
        "order_cancellation": "Annulation de commande",
        "fraudulent_charge": "Facturation frauduleuse",
        "other": "Autre",
    },
    "de": {
        "duplicated_charge": "Doppelte Belastung",
        "product_unsatisfactory": "Produkt unbefriedigend",
        "order_change": "Bestellungsänderung",
        "order_cancellation": "Stornierung",
        "fraudulent_charge": "Betrügerische Belastung",
        "other": "Sonstiges",
    },
    "es": {
        "duplicated_charge": "Cargo duplicado",
        "product_unsatisfactory": "Producto insatisfactorio",
        "order_change": "Cambio de pedido",
        "order_cancellation": "Cancelación de pedido",
        "fraudulent_charge": "Cargo fraudulento",
        "other": "Otro",
    },
}


def document_locale(customer_locale: str | None, organization_locale: str | None) -> str:
    """The customer's locale, else the organization's, else ``en``."""
    return customer_locale or organization_locale or "en"


@dataclass(frozen=True)
class Words:
    """Labels and number formats of one document (locale and currency)."""

    locale: str
    currency: str

    @property
    def babel_locale(self) -> Locale:
        try:
            return Locale.parse(self.locale.replace("-", "_"))
        except (UnknownLocaleError, ValueError):
            return Locale.parse("en")

    def __getitem__(self, label: str) -> str:
        language = self.locale.split("-")[0]
        return CATALOG.get(language, CATALOG["en"]).get(label, CATALOG["en"][label])

    def reason(self, reason: str) -> str:
        language = self.locale.split("-")[0]
        return REASONS.get(language, REASONS["en"]).get(reason, reason)

    def cents(self, amount_cents: int | Decimal) -> str:
        """An amount in minor units (``123456`` EUR → ``€1,234.56`` in en)."""
        return self.money(Decimal(amount_cents).scaleb(-exponent(self.currency)))

    def money(self, amount: Decimal) -> str:
        """An amount in major units, with the currency's decimals."""
        return format_currency(amount, self.currency, locale=self.babel_locale)

    def price(self, amount: Decimal) -> str:
        """A unit price: the currency's decimals at least, more when it has them (``€0.00015``)."""
        return format_currency(amount, self.currency, locale=self.babel_locale, decimal_quantization=False)

    def number(self, value: Decimal) -> str:
        return format_decimal(value, locale=self.babel_locale, decimal_quantization=False)

    def percent(self, rate: Decimal | float) -> str:
        """A tax rate in percent (``20`` → ``20%``, ``fr``: ``20 %``)."""
        return format_percent(Decimal(str(rate)) / 100, locale=self.babel_locale, decimal_quantization=False)

    def date(self, value: date) -> str:
        return format_date(value, format="medium", locale=self.babel_locale)
