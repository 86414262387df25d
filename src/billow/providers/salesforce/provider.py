"""Salesforce as a CRM through the official SDK ``simple-salesforce``: customers as Accounts, subscriptions
and invoices as the custom objects ``Billow_Subscription__c`` / ``Billow_Invoice__c`` linked to them.

Every record is upserted by Billow's id in an external id field
(``PATCH /services/data/vXX.X/sobjects/{object}/{field}/{value}``): idempotent by construction, a retry
after a crash updates what the first attempt created. A snapshot carrying Salesforce's record Id (a
previous sync, or the CRM telling Billow which Account is the customer: Lago's ``sync_salesforce_id``)
updates that record by Id instead; an Account linked that way gets Billow's id in its external id field.

Authentication: the access token kept in the secrets (``access_token``, ``token_instance_url``), else one
obtained from ``{login_url}/services/oauth2/token`` with the refresh token (or the OAuth
username-password flow); an ``INVALID_SESSION_ID`` answer gets one new token (put in
``ctx.secret_updates``) and one more attempt, then ``invalid_credentials``.

The SDK builds ``https://{host}`` URLs itself; :func:`_connect` sets its ``base_url`` from the configured
URL so that its scheme is kept (a local stand-in speaks plain http). simple-salesforce never retries
unless it owns the login (it does not here), and requests does not retry by default.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError

from billow.providers.interface import (
    CrmProvider,
    CustomerData,
    InvoiceData,
    ProviderContext,
    ProviderError,
    SubscriptionData,
    SyncResult,
)
from billow.providers.salesforce import mapping

DEFAULT_LOGIN_URL = "https://login.salesforce.com"
DEFAULT_API_VERSION = "59.0"
_API_VERSION = re.compile(r"\A\d{2,3}\.0\Z")


@dataclass
class _Connection:
    sf: Salesforce
    fresh_token: bool  #: obtained during this call: a 401 with it is final


class SalesforceProvider(CrmProvider):
    name = "salesforce"
    secret_fields = {
        "client_id": True,
        "client_secret": True,
        "refresh_token": False,
        "username": False,
        "password": False,
        "security_token": False,
        # Written by the provider (ctx.secret_updates): the current session and its instance.
        "access_token": False,
        "token_instance_url": False,
    }
    settings_fields = {"instance_url": False, "login_url": False, "api_version": False}

    def validate(self, settings: Mapping[str, Any], secrets: Mapping[str, str]) -> dict[str, list[str]]:
        errors: dict[str, list[str]] = {}
        if not secrets.get("refresh_token"):
            if not secrets.get("username"):
                errors["refresh_token"] = ["value_is_mandatory"]
            elif not secrets.get("password"):
                errors["password"] = ["value_is_mandatory"]
        for key in ("instance_url", "login_url"):
            value = settings.get(key)
            if value is not None and not _is_base_url(value):
                errors[key] = ["value_is_invalid"]
        version = settings.get("api_version")
        if version is not None and not (isinstance(version, str) and _API_VERSION.match(version)):
            errors["api_version"] = ["value_is_invalid"]
        return errors

    # ------------------------------------------------------------------------------------ operations
    def sync_customer(self, ctx: ProviderContext, customer: CustomerData) -> SyncResult:
        connection = _connect(ctx)
        account_id = self._account(ctx, connection, customer)
        return SyncResult(external_id=account_id, external_url=_record_url(connection, account_id))

    def sync_subscription(self, ctx: ProviderContext, subscription: SubscriptionData) -> SyncResult:
        connection = _connect(ctx)
        account_id = subscription.customer.provider_customer_id or self._account(
            ctx, connection, subscription.customer
        )
        record_id = _write(
            ctx,
            connection,
            mapping.SUBSCRIPTION,
            mapping.SUBSCRIPTION_EXTERNAL_ID_FIELD,
            subscription.id,
            subscription.provider_subscription_id,
            mapping.subscription_fields(subscription, account_id),
        )
        return SyncResult(
            external_id=record_id,
            external_url=_record_url(connection, record_id),
            details={"account_id": account_id},
        )

    def sync_invoice(self, ctx: ProviderContext, invoice: InvoiceData) -> SyncResult:
        connection = _connect(ctx)
        account_id = invoice.customer.provider_customer_id or self._account(ctx, connection, invoice.customer)
        record_id = _write(
            ctx,
            connection,
            mapping.INVOICE,
            mapping.INVOICE_EXTERNAL_ID_FIELD,
            invoice.id,
            invoice.provider_invoice_id,
            mapping.invoice_fields(invoice, account_id),
        )
        return SyncResult(
            external_id=record_id,
            external_url=_record_url(connection, record_id),
            details={"account_id": account_id},
        )

    @staticmethod
    def _account(ctx: ProviderContext, connection: _Connection, customer: CustomerData) -> str:
        """The customer's Account: the one whose Id the snapshot carries (a previous sync, or
        ``sync_salesforce_id``), else upserted by Billow's id."""
        return _write(
            ctx,
            connection,
            mapping.ACCOUNT,
            mapping.CUSTOMER_EXTERNAL_ID_FIELD,
            customer.id,
            customer.provider_customer_id,
            mapping.account_fields(customer),
        )


# ---------------------------------------------------------------------------------------- plumbing
def _write(
    ctx: ProviderContext,
    connection: _Connection,
    sobject: str,
    external_field: str,
    billow_id: str,
    known_id: str | None,
    fields: dict[str, Any],
) -> str:
    """Update the record ``known_id`` (204; Billow's id written into its external id field, which links a
    record the CRM created and named to Billow: ``sync_salesforce_id``), or upsert it by Billow's id:
    201 ``created: true`` / 200 ``created: false`` with its ``id`` (API 46.0 and later; 204 without a body
    before, then read back). A ``known_id`` Salesforce no longer has (404) falls back to the upsert."""
    if known_id:
        linked = {**fields, external_field: billow_id}
        try:
            _request(ctx, connection, "PATCH", f"sobjects/{sobject}/{_segment(known_id)}", linked)
            return known_id
        except ProviderError as error:
            if error.http_status != 404:
                raise
    path = f"sobjects/{sobject}/{external_field}/{_segment(billow_id)}"
    answer = _request(ctx, connection, "PATCH", path, fields)
    if isinstance(answer, Mapping) and answer.get("id"):
        return str(answer["id"])
    record = _request(ctx, connection, "GET", path, None, params={"fields": "Id"})
    if not (isinstance(record, Mapping) and record.get("Id")):
        raise ProviderError(f"Salesforce did not return the {sobject} id", code="unexpected_response")
    return str(record["Id"])


def _request(
    ctx: ProviderContext,
    connection: _Connection,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    params: dict[str, str] | None = None,
) -> Any:
    """One REST call through the SDK; an expired session gets one new token, then the call again."""
    for attempt in (1, 2):
        try:
            return connection.sf.restful(path, params=params, method=method, json=body, timeout=ctx.timeout)
        except SalesforceError as exc:
            error = mapping.error_from_response(exc.status, exc.content)
            if exc.status == 401 and attempt == 1 and not connection.fresh_token:
                _authenticate(ctx, connection.sf)
                connection.fresh_token = True
                continue
            raise error from exc
        except requests.Timeout as exc:
            raise ProviderError(
                f"Salesforce did not answer within {ctx.timeout} s", code="timeout", retryable=True
            ) from exc
        except requests.RequestException as exc:
            raise ProviderError(
                f"Salesforce unreachable: {type(exc).__name__}", code="connection_error", retryable=True
            ) from exc
    raise AssertionError("unreachable")  # pragma: no cover


def _connect(ctx: ProviderContext) -> _Connection:
    version = str(ctx.settings.get("api_version") or DEFAULT_API_VERSION)
    # A token refreshed earlier with this context (not stored yet) comes first.
    token = ctx.secret_updates.get("access_token") or ctx.secrets.get("access_token")
    instance = ctx.secret_updates.get("token_instance_url") or ctx.secrets.get("token_instance_url")
    sf = Salesforce(
        session_id=token or "pending",
        instance_url=_api_url(ctx, instance) or DEFAULT_LOGIN_URL,
        version=version,
        session=requests.Session(),
    )
    connection = _Connection(sf=sf, fresh_token=False)
    if not token:
        _authenticate(ctx, sf)
        connection.fresh_token = True
    _point(ctx, sf)
    return connection


def _api_url(ctx: ProviderContext, token_instance: str | None) -> str | None:
    return ctx.api_base_url or ctx.settings.get("instance_url") or token_instance


def _point(ctx: ProviderContext, sf: Salesforce) -> None:
    """The SDK's REST base URL from the configured one, scheme included (the SDK would force https)."""
    base = _api_url(
        ctx, ctx.secret_updates.get("token_instance_url") or ctx.secrets.get("token_instance_url")
    )
    if not base:
        raise ProviderError("Salesforce instance URL unknown", code="invalid_configuration")
    sf.base_url = f"{base.rstrip('/')}/services/data/v{sf.sf_version}/"


def _authenticate(ctx: ProviderContext, sf: Salesforce) -> None:
    """A new access token from the OAuth token endpoint (refresh token, else username-password), put in
    ``ctx.secret_updates`` and in the SDK's headers."""
    secrets = ctx.secrets
    form = {"client_id": secrets.get("client_id", ""), "client_secret": secrets.get("client_secret", "")}
    if secrets.get("refresh_token"):
        form |= {"grant_type": "refresh_token", "refresh_token": secrets["refresh_token"]}
    elif secrets.get("username") and secrets.get("password"):
        password = secrets["password"] + secrets.get("security_token", "")
        form |= {"grant_type": "password", "username": secrets["username"], "password": password}
    else:
        raise ProviderError("no Salesforce refresh token nor username/password", code="invalid_credentials")
    login = ctx.api_base_url or ctx.settings.get("login_url") or DEFAULT_LOGIN_URL
    try:
        answer = sf.session.post(
            f"{login.rstrip('/')}/services/oauth2/token",
            data=form,
            headers={"Accept": "application/json"},
            timeout=ctx.timeout,
        )
    except requests.Timeout as exc:
        raise ProviderError("Salesforce login timed out", code="timeout", retryable=True) from exc
    except requests.RequestException as exc:
        raise ProviderError(
            f"Salesforce login unreachable: {type(exc).__name__}", code="connection_error", retryable=True
        ) from exc
    if answer.status_code != 200:
        raise mapping.token_error(answer.status_code, answer.content)
    payload = answer.json()
    token = payload.get("access_token") if isinstance(payload, dict) else None
    if not token:
        raise ProviderError("Salesforce token endpoint returned no access token", code="unexpected_response")
    ctx.secret_updates["access_token"] = token
    if payload.get("instance_url"):
        ctx.secret_updates["token_instance_url"] = payload["instance_url"]
    if payload.get("refresh_token"):  # refresh token rotation
        ctx.secret_updates["refresh_token"] = payload["refresh_token"]
    sf.session_id = token
    sf.headers["Authorization"] = f"Bearer {token}"
    _point(ctx, sf)


def _record_url(connection: _Connection, record_id: str) -> str:
    base = connection.sf.base_url.split("/services/", 1)[0]
    return f"{base}/{record_id}"


def _segment(value: str) -> str:
    return quote(value, safe="")


def _is_base_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    if not parts.netloc or parts.query or parts.fragment:
        return False
    return parts.scheme == "https" or (
        parts.scheme == "http" and parts.hostname in ("localhost", "127.0.0.1")
    )
