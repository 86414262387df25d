"""Pure translations between Billow and PayPal: amounts, statuses, payloads, ``custom_id``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from billow.kit import currency as currencies
from billow.providers.interface import PayableData, PaymentMethodData, PaymentStatus, ProviderError

#: PayPal takes no decimals for these currencies, whatever CLDR says (TWD has 2 there).
NO_DECIMAL_CURRENCIES = frozenset({"HUF", "JPY", "TWD"})
#: PayPal's limit on ``custom_id`` and ``invoice_id``.
CUSTOM_ID_MAX = 127

CAPTURE_STATUSES: Mapping[str, PaymentStatus] = {
    "COMPLETED": PaymentStatus.SUCCEEDED,
    # A capture later refunded was paid: the refund is its own event (REFUND_UPDATED).
    "PARTIALLY_REFUNDED": PaymentStatus.SUCCEEDED,
    "REFUNDED": PaymentStatus.SUCCEEDED,
    "PENDING": PaymentStatus.PROCESSING,
    "DECLINED": PaymentStatus.FAILED,
    "FAILED": PaymentStatus.FAILED,
}
ORDER_STATUSES: Mapping[str, PaymentStatus] = {
    "CREATED": PaymentStatus.PENDING,
    "SAVED": PaymentStatus.PENDING,
    "PAYER_ACTION_REQUIRED": PaymentStatus.REQUIRES_ACTION,
    "APPROVED": PaymentStatus.PROCESSING,
    "COMPLETED": PaymentStatus.SUCCEEDED,
    "VOIDED": PaymentStatus.CANCELED,
}
REFUND_STATUSES: Mapping[str, str] = {
    "COMPLETED": "succeeded",
    "PENDING": "pending",
    "FAILED": "failed",
    "CANCELLED": "failed",
}


def _paypal_exponent(code: str) -> int:
    if code in NO_DECIMAL_CURRENCIES:
        return 0
    return currencies.exponent(code)


def to_paypal_value(amount_cents: int, currency: str) -> str:
    """Billow's minor units → PayPal's ``value`` string.

    Billow counts in ISO 4217 minor units; PayPal wants a decimal string with PayPal's own number of
    decimals (none for HUF, JPY, TWD). An amount that PayPal cannot represent exactly is refused."""
    code = currency.upper()
    iso = currencies.exponent(code)
    paypal = _paypal_exponent(code)
    amount = Decimal(amount_cents).scaleb(-iso)
    quantum = Decimal(1).scaleb(-paypal)
    if amount != amount.quantize(quantum):
        raise ProviderError(
            f"{amount_cents} minor units of {code} cannot be expressed with {paypal} decimals at PayPal",
            code="invalid_amount",
        )
    return str(amount.quantize(quantum))


def from_paypal_value(value: str, currency: str) -> int:
    """PayPal's ``value`` string → Billow's minor units (ISO 4217 exponent)."""
    amount = Decimal(value).scaleb(currencies.exponent(currency.upper()))
    if amount != amount.to_integral_value():
        raise ValueError(f"{value} {currency} is not a whole number of minor units")
    return int(amount)


def pack_custom_id(metadata: Mapping[str, str]) -> str:
    """Billow's ids in PayPal's ``custom_id`` (127 characters): ``type:payable:organization:customer``.

    Ids that would not fit are dropped from the end (the payable comes first)."""
    parts = [
        metadata.get("billow_payable_type", ""),
        metadata.get("billow_payable_id", ""),
        metadata.get("billow_organization_id", ""),
        metadata.get("billow_customer_id", ""),
    ]
    while parts and (not parts[-1] or len(":".join(parts)) > CUSTOM_ID_MAX):
        parts.pop()
    return ":".join(parts)


def unpack_custom_id(custom_id: str | None) -> dict[str, str]:
    if not custom_id:
        return {}
    names = ("billow_payable_type", "billow_payable_id", "billow_organization_id", "billow_customer_id")
    values = custom_id.split(":")
    if len(values) > len(names):
        return {}
    return {name: value for name, value in zip(names, values, strict=False) if value}


def payable_metadata(organization_id: str, payable: PayableData) -> dict[str, str]:
    return {
        "billow_payable_type": payable.type,
        "billow_payable_id": payable.id,
        "billow_organization_id": organization_id,
        "billow_customer_id": payable.customer.id,
    }


def payment_source(payment_method_id: str) -> dict[str, Any]:
    """The ``payment_source`` of an order paid with a saved method.

    ``B-...``: a billing agreement (``token`` of type ``BILLING_AGREEMENT``); ``card:<id>`` / ``venmo:<id>``:
    a vaulted card / Venmo account; anything else: a vaulted PayPal wallet (``paypal.vault_id``)."""
    if payment_method_id.startswith("B-"):
        return {"token": {"id": payment_method_id, "type": "BILLING_AGREEMENT"}}
    for kind in ("card", "venmo"):
        if payment_method_id.startswith(f"{kind}:"):
            return {kind: {"vault_id": payment_method_id.removeprefix(f"{kind}:")}}
    return {"paypal": {"vault_id": payment_method_id}}


def payment_method(token: Mapping[str, Any]) -> PaymentMethodData:
    """A vault payment token (``GET /v3/vault/payment-tokens``, ``VAULT.PAYMENT-TOKEN.CREATED``) as a
    Billow method; its id as :func:`payment_source` reads it back."""
    source = token.get("payment_source") or {}
    if "card" in source:
        card = source["card"] or {}
        details = {"brand": card.get("brand"), "last4": card.get("last_digits"), "expiry": card.get("expiry")}
        return PaymentMethodData(f"card:{token['id']}", "card", details=details)
    if "venmo" in source:
        venmo = source["venmo"] or {}
        return PaymentMethodData(
            f"venmo:{token['id']}", "venmo", details={"user_name": venmo.get("user_name")}
        )
    paypal = source.get("paypal") or {}
    return PaymentMethodData(str(token["id"]), "paypal", details={"email": paypal.get("email_address")})


def order_body(organization_id: str, payable: PayableData, *, return_url: str | None) -> dict[str, Any]:
    """``POST /v2/checkout/orders``: one purchase unit for the payable."""
    metadata = payable_metadata(organization_id, payable)
    unit: dict[str, Any] = {
        "reference_id": payable.id,
        "description": payable.description[:127],
        "custom_id": pack_custom_id(metadata),
        "invoice_id": payable.id[:CUSTOM_ID_MAX],
        "amount": {
            "currency_code": payable.currency.upper(),
            "value": to_paypal_value(payable.amount_cents, payable.currency),
        },
    }
    body: dict[str, Any] = {"intent": "CAPTURE", "purchase_units": [unit]}
    if return_url is not None:
        body["payment_source"] = {
            "paypal": {
                "experience_context": {
                    "return_url": return_url,
                    "cancel_url": return_url,
                    "user_action": "PAY_NOW",
                    "shipping_preference": "NO_SHIPPING",
                }
            }
        }
    return body


def approve_link(order: Mapping[str, Any]) -> str | None:
    for link in order.get("links") or ():
        if link.get("rel") in ("payer-action", "approve"):
            return str(link["href"])
    return None


def first_capture(order: Mapping[str, Any]) -> dict[str, Any] | None:
    for unit in order.get("purchase_units") or ():
        captures = (unit.get("payments") or {}).get("captures") or ()
        if captures:
            return dict(captures[0])
    return None


def order_metadata(order: Mapping[str, Any]) -> dict[str, str]:
    for unit in order.get("purchase_units") or ():
        return unpack_custom_id(unit.get("custom_id"))
    return {}


def capture_status(status: str | None) -> PaymentStatus:
    return CAPTURE_STATUSES.get(status or "", PaymentStatus.PENDING)


def refund_status(status: str | None) -> str:
    return REFUND_STATUSES.get(status or "", "pending")


def error_code(status: int, body: Any) -> str:
    """PayPal's own code of an error answer: the first ``details[].issue``, else ``name``, else the
    OAuth ``error``; ``http_<status>`` when the body says nothing."""
    if isinstance(body, Mapping):
        details = body.get("details")
        if isinstance(details, list) and details and isinstance(details[0], Mapping):
            issue = details[0].get("issue")
            if issue:
                return str(issue)
        for key in ("name", "error"):
            if isinstance(body.get(key), str):
                return str(body[key])
    return f"http_{status}"


def json_object(body: bytes) -> dict[str, Any]:
    """A webhook body: a JSON object with an ``id``, else ``ValueError``."""
    parsed = json.loads(body)
    if not isinstance(parsed, dict) or not parsed.get("id"):
        raise ValueError("not a JSON object with an id")
    return parsed
