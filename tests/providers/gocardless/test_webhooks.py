"""GoCardless webhooks: ``Webhook-Signature`` (HMAC-SHA256 of the body), one event per ``events[]``."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from billow.providers.gocardless import GoCardlessProvider
from billow.providers.interface import (
    InboundEventType,
    PaymentStatus,
    ProviderContext,
    ProviderError,
    WebhookSignatureInvalid,
)
from tests.fixtures.standins.gocardless import FakeGoCardless
from tests.providers.gocardless.helpers import CUSTOMER, INVOICE, ORG, customer, payable

provider = GoCardlessProvider()
METADATA = {
    "billow_payable_type": "invoice",
    "billow_payable_id": INVOICE,
    "billow_organization_id": ORG,
    "billow_customer_id": CUSTOMER,
}


def _payment(gocardless: FakeGoCardless, ctx: ProviderContext) -> tuple[str, str]:
    cu = gocardless.add_customer(company_name="Acme")
    mandate = gocardless.add_mandate(cu["id"])
    result = provider.create_payment(ctx, payable(customer(cu["id"]), amount_cents=4200), "idem-1")
    return result.provider_payment_id, mandate["id"]


class TestEvents:
    @pytest.mark.parametrize(
        ("action", "status", "expected"),
        [
            ("submitted", "submitted", PaymentStatus.PROCESSING),
            ("confirmed", "confirmed", PaymentStatus.SUCCEEDED),
            ("paid_out", "paid_out", PaymentStatus.SUCCEEDED),
            ("cancelled", "cancelled", PaymentStatus.CANCELED),
            ("charged_back", "charged_back", PaymentStatus.FAILED),
        ],
    )
    def test_payment_events(
        self,
        gocardless: FakeGoCardless,
        ctx: ProviderContext,
        action: str,
        status: str,
        expected: PaymentStatus,
    ) -> None:
        payment_id, _ = _payment(gocardless, ctx)
        gocardless.set_payment_status(payment_id, status)
        sent = gocardless.event("payments", action, {"payment": payment_id})
        (event,) = provider.parse_webhook(ctx, *gocardless.signed_webhook([sent]))
        assert event.event_id == sent["id"] and event.event_id.startswith("EV")
        assert event.type is InboundEventType.PAYMENT_UPDATED
        assert event.provider_event_type == f"payments.{action}"
        assert event.payment is not None
        assert event.payment.provider_payment_id == payment_id
        assert (event.payment.status, event.payment.provider_status) == (expected, status)
        assert (event.payment.amount_cents, event.payment.currency) == (4200, "GBP")  # read back: GET
        assert event.metadata == METADATA
        assert len(gocardless.calls("GET", f"/payments/{payment_id}")) == 1

    def test_a_failed_payment_carries_the_cause(
        self, gocardless: FakeGoCardless, ctx: ProviderContext
    ) -> None:
        payment_id, _ = _payment(gocardless, ctx)
        gocardless.set_payment_status(payment_id, "failed")
        sent = gocardless.event(
            "payments",
            "failed",
            {"payment": payment_id},
            cause="insufficient_funds",
            description="The customer's account had insufficient funds",
        )
        (event,) = provider.parse_webhook(ctx, *gocardless.signed_webhook([sent]))
        assert event.payment is not None
        assert (event.payment.status, event.payment.error_code) == (
            PaymentStatus.FAILED,
            "insufficient_funds",
        )
        assert event.payment.error_message == "The customer's account had insufficient funds"

    def test_several_events_of_all_kinds(self, gocardless: FakeGoCardless, ctx: ProviderContext) -> None:
        payment_id, mandate_id = _payment(gocardless, ctx)
        refund = provider.refund(ctx, payment_id, 1200, "GBP", "refund-1", {"billow_refund_id": "r1"})
        gocardless.refunds[refund.provider_refund_id]["status"] = "paid"
        sent = [
            gocardless.event("mandates", "active", {"mandate": mandate_id}),
            gocardless.event("refunds", "paid", {"refund": refund.provider_refund_id}),
            gocardless.event("mandates", "submitted", {"mandate": mandate_id}),
            gocardless.event("payouts", "paid", {"payout": "PO123"}),
        ]
        events = provider.parse_webhook(ctx, *gocardless.signed_webhook(sent))
        assert [e.event_id for e in events] == [s["id"] for s in sent]
        mandate, refunded, submitted, payout = events

        assert mandate.type is InboundEventType.PAYMENT_METHOD_UPDATED
        assert mandate.payment_method is not None
        assert mandate.payment_method.provider_method_id == mandate_id
        assert mandate.payment_method.method_type == "bacs_debit"
        assert mandate.provider_customer_id == gocardless.mandates[mandate_id]["links"]["customer"]

        assert refunded.type is InboundEventType.REFUND_UPDATED
        assert refunded.refund is not None
        assert refunded.refund.provider_refund_id == refund.provider_refund_id
        assert (refunded.refund.status, refunded.refund.amount_cents) == ("succeeded", 1200)
        assert refunded.metadata == {"billow_refund_id": "r1"}

        assert submitted.type is InboundEventType.IGNORED
        assert (payout.type, payout.provider_event_type) == (InboundEventType.IGNORED, "payouts.paid")


class TestSignature:
    def test_a_bad_signature(self, gocardless: FakeGoCardless, ctx: ProviderContext) -> None:
        headers, body = gocardless.signed_webhook([gocardless.event("payouts", "paid", {"payout": "PO1"})])
        headers["webhook-signature"] = "0" * 64
        with pytest.raises(WebhookSignatureInvalid):
            provider.parse_webhook(ctx, headers, body)

    def test_a_tampered_body(self, gocardless: FakeGoCardless, ctx: ProviderContext) -> None:
        headers, body = gocardless.signed_webhook([gocardless.event("payouts", "paid", {"payout": "PO1"})])
        with pytest.raises(WebhookSignatureInvalid):
            provider.parse_webhook(ctx, headers, body.replace(b"PO1", b"PO2"))

    def test_another_secret(self, gocardless: FakeGoCardless, ctx: ProviderContext) -> None:
        headers, body = gocardless.signed_webhook([gocardless.event("payouts", "paid", {"payout": "PO1"})])
        other = ProviderContext(**{**ctx.__dict__, "secrets": {**ctx.secrets, "webhook_secret": "other"}})
        with pytest.raises(WebhookSignatureInvalid):
            provider.parse_webhook(other, headers, body)

    def test_no_signature_or_no_events(self, gocardless: FakeGoCardless, ctx: ProviderContext) -> None:
        headers, body = gocardless.signed_webhook([])
        with pytest.raises(WebhookSignatureInvalid):
            provider.parse_webhook(ctx, {}, body)
        assert provider.parse_webhook(ctx, headers, body) == []
        unkeyed = ProviderContext(**{**ctx.__dict__, "secrets": {"access_token": "x"}})
        empty_key = hmac.new(b"", body, hashlib.sha256).hexdigest()
        with pytest.raises(WebhookSignatureInvalid):
            provider.parse_webhook(unkeyed, {"webhook-signature": empty_key}, body)
        assert gocardless.requests == []

    def test_reading_the_payment_can_fail_retryably(
        self, gocardless: FakeGoCardless, ctx: ProviderContext
    ) -> None:
        payment_id, _ = _payment(gocardless, ctx)
        gocardless.fail_next(status=503)
        with pytest.raises(ProviderError) as caught:
            provider.parse_webhook(
                ctx,
                *gocardless.signed_webhook(
                    [gocardless.event("payments", "confirmed", {"payment": payment_id})]
                ),
            )
        assert caught.value.retryable
