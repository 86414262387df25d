"""Pure translation between Billow's snapshots and Salesforce records (no I/O).

Records are keyed by Billow's ids in external id fields (``Billow_Customer_Id__c`` on ``Account``,
``Billow_Subscription_Id__c`` on ``Billow_Subscription__c``, ``Billow_Invoice_Id__c`` on
``Billow_Invoice__c``): an upsert by external id is idempotent by construction. The external id is in the
URL of an upsert, never in its body. Amounts are JSON numbers in currency units (``10.5`` for 1050 EUR
cents), datetimes ISO 8601 UTC, dates ``YYYY-MM-DD``; ``None`` is JSON ``null`` (clears the field).
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from billow.kit.money import from_minor_units
from billow.providers.interface import CustomerData, InvoiceData, ProviderError, SubscriptionData

ACCOUNT = "Account"
SUBSCRIPTION = "Billow_Subscription__c"
INVOICE = "Billow_Invoice__c"
CUSTOMER_EXTERNAL_ID_FIELD = "Billow_Customer_Id__c"
SUBSCRIPTION_EXTERNAL_ID_FIELD = "Billow_Subscription_Id__c"
INVOICE_EXTERNAL_ID_FIELD = "Billow_Invoice_Id__c"
#: The lookup field of the custom objects to their Account.
ACCOUNT_LOOKUP_FIELD = "Account__c"

#: Salesforce errors worth a later attempt (besides HTTP 5xx).
RETRYABLE_CODES = frozenset({"REQUEST_LIMIT_EXCEEDED", "UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE"})
#: A ``Name`` is a text(80) field on Account and custom objects.
NAME_LENGTH = 80


def amount(cents: int, currency: str) -> float | str:
    """Minor units as a JSON number in currency units: 1050 EUR → 10.5; 500 JPY → 500.0; 1234 KWD →
    1.234. A float is sent only when its shortest text is the exact decimal (always for amounts below
    10**13 with three decimals or fewer); otherwise the exact decimal string (Salesforce parses both)."""
    exact = from_minor_units(cents, currency)
    as_float = float(exact)
    if Decimal(repr(as_float)) == exact:
        return as_float
    return f"{exact:f}"


def instant(value: datetime | None) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%SZ")


def day(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _name(*candidates: str | None) -> str:
    for candidate in candidates:
        if candidate:
            return candidate[:NAME_LENGTH]
    return ""


def account_fields(customer: CustomerData) -> dict[str, Any]:
    """An Account's fields for ``customer`` (its external id ``Billow_Customer_Id__c`` apart)."""
    street = "\n".join(line for line in (customer.address_line1, customer.address_line2) if line)
    fields: dict[str, Any] = {
        "Name": _name(customer.name, customer.legal_name, customer.external_id),
        "Billow_Customer_External_Id__c": customer.external_id,
    }
    optional = {
        "Phone": customer.phone,
        "BillingStreet": street or None,
        "BillingCity": customer.city,
        "BillingState": customer.state,
        "BillingPostalCode": customer.zipcode,
        "BillingCountry": customer.country,
    }
    fields.update({key: value for key, value in optional.items() if value})
    return fields


def subscription_fields(subscription: SubscriptionData, account_id: str) -> dict[str, Any]:
    return {
        "Name": _name(subscription.name, subscription.plan_name, subscription.external_id),
        "Billow_External_Id__c": subscription.external_id,
        ACCOUNT_LOOKUP_FIELD: account_id,
        "Plan_Code__c": subscription.plan_code,
        "Plan_Name__c": subscription.plan_name,
        "Plan_Amount__c": amount(subscription.plan_amount_cents, subscription.currency),
        "Currency__c": subscription.currency,
        "Interval__c": subscription.interval,
        "Status__c": subscription.status,
        "Started_At__c": instant(subscription.started_at),
        "Ending_At__c": instant(subscription.ending_at),
        "Terminated_At__c": instant(subscription.terminated_at),
    }


def invoice_fields(invoice: InvoiceData, account_id: str) -> dict[str, Any]:
    def money(cents: int) -> float | str:
        return amount(cents, invoice.currency)

    return {
        "Name": _name(invoice.number, invoice.id),
        ACCOUNT_LOOKUP_FIELD: account_id,
        "Invoice_Number__c": invoice.number,
        "Invoice_Type__c": invoice.invoice_type,
        "Status__c": invoice.status,
        "Payment_Status__c": invoice.payment_status,
        "Currency__c": invoice.currency,
        "Issuing_Date__c": day(invoice.issuing_date),
        "Payment_Due_Date__c": day(invoice.payment_due_date),
        "Fees_Amount__c": money(invoice.fees_amount_cents),
        "Coupons_Amount__c": money(invoice.coupons_amount_cents),
        "Credit_Notes_Amount__c": money(invoice.credit_notes_amount_cents),
        "Prepaid_Credit_Amount__c": money(invoice.prepaid_credit_amount_cents),
        "Sub_Total_Excluding_Taxes__c": money(invoice.sub_total_excluding_taxes_amount_cents),
        "Taxes_Amount__c": money(invoice.taxes_amount_cents),
        "Total_Amount__c": money(invoice.total_amount_cents),
        "Total_Paid_Amount__c": money(invoice.total_paid_amount_cents),
        "Total_Due_Amount__c": money(invoice.total_due_amount_cents),
        "File_Url__c": invoice.file_url,
    }


def _parse(content: Any) -> Any:
    if isinstance(content, bytes | str):
        try:
            return json.loads(content)
        except ValueError:
            return None
    return content


def error_from_response(status: int, content: Any) -> ProviderError:
    """Salesforce's ``[{"message", "errorCode", "fields"}]`` as a ProviderError: the first error's code,
    retryable for HTTP 5xx and :data:`RETRYABLE_CODES` (``REQUEST_LIMIT_EXCEEDED`` comes as a 403)."""
    payload = _parse(content)
    errors = [e for e in payload if isinstance(e, dict)] if isinstance(payload, list) else []
    first = errors[0] if errors else {}
    code = str(first.get("errorCode") or f"http_{status}")
    message = str(first.get("message") or f"Salesforce answered {status}")
    if status == 401:
        code = "invalid_credentials"
    retryable = status >= 500 or first.get("errorCode") in RETRYABLE_CODES
    details: dict[str, Any] = {"errors": errors} if errors else {}
    return ProviderError(message, code=code, retryable=retryable, http_status=status, details=details)


def token_error(status: int, content: Any) -> ProviderError:
    """The OAuth token endpoint's ``{"error", "error_description"}``: a refused grant is
    ``invalid_credentials``; 5xx retryable."""
    payload = _parse(content)
    payload = payload if isinstance(payload, dict) else {}
    error = str(payload.get("error") or f"http_{status}")
    message = str(payload.get("error_description") or f"Salesforce token endpoint answered {status}")
    if status >= 500:
        return ProviderError(message, code=error, retryable=True, http_status=status)
    return ProviderError(message, code="invalid_credentials", http_status=status, details={"error": error})
