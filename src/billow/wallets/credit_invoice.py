"""The ``credit`` invoice of a paid top-up (Lago's ``Invoices::PaidCreditService``): one fee of type
``credit`` (no subscription, no taxes) billing the purchased credits at the wallet's rate, finalized and
numbered at once with the shared numbering (:mod:`billow.invoices.finalization`).

Its payment settles the purchase: when ``PUT /invoices/{id}`` sets ``payment_status`` to ``succeeded``
the pending transaction is settled and the wallet credited (:mod:`billow.wallets.settlement`).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from billow.invoices import finalization, numbering
from billow.kit.time import local_date
from billow.models.customers import Customer
from billow.models.invoices import Fee, FeeType, Invoice, InvoiceStatus, InvoiceType, PaymentStatus
from billow.models.organizations import Organization
from billow.models.wallets import Wallet, WalletTransaction


def write_credit_invoice(
    session: Session,
    *,
    organization: Organization,
    customer: Customer,
    wallet: Wallet,
    transaction: WalletTransaction,
    now: datetime,
) -> Invoice:
    cents = transaction.amount_cents
    invoice = Invoice(
        organization_id=organization.id,
        customer_id=customer.id,
        number=numbering.draft_number(organization),
        invoice_type=InvoiceType.CREDIT,
        status=InvoiceStatus.DRAFT,
        payment_status=PaymentStatus.PENDING,
        currency=wallet.currency,
        fees_amount_cents=cents,
        taxes_amount_cents=0,
        sub_total_excluding_taxes_amount_cents=cents,
        sub_total_including_taxes_amount_cents=cents,
        total_amount_cents=cents,
    )
    timezone = customer.applicable_timezone(organization)
    finalization.set_issuing_date(invoice, local_date(now, timezone), customer, organization)
    session.add(invoice)
    session.flush()
    session.add(
        Fee(
            organization_id=organization.id,
            invoice_id=invoice.id,
            customer_id=customer.id,
            fee_type=FeeType.CREDIT,
            units=transaction.credit_amount,
            total_aggregated_units=transaction.credit_amount,
            events_count=0,
            amount_cents=cents,
            precise_amount_cents=Decimal(cents),
            amount_currency=wallet.currency,
            unit_amount=wallet.rate_amount,
            invoice_display_name=transaction.name,
            payment_status=PaymentStatus.PENDING,
            invoiceable_id=transaction.id,
        )
    )
    session.flush()
    finalization.apply_final_status(session, invoice, organization, customer, at=now)
    session.flush()
    return invoice
