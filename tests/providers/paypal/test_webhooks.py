"""PayPal webhooks: verified by PayPal's API (the stand-in), translated to Billow's events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from billow.providers.interface import (
    InboundEventType,
    PaymentStatus,
    ProviderContext,
    ProviderError,
    WebhookSignatureInvalid,
)
from billow.providers.paypal import PayPalProvider
from tests.fixtures.standins.paypal import FakePayPal
from tests.providers.paypal.helpers import CUSTOMER, INVOICE, ORG, make_ctx, payable

provider = PayPalProvider()
METADATA = {
    "billow_payable_type": "invoice",
    "billow_payable_id": INVOICE,
    "billow_organization_id": ORG,
    "billow_customer_id": CUSTOMER,
}


def _capture(paypal: FakePayPal, ctx: ProviderContext) -> dict:
    result = provider.create_payment(ctx, payable(amount_cents=4200), "idem-1")
    return dict(paypal.captures[result.provider_payment_id])


class TestCaptureEvents:
    def test_completed(self, paypal: FakePayPal, ctx: ProviderContext) -> None:
        capture = _capture(paypal, ctx)
        headers, body = paypal.signed_webhook("PAYMENT.CAPTURE.COMPLETED", capture)
        (event,) = provider.parse_webhook(ctx, headers, body)

        (verify,) = paypal.calls("POST", "/v1/notifications/verify-webhook-signature")
        sent = verify.json()
        assert sent["webhook_id"] == paypal.webhook_id
        assert sent["transmission_id"] == headers["paypal-transmission-id"]
        assert sent["transmission_sig"] == headers["paypal-transmission-sig"]
        assert sent["auth_algo"] == "SHA256withRSA"
        assert verify.body.endswith(body + b"}")  # the event exactly as received
        assert event.type is InboundEventType.PAYMENT_UPDATED
        assert event.event_id.startswith("WH-")
        assert event.provider_event_type == "PAYMENT.CAPTURE.COMPLETED"
        assert event.payment is not None
        assert event.payment.provider_payment_id == capture["id"]
        assert event.payment.status is PaymentStatus.SUCCEEDED
        assert (event.payment.amount_cents, event.payment.currency) == (4200, "EUR")  # "42.00" EUR
        assert event.metadata == METADATA

    @pytest.mark.parametrize(
        ("event_type", "status", "expected"),
        [
            ("PAYMENT.CAPTURE.PENDING", "PENDING", PaymentStatus.PROCESSING),
            ("PAYMENT.CAPTURE.DENIED", "DECLINED", PaymentStatus.FAILED),
            ("PAYMENT.CAPTURE.DECLINED", "DECLINED", PaymentStatus.FAILED),
        ],
    )
    def test_other_outcomes(
        self, paypal: FakePayPal, ctx: ProviderContext, event_type: str, status: str, expected: PaymentStatus
    ) -> None:
        capture = {**_capture(paypal, ctx), "status": status}
        (event,) = provider.parse_webhook(ctx, *paypal.signed_webhook(event_type, capture))
        assert event.payment is not None and event.payment.status is expected
        assert event.payment.provider_status == status

    def test_refunded(self, paypal: FakePayPal, ctx: ProviderContext) -> None:
        capture = _capture(paypal, ctx)
        refund = provider.refund(ctx, capture["id"], 4200, "EUR", "refund-1", {})
        resource = paypal.refunds[refund.provider_refund_id]
        headers, body = paypal.signed_webhook("PAYMENT.CAPTURE.REFUNDED", resource, resource_type="refund")
        (event,) = provider.parse_webhook(ctx, headers, body)
        assert event.type is InboundEventType.REFUND_UPDATED
        assert event.refund is not None
        assert event.refund.provider_refund_id == refund.provider_refund_id
        assert (event.refund.status, event.refund.amount_cents, event.refund.currency) == (
            "succeeded",
            4200,
            "EUR",
        )

    def test_a_vaulted_token(self, paypal: FakePayPal, ctx: ProviderContext) -> None:
        token = paypal.add_payment_token("VAULTCUST1", kind="card")
        headers, body = paypal.signed_webhook(
            "VAULT.PAYMENT-TOKEN.CREATED", token, resource_type="payment_token"
        )
        (event,) = provider.parse_webhook(ctx, headers, body)
        assert event.type is InboundEventType.PAYMENT_METHOD_UPDATED
        assert event.provider_customer_id == "VAULTCUST1"
        assert event.payment_method is not None
        assert (event.payment_method.provider_method_id, event.payment_method.method_type) == (
            f"card:{token['id']}",
            "card",
        )

    def test_other_events_are_ignored(self, paypal: FakePayPal, ctx: ProviderContext) -> None:
        headers, body = paypal.signed_webhook("CUSTOMER.DISPUTE.CREATED", {"dispute_id": "PP-D-1"})
        (event,) = provider.parse_webhook(ctx, headers, body)
        assert event.type is InboundEventType.IGNORED
        assert event.provider_event_type == "CUSTOMER.DISPUTE.CREATED"


class TestOrderApproved:
    def test_the_approved_order_is_captured(self, paypal: FakePayPal, ctx: ProviderContext) -> None:
        provider.payment_url(ctx, payable(amount_cents=1999, methods=()))
        (order_id,) = paypal.orders
        paypal.approve(order_id)
        headers, body = paypal.signed_webhook(
            "CHECKOUT.ORDER.APPROVED", paypal.orders[order_id], resource_type="checkout-order"
        )
        (event,) = provider.parse_webhook(ctx, headers, body)

        (capture_call,) = paypal.calls("POST", f"/v2/checkout/orders/{order_id}/capture")
        assert capture_call.headers["paypal-request-id"] == f"billow-capture:{order_id}"
        (capture_id,) = paypal.captures
        assert event.type is InboundEventType.PAYMENT_UPDATED
        assert event.payment is not None
        assert event.payment.provider_payment_id == capture_id
        assert event.payment.status is PaymentStatus.SUCCEEDED
        assert event.payment.amount_cents == 1999  # "19.99" EUR
        assert event.provider_customer_id == "QYR5Z8XDVJNXQ"
        assert event.metadata == METADATA

        # The same event again (PayPal retries): the same capture, no second one.
        (again,) = provider.parse_webhook(ctx, headers, body)
        assert again.payment == event.payment
        assert len(paypal.captures) == 1

    def test_an_order_captured_elsewhere_is_read(self, paypal: FakePayPal, ctx: ProviderContext) -> None:
        provider.payment_url(ctx, payable(methods=()))
        (order_id,) = paypal.orders
        paypal.approve(order_id)
        resource = dict(paypal.orders[order_id])
        capture = paypal.capture_elsewhere(order_id)
        (event,) = provider.parse_webhook(
            ctx, *paypal.signed_webhook("CHECKOUT.ORDER.APPROVED", resource, resource_type="checkout-order")
        )
        assert event.payment is not None and event.payment.provider_payment_id == capture["id"]
        assert len(paypal.calls("GET", f"/v2/checkout/orders/{order_id}")) == 1


class TestSignature:
    def test_a_bad_signature(self, paypal: FakePayPal, ctx: ProviderContext) -> None:
        headers, body = paypal.signed_webhook("PAYMENT.CAPTURE.COMPLETED", _capture(paypal, ctx))
        headers["paypal-transmission-sig"] = headers["paypal-transmission-sig"][::-1]
        with pytest.raises(WebhookSignatureInvalid):
            provider.parse_webhook(ctx, headers, body)

    def test_a_tampered_body(self, paypal: FakePayPal, ctx: ProviderContext) -> None:
        headers, body = paypal.signed_webhook("PAYMENT.CAPTURE.COMPLETED", _capture(paypal, ctx))
        with pytest.raises(WebhookSignatureInvalid):
            provider.parse_webhook(ctx, headers, body.replace(b'"42.00"', b'"4200.00"'))

    def test_a_too_old_transmission(self, paypal: FakePayPal, ctx: ProviderContext) -> None:
        old = datetime.now(UTC) - timedelta(minutes=10)
        headers, body = paypal.signed_webhook(
            "PAYMENT.CAPTURE.COMPLETED", _capture(paypal, ctx), transmission_time=old
        )
        with pytest.raises(WebhookSignatureInvalid):
            provider.parse_webhook(ctx, headers, body)

    def test_another_webhook_id(self, paypal: FakePayPal) -> None:
        ctx = make_ctx(paypal, settings={"webhook_id": "OTHERWEBHOOK1"})
        headers, body = paypal.signed_webhook("PAYMENT.CAPTURE.COMPLETED", _capture(paypal, ctx))
        with pytest.raises(WebhookSignatureInvalid):
            provider.parse_webhook(ctx, headers, body)

    def test_missing_headers_call_nothing(self, paypal: FakePayPal, ctx: ProviderContext) -> None:
        headers, body = paypal.signed_webhook("PAYMENT.CAPTURE.COMPLETED", {"id": "X"})
        del headers["paypal-transmission-sig"]
        with pytest.raises(WebhookSignatureInvalid):
            provider.parse_webhook(ctx, headers, body)
        with pytest.raises(WebhookSignatureInvalid):
            provider.parse_webhook(ctx, paypal.signed_webhook("X", {})[0], b"not json")
        assert paypal.requests == []

    def test_verification_down_is_retryable_not_invalid(
        self, paypal: FakePayPal, ctx: ProviderContext
    ) -> None:
        headers, body = paypal.signed_webhook("PAYMENT.CAPTURE.COMPLETED", _capture(paypal, ctx))
        paypal.fail_next(status=503)
        with pytest.raises(ProviderError) as caught:
            provider.parse_webhook(ctx, headers, body)
        assert caught.value.retryable
