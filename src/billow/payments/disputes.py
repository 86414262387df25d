"""A provider's lost dispute (``DISPUTE_LOST`` inbound event, e.g. Stripe's ``charge.dispute.closed``
with ``status=lost``), applied in the transaction that records the event: the disputed payment is found
by its provider id, and its invoice (or each invoice of its payment request) is marked as Lago's
``POST /invoices/{id}/lose_dispute`` does (``payment_dispute_lost_at``, ``invoice.payment_dispute_lost``).
A replayed event is not applied twice (the framework records events once; a second loss changes
nothing); an invoice that is not finalized is left alone."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from sqlalchemy.orm import Session

from billow.errors import NotAllowed
from billow.invoices.service import invoice_service
from billow.models.payments import PayableType
from billow.payments import recording
from billow.payments.repository import payment_repository
from billow.providers.interface import PAYMENT_EVENT_HOOK, InboundEvent, InboundEventType
from billow.worker.dispatch import hook

log = logging.getLogger(__name__)


@hook(PAYMENT_EVENT_HOOK)
def on_dispute_lost(
    session: Session,
    *,
    organization_id: uuid.UUID | str,
    provider: str,
    event: InboundEvent,
    **_: Any,
) -> int:
    """The number of invoices marked."""
    if event.type != InboundEventType.DISPUTE_LOST or event.dispute is None:
        return 0
    organization = uuid.UUID(str(organization_id))
    payment = payment_repository.by_provider_id(
        session, organization, provider, event.dispute.provider_payment_id
    )
    if payment is None:
        log.warning("provider %s dispute %s: no payment", provider, event.dispute.provider_dispute_id)
        return 0
    if payment.payable_type == PayableType.INVOICE:
        invoice_ids = [payment.payable_id]
    else:
        found = payment_repository.request_invoices(session, organization, [payment.payable_id])
        invoice_ids = [invoice.id for invoice in found.get(payment.payable_id, [])]
    marked = 0
    for invoice_id in invoice_ids:
        invoice = recording.lock_invoice(session, organization, invoice_id)
        try:
            marked += invoice_service.mark_dispute_lost(session, invoice, at=event.occurred_at)
        except NotAllowed:  # a voided invoice: nothing to mark
            continue
    return marked
