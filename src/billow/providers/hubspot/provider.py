"""HubSpot as a CRM: customers as companies (or contacts), subscriptions and invoices as custom objects
associated with them, through the official SDK ``hubspot-api-client``.

Create or update, never twice: a snapshot carrying HubSpot's id updates that record; otherwise the object
is searched by Billow's id (a custom property) before being created, so a retry after a crash finds what
the first attempt created. A create answered 409 ``CONFLICT`` (the unique property already holds that
value: a concurrent attempt won; or, for a contact, its e-mail address is taken: ``Existing ID: 123``)
searches and updates instead (that contact then carries Billow's id). HubSpot's search index trails its writes
by a few seconds: Billow's id properties must be declared unique (``hasUniqueValue``) in the portal so
that a create racing the index gets that 409 (retryable when the search still misses the record) rather
than a duplicate.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import hubspot
import urllib3.exceptions
from hubspot.crm import objects as hs_objects
from hubspot.crm.associations import v4 as hs_associations

from billow.providers.hubspot import mapping
from billow.providers.interface import (
    CrmProvider,
    CustomerData,
    InvoiceData,
    ProviderContext,
    ProviderError,
    SubscriptionData,
    SyncResult,
)

T = TypeVar("T")

_API_ERRORS = (hs_objects.ApiException, hs_associations.ApiException)
#: A custom object type: its id (``2-1234567``), fully qualified name (``p1234_billow_invoices``) or name.
_OBJECT_TYPE = re.compile(r"\A(?:\d+-\d+|[A-Za-z][A-Za-z0-9_]{0,99})\Z")


class HubSpotProvider(CrmProvider):
    name = "hubspot"
    secret_fields = {"access_token": True}
    settings_fields = {
        "default_target_type": False,
        "subscriptions_object_type": False,
        "invoices_object_type": False,
        "portal_id": False,
    }

    def validate(self, settings: Mapping[str, Any], secrets: Mapping[str, str]) -> dict[str, list[str]]:
        errors: dict[str, list[str]] = {}
        token = secrets.get("access_token")
        if token is not None and (not isinstance(token, str) or not token.strip() or " " in token):
            errors["access_token"] = ["value_is_invalid"]
        target = settings.get("default_target_type")
        if target is not None and target not in mapping.TARGET_TYPES:
            errors["default_target_type"] = ["value_is_invalid"]
        for key in ("subscriptions_object_type", "invoices_object_type"):
            value = settings.get(key)
            if value is not None and not (isinstance(value, str) and _OBJECT_TYPE.match(value)):
                errors[key] = ["value_is_invalid"]
        portal = settings.get("portal_id")
        if portal is not None and not (isinstance(portal, str | int) and str(portal).isdigit()):
            errors["portal_id"] = ["value_is_invalid"]
        return errors

    # ------------------------------------------------------------------------------------ operations
    def sync_customer(self, ctx: ProviderContext, customer: CustomerData) -> SyncResult:
        client = _client(ctx)
        target = _target_type(ctx)
        object_id = self._upsert(
            ctx,
            client,
            target,
            mapping.CUSTOMER_ID_PROPERTY,
            customer.id,
            customer.provider_customer_id,
            mapping.customer_properties(customer, target),
        )
        return SyncResult(
            external_id=object_id,
            external_url=mapping.record_url(_portal(ctx), target, object_id),
            details={"object_type": target},
        )

    def sync_subscription(self, ctx: ProviderContext, subscription: SubscriptionData) -> SyncResult:
        object_type = str(
            ctx.settings.get("subscriptions_object_type") or mapping.DEFAULT_SUBSCRIPTIONS_OBJECT_TYPE
        )
        return self._sync_owned(
            ctx,
            object_type,
            mapping.SUBSCRIPTION_ID_PROPERTY,
            subscription.id,
            subscription.provider_subscription_id,
            mapping.subscription_properties(subscription),
            subscription.customer,
        )

    def sync_invoice(self, ctx: ProviderContext, invoice: InvoiceData) -> SyncResult:
        object_type = str(ctx.settings.get("invoices_object_type") or mapping.DEFAULT_INVOICES_OBJECT_TYPE)
        return self._sync_owned(
            ctx,
            object_type,
            mapping.INVOICE_ID_PROPERTY,
            invoice.id,
            invoice.provider_invoice_id,
            mapping.invoice_properties(invoice),
            invoice.customer,
        )

    # ------------------------------------------------------------------------------------- helpers
    def _sync_owned(
        self,
        ctx: ProviderContext,
        object_type: str,
        id_property: str,
        billow_id: str,
        known_id: str | None,
        properties: dict[str, str],
        customer: CustomerData,
    ) -> SyncResult:
        """A custom object belonging to a customer: written, then associated with the customer's record
        (the customer synced first when HubSpot does not know it yet)."""
        client = _client(ctx)
        target = _target_type(ctx)
        object_id = self._upsert(ctx, client, object_type, id_property, billow_id, known_id, properties)
        owner_id = customer.provider_customer_id
        if owner_id is None:
            found = self._search(ctx, client, target, mapping.CUSTOMER_ID_PROPERTY, customer.id)
            owner_id = found if found is not None else self.sync_customer(ctx, customer).external_id
        _call(
            ctx,
            lambda: client.crm.associations.v4.basic_api.create_default(
                object_type, object_id, target, owner_id, _request_timeout=ctx.timeout
            ),
        )
        return SyncResult(
            external_id=object_id,
            external_url=mapping.record_url(_portal(ctx), object_type, object_id),
            details={"object_type": object_type, "associated_with": {target: owner_id}},
        )

    def _upsert(
        self,
        ctx: ProviderContext,
        client: Any,
        object_type: str,
        id_property: str,
        billow_id: str,
        known_id: str | None,
        properties: dict[str, str],
    ) -> str:
        basic = client.crm.objects.basic_api
        if known_id:
            try:
                return self._update(ctx, basic, object_type, known_id, properties)
            except ProviderError as error:
                if error.http_status != 404:  # deleted or merged at HubSpot: find it again or recreate
                    raise
        found = self._search(ctx, client, object_type, id_property, billow_id)
        if found is not None:
            return self._update(ctx, basic, object_type, found, properties)
        try:
            created = _call(
                ctx,
                lambda: basic.create(
                    object_type,
                    hs_objects.SimplePublicObjectInputForCreate(properties=properties, associations=[]),
                    _request_timeout=ctx.timeout,
                ),
            )
        except ProviderError as error:
            if error.http_status != 409:
                raise
            found = self._search(ctx, client, object_type, id_property, billow_id)
            if found is None:  # a contact whose e-mail is taken: HubSpot names it, link that one
                found = mapping.existing_id(error.message)
            if found is None:  # HubSpot's search index lags its writes by a few seconds: try later
                raise ProviderError(
                    error.message, code=error.code, retryable=True, http_status=409, details=error.details
                ) from error
            return self._update(ctx, basic, object_type, found, properties)
        return str(created.id)

    @staticmethod
    def _update(
        ctx: ProviderContext, basic: Any, object_type: str, object_id: str, properties: dict[str, str]
    ) -> str:
        updated = _call(
            ctx,
            lambda: basic.update(
                object_type,
                object_id,
                hs_objects.SimplePublicObjectInput(properties=properties),
                _request_timeout=ctx.timeout,
            ),
        )
        return str(updated.id)

    @staticmethod
    def _search(
        ctx: ProviderContext, client: Any, object_type: str, id_property: str, billow_id: str
    ) -> str | None:
        request = hs_objects.PublicObjectSearchRequest(
            filter_groups=[
                hs_objects.FilterGroup(
                    filters=[hs_objects.Filter(property_name=id_property, operator="EQ", value=billow_id)]
                )
            ],
            properties=[id_property],
            limit=1,
        )
        page = _call(
            ctx,
            lambda: client.crm.objects.search_api.do_search(
                object_type, request, _request_timeout=ctx.timeout
            ),
        )
        results = page.results or []
        return str(results[0].id) if results else None


# ---------------------------------------------------------------------------------------- plumbing
def _client(ctx: ProviderContext) -> Any:
    token = ctx.secrets.get("access_token")
    if not token:
        raise ProviderError("HubSpot access token missing", code="invalid_credentials")
    options: dict[str, Any] = {"access_token": token, "retry": False}  # the framework retries
    if ctx.api_base_url:
        options["host"] = ctx.api_base_url.rstrip("/")
    return hubspot.Client.create(**options)


def _target_type(ctx: ProviderContext) -> str:
    target = str(ctx.settings.get("default_target_type") or "companies")
    return target if target in mapping.TARGET_TYPES else "companies"


def _portal(ctx: ProviderContext) -> str | None:
    portal = ctx.settings.get("portal_id")
    return str(portal) if portal else None


def _call(ctx: ProviderContext, operation: Callable[[], T]) -> T:
    """One SDK call, its failures as :class:`ProviderError` (retryable for 429/5xx/timeouts/network)."""
    try:
        return operation()
    except _API_ERRORS as exc:
        if not exc.status:  # the SDK's own refusal (an SSL error), no HTTP answer
            raise ProviderError(str(exc.reason), code="connection_error", retryable=True) from exc
        raise mapping.error_from_response(int(exc.status), exc.body) from exc
    except urllib3.exceptions.NewConnectionError as exc:  # a subclass of ConnectTimeoutError
        raise ProviderError(
            f"HubSpot unreachable: {type(exc).__name__}", code="connection_error", retryable=True
        ) from exc
    except urllib3.exceptions.TimeoutError as exc:
        raise ProviderError(
            f"HubSpot did not answer within {ctx.timeout} s", code="timeout", retryable=True
        ) from exc
    except urllib3.exceptions.HTTPError as exc:
        raise ProviderError(
            f"HubSpot unreachable: {type(exc).__name__}", code="connection_error", retryable=True
        ) from exc
