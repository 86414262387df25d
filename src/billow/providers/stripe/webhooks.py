"""Stripe's inbound webhooks: the ``Stripe-Signature`` check (the SDK's) and the events' translation.

``Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the whsec_ secret>``; an event
older than :data:`TOLERANCE` seconds is refused (a replayed capture).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from stripe import SignatureVerificationError, WebhookSignature

from billow.providers.interface import (
    DisputeData,
    InboundEvent,
    InboundEventType,
    PaymentMethodData,
    ProviderError,
    WebhookSignatureInvalid,
)
from billow.providers.stripe.mapping import (
    from_stripe_amount,
    payment_method_data,
    payment_result,
    refund_result,
    string_metadata,
)

TOLERANCE = 300

PAYMENT_INTENT_EVENTS = frozenset(
    {
        "payment_intent.succeeded",
        "payment_intent.processing",
        "payment_intent.payment_failed",
        "payment_intent.requires_action",
        "payment_intent.canceled",
    }
)
REFUND_EVENTS = frozenset({"charge.refund.updated", "refund.created", "refund.updated", "refund.failed"})


def verify(headers: Mapping[str, str], body: bytes, secret: str) -> dict[str, Any]:
    """The verified event envelope, or :class:`WebhookSignatureInvalid`."""
    try:
        WebhookSignature.verify_header(body, headers.get("stripe-signature"), secret, TOLERANCE)
    except (SignatureVerificationError, UnicodeDecodeError) as exc:
        raise WebhookSignatureInvalid(str(exc)) from None
    try:
        event = json.loads(body)
    except ValueError:
        raise ProviderError("Stripe webhook body is not JSON", code="invalid_payload") from None
    if not isinstance(event, dict) or event.get("object") != "event" or not event.get("id"):
        raise ProviderError("Stripe webhook body is not an event", code="invalid_payload")
    return event


#: Lookups parse_webhook may need: ``retrieve(kind, id)`` with kind ``payment_intent``,
#: ``payment_method`` or ``setup_intent`` (the latter with its payment method expanded).
Retrieve = Callable[[str, str], Mapping[str, Any]]


def translate(event: Mapping[str, Any], retrieve: Retrieve) -> InboundEvent:
    event_type = str(event.get("type") or "")
    obj = (event.get("data") or {}).get("object") or {}
    base: dict[str, Any] = {
        "event_id": str(event["id"]),
        "provider_event_type": event_type,
        "occurred_at": _instant(event.get("created")),
    }
    if event_type in PAYMENT_INTENT_EVENTS:
        return _payment_event(base, obj, {})
    if event_type in REFUND_EVENTS and obj.get("object") == "refund":
        return InboundEvent(
            **base,
            type=InboundEventType.REFUND_UPDATED,
            refund=refund_result(obj),
            metadata=string_metadata(obj.get("metadata")),
        )
    if event_type == "checkout.session.completed":
        return _checkout_completed(base, obj, retrieve)
    if event_type == "setup_intent.succeeded":
        method = obj.get("payment_method")
        if isinstance(method, str):
            method = retrieve("payment_method", method)
        return _method_event(base, method, obj.get("customer"), obj.get("metadata"))
    if event_type == "payment_method.attached":
        return _method_event(base, obj, obj.get("customer"), None)
    if event_type == "charge.dispute.closed" and obj.get("object") == "dispute":
        return _dispute_event(base, obj)
    if event_type == "customer.updated":
        return InboundEvent(
            **base,
            type=InboundEventType.CUSTOMER_UPDATED,
            provider_customer_id=obj.get("id"),
            metadata=string_metadata(obj.get("metadata")),
        )
    return InboundEvent(**base, type=InboundEventType.IGNORED)


def _payment_event(base: dict[str, Any], intent: Mapping[str, Any], extra: Mapping[str, str]) -> InboundEvent:
    return InboundEvent(
        **base,
        type=InboundEventType.PAYMENT_UPDATED,
        provider_customer_id=_id(intent.get("customer")),
        payment=payment_result(intent),
        metadata={**extra, **string_metadata(intent.get("metadata"))},
    )


def _checkout_completed(base: dict[str, Any], session: Mapping[str, Any], retrieve: Retrieve) -> InboundEvent:
    session_metadata = string_metadata(session.get("metadata"))
    if session.get("mode") == "payment" and session.get("payment_intent"):
        intent = session["payment_intent"]
        if isinstance(intent, str):
            intent = retrieve("payment_intent", intent)
        return _payment_event(base, intent, session_metadata)
    if session.get("mode") == "setup" and session.get("setup_intent"):
        setup = session["setup_intent"]
        if isinstance(setup, str):
            setup = retrieve("setup_intent", setup)
        method = setup.get("payment_method")
        if isinstance(method, str):
            method = retrieve("payment_method", method)
        return _method_event(base, method, session.get("customer"), session_metadata)
    return InboundEvent(**base, type=InboundEventType.IGNORED)


def _method_event(base: dict[str, Any], method: Any, customer: Any, metadata: Any) -> InboundEvent:
    data: PaymentMethodData | None = None
    if isinstance(method, Mapping) and method.get("id"):
        data = payment_method_data(method, None)
        customer = customer or method.get("customer")
    return InboundEvent(
        **base,
        type=InboundEventType.PAYMENT_METHOD_UPDATED,
        provider_customer_id=_id(customer),
        payment_method=data,
        metadata=string_metadata(metadata),
    )


def _dispute_event(base: dict[str, Any], dispute: Mapping[str, Any]) -> InboundEvent:
    """A closed dispute: ``lost`` matters to Billow (the disputed payment is its payment intent); won or
    warning-closed ones are ignored."""
    intent = _id(dispute.get("payment_intent"))
    if dispute.get("status") != "lost" or not dispute.get("id") or intent is None:
        return InboundEvent(**base, type=InboundEventType.IGNORED)
    amount = dispute.get("amount")
    currency = str(dispute.get("currency") or "").upper() or None
    cents = None
    if currency and isinstance(amount, int) and not isinstance(amount, bool):
        cents = from_stripe_amount(amount, currency)
    return InboundEvent(
        **base,
        type=InboundEventType.DISPUTE_LOST,
        dispute=DisputeData(
            provider_dispute_id=str(dispute["id"]),
            provider_payment_id=intent,
            status="lost",
            reason=str(dispute["reason"]) if dispute.get("reason") else None,
            amount_cents=cents,
            currency=currency,
        ),
        metadata=string_metadata(dispute.get("metadata")),
    )


def _id(value: Any) -> str | None:
    if isinstance(value, Mapping):
        value = value.get("id")
    return str(value) if value else None


def _instant(created: Any) -> datetime | None:
    if isinstance(created, int) and not isinstance(created, bool):
        return datetime.fromtimestamp(created, UTC)
    return None
