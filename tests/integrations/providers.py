"""Test providers, registered through a real entry point (``conftest.py``) and speaking HTTP to
:class:`FakeTestPay` / :class:`FakeTestBooks` (local stand-ins): a payment provider (``testpay``), an
accounting one (``testbooks``) and a CRM (``testcrm``)."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

import httpx

from billow.providers.interface import (
    AccountingProvider,
    CreditNoteData,
    CrmProvider,
    CustomerData,
    InboundEvent,
    InboundEventType,
    InvoiceData,
    PayableData,
    PaymentData,
    PaymentMethodData,
    PaymentProvider,
    PaymentResult,
    PaymentStatus,
    ProviderContext,
    ProviderError,
    RefundResult,
    SubscriptionData,
    SyncResult,
    WebhookSignatureInvalid,
)
from tests.fixtures.standin import Request, Response, StandIn


def call(
    ctx: ProviderContext, method: str, path: str, body: Any = None, idempotency_key: str | None = None
) -> Any:
    headers = {"Authorization": f"Bearer {ctx.secrets['api_key']}"}
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    try:
        answer = httpx.request(
            method, f"{ctx.api_base_url}{path}", json=body, headers=headers, timeout=ctx.timeout
        )
    except httpx.TimeoutException as error:
        raise ProviderError(str(error) or "timeout", code="timeout", retryable=True) from error
    except httpx.HTTPError as error:
        raise ProviderError(str(error), code="connection_error", retryable=True) from error
    rotated = answer.headers.get("x-rotated-key")
    if rotated:
        ctx.secret_updates["api_key"] = rotated
    if answer.status_code >= 400:
        payload = answer.json() if answer.content else {}
        error = payload.get("error") or {}
        retryable = answer.status_code >= 500 or answer.status_code == 429
        raise ProviderError(
            error.get("message", f"HTTP {answer.status_code}"),
            code=error.get("code") or f"http_{answer.status_code}",
            retryable=retryable,
            http_status=answer.status_code,
        )
    return answer.json()


def _customer(ctx: ProviderContext, customer: CustomerData, key: str | None = None) -> SyncResult:
    body = {"name": customer.name, "email": customer.email, "billow_id": customer.id}
    if customer.provider_customer_id:
        found = call(ctx, "POST", f"/customers/{customer.provider_customer_id}", body)
    else:
        found = call(ctx, "POST", "/customers", body)
    return SyncResult(found["id"], found.get("url"))


class TestPay(PaymentProvider):
    name = "testpay"
    secret_fields = {"api_key": True, "webhook_secret": False}
    settings_fields = {"statement_descriptor": False}

    def validate(self, settings: Mapping[str, Any], secrets: Mapping[str, str]) -> dict[str, list[str]]:
        if not secrets.get("api_key", "").startswith("sk_"):
            return {"api_key": ["value_is_invalid"]}
        return {}

    def sync_customer(self, ctx: ProviderContext, customer: CustomerData) -> SyncResult:
        return _customer(ctx, customer)

    def create_payment(
        self, ctx: ProviderContext, payable: PayableData, idempotency_key: str
    ) -> PaymentResult:
        found = call(
            ctx,
            "POST",
            "/payments",
            {
                "amount": payable.amount_cents,
                "currency": payable.currency,
                "customer": payable.customer.provider_customer_id,
                "methods": list(payable.payment_method_ids),
                "metadata": {"billow_payable_id": payable.id, "billow_payable_type": payable.type},
            },
            idempotency_key,
        )
        return PaymentResult(
            provider_payment_id=found["id"],
            status=PaymentStatus(found["status"]),
            amount_cents=found["amount"],
            currency=found["currency"],
            provider_status=found["status"],
        )

    def payment_url(self, ctx: ProviderContext, payable: PayableData) -> str:
        found = call(
            ctx, "POST", "/checkout", {"amount": payable.amount_cents, "reference": payable.description}
        )
        return str(found["url"])

    def checkout_url(self, ctx: ProviderContext, customer: CustomerData) -> str:
        found = call(ctx, "POST", "/setup", {"customer": customer.provider_customer_id})
        return str(found["url"])

    def payment_methods(self, ctx: ProviderContext, customer: CustomerData) -> list[PaymentMethodData]:
        found = call(ctx, "GET", f"/customers/{customer.provider_customer_id}/methods")
        return [
            PaymentMethodData(m["id"], m["type"], m.get("default", False), {"last4": m.get("last4")})
            for m in found["data"]
        ]

    def refund(
        self,
        ctx: ProviderContext,
        provider_payment_id: str,
        amount_cents: int,
        currency: str,
        idempotency_key: str,
        metadata: Mapping[str, str],
    ) -> RefundResult:
        found = call(
            ctx, "POST", "/refunds", {"payment": provider_payment_id, "amount": amount_cents}, idempotency_key
        )
        return RefundResult(found["id"], found["status"], amount_cents, currency)

    def parse_webhook(
        self, ctx: ProviderContext, headers: Mapping[str, str], body: bytes
    ) -> list[InboundEvent]:
        expected = sign(ctx.secrets.get("webhook_secret", ""), body)
        if not hmac.compare_digest(headers.get("x-testpay-signature", ""), expected):
            raise WebhookSignatureInvalid("bad signature")
        event = json.loads(body)
        data = event.get("data") or {}
        if event["type"] == "payment.succeeded":
            return [
                InboundEvent(
                    event_id=event["id"],
                    type=InboundEventType.PAYMENT_UPDATED,
                    provider_event_type=event["type"],
                    payment=PaymentResult(
                        data["id"], PaymentStatus.SUCCEEDED, data["amount"], data["currency"]
                    ),
                    metadata=data.get("metadata") or {},
                )
            ]
        if event["type"] == "customer.method_attached":
            return [
                InboundEvent(
                    event_id=event["id"],
                    type=InboundEventType.PAYMENT_METHOD_UPDATED,
                    provider_event_type=event["type"],
                    provider_customer_id=data["customer"],
                    payment_method=PaymentMethodData(data["id"], data["type"]),
                    metadata=data.get("metadata") or {},
                )
            ]
        return [
            InboundEvent(
                event_id=event["id"], type=InboundEventType.IGNORED, provider_event_type=event["type"]
            )
        ]


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class TestBooks(AccountingProvider):
    name = "testbooks"
    secret_fields = {"api_key": True}
    settings_fields = {"tenant": True}

    def sync_customer(self, ctx: ProviderContext, customer: CustomerData) -> SyncResult:
        return _customer(ctx, customer)

    def sync_invoice(self, ctx: ProviderContext, invoice: InvoiceData) -> SyncResult:
        body = {
            "number": invoice.number,
            "customer": invoice.customer.provider_customer_id,
            "total": invoice.total_amount_cents,
            "lines": [
                {"item": line.mapping.external_id if line.mapping else None, "amount": line.amount_cents}
                for line in invoice.lines
            ],
        }
        if invoice.provider_invoice_id:
            found = call(ctx, "POST", f"/invoices/{invoice.provider_invoice_id}", body)
        else:
            found = call(ctx, "POST", "/invoices", body)
        return SyncResult(found["id"])

    def sync_credit_note(self, ctx: ProviderContext, credit_note: CreditNoteData) -> SyncResult:
        found = call(ctx, "POST", "/credit_notes", {"invoice": credit_note.provider_invoice_id})
        return SyncResult(found["id"])

    def sync_payment(self, ctx: ProviderContext, payment: PaymentData) -> SyncResult:
        body = {"amount": payment.amount_cents, "invoices": sorted(i for i in payment.invoices.values() if i)}
        found = call(ctx, "POST", "/payments", body)
        return SyncResult(found["id"])


class TestCrm(CrmProvider):
    name = "testcrm"
    secret_fields = {"api_key": True}

    def sync_customer(self, ctx: ProviderContext, customer: CustomerData) -> SyncResult:
        return _customer(ctx, customer)

    def sync_subscription(self, ctx: ProviderContext, subscription: SubscriptionData) -> SyncResult:
        body = {"name": subscription.external_id, "status": subscription.status}
        if subscription.provider_subscription_id:
            found = call(ctx, "POST", f"/deals/{subscription.provider_subscription_id}", body)
        else:
            found = call(ctx, "POST", "/deals", body)
        return SyncResult(found["id"])

    def sync_invoice(self, ctx: ProviderContext, invoice: InvoiceData) -> SyncResult:
        found = call(ctx, "POST", "/invoices", {"number": invoice.number})
        return SyncResult(found["id"])


class FakeProvider(StandIn):
    """One stand-in for the three test providers: objects by id, idempotency keys honoured."""

    def __init__(self) -> None:
        super().__init__()
        self.objects: dict[str, dict[str, Any]] = {}
        self.by_key: dict[str, dict[str, Any]] = {}
        self.count = 0
        self.rotate_to: str | None = None
        #: What ``GET /customers/{id}/methods`` lists.
        self.listed: list[dict[str, Any]] = [{"id": "pm_1", "type": "card", "default": True, "last4": "4242"}]
        for kind in ("customers", "payments", "refunds", "invoices", "credit_notes", "deals"):
            self.route("POST", rf"/(?P<kind>{kind})", self.create)
            self.route("POST", rf"/(?P<kind>{kind})/(?P<id>[\w-]+)", self.update)
        self.route("POST", r"/checkout", lambda r: Response.json(200, {"url": "https://pay.test/checkout/1"}))
        self.route("POST", r"/setup", lambda r: Response.json(200, {"url": "https://pay.test/setup/1"}))
        self.route("GET", r"/customers/(?P<id>[\w-]+)/methods", self.methods)

    def _answer(self, status: int, payload: dict[str, Any]) -> Response:
        headers = {"x-rotated-key": self.rotate_to} if self.rotate_to else None
        return Response.json(status, payload, headers)

    def create(self, request: Request) -> Response:
        key = request.headers.get("idempotency-key")
        if key and key in self.by_key:
            return self._answer(200, self.by_key[key])
        body = request.json() or {}
        if body.get("amount") == 666:
            return Response.json(
                402, {"error": {"code": "card_declined", "message": "Your card was declined"}}
            )
        self.count += 1
        kind = request.params["kind"]
        obj = {"id": f"{kind[:3]}_{self.count}", "kind": kind, **body}
        if kind == "payments":
            obj["status"] = "succeeded"
        if kind == "refunds":
            obj["status"] = "pending"
        self.objects[obj["id"]] = obj
        if key:
            self.by_key[key] = obj
        return self._answer(200, obj)

    def update(self, request: Request) -> Response:
        obj = self.objects.get(request.params["id"])
        if obj is None:
            return Response.json(404, {"error": {"code": "not_found", "message": "no such object"}})
        obj.update(request.json() or {})
        return self._answer(200, obj)

    def methods(self, request: Request) -> Response:
        return Response.json(200, {"data": self.listed})

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects.values() if o["kind"] == kind]
