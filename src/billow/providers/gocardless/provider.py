"""The GoCardless payment provider (``gocardless-pro``).

* ``checkout_url``: a mandate through a Billing Request Flow (``POST /billing_requests`` with a
  ``mandate_request``, then ``POST /billing_request_flows``: its ``authorisation_url``), linked to the
  customer when known; the legacy redirect flow is not used.
* ``payment_url``: GoCardless has no hosted page for an existing payable: a Billing Request with a
  ``payment_request`` and its flow (``Idempotency-Key`` derived from the payable and its amount, so asking
  twice gives the same request).
* ``create_payment``: ``POST /payments`` against the first of ``payment_method_ids`` (mandate ids), else
  the customer's first active mandate; Billow's four ids are packed into GoCardless's three metadata keys
  (``billow_payable`` = ``<type>:<id>``, ``billow_organization_id``, ``billow_customer_id``).
* ``parse_webhook``: ``Webhook-Signature`` checked by ``gocardless_pro.webhooks.parse``; GoCardless signs
  no timestamp (replays are stopped by the events' ids). Events name their resource only, so the
  provider reads it (``GET /payments/{id}``, ``/mandates/{id}``, ``/refunds/{id}``) for amounts, status
  and metadata: a payment's status is its current one at GoCardless, whatever the event's order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any, ClassVar

from gocardless_pro import errors as gc_errors
from gocardless_pro import webhooks

from billow.providers.gocardless import mapping
from billow.providers.gocardless.client import GoCardlessClient
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
    SyncResult,
    WebhookSignatureInvalid,
)

MANDATE_ACTIONS = frozenset({"active", "reinstated"})


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _dashboard(ctx: ProviderContext) -> str:
    sandbox = ctx.settings.get("environment") == "sandbox"
    return "https://manage-sandbox.gocardless.com" if sandbox else "https://manage.gocardless.com"


class GoCardlessProvider(PaymentProvider):
    name = "gocardless"
    secret_fields: ClassVar[Mapping[str, bool]] = {"access_token": True, "webhook_secret": True}
    settings_fields: ClassVar[Mapping[str, bool]] = {"environment": False, "success_redirect_url": False}

    def validate(self, settings: Mapping[str, Any], secrets: Mapping[str, str]) -> dict[str, list[str]]:
        errors: dict[str, list[str]] = {}
        if settings.get("environment") not in (None, "sandbox", "live"):
            errors["environment"] = ["value_is_invalid"]
        url = settings.get("success_redirect_url")
        if url is not None and not (isinstance(url, str) and url.startswith(("https://", "http://"))):
            errors["success_redirect_url"] = ["value_is_invalid"]
        token = secrets.get("access_token")
        if token is not None and (not token.strip() or any(c.isspace() for c in token)):
            errors["access_token"] = ["value_is_invalid"]
        if secrets.get("webhook_secret") is not None and not secrets["webhook_secret"].strip():
            errors["webhook_secret"] = ["value_is_invalid"]
        return errors

    # ----------------------------------------------------------------------------------- customers
    def sync_customer(self, ctx: ProviderContext, customer: CustomerData) -> SyncResult:
        client = GoCardlessClient(ctx)
        body = mapping.customer_body(customer)
        if customer.provider_customer_id:
            found = client.call("customers", "update", customer.provider_customer_id, params=body)
        else:
            headers = {"Idempotency-Key": f"billow-customer-{customer.id}"}
            found = client.call("customers", "create", params=body, headers=headers)
        return SyncResult(
            external_id=str(found["id"]), external_url=f"{_dashboard(ctx)}/customers/{found['id']}"
        )

    def checkout_url(self, ctx: ProviderContext, customer: CustomerData) -> str:
        request: dict[str, Any] = {
            "mandate_request": {"currency": mapping.mandate_currency(customer)},
            "metadata": mapping.pack_metadata(
                {"billow_organization_id": ctx.organization_id, "billow_customer_id": customer.id}
            ),
        }
        if customer.provider_customer_id:
            request["links"] = {"customer": customer.provider_customer_id}
        return self._flow(ctx, request, headers=None)

    def payment_methods(self, ctx: ProviderContext, customer: CustomerData) -> list[PaymentMethodData]:
        if not customer.provider_customer_id:
            return []
        mandates = self._active_mandates(GoCardlessClient(ctx), customer.provider_customer_id)
        return [self._method(mandate, is_default=index == 0) for index, mandate in enumerate(mandates)]

    # ------------------------------------------------------------------------------------ payments
    def create_payment(
        self, ctx: ProviderContext, payable: PayableData, idempotency_key: str
    ) -> PaymentResult:
        currency = mapping.gocardless_currency(payable.currency)
        amount = mapping.gocardless_amount(payable.amount_cents, currency)
        client = GoCardlessClient(ctx)
        mandate = payable.payment_method_ids[0] if payable.payment_method_ids else None
        if mandate is None and payable.customer.provider_customer_id:
            mandates = self._active_mandates(client, payable.customer.provider_customer_id)
            mandate = str(mandates[0]["id"]) if mandates else None
        if mandate is None:
            raise ProviderError("the customer has no active GoCardless mandate", code="no_payment_method")
        params = {
            "amount": amount,
            "currency": currency,
            "description": payable.description[:100],
            "metadata": mapping.pack_metadata(self._payable_metadata(ctx, payable)),
            "links": {"mandate": mandate},
        }
        payment = client.call(
            "payments", "create", params=params, headers={"Idempotency-Key": idempotency_key}
        )
        return self._payment_result(payment)

    def payment_url(self, ctx: ProviderContext, payable: PayableData) -> str:
        currency = mapping.gocardless_currency(payable.currency)
        metadata = mapping.pack_metadata(self._payable_metadata(ctx, payable))
        request: dict[str, Any] = {
            "payment_request": {
                "amount": mapping.gocardless_amount(payable.amount_cents, currency),
                "currency": currency,
                "description": payable.description[:100],
                "metadata": metadata,
            },
            "metadata": metadata,
        }
        if payable.customer.provider_customer_id:
            request["links"] = {"customer": payable.customer.provider_customer_id}
        key = f"billow-payment-url-{payable.type}-{payable.id}-{payable.amount_cents}"
        return self._flow(ctx, request, headers={"Idempotency-Key": key})

    def refund(
        self,
        ctx: ProviderContext,
        provider_payment_id: str,
        amount_cents: int,
        currency: str,
        idempotency_key: str,
        metadata: Mapping[str, str],
    ) -> RefundResult:
        client = GoCardlessClient(ctx)
        payment = client.call("payments", "get", provider_payment_id)
        if str(payment.get("currency")) != currency.upper():
            raise ProviderError("the refund's currency is not the payment's", code="currency_mismatch")
        amount = mapping.gocardless_amount(amount_cents, currency)
        params = {
            "amount": amount,
            # GoCardless's guard against two refunds unaware of each other: the payment's refunded total
            # once this one is made.
            "total_amount_confirmation": int(payment.get("amount_refunded") or 0) + amount,
            "links": {"payment": provider_payment_id},
            "metadata": mapping.pack_metadata(metadata),
        }
        refund = client.call("refunds", "create", params=params, headers={"Idempotency-Key": idempotency_key})
        return self._refund_result(refund)

    # ------------------------------------------------------------------------------------ webhooks
    def parse_webhook(
        self, ctx: ProviderContext, headers: Mapping[str, str], body: bytes
    ) -> list[InboundEvent]:
        signature, secret = headers.get("webhook-signature"), ctx.secrets.get("webhook_secret")
        if not signature or not secret:  # an empty key would verify what anyone signs with it
            raise WebhookSignatureInvalid("Webhook-Signature header or webhook secret missing")
        try:
            events = webhooks.parse(body, secret, signature)
        except gc_errors.InvalidSignatureError as exc:
            raise WebhookSignatureInvalid("GoCardless webhook signature does not verify") from exc
        except (ValueError, KeyError, TypeError) as exc:
            raise WebhookSignatureInvalid("not a GoCardless webhook") from exc
        client = GoCardlessClient(ctx)
        return [self._event(client, dict(event.attributes)) for event in events]

    def _event(self, client: GoCardlessClient, event: Mapping[str, Any]) -> InboundEvent:
        resource_type, action = str(event.get("resource_type")), str(event.get("action"))
        links = event.get("links") or {}
        base: dict[str, Any] = {
            "event_id": str(event["id"]),
            "provider_event_type": f"{resource_type}.{action}",
            "occurred_at": _parse_time(event.get("created_at")),
        }
        if resource_type == "payments" and links.get("payment"):
            payment = client.call("payments", "get", links["payment"])
            result = self._payment_result(payment)
            details = event.get("details") or {}
            if result.status is PaymentStatus.FAILED and details.get("cause"):
                result = replace(
                    result, error_code=str(details["cause"]), error_message=details.get("description")
                )
            return InboundEvent(
                type=InboundEventType.PAYMENT_UPDATED,
                payment=result,
                metadata=mapping.unpack_metadata(payment.get("metadata")),
                **base,
            )
        if resource_type == "mandates" and action in MANDATE_ACTIONS and links.get("mandate"):
            mandate = client.call("mandates", "get", links["mandate"])
            return InboundEvent(
                type=InboundEventType.PAYMENT_METHOD_UPDATED,
                provider_customer_id=(mandate.get("links") or {}).get("customer"),
                payment_method=self._method(mandate, is_default=False),
                metadata=mapping.unpack_metadata(mandate.get("metadata")),
                **base,
            )
        if resource_type == "refunds" and links.get("refund"):
            refund = client.call("refunds", "get", links["refund"])
            return InboundEvent(
                type=InboundEventType.REFUND_UPDATED,
                refund=self._refund_result(refund),
                metadata=mapping.unpack_metadata(refund.get("metadata")),
                **base,
            )
        return InboundEvent(type=InboundEventType.IGNORED, **base)

    # ------------------------------------------------------------------------------------- helpers
    def _flow(self, ctx: ProviderContext, request: dict[str, Any], headers: dict[str, str] | None) -> str:
        client = GoCardlessClient(ctx)
        billing_request = client.call("billing_requests", "create", params=request, headers=headers)
        redirect = str(ctx.settings.get("success_redirect_url") or ctx.public_url)
        flow = client.call(
            "billing_request_flows",
            "create",
            params={
                "redirect_uri": redirect,
                "exit_uri": redirect,
                "links": {"billing_request": billing_request["id"]},
            },
        )
        return str(flow["authorisation_url"])

    @staticmethod
    def _active_mandates(client: GoCardlessClient, customer_id: str) -> list[dict[str, Any]]:
        mandates = client.list("mandates", {"customer": customer_id, "status": "active"})
        return [mandate for mandate in mandates if mandate.get("status") == "active"]

    @staticmethod
    def _method(mandate: Mapping[str, Any], *, is_default: bool) -> PaymentMethodData:
        return PaymentMethodData(
            provider_method_id=str(mandate["id"]),
            method_type=mapping.method_type(mandate.get("scheme")),
            is_default=is_default,
            details={
                "scheme": mandate.get("scheme"),
                "status": mandate.get("status"),
                "reference": mandate.get("reference"),
            },
        )

    @staticmethod
    def _payable_metadata(ctx: ProviderContext, payable: PayableData) -> dict[str, str]:
        return {
            "billow_payable_type": payable.type,
            "billow_payable_id": payable.id,
            "billow_organization_id": ctx.organization_id,
            "billow_customer_id": payable.customer.id,
        }

    @staticmethod
    def _payment_result(payment: Mapping[str, Any]) -> PaymentResult:
        status = str(payment.get("status") or "")
        return PaymentResult(
            provider_payment_id=str(payment["id"]),
            status=mapping.payment_status(status),
            amount_cents=int(payment.get("amount") or 0),
            currency=str(payment.get("currency") or ""),
            provider_status=status,
            payment_method={"type": "mandate", "mandate_id": (payment.get("links") or {}).get("mandate")},
        )

    @staticmethod
    def _refund_result(refund: Mapping[str, Any]) -> RefundResult:
        return RefundResult(
            provider_refund_id=str(refund["id"]),
            status=mapping.refund_status(refund.get("status")),
            amount_cents=int(refund.get("amount") or 0),
            currency=str(refund.get("currency") or ""),
        )
