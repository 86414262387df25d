"""A credit note's refund at the customer's payment provider: its ``refund_status`` follows the
provider's answer to the refund job (:func:`refund_settled`, called by the integrations framework) and
the provider's later refund events (``InboundEventType.REFUND_UPDATED``, heard through
``PAYMENT_EVENT_HOOK``: Stripe's ``refund.updated``/``charge.refund.updated``, GoCardless's ``refunds``
events, PayPal's ``PAYMENT.CAPTURE.REFUNDED``).

The note is found by the provider's refund id (recorded as the ``refund`` resource of the note when the
job succeeded) or else by the ``billow_credit_note_id`` Billow attached to the refund, always within the
event's organization. ``pending`` changes nothing; ``succeeded`` and ``failed`` move the status, never
back from ``succeeded``. A refund that fails announces Lago's ``credit_note.refund_failure``
(``credit_note_payment_provider_refund_error``) once: a replayed or repeated failure changes nothing."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from billow.credit_notes.repository import credit_note_repository as repository
from billow.db import utcnow
from billow.models.credit_notes import CreditNote, RefundStatus
from billow.models.customers import Customer
from billow.providers.interface import PAYMENT_EVENT_HOOK, InboundEvent, InboundEventType
from billow.webhooks.outbox import emit
from billow.worker.dispatch import hook

REFUND_FAILURE_WEBHOOK = "credit_note.refund_failure"
REFUND_FAILURE_OBJECT = "credit_note_payment_provider_refund_error"


def refund_settled(
    session: Session,
    organization_id: uuid.UUID,
    credit_note_id: uuid.UUID,
    status: str,
    *,
    provider: str | None = None,
    provider_code: str | None = None,
    error: dict[str, Any] | None = None,
) -> bool:
    """A payment provider refunded (``succeeded``) or refused (``failed``) a credit note's refund amount:
    its ``refund_status`` follows (``refunded_at`` set once succeeded); a new failure is announced
    (``credit_note.refund_failure``). A ``pending`` refund, a note of another organization, a note
    without a refund or a status it already has change nothing; a succeeded refund stays so. Whether
    the note changed."""
    if status not in (RefundStatus.SUCCEEDED, RefundStatus.FAILED):
        return False
    note = session.get(CreditNote, credit_note_id)
    if note is None or note.organization_id != organization_id or note.refund_status is None:
        return False
    if note.refund_status in (RefundStatus.SUCCEEDED, status):
        return False
    note.refund_status = status
    if status == RefundStatus.SUCCEEDED:
        note.refunded_at = utcnow()
    else:
        emit(
            session,
            organization_id,
            REFUND_FAILURE_WEBHOOK,
            REFUND_FAILURE_OBJECT,
            payload=failure_payload(session, note, provider, provider_code, error),
        )
    return True


def failure_payload(
    session: Session,
    note: CreditNote,
    provider: str | None,
    provider_code: str | None,
    error: dict[str, Any] | None,
) -> dict[str, Any]:
    """Lago's ``CreditNotePaymentProviderRefundError``."""
    customer = session.get(Customer, note.customer_id)
    return {
        "lago_credit_note_id": str(note.id),
        "lago_customer_id": str(note.customer_id),
        "external_customer_id": customer.external_id if customer is not None else None,
        "provider_customer_id": customer.provider_customer_id if customer is not None else None,
        "payment_provider": provider or (customer.payment_provider if customer is not None else None),
        "payment_provider_code": provider_code
        or (customer.payment_provider_code if customer is not None else None),
        "provider_error": error or {"message": "the refund failed at the payment provider"},
    }


def refunded_note_id(
    session: Session,
    organization_id: uuid.UUID,
    integration_code: str | None,
    provider_refund_id: str,
    metadata: dict[str, str],
) -> uuid.UUID | None:
    """The credit note a provider's refund is for: by the refund's id recorded for the integration, else
    by the ``billow_credit_note_id`` Billow attached to it (of this organization)."""
    recorded = repository.note_of_refund(session, organization_id, integration_code, provider_refund_id)
    if recorded is not None:
        return recorded
    claimed = metadata.get("billow_credit_note_id")
    if not claimed or metadata.get("billow_organization_id", str(organization_id)) != str(organization_id):
        return None
    try:
        wanted = uuid.UUID(claimed)
    except ValueError:
        return None
    note = repository.by_id(session, organization_id, wanted)
    return note.id if note is not None else None


@hook(PAYMENT_EVENT_HOOK)
def on_refund_updated(
    session: Session,
    *,
    organization_id: uuid.UUID | str,
    integration_code: str | None = None,
    provider: str,
    event: InboundEvent,
    **_: Any,
) -> int:
    """A provider's refund event; 1 when a credit note changed."""
    if event.type != InboundEventType.REFUND_UPDATED or event.refund is None:
        return 0
    organization = uuid.UUID(str(organization_id))
    refund = event.refund
    note_id = refunded_note_id(
        session, organization, integration_code, refund.provider_refund_id, dict(event.metadata)
    )
    if note_id is None:
        return 0
    error = {
        "message": f"refund {refund.provider_refund_id} failed",
        "error_code": event.provider_event_type,
        "provider_refund_id": refund.provider_refund_id,
    }
    changed = refund_settled(
        session,
        organization,
        note_id,
        refund.status,
        provider=provider,
        provider_code=integration_code,
        error=error,
    )
    return int(changed)
