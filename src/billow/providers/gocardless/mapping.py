"""Pure translations between Billow and GoCardless: currencies, metadata, statuses, customers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from billow.kit import currency as currencies
from billow.providers.interface import CustomerData, PaymentStatus, ProviderError

#: The currencies GoCardless collects in.
CURRENCIES = frozenset({"GBP", "EUR", "SEK", "DKK", "AUD", "NZD", "CAD", "USD"})
#: GoCardless metadata: at most 3 keys of 50 characters, values of 500.
METADATA_KEYS, METADATA_KEY_LENGTH, METADATA_VALUE_LENGTH = 3, 50, 500
#: A mandate's currency from its customer's country when the customer has no currency.
COUNTRY_CURRENCIES: Mapping[str, str] = {
    "GB": "GBP",
    "SE": "SEK",
    "DK": "DKK",
    "AU": "AUD",
    "NZ": "NZD",
    "CA": "CAD",
    "US": "USD",
}
EURO_COUNTRIES = frozenset(
    {"AT", "BE", "CY", "DE", "EE", "ES", "FI", "FR", "GR", "HR", "IE", "IT"}
    | {"LT", "LU", "LV", "MT", "NL", "PT", "SI", "SK", "MC", "SM", "AD"}
)

PAYMENT_STATUSES: Mapping[str, PaymentStatus] = {
    "pending_customer_approval": PaymentStatus.PENDING,
    "pending_submission": PaymentStatus.PENDING,
    "submitted": PaymentStatus.PROCESSING,
    "confirmed": PaymentStatus.SUCCEEDED,
    "paid_out": PaymentStatus.SUCCEEDED,
    "failed": PaymentStatus.FAILED,
    "customer_approval_denied": PaymentStatus.FAILED,
    "charged_back": PaymentStatus.FAILED,
    "cancelled": PaymentStatus.CANCELED,
}
REFUND_STATUSES: Mapping[str, str] = {
    "created": "pending",
    "pending_submission": "pending",
    "submitted": "pending",
    "paid": "succeeded",
    "cancelled": "failed",
    "bounced": "failed",
    "funds_returned": "failed",
}
#: A mandate's scheme → Billow's ``method_type``.
SCHEME_METHOD_TYPES: Mapping[str, str] = {"sepa_core": "sepa_debit", "sepa_cor1": "sepa_debit"}


def gocardless_currency(code: str | None) -> str:
    """Upper-cased, and one GoCardless collects in; else a non-retryable ``unsupported_currency``."""
    upper = (code or "").upper()
    if upper not in CURRENCIES:
        raise ProviderError(f"GoCardless does not collect in {code!r}", code="unsupported_currency")
    return upper


def gocardless_amount(amount_cents: int, currency: str) -> int:
    """GoCardless amounts are in the currency's minor unit, as Billow's: every GoCardless currency has 2
    decimals (checked, not assumed), so 1050 EUR cents are sent as 1050."""
    code = gocardless_currency(currency)
    if currencies.exponent(code) != 2:  # pragma: no cover - a currency added to GoCardless's list
        raise ProviderError(f"{code} has no 2-decimal minor unit", code="unsupported_currency")
    if amount_cents <= 0:
        raise ProviderError("GoCardless collects positive amounts only", code="invalid_amount")
    return amount_cents


def mandate_currency(customer: CustomerData) -> str:
    """The customer's currency, else its country's, else a non-retryable error."""
    if customer.currency:
        return gocardless_currency(customer.currency)
    country = (customer.country or "").upper()
    if country in COUNTRY_CURRENCIES:
        return COUNTRY_CURRENCIES[country]
    if country in EURO_COUNTRIES:
        return "EUR"
    raise ProviderError("no currency for the customer's mandate", code="unsupported_currency")


BILLOW_KEYS = frozenset(
    {"billow_payable_type", "billow_payable_id", "billow_organization_id", "billow_customer_id"}
)


def pack_metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    """Billow's four ids in GoCardless's three metadata keys: the payable's type and id share one key
    (``billow_payable`` = ``invoice:<id>``)."""
    packed: dict[str, str] = {}
    if metadata.get("billow_payable_id"):
        packed["billow_payable"] = (
            f"{metadata.get('billow_payable_type', '')}:{metadata['billow_payable_id']}"
        )
    for key in ("billow_organization_id", "billow_customer_id"):
        if metadata.get(key):
            packed[key] = metadata[key]
    for key, value in metadata.items():  # other keys (a refund's...) while there is room
        if key not in BILLOW_KEYS and len(packed) < METADATA_KEYS:
            packed[key] = value
    for key, value in packed.items():
        if len(key) > METADATA_KEY_LENGTH or len(value) > METADATA_VALUE_LENGTH:
            raise ProviderError(f"metadata {key!r} too long for GoCardless", code="invalid_metadata")
    return packed


def unpack_metadata(metadata: Mapping[str, Any] | None) -> dict[str, str]:
    unpacked = {str(k): str(v) for k, v in (metadata or {}).items() if k != "billow_payable"}
    payable = (metadata or {}).get("billow_payable")
    if isinstance(payable, str) and ":" in payable:
        kind, _, payable_id = payable.partition(":")
        unpacked["billow_payable_type"] = kind
        unpacked["billow_payable_id"] = payable_id
    return unpacked


def payment_status(status: str | None) -> PaymentStatus:
    return PAYMENT_STATUSES.get(status or "", PaymentStatus.PENDING)


def refund_status(status: str | None) -> str:
    return REFUND_STATUSES.get(status or "", "pending")


def method_type(scheme: str | None) -> str:
    return SCHEME_METHOD_TYPES.get(scheme or "", f"{scheme or 'direct'}_debit")


def customer_body(customer: CustomerData) -> dict[str, Any]:
    """``POST /customers`` / ``PUT /customers/{id}``: names, first e-mail, address, Billow's ids."""
    body: dict[str, Any] = {}
    first, last = customer.firstname, customer.lastname
    if (
        not (first and last)
        and customer.customer_type != "company"
        and customer.name
        and " " in customer.name
    ):
        first, _, last = customer.name.strip().rpartition(" ")
    if customer.customer_type == "company" or not (first and last):
        body["company_name"] = customer.legal_name or customer.name or customer.external_id
    if first and last:
        body["given_name"], body["family_name"] = first, last
    if customer.email:
        body["email"] = customer.email.split(",")[0].strip()
    fields = {
        "address_line1": customer.address_line1,
        "address_line2": customer.address_line2,
        "city": customer.city,
        "region": customer.state,
        "postal_code": customer.zipcode,
        "country_code": customer.country.upper() if customer.country else None,
        "phone_number": customer.phone,
    }
    body.update({key: value for key, value in fields.items() if value})
    body["metadata"] = {"billow_customer_id": customer.id, "billow_external_id": customer.external_id[:500]}
    return body


def error_code(error: Mapping[str, Any]) -> str:
    """GoCardless's own code of an error: the first ``errors[].reason``, else its ``type``."""
    for item in error.get("errors") or ():
        if isinstance(item, Mapping) and item.get("reason"):
            return str(item["reason"])
    return str(error.get("type") or f"http_{error.get('code')}")
