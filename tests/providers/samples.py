"""Hand-built snapshots for the accounting providers' tests, with their arithmetic."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from billow.providers.interface import (
    CreditNoteData,
    CreditNoteLine,
    CustomerData,
    InvoiceData,
    InvoiceLine,
    ItemMapping,
    PaymentData,
    ProviderContext,
)


def context(
    base_url: str, secrets: dict[str, str], settings: dict[str, str], timeout: float = 5.0
) -> ProviderContext:
    return ProviderContext(
        organization_id="org-1",
        integration_code="books",
        settings=settings,
        secrets=secrets,
        public_url="https://billow.example",
        webhook_url="https://billow.example/webhooks/books",
        api_base_url=base_url,
        timeout=timeout,
    )


def customer(provider_customer_id: str | None = None, name: str = "Acme Corp") -> CustomerData:
    return CustomerData(
        id="cus-lago-1",
        external_id="acme-1",
        name=name,
        legal_name="Acme Corporation",
        email="billing@acme.test, cto@acme.test",
        phone="+33 1 02 03 04 05",
        address_line1="1 rue de la Paix",
        city="Paris",
        zipcode="75002",
        country="FR",
        currency="EUR",
        customer_type="company",
        provider_customer_id=provider_customer_id,
    )


MAPPINGS = {
    "fallback_item": ItemMapping("1", "200", "Services"),
    "coupon": ItemMapping("2", "4900", "Discounts"),
    "credit_note": ItemMapping("3", "4910", "Credit notes"),
    "prepaid_credit": ItemMapping("4", "4920", "Prepaid credits"),
    "tax": ItemMapping("5", "OUTPUT2", "VAT"),
    "account": ItemMapping("6", "090", "Bank"),
}
#: Xero's tax mapping names a tax type.
XERO_MAPPINGS = {**MAPPINGS, "tax": ItemMapping("OUTPUT2", None, "20% (VAT on Income)")}


def invoice(
    provider_customer_id: str | None,
    provider_invoice_id: str | None = None,
    *,
    mapped: bool = True,
    mappings: dict[str, ItemMapping] = MAPPINGS,
) -> InvoiceData:
    """Two fees: 3 seats at 3.50 = 10.50 (1050); 1234 API calls at 0.0125 = 15.425 → 15.43 half-up (1543).
    fees 1050 + 1543 = 2593; coupon 300 (taken on fee-1) → 2293 before taxes; taxes: fee-1
    (1050 - 300) * 20 % = 150, fee-2 1543 * 20 % = 308.6 → 309; 150 + 309 = 459;
    credit notes 100, prepaid credits 52: total 2293 + 459 - 100 - 52 = 2600."""
    plan = ItemMapping("7", "701", "Plan") if mapped else None
    lines = (
        InvoiceLine(
            id="fee-1",
            fee_type="subscription",
            item_code="startup",
            item_name="Startup plan",
            description="Startup plan seats",
            units=Decimal(3),
            unit_amount_cents=Decimal(350),
            amount_cents=1050,
            taxes_amount_cents=150,
            taxes_rate=Decimal(20),
            mapping=plan,
        ),
        InvoiceLine(
            id="fee-2",
            fee_type="charge",
            item_code="api_calls",
            item_name="API calls",
            description="API calls",
            units=Decimal(1234),
            unit_amount_cents=Decimal("1.25"),
            amount_cents=1543,
            taxes_amount_cents=309,
            taxes_rate=Decimal(20),
        ),
    )
    return InvoiceData(
        id="inv-lago-1",
        number="ACM-2026-001",
        invoice_type="subscription",
        status="finalized",
        payment_status="pending",
        currency="EUR",
        issuing_date=date(2026, 12, 1),
        payment_due_date=date(2026, 12, 31),
        customer=customer(provider_customer_id),
        lines=lines,
        fees_amount_cents=2593,
        coupons_amount_cents=300,
        credit_notes_amount_cents=100,
        prepaid_credit_amount_cents=52,
        sub_total_excluding_taxes_amount_cents=2293,
        taxes_amount_cents=459,
        total_amount_cents=2600,
        provider_invoice_id=provider_invoice_id,
        mappings=mappings,
    )


def credit_note(
    provider_customer_id: str | None,
    provider_invoice_id: str | None,
    provider_id: str | None = None,
    mappings: dict[str, ItemMapping] = MAPPINGS,
) -> CreditNoteData:
    """500 credited on fee-1 + 200 taxes (20 % of 1000: 500 + 500 on two lines) → total 1200; all credit."""
    lines = (
        CreditNoteLine("cnl-1", "fee-1", "startup", "Startup plan", 500, ItemMapping("7", "701")),
        CreditNoteLine("cnl-2", "fee-2", "api_calls", "API calls", 500),
    )
    return CreditNoteData(
        id="cn-lago-1",
        number="ACM-2026-001-CN001",
        invoice_id="inv-lago-1",
        invoice_number="ACM-2026-001",
        currency="EUR",
        issuing_date=date(2026, 12, 5),
        reason="other",
        customer=customer(provider_customer_id),
        lines=lines,
        sub_total_excluding_taxes_amount_cents=1000,
        taxes_amount_cents=200,
        total_amount_cents=1200,
        credit_amount_cents=1200,
        refund_amount_cents=0,
        provider_invoice_id=provider_invoice_id,
        provider_credit_note_id=provider_id,
        mappings=mappings,
    )


def payment(
    provider_customer_id: str | None,
    provider_invoice_id: str | None,
    provider_id: str | None = None,
    amount_cents: int = 2600,
) -> PaymentData:
    return PaymentData(
        id="pay-lago-1",
        amount_cents=amount_cents,
        currency="EUR",
        paid_at=datetime(2026, 12, 10, 15, 30, tzinfo=UTC),
        reference="WIRE-77",
        customer=customer(provider_customer_id),
        invoices={"inv-lago-1": provider_invoice_id},
        provider_payment_id=provider_id,
        mappings=MAPPINGS,
    )
