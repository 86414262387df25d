"""The PayPal payment provider (Orders v2 and Payments v2 through ``paypal-server-sdk``).

* ``create_payment``: PayPal has no off-session charge without a saved method: with one
  (``payable.payment_method_ids``: a vaulted PayPal wallet, a ``card:`` vaulted card or a ``B-`` billing
  agreement, else the first token in the customer's vault) an order ``intent=CAPTURE`` is created with that
  ``payment_source`` and captured; without one,
  a non-retryable ``no_payment_method`` (the invoice is then paid through :meth:`payment_url`).
* ``payment_url``: an order whose ``payer-action`` link the customer follows. Once the buyer approved
  it, PayPal sends ``CHECKOUT.ORDER.APPROVED``: :meth:`parse_webhook` captures the order then (PayPal-
  Request-Id derived from the order id, so a replayed event captures once) and reports the capture as
  ``PAYMENT_UPDATED``; the later ``PAYMENT.CAPTURE.COMPLETED`` reports the same capture again.
* ``payment_methods``: the vault's payment tokens of the customer (``provider_customer_id`` is PayPal's vault
  customer id); ``VAULT.PAYMENT-TOKEN.CREATED`` is reported as ``PAYMENT_METHOD_UPDATED``.
* ``provider_payment_id`` is the capture id (what refunds and ``PAYMENT.CAPTURE.*`` name), or the order id
  while no capture exists (an order waiting for the buyer).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any, ClassVar

from billow.providers.interface import (
    CustomerData,
    InboundEvent,
    InboundEventType,
    PayableData,
    PaymentMethodData,
    PaymentProvider,
    PaymentResult,
    PaymentStatus,
    ProviderContext,
    ProviderError,
    RefundResult,
    WebhookSignatureInvalid,
)
from billow.providers.paypal import mapping
from billow.providers.paypal.client import PayPalClient

SIGNATURE_HEADERS = {
    "auth_algo": "paypal-auth-algo",
    "cert_url": "paypal-cert-url",
    "transmission_id": "paypal-transmission-id",
    "transmission_sig": "paypal-transmission-sig",
    "transmission_time": "paypal-transmission-time",
}
CAPTURE_EVENTS = frozenset(
    {
        "PAYMENT.CAPTURE.COMPLETED",
        "PAYMENT.CAPTURE.PENDING",
        "PAYMENT.CAPTURE.DENIED",
        "PAYMENT.CAPTURE.DECLINED",
    }
)


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _request_id(*parts: str) -> str:
    """PayPal-Request-Id: at most 108 characters."""
    return ":".join(parts)[:108]


class PayPalProvider(PaymentProvider):
    name = "paypal"
    #: ``access_token`` / ``access_token_expires_at``: the client-credentials token, cached by the provider
    #: (``ctx.secret_updates``), as the QuickBooks and Xero providers keep theirs.
    secret_fields: ClassVar[Mapping[str, bool]] = {
        "client_id": True,
        "client_secret": True,
        "access_token": False,
        "access_token_expires_at": False,
    }
    settings_fields: ClassVar[Mapping[str, bool]] = {
        "webhook_id": True,
        "environment": False,
        "return_url": False,
    }

    def validate(self, settings: Mapping[str, Any], secrets: Mapping[str, str]) -> dict[str, list[str]]:
        errors: dict[str, list[str]] = {}
        if settings.get("environment") not in (None, "sandbox", "live"):
            errors["environment"] = ["value_is_invalid"]
        webhook_id = settings.get("webhook_id")
        if webhook_id is not None and not (isinstance(webhook_id, str) and webhook_id.isalnum()):
            errors["webhook_id"] = ["value_is_invalid"]
        return_url = settings.get("return_url")
        if return_url is not None and not (
            isinstance(return_url, str) and return_url.startswith(("https://", "http://"))
        ):
            errors["return_url"] = ["value_is_invalid"]
        for name in ("client_id", "client_secret"):
            value = secrets.get(name)
            if value is not None and (not value.strip() or any(c.isspace() for c in value)):
                errors[name] = ["value_is_invalid"]
        return errors

    # ------------------------------------------------------------------------------------ payments
    def create_payment(
        self, ctx: ProviderContext, payable: PayableData, idempotency_key: str
    ) -> PaymentResult:
        client = PayPalClient(ctx)
        method_id = self._method_to_charge(client, payable)
        body = mapping.order_body(ctx.organization_id, payable, return_url=None)
        body["payment_source"] = mapping.payment_source(method_id)
        order = client.create_order(body, _request_id(idempotency_key))
        status = order.get("status")
        if status == "APPROVED":
            order = client.capture_order(str(order["id"]), _request_id(idempotency_key, "capture"))
        capture = mapping.first_capture(order)
        if capture is None:
            return PaymentResult(
                provider_payment_id=str(order["id"]),
                status=mapping.ORDER_STATUSES.get(str(status), PaymentStatus.PENDING),
                amount_cents=payable.amount_cents,
                currency=payable.currency.upper(),
                provider_status=str(status),
                next_action_url=mapping.approve_link(order),
            )
        return self._capture_result(capture, {"type": "paypal", "payment_method_id": method_id})

    def _method_to_charge(self, client: PayPalClient, payable: PayableData) -> str:
        """The first of the payable's methods, else the first token in the customer's vault (Billow keeps
        no method ids: without this, a vaulted customer could never be charged off-session)."""
        if payable.payment_method_ids:
            return payable.payment_method_ids[0]
        vault_customer = payable.customer.provider_customer_id
        if vault_customer:
            tokens = client.list_payment_tokens(vault_customer).get("payment_tokens") or ()
            if tokens:
                return mapping.payment_method(tokens[0]).provider_method_id
        raise ProviderError(
            "PayPal cannot charge a customer without a saved payment method: use the payment URL",
            code="no_payment_method",
        )

    def payment_url(self, ctx: ProviderContext, payable: PayableData) -> str:
        return_url = str(ctx.settings.get("return_url") or ctx.public_url)
        body = mapping.order_body(ctx.organization_id, payable, return_url=return_url)
        # No idempotency key in this call: one derived from the payable and its amount, so that asking
        # twice within PayPal's 6 hours gives the same order.
        request_id = _request_id("billow-order", payable.type, payable.id, str(payable.amount_cents))
        order = PayPalClient(ctx).create_order(body, request_id)
        link = mapping.approve_link(order)
        if link is None:
            raise ProviderError("PayPal returned an order without an approval link", code="no_approve_link")
        return link

    def payment_methods(self, ctx: ProviderContext, customer: CustomerData) -> list[PaymentMethodData]:
        """The customer's vaulted methods (``customer.provider_customer_id``: PayPal's vault customer id)."""
        if not customer.provider_customer_id:
            return []
        answer = PayPalClient(ctx).list_payment_tokens(customer.provider_customer_id)
        methods = [mapping.payment_method(token) for token in answer.get("payment_tokens") or ()]
        return [replace(method, is_default=index == 0) for index, method in enumerate(methods)]

    def refund(
        self,
        ctx: ProviderContext,
        provider_payment_id: str,
        amount_cents: int,
        currency: str,
        idempotency_key: str,
        metadata: Mapping[str, str],
    ) -> RefundResult:
        body: dict[str, Any] = {
            "amount": {
                "value": mapping.to_paypal_value(amount_cents, currency),
                "currency_code": currency.upper(),
            }
        }
        custom_id = mapping.pack_custom_id(metadata)
        if custom_id:
            body["custom_id"] = custom_id
        refund = PayPalClient(ctx).refund_capture(provider_payment_id, body, _request_id(idempotency_key))
        return self._refund_result(refund, amount_cents, currency)

    # ------------------------------------------------------------------------------------ webhooks
    def parse_webhook(
        self, ctx: ProviderContext, headers: Mapping[str, str], body: bytes
    ) -> list[InboundEvent]:
        fields = {name: headers.get(header, "") for name, header in SIGNATURE_HEADERS.items()}
        if not all(fields.values()):
            raise WebhookSignatureInvalid("PayPal transmission headers missing")
        try:
            event = mapping.json_object(body)
        except ValueError as exc:
            raise WebhookSignatureInvalid("not a PayPal event") from exc
        fields["webhook_id"] = str(ctx.settings.get("webhook_id") or "")
        client = PayPalClient(ctx)
        try:
            answer = client.verify_webhook_signature(fields, body)
        except ProviderError as exc:
            if exc.retryable or exc.http_status in (401, 403):
                raise
            raise WebhookSignatureInvalid(f"PayPal refused the verification: {exc.code}") from exc
        if answer.get("verification_status") != "SUCCESS":
            raise WebhookSignatureInvalid("PayPal did not verify the webhook signature")
        return [self._event(client, event)]

    def _event(self, client: PayPalClient, event: Mapping[str, Any]) -> InboundEvent:
        event_type = str(event.get("event_type") or "")
        resource = event.get("resource") or {}
        base: dict[str, Any] = {
            "event_id": str(event["id"]),
            "provider_event_type": event_type,
            "occurred_at": _parse_time(event.get("create_time")),
        }
        if event_type == "CHECKOUT.ORDER.APPROVED":
            order = self._capture_approved(client, str(resource["id"]))
            capture = mapping.first_capture(order)
            if capture is None:
                return InboundEvent(type=InboundEventType.IGNORED, **base)
            payer_id = (order.get("payer") or {}).get("payer_id")
            return InboundEvent(
                type=InboundEventType.PAYMENT_UPDATED,
                provider_customer_id=payer_id,
                payment=self._capture_result(capture, {"type": "paypal"}),
                metadata=mapping.order_metadata(order) or mapping.unpack_custom_id(capture.get("custom_id")),
                **base,
            )
        if event_type in CAPTURE_EVENTS:
            return InboundEvent(
                type=InboundEventType.PAYMENT_UPDATED,
                payment=self._capture_result(resource, {"type": "paypal"}),
                metadata=mapping.unpack_custom_id(resource.get("custom_id")),
                **base,
            )
        if event_type == "PAYMENT.CAPTURE.REFUNDED":
            amount = resource.get("amount") or {}
            currency = str(amount.get("currency_code") or "")
            cents = mapping.from_paypal_value(str(amount.get("value") or "0"), currency) if currency else 0
            return InboundEvent(
                type=InboundEventType.REFUND_UPDATED,
                refund=self._refund_result(resource, cents, currency),
                metadata=mapping.unpack_custom_id(resource.get("custom_id")),
                **base,
            )
        if event_type == "VAULT.PAYMENT-TOKEN.CREATED":
            return InboundEvent(
                type=InboundEventType.PAYMENT_METHOD_UPDATED,
                provider_customer_id=(resource.get("customer") or {}).get("id"),
                payment_method=mapping.payment_method(resource),
                **base,
            )
        return InboundEvent(type=InboundEventType.IGNORED, **base)

    def _capture_approved(self, client: PayPalClient, order_id: str) -> dict[str, Any]:
        try:
            return client.capture_order(order_id, _request_id("billow-capture", order_id))
        except ProviderError as exc:
            if exc.code != "ORDER_ALREADY_CAPTURED":
                raise
            return client.get_order(order_id)

    # ------------------------------------------------------------------------------------ results
    @staticmethod
    def _capture_result(capture: Mapping[str, Any], method: Mapping[str, Any]) -> PaymentResult:
        amount = capture.get("amount") or {}
        currency = str(amount.get("currency_code") or "")
        status = str(capture.get("status") or "")
        payment_status = mapping.capture_status(status)
        reason = (capture.get("status_details") or {}).get("reason")
        return PaymentResult(
            provider_payment_id=str(capture["id"]),
            status=payment_status,
            amount_cents=mapping.from_paypal_value(str(amount.get("value") or "0"), currency),
            currency=currency,
            provider_status=status,
            error_code=str(reason) if reason and payment_status is PaymentStatus.FAILED else None,
            payment_method=dict(method),
        )

    @staticmethod
    def _refund_result(refund: Mapping[str, Any], amount_cents: int, currency: str) -> RefundResult:
        amount = refund.get("amount") or {}
        if amount.get("value") and amount.get("currency_code"):
            currency = str(amount["currency_code"])
            amount_cents = mapping.from_paypal_value(str(amount["value"]), currency)
        return RefundResult(
            provider_refund_id=str(refund["id"]),
            status=mapping.refund_status(refund.get("status")),
            amount_cents=amount_cents,
            currency=currency.upper(),
        )
