"""``paypal-server-sdk`` wired for one call: base URL, OAuth client-credentials token, timeout, no
retries, errors translated to :class:`ProviderError`.

The SDK (APIMatic-generated) takes its base URI from ``Configuration.get_base_uri``: a subclass answers
``ctx.api_base_url`` when set. The OAuth token comes from ``POST /v1/oauth2/token`` (basic auth of the
client id and secret) through the SDK's ``o_auth_token_provider`` hook, cached in the integration's
secrets (``access_token``, ``access_token_expires_at``) through ``ctx.secret_updates``. The webhook
verification endpoint is not in the SDK: it is called through the SDK's own request builder.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import requests
from apimatic_core.authentication.multiple.single_auth import Single
from apimatic_core.exceptions.auth_validation_exception import AuthValidationException
from apimatic_core.request_builder import RequestBuilder
from apimatic_core.response_handler import ResponseHandler
from apimatic_core.types.parameter import Parameter
from paypalserversdk.configuration import Configuration, Environment, Server
from paypalserversdk.controllers.base_controller import BaseController
from paypalserversdk.exceptions.api_exception import ApiException
from paypalserversdk.http.auth.o_auth_2 import ClientCredentialsAuthCredentials
from paypalserversdk.http.http_method_enum import HttpMethodEnum
from paypalserversdk.models.o_auth_token import OAuthToken
from paypalserversdk.paypal_serversdk_client import PaypalServersdkClient

from billow.providers.interface import ProviderContext, ProviderError
from billow.providers.paypal.mapping import error_code

#: A cached token is not used in its last minute.
TOKEN_MARGIN_SECONDS = 60


class _Configuration(Configuration):
    """The SDK's configuration sending every call to ``base_uri``."""

    def __init__(self, base_uri: str | None, **kwargs: Any) -> None:
        self._billow_base_uri = base_uri
        super().__init__(**kwargs)

    def get_base_uri(self, server: Any = Server.DEFAULT) -> str:
        if self._billow_base_uri:
            return self._billow_base_uri.rstrip("/")
        return str(super().get_base_uri(server))


class _NotificationsController(BaseController):
    """``POST /v1/notifications/verify-webhook-signature`` (not generated in the SDK)."""

    def verify_webhook_signature(self, body: str) -> Any:
        return (
            super()
            .new_api_call_builder.request(
                RequestBuilder()
                .server(Server.DEFAULT)
                .path("/v1/notifications/verify-webhook-signature")
                .http_method(HttpMethodEnum.POST)
                .header_param(Parameter().key("Content-Type").value("application/json"))
                .header_param(Parameter().key("accept").value("application/json"))
                .body_param(Parameter().value(body))
                .auth(Single("Oauth2"))
            )
            .response(ResponseHandler().is_api_response(True).local_error("default", "error", ApiException))
            .execute()
        )


def environment(ctx: ProviderContext) -> Any:
    return Environment.SANDBOX if ctx.settings.get("environment") == "sandbox" else Environment.PRODUCTION


def _cached_token(ctx: ProviderContext) -> OAuthToken | None:
    secrets = {**ctx.secrets, **ctx.secret_updates}
    token, expires_at = secrets.get("access_token"), secrets.get("access_token_expires_at")
    if not token or not expires_at:
        return None
    try:
        expiry = int(expires_at)
    except ValueError:
        return None
    if expiry - TOKEN_MARGIN_SECONDS <= time.time():
        return None
    return OAuthToken(access_token=token, token_type="Bearer", expiry=expiry)


class PayPalClient:
    """One SDK client per provider call (the context carries the credentials)."""

    def __init__(self, ctx: ProviderContext) -> None:
        self.ctx = ctx
        self.token_was_cached = False
        self._build(use_cache=True)

    def _build(self, *, use_cache: bool) -> None:
        ctx = self.ctx

        def provide_token(_last: Any, auth_manager: Any) -> Any:
            cached = _cached_token(ctx) if use_cache else None
            if cached is not None:
                self.token_was_cached = True
                return cached
            self.token_was_cached = False
            token = auth_manager.fetch_token()
            expiry = int(time.time()) + int(getattr(token, "expires_in", 0) or 0)
            ctx.secret_updates["access_token"] = str(token.access_token)
            ctx.secret_updates["access_token_expires_at"] = str(expiry)
            return OAuthToken(access_token=token.access_token, token_type="Bearer", expiry=expiry)

        credentials = ClientCredentialsAuthCredentials(
            o_auth_client_id=ctx.secrets.get("client_id", ""),
            o_auth_client_secret=ctx.secrets.get("client_secret", ""),
            o_auth_token_provider=provide_token,
        )
        config = _Configuration(
            ctx.api_base_url,
            timeout=ctx.timeout,
            max_retries=0,  # the framework retries, never the SDK
            environment=environment(ctx),
            client_credentials_auth_credentials=credentials,
        )
        self.sdk = PaypalServersdkClient(config=config)
        self.notifications = _NotificationsController(self.sdk.global_configuration)

    def call(self, operation: Callable[..., Any], options: dict[str, Any]) -> dict[str, Any]:
        """Run one SDK operation (``operation(sdk)`` gives the bound method); its JSON answer as a dict.

        A cached token PayPal refuses (401: revoked, other credentials) is replaced once by a new one."""
        try:
            with translate_errors():
                response = operation(self)(options)
        except ProviderError as exc:
            if exc.http_status != 401 or not self.token_was_cached:
                raise
            self._build(use_cache=False)
            with translate_errors():
                response = operation(self)(options)
        text = getattr(response, "text", None) or "{}"
        return dict(json.loads(text))

    def create_order(self, body: dict[str, Any], request_id: str) -> dict[str, Any]:
        return self.call(
            lambda c: c.sdk.orders.create_order,
            {"body": json.dumps(body), "paypal_request_id": request_id, "prefer": "return=representation"},
        )

    def capture_order(self, order_id: str, request_id: str) -> dict[str, Any]:
        return self.call(
            lambda c: c.sdk.orders.capture_order,
            {"id": order_id, "paypal_request_id": request_id, "prefer": "return=representation"},
        )

    def get_order(self, order_id: str) -> dict[str, Any]:
        return self.call(lambda c: c.sdk.orders.get_order, {"id": order_id})

    def refund_capture(self, capture_id: str, body: dict[str, Any], request_id: str) -> dict[str, Any]:
        return self.call(
            lambda c: c.sdk.payments.refund_captured_payment,
            {
                "capture_id": capture_id,
                "body": json.dumps(body),
                "paypal_request_id": request_id,
                "prefer": "return=representation",
            },
        )

    def list_payment_tokens(self, customer_id: str) -> dict[str, Any]:
        return self.call(
            lambda c: c.sdk.vault.list_customer_payment_tokens, {"customer_id": customer_id, "page_size": 50}
        )

    def verify_webhook_signature(self, fields: dict[str, str], raw_event: bytes) -> dict[str, Any]:
        # The event goes out byte for byte as received: PayPal checks a CRC32 of it.
        head = json.dumps(fields)[:-1]
        body = f'{head}, "webhook_event": {raw_event.decode()}}}'
        return self.call(lambda c: lambda _options: c.notifications.verify_webhook_signature(body), {})


@contextmanager
def translate_errors() -> Iterator[None]:
    try:
        yield
    except ApiException as exc:
        status = int(exc.response_code)
        try:
            body = json.loads(exc.response.text or "null")
        except ValueError:
            body = None
        message = body.get("message") or body.get("error_description") if isinstance(body, dict) else None
        raise ProviderError(
            str(message or f"PayPal answered {status}"),
            code=error_code(status, body),
            retryable=status >= 500 or status == 429,
            http_status=status,
            details={"debug_id": body.get("debug_id")} if isinstance(body, dict) else None,
        ) from exc
    except AuthValidationException as exc:
        raise ProviderError("PayPal gave no access token", code="invalid_client") from exc
    except requests.Timeout as exc:
        raise ProviderError("PayPal did not answer in time", code="timeout", retryable=True) from exc
    except requests.ConnectionError as exc:
        raise ProviderError("PayPal could not be reached", code="connection_error", retryable=True) from exc
