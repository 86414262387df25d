"""A Billow provider for the (fictional) Acme CRM: customers become contacts, subscriptions deals.

It imports only :mod:`billow.providers.interface` and its HTTP client. Everything it needs per
organization comes in the :class:`ProviderContext`: settings, opened secrets, the API's base URL (an
override for sandboxes and tests) and the timeout."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from billow.providers.interface import (
    CrmProvider,
    CustomerData,
    InvoiceData,
    ProviderContext,
    ProviderError,
    SubscriptionData,
    SyncResult,
)

DEFAULT_BASE_URL = "https://api.acmecrm.example"


class AcmeCrm(CrmProvider):
    name = "acme_crm"  # the integration ``type``, and the entry point's name
    secret_fields = {"api_key": True}  # write-only in Billow's API, sealed at rest
    settings_fields = {"workspace": True, "pipeline": False}

    def validate(self, settings: Mapping[str, Any], secrets: Mapping[str, str]) -> dict[str, list[str]]:
        if not str(settings.get("workspace", "")).isidentifier():
            return {"workspace": ["value_is_invalid"]}
        return {}

    # ------------------------------------------------------------------------------------------ calls
    def _send(self, ctx: ProviderContext, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        base = ctx.api_base_url or DEFAULT_BASE_URL
        headers = {
            "Authorization": f"Bearer {ctx.secrets['api_key']}",
            "Acme-Workspace": str(ctx.settings["workspace"]),
        }
        try:
            answer = httpx.request(method, f"{base}{path}", json=body, headers=headers, timeout=ctx.timeout)
        except httpx.TimeoutException as error:
            raise ProviderError("Acme CRM did not answer in time", code="timeout", retryable=True) from error
        except httpx.HTTPError as error:
            raise ProviderError(str(error), code="connection_error", retryable=True) from error
        if answer.status_code >= 400:
            # 5xx and 429: try again later; any other refusal is final (Billow marks the job failed).
            raise ProviderError(
                answer.text[:500],
                code=f"http_{answer.status_code}",
                retryable=answer.status_code >= 500 or answer.status_code == 429,
                http_status=answer.status_code,
            )
        return dict(answer.json())

    def _upsert(self, ctx: ProviderContext, kind: str, known_id: str | None, body: dict[str, Any]) -> SyncResult:
        # Update what Billow says exists (a second sync never creates a second object); else create.
        if known_id:
            found = self._send(ctx, "PATCH", f"/{kind}/{known_id}", body)
        else:
            found = self._send(ctx, "POST", f"/{kind}", body)
        return SyncResult(external_id=str(found["id"]), external_url=found.get("url"))

    # ------------------------------------------------------------------------------- the CRM contract
    def sync_customer(self, ctx: ProviderContext, customer: CustomerData) -> SyncResult:
        body = {"name": customer.name, "email": customer.email, "external_ref": customer.external_id}
        return self._upsert(ctx, "contacts", customer.provider_customer_id, body)

    def sync_subscription(self, ctx: ProviderContext, subscription: SubscriptionData) -> SyncResult:
        body = {
            "title": subscription.name or subscription.plan_name,
            "contact": subscription.customer.provider_customer_id,
            "amount_cents": subscription.plan_amount_cents,
            "currency": subscription.currency,
            "stage": "won" if subscription.status == "active" else subscription.status,
            "pipeline": ctx.settings.get("pipeline"),
        }
        return self._upsert(ctx, "deals", subscription.provider_subscription_id, body)

    def sync_invoice(self, ctx: ProviderContext, invoice: InvoiceData) -> SyncResult:
        body = {
            "contact": invoice.customer.provider_customer_id,
            "number": invoice.number,
            "total_cents": invoice.total_amount_cents,
            "currency": invoice.currency,
        }
        return self._upsert(ctx, "invoices", invoice.provider_invoice_id, body)
