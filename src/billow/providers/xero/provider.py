"""Xero through ``xero-python`` (``AccountingApi``), OAuth2 refresh tokens against Xero's identity server.

Every call: an access token missing or about to expire is refreshed first (the new pair goes to
``ctx.secret_updates``, Xero rotates refresh tokens); a 401 refreshes once and tries again, then fails
as ``invalid_credentials``. Writes send ``summarizeErrors=false`` and an ``Idempotency-Key``; creates and
updates of contacts, invoices and credit notes go through the SDK's ``update_or_create_*`` (the known
Xero id in the body updates that object, never a second one).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar

import certifi
import urllib3
from xero_python.accounting import AccountingApi, Allocations, Contacts, CreditNotes, Invoices
from xero_python.api_client import ApiClient, Configuration
from xero_python.api_client.oauth2 import OAuth2Token, TokenApi
from xero_python.api_client.serializer import serialize
from xero_python.exceptions import ApiException

from billow.providers.interface import (
    AccountingProvider,
    CreditNoteData,
    CustomerData,
    InvoiceData,
    PaymentData,
    ProviderContext,
    ProviderError,
    SyncResult,
)
from billow.providers.xero import mapping

T = TypeVar("T")

IDENTITY_URL = "https://identity.xero.com"
TOKEN_PATH = "/connect/token"
API_PATH = "/api.xro/2.0"
SCOPES = ["offline_access", "accounting.transactions", "accounting.contacts", "accounting.settings"]
EXPIRY_MARGIN = 60


def _error_messages(body: Any) -> list[str]:
    """``ValidationErrors[].Message`` of a Xero answer (a 400 ``ValidationException``'s ``Elements``)."""
    messages = []
    if isinstance(body, dict):
        for element in body.get("Elements") or []:
            messages += [str(e.get("Message")) for e in element.get("ValidationErrors") or []]
        if not messages and body.get("Message"):
            messages.append(str(body["Message"]))
        if not messages and body.get("Detail"):
            messages.append(str(body["Detail"]))
    return messages


def _api_error(exc: ApiException) -> ProviderError:
    status = int(exc.status or 0)
    try:
        body = json.loads(exc.body or b"null")
    except ValueError:
        body = None
    messages = _error_messages(body)
    message = "; ".join(messages) or f"Xero answered {status}"
    details: dict[str, Any] = {"messages": messages}
    if status == 401:
        return ProviderError(message, code="invalid_credentials", http_status=401, details=details)
    if status == 429:
        headers = exc.headers or {}
        details["retry_after"] = headers.get("Retry-After")
        details["rate_limit_problem"] = headers.get("X-Rate-Limit-Problem")
        return ProviderError(message, code="rate_limited", retryable=True, http_status=429, details=details)
    if status >= 500 or status == 0:
        return ProviderError(
            message, code=f"http_{status}", retryable=True, http_status=status, details=details
        )
    code = {400: "validation_error", 403: "forbidden", 404: "not_found"}.get(status, f"http_{status}")
    if isinstance(body, dict) and body.get("Type") and body["Type"] != "ValidationException":
        code = str(body["Type"])
    return ProviderError(message, code=code, http_status=status, details=details)


def _transport_error(exc: urllib3.exceptions.HTTPError) -> ProviderError:
    # urllib3's NewConnectionError (refused) subclasses ConnectTimeoutError: tell them apart first.
    if isinstance(exc, urllib3.exceptions.TimeoutError) and not isinstance(
        exc, urllib3.exceptions.NewConnectionError
    ):
        return ProviderError("Xero did not answer in time", code="timeout", retryable=True)
    return ProviderError(f"Xero unreachable: {type(exc).__name__}", code="connection_error", retryable=True)


def _check(obj: Any, what: str) -> None:
    """``summarizeErrors=false``: a refused element comes back in a 200 with its ``ValidationErrors``."""
    errors = getattr(obj, "validation_errors", None) or []
    if errors or getattr(obj, "has_errors", False) or getattr(obj, "has_validation_errors", False):
        messages = [str(getattr(e, "message", e)) for e in errors]
        raise ProviderError(
            f"Xero refused the {what}: {'; '.join(messages)}",
            code="validation_error",
            details={"messages": messages},
        )


class _BoundedPoolManager(urllib3.PoolManager):
    """The SDK passes ``timeout=None`` (no bound) unless told otherwise, and its token call cannot be
    told: every request gets ``ctx.timeout`` here."""

    def __init__(self, timeout: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.billow_timeout = urllib3.Timeout(total=timeout)

    def urlopen(self, method: str, url: str, redirect: bool = True, **kw: Any) -> Any:  # type: ignore[override]  # PoolManager narrows RequestMethods' signature
        if kw.get("timeout") is None:
            kw["timeout"] = self.billow_timeout
        return super().urlopen(method, url, redirect=redirect, **kw)


class _Connection:
    def __init__(self, ctx: ProviderContext) -> None:
        self.ctx = ctx
        self.tenant_id = str(ctx.settings["tenant_id"])
        self.access_token = ctx.secrets.get("access_token") or None
        self.refresh_token = ctx.secrets["refresh_token"]
        expires_at = ctx.secrets.get("access_token_expires_at")
        self.expires_at = float(expires_at) if expires_at else None
        self.refreshed = False
        base = ctx.api_base_url.rstrip("/") if ctx.api_base_url else None
        self.token_url = (base or IDENTITY_URL) + TOKEN_PATH
        self.api_client = ApiClient(
            Configuration(),
            pool_threads=1,
            oauth2_token_getter=self._token,
            oauth2_token_saver=lambda token: None,
        )
        self.api_client.configuration.oauth2_token = OAuth2Token(
            client_id=ctx.secrets["client_id"], client_secret=ctx.secrets["client_secret"]
        )
        # Every request bounded by ctx.timeout, and never retried by urllib3 (the framework retries).
        self.api_client.rest_client.pool_manager = _BoundedPoolManager(
            ctx.timeout,
            num_pools=4,
            maxsize=4,
            cert_reqs="CERT_REQUIRED",
            ca_certs=certifi.where(),
            retries=False,
        )
        self.api = AccountingApi(self.api_client, base_url=(base + API_PATH) if base else None)

    def _token(self) -> dict[str, Any]:
        # The SDK sees a token without expiry: refreshing is done here, through the overridable URL.
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "scope": SCOPES,
            "expires_in": None,
            "expires_at": None,
            "token_type": "Bearer",
        }

    def refresh(self) -> None:
        token_api = TokenApi(
            self.api_client, self.ctx.secrets["client_id"], self.ctx.secrets["client_secret"]
        )
        token_api.refresh_token_url = self.token_url
        try:
            token = token_api.refresh_token(self.refresh_token, SCOPES)
        except ApiException as exc:
            error = _api_error(exc)
            if not error.retryable:
                error = ProviderError(
                    "Xero refused the refresh token", code="invalid_credentials", http_status=exc.status
                )
            raise error from None
        except urllib3.exceptions.HTTPError as exc:
            raise _transport_error(exc) from None
        self.refreshed = True
        self.access_token = str(token["access_token"])
        self.refresh_token = str(token.get("refresh_token") or self.refresh_token)
        self.expires_at = time.time() + float(token.get("expires_in") or 1800)
        self.ctx.secret_updates["access_token"] = self.access_token
        self.ctx.secret_updates["refresh_token"] = self.refresh_token
        self.ctx.secret_updates["access_token_expires_at"] = str(int(self.expires_at))

    def call(self, operation: Callable[[AccountingApi], T]) -> T:
        for attempt in (1, 2):
            if not self.access_token or (
                self.expires_at is not None and self.expires_at - EXPIRY_MARGIN < time.time()
            ):
                self.refresh()
            try:
                return operation(self.api)
            except ApiException as exc:
                if exc.status == 401 and attempt == 1 and not self.refreshed:
                    self.refresh()
                    continue
                raise _api_error(exc) from None
            except urllib3.exceptions.HTTPError as exc:
                raise _transport_error(exc) from None
        raise AssertionError("unreachable")


class XeroProvider(AccountingProvider):
    name = "xero"
    secret_fields: ClassVar[Mapping[str, bool]] = {
        "client_id": True,
        "client_secret": True,
        "refresh_token": True,
        "access_token": False,
        "access_token_expires_at": False,
    }
    settings_fields: ClassVar[Mapping[str, bool]] = {"tenant_id": True}

    def validate(self, settings: Mapping[str, Any], secrets: Mapping[str, str]) -> dict[str, list[str]]:
        errors: dict[str, list[str]] = {}
        tenant = settings.get("tenant_id")
        if tenant is not None and not _is_uuid(str(tenant)):
            errors["tenant_id"] = ["value_is_invalid"]
        expires_at = secrets.get("access_token_expires_at")
        if expires_at and not expires_at.isdigit():
            errors["access_token_expires_at"] = ["value_is_invalid"]
        return errors

    def _key(self, conn: _Connection, kind: str, billow_id: str, model: Any) -> str:
        return mapping.idempotency_key(
            conn.ctx.organization_id, conn.ctx.integration_code, kind, billow_id, serialize(model)
        )

    # ------------------------------------------------------------------------------- contacts
    def sync_customer(self, ctx: ProviderContext, customer: CustomerData) -> SyncResult:
        return self._sync_customer(_Connection(ctx), customer)

    def _sync_customer(self, conn: _Connection, customer: CustomerData) -> SyncResult:
        model = mapping.contact(customer)
        key = self._key(conn, "contact", customer.id, model)
        result = conn.call(
            lambda api: api.update_or_create_contacts(
                conn.tenant_id, Contacts(contacts=[model]), summarize_errors=False, idempotency_key=key
            )
        )
        saved = result.contacts[0]
        messages = [str(e.message) for e in saved.validation_errors or []]
        if not customer.provider_customer_id and any(
            "already assigned to another contact" in m for m in messages
        ):
            where = f'Name=="{model.name.replace(chr(34), chr(92) + chr(34))}"'
            found = conn.call(lambda api: api.get_contacts(conn.tenant_id, where=where)).contacts or []
            if found:
                model.contact_id = found[0].contact_id
                linked = self._sync_customer(
                    conn, _with(customer, provider_customer_id=str(found[0].contact_id))
                )
                return SyncResult(external_id=linked.external_id, details={"linked": True})
        _check(saved, "contact")
        return SyncResult(external_id=str(saved.contact_id))

    def _contact_ref(self, conn: _Connection, customer: CustomerData, details: dict[str, Any]) -> str:
        if customer.provider_customer_id:
            return customer.provider_customer_id
        result = self._sync_customer(conn, customer)
        details["provider_customer_id"] = result.external_id
        return result.external_id

    # ------------------------------------------------------------------------------- documents
    def sync_invoice(self, ctx: ProviderContext, invoice: InvoiceData) -> SyncResult:
        conn = _Connection(ctx)
        details: dict[str, Any] = {}
        mapping.invoice_line_items(invoice)  # a missing mapping is refused before any call
        model = mapping.invoice(invoice, self._contact_ref(conn, invoice.customer, details))
        key = self._key(conn, "invoice", invoice.id, model)
        result = conn.call(
            lambda api: api.update_or_create_invoices(
                conn.tenant_id,
                Invoices(invoices=[model]),
                summarize_errors=False,
                unitdp=mapping.UNIT_PLACES,
                idempotency_key=key,
            )
        )
        saved = result.invoices[0]
        _check(saved, "invoice")
        details["total_amount"] = str(mapping.amount(saved.total))
        return SyncResult(external_id=str(saved.invoice_id), details=details)

    def sync_credit_note(self, ctx: ProviderContext, credit_note: CreditNoteData) -> SyncResult:
        conn = _Connection(ctx)
        details: dict[str, Any] = {}
        mapping.credit_note_line_items(credit_note)
        model = mapping.credit_note(credit_note, self._contact_ref(conn, credit_note.customer, details))
        key = self._key(conn, "credit_note", credit_note.id, model)
        result = conn.call(
            lambda api: api.update_or_create_credit_notes(
                conn.tenant_id,
                CreditNotes(credit_notes=[model]),
                summarize_errors=False,
                unitdp=mapping.UNIT_PLACES,
                idempotency_key=key,
            )
        )
        saved = result.credit_notes[0]
        _check(saved, "credit note")
        credit_note_id = str(saved.credit_note_id)
        allocation = mapping.allocation(credit_note)
        if allocation is not None and not saved.allocations:
            allocation_key = self._key(conn, "allocation", credit_note.id, allocation)
            allocated = conn.call(
                lambda api: api.create_credit_note_allocation(
                    conn.tenant_id,
                    credit_note_id,
                    Allocations(allocations=[allocation]),
                    summarize_errors=False,
                    idempotency_key=allocation_key,
                )
            )
            _check(allocated.allocations[0], "allocation")
            details["allocated_amount"] = str(mapping.amount(allocated.allocations[0].amount))
        refund = mapping.refund_payment(credit_note, credit_note_id)
        if refund is not None and not saved.payments:  # once: a note synced again keeps its refund
            refund_key = self._key(conn, "refund", credit_note.id, refund)
            paid = conn.call(
                lambda api: api.create_payment(conn.tenant_id, refund, idempotency_key=refund_key)
            ).payments[0]
            _check(paid, "refund")
            details["refund_payment_id"] = str(paid.payment_id)
        return SyncResult(external_id=credit_note_id, details=details)

    def sync_payment(self, ctx: ProviderContext, payment: PaymentData) -> SyncResult:
        conn = _Connection(ctx)
        if payment.provider_payment_id and len(payment.invoices) != 1:  # a batch payment stands too
            return SyncResult(external_id=payment.provider_payment_id, details={"batch": True})
        if payment.provider_payment_id:  # Xero payments are not edited: the known one stands
            known = payment.provider_payment_id
            found = conn.call(lambda api: api.get_payment(conn.tenant_id, known)).payments[0]
            return SyncResult(external_id=str(found.payment_id))
        if len(payment.invoices) != 1:
            return self._batch_payment(conn, payment)
        [(invoice_id, xero_invoice_id)] = payment.invoices.items()
        if xero_invoice_id is None:
            raise ProviderError(
                f"the invoice {invoice_id} is not synced to Xero yet",
                code="invoice_not_synced",
                retryable=True,
            )
        model = mapping.payment(payment, xero_invoice_id)
        key = self._key(conn, "payment", payment.id, model)
        result = conn.call(lambda api: api.create_payment(conn.tenant_id, model, idempotency_key=key))
        saved = result.payments[0]
        _check(saved, "payment")
        return SyncResult(
            external_id=str(saved.payment_id), details={"amount": str(mapping.amount(saved.amount))}
        )

    def _batch_payment(self, conn: _Connection, payment: PaymentData) -> SyncResult:
        """A payment of several invoices (a payment request's): one batch payment, a payment per invoice
        of what Billow applied to it."""
        split = mapping.batch_split(payment)
        if split is None:
            raise ProviderError(
                "a payment of several invoices needs what it applied to each; it is unknown",
                code="payment_split_unknown",
            )
        resolved: list[tuple[str, str, int]] = []
        for invoice_id, cents in split:
            xero_invoice_id = payment.invoices[invoice_id]
            if xero_invoice_id is None:
                raise ProviderError(
                    f"the invoice {invoice_id} is not synced to Xero yet",
                    code="invoice_not_synced",
                    retryable=True,
                )
            resolved.append((invoice_id, xero_invoice_id, cents))
        model = mapping.batch_payment(payment, resolved)
        key = self._key(conn, "batch_payment", payment.id, model)
        result = conn.call(
            lambda api: api.create_batch_payment(
                conn.tenant_id, model, summarize_errors=False, idempotency_key=key
            )
        )
        saved = result.batch_payments[0]
        _check(saved, "batch payment")
        return SyncResult(
            external_id=str(saved.batch_payment_id),
            details={"batch": True, "amount": str(mapping.amount(saved.total_amount))},
        )


def _with(customer: CustomerData, **changes: Any) -> CustomerData:
    return CustomerData(**{**customer.__dict__, **changes})


def _is_uuid(value: str) -> bool:
    import uuid

    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
