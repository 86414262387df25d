"""parse_webhook: Stripe's signature (t=...,v1=HMAC-SHA256 of "t.body"), then events → InboundEvents."""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from billow.providers.interface import (
    CustomerData,
    InboundEventType,
    PaymentStatus,
    ProviderContext,
    ProviderError,
    WebhookSignatureInvalid,
)
from billow.providers.stripe import StripeProvider
from tests.fixtures.standins.stripe import FakeStripe
from tests.providers.stripe.conftest import ORGANIZATION_ID, payable


def _paid(
    stripe_api: FakeStripe, provider: StripeProvider, ctx: ProviderContext, customer: CustomerData, kind: str
) -> dict[str, Any]:
    stripe_api.attach_card(customer.provider_customer_id or "", kind, default=True)
    result = provider.create_payment(ctx, payable(customer), "k")
    return stripe_api.payment_intents[result.provider_payment_id]


def test_a_succeeded_payment_intent(
    stripe_api: FakeStripe, provider: StripeProvider, ctx: ProviderContext, stripe_customer: CustomerData
) -> None:
    intent = _paid(stripe_api, provider, ctx, stripe_customer, "visa")
    headers, body = stripe_api.signed_webhook("payment_intent.succeeded", intent)

    (event,) = provider.parse_webhook(ctx, headers, body)

    assert event.type is InboundEventType.PAYMENT_UPDATED
    assert event.provider_event_type == "payment_intent.succeeded"
    assert event.event_id.startswith("evt_")
    assert event.occurred_at is not None and event.occurred_at.tzinfo is UTC
    assert event.provider_customer_id == stripe_customer.provider_customer_id
    assert event.payment is not None
    assert (event.payment.provider_payment_id, event.payment.status) == (
        intent["id"],
        PaymentStatus.SUCCEEDED,
    )
    assert (event.payment.amount_cents, event.payment.currency) == (1050, "EUR")
    assert event.metadata == {
        "billow_payable_type": "invoice",
        "billow_payable_id": payable(stripe_customer).id,
        "billow_organization_id": ORGANIZATION_ID,
        "billow_customer_id": stripe_customer.id,
    }


@pytest.mark.parametrize(
    ("event_type", "status", "changes"),
    [
        ("payment_intent.processing", PaymentStatus.PROCESSING, {"status": "processing"}),
        ("payment_intent.canceled", PaymentStatus.CANCELED, {"status": "canceled"}),
        (
            "payment_intent.payment_failed",
            PaymentStatus.FAILED,
            {
                "status": "requires_payment_method",
                "last_payment_error": {"code": "card_declined", "message": "no"},
            },
        ),
        (
            "payment_intent.requires_action",
            PaymentStatus.REQUIRES_ACTION,
            {
                "status": "requires_action",
                "next_action": {"type": "redirect_to_url", "redirect_to_url": {"url": "https://3ds"}},
            },
        ),
    ],
)
def test_payment_intent_events(
    stripe_api: FakeStripe,
    provider: StripeProvider,
    ctx: ProviderContext,
    stripe_customer: CustomerData,
    event_type: str,
    status: PaymentStatus,
    changes: dict[str, Any],
) -> None:
    intent = {**_paid(stripe_api, provider, ctx, stripe_customer, "visa"), **changes}
    (event,) = provider.parse_webhook(ctx, *stripe_api.signed_webhook(event_type, intent))
    assert event.type is InboundEventType.PAYMENT_UPDATED
    assert event.payment is not None and event.payment.status is status
    if status is PaymentStatus.FAILED:
        assert event.payment.error_code == "card_declined"
    if status is PaymentStatus.REQUIRES_ACTION:
        assert event.payment.next_action_url == "https://3ds"


@pytest.mark.parametrize(
    "event_type", ["charge.refund.updated", "refund.updated", "refund.created", "refund.failed"]
)
def test_refund_events(
    stripe_api: FakeStripe,
    provider: StripeProvider,
    ctx: ProviderContext,
    stripe_customer: CustomerData,
    event_type: str,
) -> None:
    intent = _paid(stripe_api, provider, ctx, stripe_customer, "visa")
    refunded = provider.refund(ctx, intent["id"], 300, "EUR", "r", {"billow_refund_id": "rf-1"})
    refund = {
        **stripe_api.refunds[refunded.provider_refund_id],
        "status": "failed" if "failed" in event_type else "succeeded",
    }

    (event,) = provider.parse_webhook(ctx, *stripe_api.signed_webhook(event_type, refund))

    assert event.type is InboundEventType.REFUND_UPDATED
    assert event.refund is not None
    assert (event.refund.provider_refund_id, event.refund.amount_cents, event.refund.currency) == (
        refunded.provider_refund_id,
        300,
        "EUR",
    )
    assert event.refund.status == ("failed" if "failed" in event_type else "succeeded")
    assert event.metadata == {"billow_refund_id": "rf-1"}


def test_a_completed_payment_checkout(
    stripe_api: FakeStripe, provider: StripeProvider, ctx: ProviderContext, stripe_customer: CustomerData
) -> None:
    provider.payment_url(ctx, payable(stripe_customer))
    (session_id,) = stripe_api.sessions
    session = stripe_api.complete_checkout(session_id)
    (sent,) = [e for e in stripe_api.events if e["type"] == "checkout.session.completed"]

    (event,) = provider.parse_webhook(ctx, *stripe_api.sign(sent))

    assert event.event_id == sent["id"]
    assert event.type is InboundEventType.PAYMENT_UPDATED
    assert event.payment is not None
    assert (event.payment.provider_payment_id, event.payment.status) == (
        session["payment_intent"],
        PaymentStatus.SUCCEEDED,
    )
    assert event.payment.amount_cents == 1050
    assert event.metadata["billow_payable_id"] == payable(stripe_customer).id
    assert stripe_api.calls("GET", rf"/v1/payment_intents/{session['payment_intent']}")  # its status read


def test_a_completed_setup_checkout(
    stripe_api: FakeStripe, provider: StripeProvider, ctx: ProviderContext, stripe_customer: CustomerData
) -> None:
    provider.checkout_url(ctx, stripe_customer)
    (session_id,) = stripe_api.sessions
    stripe_api.complete_checkout(session_id, "mastercard")
    (sent,) = [e for e in stripe_api.events if e["type"] == "checkout.session.completed"]

    (event,) = provider.parse_webhook(ctx, *stripe_api.sign(sent))

    assert event.type is InboundEventType.PAYMENT_METHOD_UPDATED
    assert event.provider_customer_id == stripe_customer.provider_customer_id
    assert event.payment_method is not None
    assert event.payment_method.method_type == "card"
    assert event.payment_method.details["last4"] == "4444"
    assert event.metadata == {
        "billow_customer_id": stripe_customer.id,
        "billow_organization_id": ORGANIZATION_ID,
    }
    (lookup,) = stripe_api.calls("GET", r"/v1/setup_intents/.*")
    assert lookup.query["expand[0]"] == ["payment_method"]


def test_a_succeeded_setup_intent(
    stripe_api: FakeStripe, provider: StripeProvider, ctx: ProviderContext, stripe_customer: CustomerData
) -> None:
    provider.checkout_url(ctx, stripe_customer)
    (session_id,) = stripe_api.sessions
    stripe_api.complete_checkout(session_id)
    (sent,) = [e for e in stripe_api.events if e["type"] == "setup_intent.succeeded"]

    (event,) = provider.parse_webhook(ctx, *stripe_api.sign(sent))

    assert event.type is InboundEventType.PAYMENT_METHOD_UPDATED
    assert event.payment_method is not None
    assert event.payment_method.provider_method_id == sent["data"]["object"]["payment_method"]
    assert event.payment_method.details["brand"] == "visa"
    assert event.provider_customer_id == stripe_customer.provider_customer_id


def test_an_attached_payment_method(
    stripe_api: FakeStripe, provider: StripeProvider, ctx: ProviderContext, stripe_customer: CustomerData
) -> None:
    card = stripe_api.attach_card(stripe_customer.provider_customer_id or "")
    (event,) = provider.parse_webhook(ctx, *stripe_api.signed_webhook("payment_method.attached", card))
    assert event.type is InboundEventType.PAYMENT_METHOD_UPDATED
    assert event.payment_method is not None and event.payment_method.provider_method_id == card["id"]
    assert event.provider_customer_id == stripe_customer.provider_customer_id
    assert stripe_api.requests[-1].method == "POST"  # no lookup needed


def test_an_updated_customer(
    stripe_api: FakeStripe, provider: StripeProvider, ctx: ProviderContext, stripe_customer: CustomerData
) -> None:
    customer = stripe_api.customers[stripe_customer.provider_customer_id or ""]
    (event,) = provider.parse_webhook(ctx, *stripe_api.signed_webhook("customer.updated", customer))
    assert event.type is InboundEventType.CUSTOMER_UPDATED
    assert event.provider_customer_id == customer["id"]
    assert event.metadata["billow_customer_id"] == stripe_customer.id


def test_other_events_are_ignored(
    stripe_api: FakeStripe, provider: StripeProvider, ctx: ProviderContext
) -> None:
    headers, body = stripe_api.signed_webhook("invoice.paid", {"id": "in_1", "object": "invoice"})
    (event,) = provider.parse_webhook(ctx, headers, body)
    assert event.type is InboundEventType.IGNORED
    assert event.provider_event_type == "invoice.paid"
    assert event.payment is None


def test_the_event_time(stripe_api: FakeStripe, provider: StripeProvider, ctx: ProviderContext) -> None:
    envelope = stripe_api.event("invoice.paid", {"id": "in_1"})
    envelope["created"] = 1765152000  # 2025-12-08T00:00:00Z
    (event,) = provider.parse_webhook(ctx, *stripe_api.sign(envelope))
    assert event.occurred_at == datetime(2025, 12, 8, tzinfo=UTC)


# ------------------------------------------------------------------------------- refused signatures
def _refused(provider: StripeProvider, ctx: ProviderContext, headers: dict[str, str], body: bytes) -> None:
    with pytest.raises(WebhookSignatureInvalid):
        provider.parse_webhook(ctx, headers, body)


def test_a_tampered_body(stripe_api: FakeStripe, provider: StripeProvider, ctx: ProviderContext) -> None:
    headers, body = stripe_api.signed_webhook("payment_intent.succeeded", {"id": "pi_1", "amount": 1050})
    _refused(provider, ctx, headers, body.replace(b"1050", b"9050"))


def test_another_secret(stripe_api: FakeStripe, provider: StripeProvider, ctx: ProviderContext) -> None:
    _refused(
        provider, ctx, *stripe_api.signed_webhook("invoice.paid", {"id": "in_1"}, secret="whsec_someone_else")
    )


def test_a_too_old_timestamp(stripe_api: FakeStripe, provider: StripeProvider, ctx: ProviderContext) -> None:
    old = int(time.time()) - 301  # Stripe's tolerance is 300 s
    _refused(provider, ctx, *stripe_api.signed_webhook("invoice.paid", {"id": "in_1"}, timestamp=old))
    recent = int(time.time()) - 290
    assert provider.parse_webhook(
        ctx, *stripe_api.signed_webhook("invoice.paid", {"id": "in_1"}, timestamp=recent)
    )


@pytest.mark.parametrize(
    "header",
    [None, "", "garbage", "t=abc,v1=00", "t=1700000000", "t=1700000000,v0=deadbeef"],
)
def test_a_missing_or_malformed_header(
    stripe_api: FakeStripe, provider: StripeProvider, ctx: ProviderContext, header: str | None
) -> None:
    _, body = stripe_api.signed_webhook("invoice.paid", {"id": "in_1"})
    _refused(provider, ctx, {} if header is None else {"stripe-signature": header}, body)


def test_a_body_that_is_not_utf8(provider: StripeProvider, ctx: ProviderContext) -> None:
    body = b"\xff\xfe{}"
    now = int(time.time())
    mac = hmac.new(b"whsec_billow_standin_secret", f"{now}.".encode() + body, hashlib.sha256).hexdigest()
    _refused(provider, ctx, {"stripe-signature": f"t={now},v1={mac}"}, body)


def test_a_signed_body_that_is_no_event(provider: StripeProvider, ctx: ProviderContext) -> None:
    body = b'{"hello": "world"}'
    now = int(time.time())
    mac = hmac.new(b"whsec_billow_standin_secret", f"{now}.".encode() + body, hashlib.sha256).hexdigest()
    with pytest.raises(ProviderError) as caught:
        provider.parse_webhook(ctx, {"stripe-signature": f"t={now},v1={mac}"}, body)
    assert (caught.value.code, caught.value.retryable) == ("invalid_payload", False)


def test_one_of_several_signatures_matches(
    stripe_api: FakeStripe, provider: StripeProvider, ctx: ProviderContext
) -> None:
    """During a secret's rotation Stripe sends one v1 signature per secret."""
    headers, body = stripe_api.signed_webhook("invoice.paid", {"id": "in_1"})
    t, v1 = headers["stripe-signature"].split(",")
    rotated = {"stripe-signature": f"{t},v1={'0' * 64},{v1}"}
    assert provider.parse_webhook(ctx, rotated, body)[0].type is InboundEventType.IGNORED


def test_a_lost_dispute(
    stripe_api: FakeStripe, provider: StripeProvider, ctx: ProviderContext, stripe_customer: CustomerData
) -> None:
    intent = _paid(stripe_api, provider, ctx, stripe_customer, "visa")
    dispute = stripe_api.dispute(intent["id"], status="lost", reason="fraudulent")
    headers, body = stripe_api.signed_webhook("charge.dispute.closed", dispute)

    (event,) = provider.parse_webhook(ctx, headers, body)

    assert event.type is InboundEventType.DISPUTE_LOST
    assert event.dispute is not None
    assert (event.dispute.provider_dispute_id, event.dispute.provider_payment_id) == (
        dispute["id"],
        intent["id"],
    )
    assert (event.dispute.status, event.dispute.reason) == ("lost", "fraudulent")
    assert (event.dispute.amount_cents, event.dispute.currency) == (1050, "EUR")


@pytest.mark.parametrize("status", ["won", "warning_closed"])
def test_other_closed_disputes_are_ignored(
    stripe_api: FakeStripe,
    provider: StripeProvider,
    ctx: ProviderContext,
    stripe_customer: CustomerData,
    status: str,
) -> None:
    intent = _paid(stripe_api, provider, ctx, stripe_customer, "visa")
    headers, body = stripe_api.signed_webhook(
        "charge.dispute.closed", stripe_api.dispute(intent["id"], status)
    )

    (event,) = provider.parse_webhook(ctx, headers, body)

    assert (event.type, event.dispute) == (InboundEventType.IGNORED, None)


def test_a_lost_dispute_without_payment_intent_is_ignored(
    stripe_api: FakeStripe, provider: StripeProvider, ctx: ProviderContext, stripe_customer: CustomerData
) -> None:
    intent = _paid(stripe_api, provider, ctx, stripe_customer, "visa")
    dispute = {**stripe_api.dispute(intent["id"]), "payment_intent": None}
    headers, body = stripe_api.signed_webhook("charge.dispute.closed", dispute)

    (event,) = provider.parse_webhook(ctx, headers, body)

    assert event.type is InboundEventType.IGNORED
