"""Pure translation between Billow's snapshots and HubSpot CRM objects (no I/O).

HubSpot keeps every property as a string: amounts are decimal strings in currency units (``"10.50"``),
instants ISO 8601 in UTC, dates ``YYYY-MM-DD``. An empty string clears a property on update, which is
what a subscription that lost its ``ending_at`` needs; a customer's empty fields are left out instead
(the CRM's users may have filled them in).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from billow.kit.money import from_minor_units
from billow.providers.interface import CustomerData, InvoiceData, ProviderError, SubscriptionData

#: Billow's id of the object, a custom property of each object type (a unique-value property).
CUSTOMER_ID_PROPERTY = "billow_customer_id"
SUBSCRIPTION_ID_PROPERTY = "billow_subscription_id"
INVOICE_ID_PROPERTY = "billow_invoice_id"

TARGET_TYPES = ("companies", "contacts")
#: The custom objects' short-hand names (``p_{name}``; HubSpot stopped resolving a bare base name in
#: June 2025), used unless the integration names them (``2-1234567``, ``p1234_billow_invoices``).
DEFAULT_SUBSCRIPTIONS_OBJECT_TYPE = "p_billow_subscriptions"
DEFAULT_INVOICES_OBJECT_TYPE = "p_billow_invoices"


def decimal_string(cents: int, currency: str) -> str:
    """Minor units as HubSpot's decimal string: 1050 EUR → ``"10.50"``; 500 JPY → ``"500"``."""
    return f"{from_minor_units(cents, currency):f}"


def instant(value: datetime | None) -> str:
    """An aware instant as ISO 8601 UTC (``2026-12-07T10:00:00Z``); ``None`` → ``""`` (clears it)."""
    if value is None:
        return ""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def day(value: date | None) -> str:
    return "" if value is None else value.isoformat()


def domain_of(customer: CustomerData) -> str | None:
    """The company's domain from the customer's ``domain``/``website`` metadata (``https://acme.com/x`` →
    ``acme.com``)."""
    raw = customer.metadata.get("domain") or customer.metadata.get("website")
    if not raw:
        return None
    host = raw.strip().split("://", 1)[-1].split("/", 1)[0].lower()
    return host or None


def first_email(customer: CustomerData) -> str | None:
    """Lago's ``email`` may hold several addresses separated by commas: a contact takes the first."""
    if not customer.email:
        return None
    first = customer.email.split(",")[0].strip()
    return first or None


def _present(values: Mapping[str, str | None]) -> dict[str, str]:
    return {key: value for key, value in values.items() if value}


def customer_properties(customer: CustomerData, target_type: str) -> dict[str, str]:
    """A company's (or contact's) properties for ``customer``."""
    ids = {
        CUSTOMER_ID_PROPERTY: customer.id,
        "billow_customer_external_id": customer.external_id,
    }
    address = {
        "phone": customer.phone,
        "address": customer.address_line1,
        "address2": customer.address_line2,
        "city": customer.city,
        "state": customer.state,
        "zip": customer.zipcode,
        "country": customer.country,
    }
    if target_type == "contacts":
        firstname = customer.firstname or (None if customer.lastname else customer.name)
        person = {"firstname": firstname, "lastname": customer.lastname, "email": first_email(customer)}
        return {**_present(person), **_present(address), **ids}
    company = {
        "name": customer.name or customer.legal_name or customer.external_id,
        "domain": domain_of(customer),
    }
    return {**_present(company), **_present(address), **ids}


def subscription_properties(subscription: SubscriptionData) -> dict[str, str]:
    return {
        SUBSCRIPTION_ID_PROPERTY: subscription.id,
        "billow_subscription_external_id": subscription.external_id,
        CUSTOMER_ID_PROPERTY: subscription.customer.id,
        "subscription_name": subscription.name or "",
        "plan_code": subscription.plan_code,
        "plan_name": subscription.plan_name,
        "plan_amount": decimal_string(subscription.plan_amount_cents, subscription.currency),
        "currency": subscription.currency,
        "interval": subscription.interval,
        "subscription_status": subscription.status,
        "started_at": instant(subscription.started_at),
        "ending_at": instant(subscription.ending_at),
        "terminated_at": instant(subscription.terminated_at),
    }


def invoice_properties(invoice: InvoiceData) -> dict[str, str]:
    def money(cents: int) -> str:
        return decimal_string(cents, invoice.currency)

    return {
        INVOICE_ID_PROPERTY: invoice.id,
        CUSTOMER_ID_PROPERTY: invoice.customer.id,
        "invoice_number": invoice.number,
        "invoice_type": invoice.invoice_type,
        "invoice_status": invoice.status,
        "payment_status": invoice.payment_status,
        "currency": invoice.currency,
        "issuing_date": day(invoice.issuing_date),
        "payment_due_date": day(invoice.payment_due_date),
        "fees_amount": money(invoice.fees_amount_cents),
        "coupons_amount": money(invoice.coupons_amount_cents),
        "credit_notes_amount": money(invoice.credit_notes_amount_cents),
        "prepaid_credit_amount": money(invoice.prepaid_credit_amount_cents),
        "sub_total_excluding_taxes_amount": money(invoice.sub_total_excluding_taxes_amount_cents),
        "taxes_amount": money(invoice.taxes_amount_cents),
        "total_amount": money(invoice.total_amount_cents),
        "total_paid_amount": money(invoice.total_paid_amount_cents),
        "total_due_amount": money(invoice.total_due_amount_cents),
        "file_url": invoice.file_url or "",
    }


def record_url(portal_id: str | None, object_type: str, object_id: str) -> str | None:
    """The record's page in HubSpot's app, when the portal (hub) id is configured and the object type is
    known by its type id (the app's URLs take ``0-2``, ``2-1234567``, not names)."""
    type_id = {"companies": "0-2", "contacts": "0-1"}.get(object_type, object_type)
    if not portal_id or not re.fullmatch(r"\d+-\d+", type_id):
        return None
    return f"https://app.hubspot.com/contacts/{portal_id}/record/{type_id}/{object_id}"


_EXISTING_ID = re.compile(r"Existing ID: (\d+)")


def existing_id(message: str) -> str | None:
    """The record a 409 names (``Contact already exists. Existing ID: 12345``), if it names one."""
    match = _EXISTING_ID.search(message)
    return match.group(1) if match else None


def error_from_response(status: int, body: bytes | str | None) -> ProviderError:
    """HubSpot's error JSON (``status``, ``message``, ``category``, ``correlationId``) as a ProviderError:
    429 and 5xx retryable, 401 ``invalid_credentials``, else the category (``VALIDATION_ERROR``,
    ``CONFLICT``, ``OBJECT_NOT_FOUND``...) as the code."""
    payload: Any = None
    if body:
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
    if not isinstance(payload, dict):
        payload = {}
    category = payload.get("category")
    message = str(payload.get("message") or f"HubSpot answered {status}")
    details = {key: payload[key] for key in ("category", "correlationId", "subCategory") if key in payload}
    if status == 401:
        code = "invalid_credentials"
    elif isinstance(category, str) and category:
        code = category
    else:
        code = f"http_{status}"
    retryable = status == 429 or status >= 500
    return ProviderError(message, code=code, retryable=retryable, http_status=status, details=details)
