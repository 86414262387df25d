"""Payment providers' outcomes, applied in the transaction of :mod:`billow.integrations` that reports
them (the hooks of :mod:`billow.providers.interface`).

* :data:`PAYMENT_RESULT_HOOK` — a provider answered a payment creation: the ``provider`` payment is
  found by (organization, provider, ``provider_payment_id``) or created, and its status moved;
* :data:`PAYMENT_EVENT_HOOK` — a verified inbound event; ``payment.updated`` moves the payment found by
  its provider id, else by the metadata Billow attached (``billow_payable_type``, ``billow_payable_id``);
  other event types are not the business of payments;
* :data:`PAYMENT_FAILED_HOOK` — a payment creation failed for good: the payable becomes ``failed``.

A status moves forwards only (:func:`moves`): ``succeeded`` is final (a late ``processing`` event never
un-pays an invoice) and a ``failed``/``canceled`` payment only moves to ``succeeded``. The same status
again changes nothing, so a replayed result or event is applied once.

What a move does: ``succeeded`` pays the payable (:func:`billow.payments.recording.succeeded`: amounts,
receipt, webhooks); ``failed``/``canceled`` mark it failed (``invoice.payment_failure`` /
``payment_request.payment_failure``); ``requires_action`` announces ``payment.requires_action`` (the
payment's ``next_action``); ``pending``/``processing`` make a failed payable pending again.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from sqlalchemy.orm import Session

from billow.db import utcnow
from billow.models.invoices import Invoice
from billow.models.payments import PayableType, Payment, PaymentRequest, PaymentState, PaymentType
from billow.payments import recording
from billow.payments.repository import payment_repository
from billow.providers.interface import (
    PAYMENT_EVENT_HOOK,
    PAYMENT_FAILED_HOOK,
    PAYMENT_RESULT_HOOK,
    InboundEvent,
    InboundEventType,
    PayableData,
    PaymentResult,
    ProviderError,
)
from billow.webhooks.outbox import emit
from billow.worker.dispatch import hook

log = logging.getLogger(__name__)

FINAL_FAILURES = (PaymentState.FAILED, PaymentState.CANCELED)


def moves(current: str, new: str) -> bool:
    """Whether a payment in ``current`` status takes ``new`` (forwards only; the same status: no)."""
    if new == current or current == PaymentState.SUCCEEDED:
        return False
    if current in FINAL_FAILURES:
        return new == PaymentState.SUCCEEDED
    return True


def payable_of(
    session: Session, organization_id: uuid.UUID, payable_type: str, raw_id: str
) -> Invoice | PaymentRequest | None:
    """The organization's invoice or payment request (``None``: unknown, another organization's)."""
    try:
        payable_id = uuid.UUID(raw_id)
    except ValueError:
        return None
    model: Any = Invoice if payable_type == PayableType.INVOICE else PaymentRequest
    if payable_type not in (PayableType.INVOICE, PayableType.PAYMENT_REQUEST):
        return None
    found = session.get(model, payable_id)
    if found is None or found.organization_id != organization_id:
        return None
    return found


def find_or_create(
    session: Session,
    organization_id: uuid.UUID,
    *,
    provider: str,
    integration_code: str | None,
    result: PaymentResult,
    payable_type: str | None,
    payable_id: str | None,
    provider_customer_id: str | None,
) -> Payment | None:
    payment = payment_repository.by_provider_id(
        session, organization_id, provider, result.provider_payment_id
    )
    if payment is not None:
        return payment
    payable = payable_of(session, organization_id, payable_type or "", payable_id or "")
    if payable is None:
        log.warning(
            "provider %s payment %s: no payable %s %s in organization %s",
            provider,
            result.provider_payment_id,
            payable_type,
            payable_id,
            organization_id,
        )
        return None
    now = utcnow()
    payment = Payment(
        organization_id=organization_id,
        payable_type=payable_type,
        payable_id=payable.id,
        customer_id=payable.customer_id,
        amount_cents=result.amount_cents,
        amount_currency=result.currency.upper(),
        status=PaymentState.PENDING.value,
        payment_type=PaymentType.PROVIDER.value,
        provider=provider,
        integration_code=integration_code,
        provider_payment_id=result.provider_payment_id,
        provider_customer_id=provider_customer_id,
        created_at=now,
        updated_at=now,
    )
    session.add(payment)
    if isinstance(payable, PaymentRequest):
        payable.payment_attempts += 1
    session.flush()
    return payment


def apply_result(session: Session, payment: Payment, result: PaymentResult) -> bool:
    """Move ``payment`` to ``result``'s status and apply what that does; ``False``: nothing to do."""
    new = PaymentState(result.status.value)
    if not moves(payment.status, new):
        return False
    payment.status = new.value
    payment.provider_status = result.provider_status or new.value
    payment.next_action_url = result.next_action_url
    payment.error_code = result.error_code
    payment.error_message = result.error_message
    if result.payment_method is not None:
        payment.provider_payment_method = dict(result.payment_method)
    payment.updated_at = utcnow()
    session.flush()
    if new == PaymentState.SUCCEEDED:
        payment.paid_at = utcnow()
        recording.succeeded(session, payment, strict=False)
    elif new in FINAL_FAILURES:
        recording.failed(
            session,
            payment.payable_type,
            payment.payable_id,
            recording.Failure(
                provider=payment.provider,
                integration_code=payment.integration_code,
                provider_customer_id=payment.provider_customer_id,
                error_code=result.error_code,
                error_message=result.error_message,
            ),
        )
    elif new == PaymentState.REQUIRES_ACTION:
        emit(session, payment.organization_id, "payment.requires_action", "payment", payment.id)
    else:
        recording.pending(session, payment.payable_type, payment.payable_id)
    return True


@hook(PAYMENT_RESULT_HOOK)
def on_payment_result(
    session: Session,
    *,
    organization_id: uuid.UUID | str,
    integration_code: str | None,
    provider: str,
    payable: PayableData,
    result: PaymentResult,
    **_: Any,
) -> bool:
    organization = uuid.UUID(str(organization_id))
    payment = find_or_create(
        session,
        organization,
        provider=provider,
        integration_code=integration_code,
        result=result,
        payable_type=payable.type,
        payable_id=payable.id,
        provider_customer_id=payable.customer.provider_customer_id,
    )
    return payment is not None and apply_result(session, payment, result)


@hook(PAYMENT_EVENT_HOOK)
def on_payment_event(
    session: Session,
    *,
    organization_id: uuid.UUID | str,
    integration_code: str | None,
    provider: str,
    event: InboundEvent,
    **_: Any,
) -> bool:
    if event.type != InboundEventType.PAYMENT_UPDATED or event.payment is None:
        return False
    organization = uuid.UUID(str(organization_id))
    payment = find_or_create(
        session,
        organization,
        provider=provider,
        integration_code=integration_code,
        result=event.payment,
        payable_type=event.metadata.get("billow_payable_type"),
        payable_id=event.metadata.get("billow_payable_id"),
        provider_customer_id=event.provider_customer_id,
    )
    return payment is not None and apply_result(session, payment, event.payment)


@hook(PAYMENT_FAILED_HOOK)
def on_payment_failed(
    session: Session,
    *,
    organization_id: uuid.UUID | str,
    integration_code: str | None,
    provider: str,
    payable: PayableData,
    error: ProviderError,
    **_: Any,
) -> bool:
    organization = uuid.UUID(str(organization_id))
    found = payable_of(session, organization, payable.type, payable.id)
    if found is None:
        log.warning("provider %s failure: no payable %s %s", provider, payable.type, payable.id)
        return False
    return recording.failed(
        session,
        payable.type,
        found.id,
        recording.Failure(
            provider=provider,
            integration_code=integration_code,
            provider_customer_id=payable.customer.provider_customer_id,
            error_code=error.code,
            error_message=error.message,
        ),
    )
