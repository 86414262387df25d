"""A paid ``credit`` invoice settles its wallet purchase (Lago's ``Invoices::UpdateService`` →
``PrepaidCreditJob``), in the transaction of ``PUT /invoices/{id}``: :mod:`billow.invoices` announces the
change with the in-transaction hook :data:`PAYMENT_STATUS_CHANGED` (it does not import wallets) and this
module reacts: ``succeeded`` settles the pending purchase and credits the wallet under its lock;
``failed`` marks it failed.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from billow.invoices.service import PAYMENT_STATUS_CHANGED
from billow.models.invoices import Invoice, InvoiceType
from billow.wallets.transactions import transaction_service
from billow.worker.dispatch import hook


@hook(PAYMENT_STATUS_CHANGED)
def invoice_payment_status_changed(session: Session, invoice: Invoice) -> int:
    if invoice.invoice_type != InvoiceType.CREDIT:
        return 0
    return transaction_service.settle_purchases(session, invoice)
