"""Reactions of wallets to lower domains' changes, in their transaction (in-transaction hooks).

A paid ``credit`` invoice settles its wallet purchase (Lago's ``Invoices::UpdateService`` →
``PrepaidCreditJob``), in the transaction of ``PUT /invoices/{id}``: :mod:`billow.invoices` announces the
change with the in-transaction hook :data:`PAYMENT_STATUS_CHANGED` (it does not import wallets) and this
module reacts: ``succeeded`` settles the pending purchase and credits the wallet under its lock;
``failed`` marks it failed.

A deleted customer's active wallets are terminated (Lago's ``Customers::TerminateRelationsService``).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from billow.customers.service import CUSTOMER_DELETED
from billow.invoices.service import PAYMENT_STATUS_CHANGED
from billow.models.customers import Customer
from billow.models.invoices import Invoice, InvoiceType
from billow.wallets.repository import wallet_repository
from billow.wallets.service import wallet_service
from billow.wallets.transactions import transaction_service
from billow.worker.dispatch import hook


@hook(PAYMENT_STATUS_CHANGED)
def invoice_payment_status_changed(session: Session, invoice: Invoice) -> int:
    if invoice.invoice_type != InvoiceType.CREDIT:
        return 0
    return transaction_service.settle_purchases(session, invoice)


@hook(CUSTOMER_DELETED)
def customer_deleted(session: Session, customer: Customer) -> int:
    wallets = wallet_repository.active_of_customer(session, customer.organization_id, customer.id)
    for wallet in wallets:
        wallet_service.terminate(session, wallet)
    return len(wallets)
