"""``gocardless-pro`` wired for one call: base URL, timeout, no SDK retries, errors translated.

``gocardless_pro.Client(access_token=, environment=, base_url=ctx.api_base_url, timeout=ctx.timeout)``;
each service the client hands out retries network errors 3 times by default: :meth:`GoCardlessClient.
service` sets ``max_network_retries`` to one attempt. An idempotent creation that conflicts (409
``idempotent_creation_conflict``) is answered by the SDK itself with the conflicting resource.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import gocardless_pro
import requests
from gocardless_pro import errors

from billow.providers.gocardless.mapping import error_code
from billow.providers.interface import ProviderContext, ProviderError


class GoCardlessClient:
    def __init__(self, ctx: ProviderContext) -> None:
        environment = "sandbox" if ctx.settings.get("environment") == "sandbox" else "live"
        self.client = gocardless_pro.Client(
            access_token=ctx.secrets.get("access_token", ""),
            environment=environment,
            base_url=ctx.api_base_url.rstrip("/") if ctx.api_base_url else None,
            timeout=ctx.timeout,
        )

    def service(self, name: str) -> Any:
        service = getattr(self.client, name)
        service.max_network_retries = 1  # one attempt: the framework retries, never the SDK
        service.retry_delay_in_seconds = 0
        return service

    def call(self, name: str, method: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """``service.method(*args, **kwargs)``; the resource's attributes."""
        with translate_errors():
            resource = getattr(self.service(name), method)(*args, **kwargs)
        return dict(resource.attributes)

    def list(self, name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        with translate_errors():
            page = self.service(name).list(params=params)
        return [dict(record.attributes) for record in page.records]


@contextmanager
def translate_errors() -> Iterator[None]:
    try:
        yield
    except errors.ApiError as exc:
        status = int(exc.code or 0)
        raise ProviderError(
            str(exc.message or exc),
            code=error_code(exc.error),
            retryable=status >= 500 or status == 429,
            http_status=status or None,
            details={"request_id": exc.request_id, "errors": exc.errors or []},
        ) from exc
    except errors.MalformedResponseError as exc:
        status = exc.status_code
        raise ProviderError(
            "GoCardless answered something that is not its JSON",
            code=f"http_{status}" if status else "malformed_response",
            retryable=status is None or status >= 500 or status == 429,
            http_status=status,
        ) from exc
    except requests.Timeout as exc:
        raise ProviderError("GoCardless did not answer in time", code="timeout", retryable=True) from exc
    except requests.ConnectionError as exc:
        raise ProviderError(
            "GoCardless could not be reached", code="connection_error", retryable=True
        ) from exc
    except errors.GoCardlessProError as exc:
        raise ProviderError(str(exc), code="gocardless_error") from exc
