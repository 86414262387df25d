"""Stripe as a payment provider, through the official SDK (``stripe.StripeClient``).

Every call builds a client for the integration's key, pointed at ``ctx.api_base_url`` when set, with
``ctx.timeout`` on each HTTP request and no retry of its own (the framework retries). Stripe's objects are
turned into plain dicts at once and translated by :mod:`billow.providers.stripe.mapping`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import stripe

from billow.providers.interface import (
    CustomerData,
    InboundEvent,
    PayableData,
    PaymentMethodData,
    PaymentProvider,
    PaymentResult,
    ProviderContext,
    ProviderError,
    RefundResult,
    SyncResult,
)
from billow.providers.stripe import mapping, webhooks

SECRET_KEY_PREFIXES = ("sk_test_", "sk_live_", "rk_")
WEBHOOK_SECRET_PREFIX = "whsec_"
_METHOD_TYPE = re.compile(r"[a-z][a-z0-9_]*\Z")
_PAGE = 100


def _plain(obj: Any) -> dict[str, Any]:
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


def _timed_out(exc: BaseException) -> bool:
    """A timeout somewhere in the chain of causes (the SDK wraps its HTTP library's errors)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, TimeoutError) or "timeout" in type(current).__name__.lower():
            return True
        current = current.__cause__ or current.__context__
    return False


def provider_error(exc: stripe.StripeError) -> ProviderError:
    """Stripe's error → Billow's: retryable for 5xx, 429, 409 (a concurrent request), network errors and
    whatever Stripe marks ``Stripe-Should-Retry: true``; the error's own ``code`` otherwise."""
    if isinstance(exc, stripe.APIConnectionError):
        timeout = _timed_out(exc)
        return ProviderError(
            "Stripe did not answer in time" if timeout else "Stripe could not be reached",
            code="timeout" if timeout else "connection_error",
            retryable=True,
        )
    status = exc.http_status
    error = exc.error
    code = (error.code if error is not None else None) or exc.code
    details: dict[str, Any] = {}
    if error is not None:
        for key in ("type", "decline_code", "param", "doc_url"):
            value = getattr(error, key, None)
            if value:
                details[key] = value
    should_retry = (exc.headers or {}).get("stripe-should-retry")
    retryable = status is None or status >= 500 or status in (409, 429)
    if should_retry in ("true", "false"):
        retryable = should_retry == "true"
    if isinstance(exc, stripe.CardError):
        code = code or (error.decline_code if error is not None else None) or "card_error"
    elif isinstance(exc, stripe.IdempotencyError):
        code = "idempotency_error"
    elif isinstance(exc, stripe.RateLimitError):
        code = code or "rate_limit"
    return ProviderError(
        exc.user_message or f"Stripe answered {status}",
        code=code or (f"http_{status}" if status else "stripe_error"),
        retryable=retryable,
        http_status=status,
        details=details,
    )


class StripeProvider(PaymentProvider):
    name = "stripe"
    secret_fields = {"secret_key": True, "webhook_secret": True}
    settings_fields = {"success_redirect_url": False, "payment_method_types": False}

    # ------------------------------------------------------------------ configuration
    def validate(self, settings: Mapping[str, Any], secrets: Mapping[str, str]) -> dict[str, list[str]]:
        errors: dict[str, list[str]] = {}
        key = secrets.get("secret_key")
        if key is not None and not _well_formed(key, SECRET_KEY_PREFIXES):
            errors["secret_key"] = ["value_is_invalid"]
        whsec = secrets.get("webhook_secret")
        if whsec is not None and not _well_formed(whsec, (WEBHOOK_SECRET_PREFIX,)):
            errors["webhook_secret"] = ["value_is_invalid"]
        url = settings.get("success_redirect_url")
        if url is not None and not _is_url(url):
            errors["success_redirect_url"] = ["url_is_invalid"]
        types = settings.get("payment_method_types")
        if types is not None and not (
            isinstance(types, list)
            and types
            and all(isinstance(t, str) and _METHOD_TYPE.match(t) for t in types)
        ):
            errors["payment_method_types"] = ["value_is_invalid"]
        return errors

    # ------------------------------------------------------------------ customers
    def sync_customer(self, ctx: ProviderContext, customer: CustomerData) -> SyncResult:
        with _client(ctx) as client:
            if customer.provider_customer_id:
                params = mapping.customer_params(customer, ctx.organization_id, update=True)
                found = _call(
                    lambda: client.v1.customers.update(customer.provider_customer_id or "", _sdk(params))
                )
            else:
                params = mapping.customer_params(customer, ctx.organization_id, update=False)
                # Stable across retries of one creation; a customer changed in between gets a new key
                # (Stripe refuses a key reused with other parameters).
                digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]
                key = f"billow-customer-{ctx.organization_id}-{ctx.integration_code}-{customer.id}-{digest}"
                found = _call(lambda: client.v1.customers.create(_sdk(params), {"idempotency_key": key}))
        livemode = bool(found.get("livemode"))
        return SyncResult(
            external_id=str(found["id"]),
            external_url=_dashboard(livemode, f"customers/{found['id']}"),
            details={"livemode": livemode},
        )

    # ------------------------------------------------------------------ payments
    def create_payment(
        self, ctx: ProviderContext, payable: PayableData, idempotency_key: str
    ) -> PaymentResult:
        customer_id = _require_customer(payable.customer)
        types = mapping.payment_method_types(ctx.settings)
        with _client(ctx) as client:
            method_id = _payment_method_for(client, customer_id, payable, types)
            try:
                params = mapping.payment_intent_params(
                    payable, ctx.organization_id, customer_id, method_id, types
                )
            except mapping.AmountNotRepresentable as exc:
                raise ProviderError(str(exc), code="invalid_amount") from None
            try:
                intent = _plain(
                    client.v1.payment_intents.create(_sdk(params), {"idempotency_key": idempotency_key})
                )
            except stripe.CardError as exc:
                failed = _error_payment_intent(exc)
                if failed is not None:
                    return mapping.payment_result(failed)
                raise provider_error(exc) from None
            except stripe.StripeError as exc:
                raise provider_error(exc) from None
        return mapping.payment_result(intent)

    def payment_url(self, ctx: ProviderContext, payable: PayableData) -> str:
        types = mapping.payment_method_types(ctx.settings)
        try:
            params = mapping.checkout_payment_params(payable, ctx.organization_id, _success_url(ctx), types)
        except mapping.AmountNotRepresentable as exc:
            raise ProviderError(str(exc), code="invalid_amount") from None
        with _client(ctx) as client:
            session = _call(lambda: client.v1.checkout.sessions.create(_sdk(params)))
        return str(session["url"])

    def checkout_url(self, ctx: ProviderContext, customer: CustomerData) -> str:
        _require_customer(customer)
        types = mapping.payment_method_types(ctx.settings)
        params = mapping.checkout_setup_params(customer, ctx.organization_id, _success_url(ctx), types)
        with _client(ctx) as client:
            session = _call(lambda: client.v1.checkout.sessions.create(_sdk(params)))
        return str(session["url"])

    def payment_methods(self, ctx: ProviderContext, customer: CustomerData) -> list[PaymentMethodData]:
        customer_id = _require_customer(customer)
        with _client(ctx) as client:
            found = _call(lambda: client.v1.customers.retrieve(customer_id))
            default = _default_method(found)
            methods = list(_list_methods(client, customer_id, None))
        return [mapping.payment_method_data(method, default) for method in methods]

    def refund(
        self,
        ctx: ProviderContext,
        provider_payment_id: str,
        amount_cents: int,
        currency: str,
        idempotency_key: str,
        metadata: Mapping[str, str],
    ) -> RefundResult:
        try:
            amount = mapping.to_stripe_amount(amount_cents, currency)
        except mapping.AmountNotRepresentable as exc:
            raise ProviderError(str(exc), code="invalid_amount") from None
        params = {"payment_intent": provider_payment_id, "amount": amount, "metadata": dict(metadata)}
        with _client(ctx) as client:
            refund = _call(
                lambda: client.v1.refunds.create(_sdk(params), {"idempotency_key": idempotency_key})
            )
        return mapping.refund_result(refund)

    # ------------------------------------------------------------------ webhooks
    def parse_webhook(
        self, ctx: ProviderContext, headers: Mapping[str, str], body: bytes
    ) -> list[InboundEvent]:
        event = webhooks.verify(headers, body, ctx.secrets.get("webhook_secret") or "")

        def retrieve(kind: str, object_id: str) -> Mapping[str, Any]:
            with _client(ctx) as client:
                if kind == "payment_intent":
                    return _call(lambda: client.v1.payment_intents.retrieve(object_id))
                if kind == "setup_intent":
                    return _call(
                        lambda: client.v1.setup_intents.retrieve(object_id, {"expand": ["payment_method"]})
                    )
                return _call(lambda: client.v1.payment_methods.retrieve(object_id))

        return [webhooks.translate(event, retrieve)]


# ---------------------------------------------------------------------------------------- helpers
@contextmanager
def _client(ctx: ProviderContext) -> Iterator[stripe.StripeClient]:
    key = ctx.secrets.get("secret_key")
    if not key:
        raise ProviderError("the Stripe secret key is missing", code="missing_secret_key")
    http = stripe.RequestsClient(timeout=ctx.timeout)
    bases: dict[str, str] = {}
    if ctx.api_base_url:
        base = ctx.api_base_url.rstrip("/")
        bases = {"api": base, "connect": base, "files": base, "meter_events": base}
    client = stripe.StripeClient(
        key,
        base_addresses=_sdk(bases),
        max_network_retries=0,
        http_client=http,
    )
    try:
        yield client
    finally:
        http.close()


def _sdk(params: Mapping[str, Any]) -> Any:
    """The SDK types its parameters as TypedDicts; Billow builds them as plain dicts."""
    return params


def _call(request: Callable[[], Any]) -> dict[str, Any]:
    try:
        return _plain(request())
    except stripe.StripeError as exc:
        raise provider_error(exc) from None


def _require_customer(customer: CustomerData) -> str:
    if not customer.provider_customer_id:
        raise ProviderError("the customer has no Stripe customer yet", code="customer_not_synced")
    return customer.provider_customer_id


def _default_method(customer: Mapping[str, Any]) -> str | None:
    settings = customer.get("invoice_settings") or {}
    default = settings.get("default_payment_method")
    if isinstance(default, Mapping):
        default = default.get("id")
    return str(default) if default else None


def _list_methods(
    client: stripe.StripeClient, customer_id: str, kind: str | None
) -> Iterator[dict[str, Any]]:
    params: dict[str, Any] = {"customer": customer_id, "limit": _PAGE}
    if kind:
        params["type"] = kind
    while True:
        page = _call(lambda: client.v1.payment_methods.list(_sdk(params)))  # noqa: B023
        data = page.get("data") or []
        yield from data
        if not page.get("has_more") or not data:
            return
        params = {**params, "starting_after": data[-1]["id"]}


def _payment_method_for(
    client: stripe.StripeClient, customer_id: str, payable: PayableData, types: list[str]
) -> str:
    """The first of the payable's methods, else the customer's default, else its first method of an
    accepted type (cards first when accepted)."""
    if payable.payment_method_ids:
        return payable.payment_method_ids[0]
    default = _default_method(_call(lambda: client.v1.customers.retrieve(customer_id)))
    if default:
        return default
    for kind in types:
        for method in _list_methods(client, customer_id, kind):
            return str(method["id"])
    raise ProviderError("the customer has no payment method at Stripe", code="no_payment_method")


def _error_payment_intent(exc: stripe.CardError) -> dict[str, Any] | None:
    body = exc.json_body if isinstance(exc.json_body, dict) else {}
    intent = (body.get("error") or {}).get("payment_intent")
    return intent if isinstance(intent, dict) and intent.get("id") else None


def _success_url(ctx: ProviderContext) -> str:
    return str(ctx.settings.get("success_redirect_url") or ctx.public_url)


def _dashboard(livemode: bool, path: str) -> str:
    return f"https://dashboard.stripe.com/{'' if livemode else 'test/'}{path}"


def _well_formed(value: object, prefixes: tuple[str, ...]) -> bool:
    return (
        isinstance(value, str)
        and value.startswith(prefixes)
        and len(value) > max(len(p) for p in prefixes if value.startswith(p))
        and not any(c.isspace() for c in value)
    )


def _is_url(value: object) -> bool:
    if not isinstance(value, str) or len(value) > 2048:
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)
