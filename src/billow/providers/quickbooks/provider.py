"""QuickBooks Online through ``python-quickbooks`` (accounting API) and ``intuit-oauth`` (token refresh).

Every call: an access token that is missing or about to expire is refreshed first (the rotated refresh
token and the new access token go to ``ctx.secret_updates``); a 401 refreshes once and tries again, then
fails as ``invalid_credentials``. Updates re-read the object for its ``SyncToken``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar

import requests
from intuitlib.client import AuthClient
from intuitlib.exceptions import AuthClientError
from quickbooks import QuickBooks
from quickbooks.exceptions import QuickbooksException

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
from billow.providers.quickbooks import mapping

T = TypeVar("T")

MINOR_VERSION = 75
#: Refresh an access token this many seconds before it expires.
EXPIRY_MARGIN = 60
ENVIRONMENTS = ("sandbox", "production")
DISCOVERY_PATH = "/.well-known/openid_configuration"


class _ApiSession(requests.Session):
    """The session the SDK sends through: bounded by ``ctx.timeout``, remembers the last status (the SDK
    folds a 429/5xx without a ``Fault`` into a generic exception)."""

    def __init__(self, access_token: str, timeout: float) -> None:
        super().__init__()
        self.access_token = access_token
        self.timeout = timeout
        self.last_status: int | None = None

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs["timeout"] = self.timeout
        verb = method.decode() if isinstance(method, bytes) else method
        response = super().request(verb, url, *args, **kwargs)
        self.last_status = response.status_code
        return response


class _AuthClient(AuthClient):
    """intuit-oauth's client with every request (discovery, token) bounded by ``ctx.timeout``."""

    def __init__(self, timeout: float, **kwargs: Any) -> None:
        self._timeout = timeout
        super().__init__(**kwargs)

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs["timeout"] = self._timeout
        return super().request(method, url, *args, **kwargs)


class _Connection:
    """One provider call's tokens and SDK client."""

    def __init__(self, ctx: ProviderContext) -> None:
        self.ctx = ctx
        self.access_token = ctx.secrets.get("access_token") or None
        self.refresh_token = ctx.secrets["refresh_token"]
        expires_at = ctx.secrets.get("access_token_expires_at")
        self.expires_at = float(expires_at) if expires_at else None
        self.refreshed = False
        self.session: _ApiSession | None = None
        self.qb: QuickBooks | None = None

    def refresh(self) -> None:
        ctx = self.ctx
        environment = ctx.settings.get("environment") or "production"
        if ctx.api_base_url:  # intuit-oauth takes a discovery document's URL in place of an environment
            environment = ctx.api_base_url.rstrip("/") + DISCOVERY_PATH
        try:
            auth = _AuthClient(
                ctx.timeout,
                client_id=ctx.secrets["client_id"],
                client_secret=ctx.secrets["client_secret"],
                redirect_uri=ctx.public_url,
                environment=environment,
            )
            auth.refresh(refresh_token=self.refresh_token)
        except AuthClientError as exc:
            if exc.status_code >= 500 or exc.status_code == 429:
                raise ProviderError(
                    f"QuickBooks token endpoint answered {exc.status_code}",
                    code=f"http_{exc.status_code}",
                    retryable=True,
                    http_status=exc.status_code,
                ) from None
            raise ProviderError(
                "QuickBooks refused the refresh token",
                code="invalid_credentials",
                http_status=exc.status_code,
            ) from None
        except requests.RequestException as exc:
            raise _transport_error(exc) from None
        self.refreshed = True
        self.access_token = str(auth.access_token)
        self.refresh_token = str(auth.refresh_token)
        self.expires_at = time.time() + float(auth.expires_in or 3600)
        ctx.secret_updates["access_token"] = self.access_token
        ctx.secret_updates["refresh_token"] = self.refresh_token
        ctx.secret_updates["access_token_expires_at"] = str(int(self.expires_at))
        self.qb = None

    def client(self) -> QuickBooks:
        if not self.access_token or (
            self.expires_at is not None and self.expires_at - EXPIRY_MARGIN < time.time()
        ):
            self.refresh()
        if self.qb is None:
            assert self.access_token is not None
            qb = QuickBooks(
                company_id=str(self.ctx.settings["realm_id"]), minorversion=MINOR_VERSION, use_decimal=True
            )
            qb.sandbox = self.ctx.settings.get("environment") == "sandbox"
            if self.ctx.api_base_url:
                qb.api_url_v3 = qb.sandbox_api_url_v3 = self.ctx.api_base_url.rstrip("/") + "/v3"
            self.session = _ApiSession(self.access_token, self.ctx.timeout)
            qb.session = self.session
            self.qb = qb
        return self.qb

    def call(self, operation: Callable[[QuickBooks], T]) -> T:
        """Run one SDK call; a 401 refreshes the token once and runs it again."""
        for attempt in (1, 2):
            qb = self.client()
            try:
                return operation(qb)
            except QuickbooksException as exc:
                status = self.session.last_status if self.session else None
                if status == 401 and attempt == 1 and not self.refreshed:
                    self.refresh()
                    continue
                raise _api_error(exc, status) from None
            except requests.RequestException as exc:
                raise _transport_error(exc) from None
        raise AssertionError("unreachable")


def _transport_error(exc: requests.RequestException) -> ProviderError:
    if isinstance(exc, requests.Timeout):
        return ProviderError("QuickBooks did not answer in time", code="timeout", retryable=True)
    return ProviderError(
        f"QuickBooks unreachable: {type(exc).__name__}", code="connection_error", retryable=True
    )


def _api_error(exc: QuickbooksException, status: int | None) -> ProviderError:
    details = {"quickbooks_code": exc.error_code, "detail": str(exc.detail)[:500]}
    if status == 401:
        return ProviderError(
            "QuickBooks refused the credentials", code="invalid_credentials", http_status=401, details=details
        )
    if status is not None and (status == 429 or status >= 500):
        code = "rate_limited" if status == 429 else f"http_{status}"
        return ProviderError(exc.message, code=code, retryable=True, http_status=status, details=details)
    fault_code = int(exc.error_code or 0)
    return ProviderError(
        f"{exc.message}: {exc.detail}"[:500],
        code=mapping.error_code(fault_code),
        retryable=fault_code in mapping.RETRYABLE_CODES,
        http_status=status,
        details=details,
    )


class QuickBooksProvider(AccountingProvider):
    name = "quickbooks"
    secret_fields: ClassVar[Mapping[str, bool]] = {
        "client_id": True,
        "client_secret": True,
        "refresh_token": True,
        "access_token": False,
        "access_token_expires_at": False,
    }
    settings_fields: ClassVar[Mapping[str, bool]] = {"realm_id": True, "environment": False}

    def validate(self, settings: Mapping[str, Any], secrets: Mapping[str, str]) -> dict[str, list[str]]:
        errors: dict[str, list[str]] = {}
        realm = settings.get("realm_id")
        if realm is not None and not str(realm).isdigit():
            errors["realm_id"] = ["value_is_invalid"]
        environment = settings.get("environment")
        if environment is not None and environment not in ENVIRONMENTS:
            errors["environment"] = ["value_is_invalid"]
        expires_at = secrets.get("access_token_expires_at")
        if expires_at and not expires_at.isdigit():
            errors["access_token_expires_at"] = ["value_is_invalid"]
        return errors

    # ------------------------------------------------------------------------------- customers
    def sync_customer(self, ctx: ProviderContext, customer: CustomerData) -> SyncResult:
        return self._sync_customer(_Connection(ctx), customer)

    def _sync_customer(self, conn: _Connection, customer: CustomerData) -> SyncResult:
        payload = mapping.customer_payload(customer)
        if customer.provider_customer_id:
            saved = self._update(conn, "Customer", customer.provider_customer_id, payload)
            return SyncResult(external_id=str(saved["Id"]))
        try:
            created = self._create(conn, "Customer", customer.id, payload)
        except ProviderError as exc:
            if exc.code != "duplicate_name":
                raise
            query = (
                f"select * from Customer where DisplayName = {mapping.query_literal(payload['DisplayName'])}"
            )
            found = conn.call(lambda qb: qb.query(query))["QueryResponse"].get("Customer") or []
            if not found:
                raise
            existing = found[0]
            saved = self._post_update(conn, "Customer", existing, payload)
            return SyncResult(external_id=str(saved["Id"]), details={"linked": True})
        return SyncResult(external_id=str(created["Id"]))

    def _customer_ref(self, conn: _Connection, customer: CustomerData, details: dict[str, Any]) -> str:
        if customer.provider_customer_id:
            return customer.provider_customer_id
        result = self._sync_customer(conn, customer)
        details["provider_customer_id"] = result.external_id
        return result.external_id

    # ------------------------------------------------------------------------------- documents
    def sync_invoice(self, ctx: ProviderContext, invoice: InvoiceData) -> SyncResult:
        conn = _Connection(ctx)
        details: dict[str, Any] = {}
        mapping.invoice_payload(invoice, "-")  # refuse a missing mapping before any call
        payload = mapping.invoice_payload(invoice, self._customer_ref(conn, invoice.customer, details))
        return self._save(conn, "Invoice", invoice.id, invoice.provider_invoice_id, payload, details)

    def sync_credit_note(self, ctx: ProviderContext, credit_note: CreditNoteData) -> SyncResult:
        conn = _Connection(ctx)
        details: dict[str, Any] = {}
        mapping.credit_memo_payload(credit_note, "-")
        customer_ref = self._customer_ref(conn, credit_note.customer, details)
        payload = mapping.credit_memo_payload(credit_note, customer_ref)
        result = self._save(
            conn, "CreditMemo", credit_note.id, credit_note.provider_credit_note_id, payload, details
        )
        invoice_ref = credit_note.provider_invoice_id
        if (
            credit_note.provider_credit_note_id is None
            and credit_note.offset_amount_cents > 0
            and invoice_ref
        ):
            # The offset is deducted from what the invoice owes: the memo is applied to it (once: a
            # retry sends the same content, answered with the first answer by its requestid).
            application = mapping.credit_application_payload(
                credit_note, customer_ref, invoice_ref, result.external_id
            )
            applied = self._create(conn, "Payment", f"{credit_note.id}:offset", application)
            details["applied_by_payment"] = str(applied["Id"])
        return result

    def sync_payment(self, ctx: ProviderContext, payment: PaymentData) -> SyncResult:
        conn = _Connection(ctx)
        details: dict[str, Any] = {}
        split_known = len(payment.invoices) == 1 or set(payment.invoice_amounts) == set(payment.invoices)
        refs: dict[str, str] = {}
        for invoice_id, invoice_ref in payment.invoices.items():
            if invoice_ref is None and split_known:
                raise ProviderError(
                    f"the invoice {invoice_id} is not synced to QuickBooks yet",
                    code="invoice_not_synced",
                    retryable=True,
                )
            refs[invoice_id] = invoice_ref or ""
        links = mapping.payment_links(payment, refs) if split_known else []
        if not links:
            details["unapplied"] = True  # the split over its invoices is unknown: the payment is unapplied
        payload = mapping.payment_payload(payment, self._customer_ref(conn, payment.customer, details), links)
        return self._save(conn, "Payment", payment.id, payment.provider_payment_id, payload, details)

    # ---------------------------------------------------------------------------------- helpers
    def _create(
        self, conn: _Connection, entity: str, billow_id: str, payload: dict[str, Any]
    ) -> dict[str, Any]:
        body = mapping.dumps(payload)
        ctx = conn.ctx
        key = mapping.request_id(ctx.organization_id, ctx.integration_code, entity, billow_id, body)
        created: dict[str, Any] = conn.call(lambda qb: qb.create_object(entity, body, request_id=key))[entity]
        return created

    def _save(
        self,
        conn: _Connection,
        entity: str,
        billow_id: str,
        known_id: str | None,
        payload: dict[str, Any],
        details: dict[str, Any],
    ) -> SyncResult:
        if known_id:
            saved = self._update(conn, entity, known_id, payload)
        else:
            saved = self._create(conn, entity, billow_id, payload)
        if "TotalAmt" in saved:
            details["total_amount"] = str(saved["TotalAmt"])
        return SyncResult(external_id=str(saved["Id"]), details=details)

    def _update(
        self, conn: _Connection, entity: str, known_id: str, payload: dict[str, Any]
    ) -> dict[str, Any]:
        current = conn.call(lambda qb: qb.get_single_object(entity, known_id))[entity]
        return self._post_update(conn, entity, current, payload)

    def _post_update(
        self, conn: _Connection, entity: str, current: Mapping[str, Any], payload: dict[str, Any]
    ) -> dict[str, Any]:
        body = {**payload, "Id": current["Id"], "SyncToken": current["SyncToken"], "sparse": True}
        result: dict[str, Any] = conn.call(lambda qb: qb.update_object(entity, mapping.dumps(body)))[entity]
        return result
