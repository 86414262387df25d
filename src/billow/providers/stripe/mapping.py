"""Pure translations between Billow's snapshots and Stripe's objects (no network, no SDK).

Amounts: Billow's ``*_cents`` follow the ISO/CLDR exponent of the currency (``billow.kit.currency``);
Stripe's ``amount`` follows Stripe's own list: its zero-decimal currencies take whole units, its
three-decimal currencies take thousandths whose last digit must be 0, every other currency two decimals
(ISK, HUF, IDR... although their CLDR exponent is 0: Stripe keeps them two-decimal).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from billow.kit.currency import exponent
from billow.kit.money import round_minor_units
from billow.providers.interface import (
    CustomerData,
    PayableData,
    PaymentMethodData,
    PaymentResult,
    PaymentStatus,
    RefundResult,
)

#: Stripe's zero-decimal currencies (docs.stripe.com/currencies#zero-decimal).
ZERO_DECIMAL = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA"}
    | {"PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"}
)
#: Stripe's three-decimal currencies (the last digit of an amount must be 0).
THREE_DECIMAL = frozenset(("BHD", "JOD", "KWD", "OMR", "TND"))

DEFAULT_PAYMENT_METHOD_TYPES = ("card",)


class AmountNotRepresentable(ValueError):
    """A Billow amount Stripe cannot take exactly (1.234 KWD: Stripe wants a multiple of 10 thousandths)."""


# ------------------------------------------------------------------------------------------ amounts
def stripe_exponent(currency: str) -> int:
    code = currency.upper()
    if code in ZERO_DECIMAL:
        return 0
    if code in THREE_DECIMAL:
        return 3
    return 2


def to_stripe_amount(amount_cents: int, currency: str) -> int:
    """Billow's minor units → Stripe's ``amount``, exactly, or :class:`AmountNotRepresentable`."""
    code = currency.upper()
    shift = stripe_exponent(code) - exponent(code)
    if shift >= 0:
        amount = amount_cents * 10**shift
    else:
        amount, rest = divmod(amount_cents, 10**-shift)
        if rest:
            raise AmountNotRepresentable(f"{amount_cents} {code} minor units have no Stripe amount")
    if code in THREE_DECIMAL and amount % 10:
        raise AmountNotRepresentable(f"Stripe takes {code} amounts in multiples of 10 (got {amount})")
    return amount


def from_stripe_amount(amount: int, currency: str) -> int:
    """Stripe's ``amount`` → Billow's minor units (half-up when Stripe is finer: 50050 HUF → 501)."""
    code = currency.upper()
    shift = exponent(code) - stripe_exponent(code)
    if shift >= 0:
        return amount * 10**shift
    return round_minor_units(Decimal(amount).scaleb(shift))


# ------------------------------------------------------------------------------------------ customers
def customer_name(customer: CustomerData) -> str | None:
    if customer.name:
        return customer.name
    if customer.legal_name:
        return customer.legal_name
    full = " ".join(part for part in (customer.firstname, customer.lastname) if part)
    return full or None


def first_email(emails: str | None) -> str | None:
    """Lago's ``email`` may list several addresses separated by commas; Stripe takes one."""
    for part in (emails or "").split(","):
        if part.strip():
            return part.strip()
    return None


def customer_params(customer: CustomerData, organization_id: str, *, update: bool) -> dict[str, Any]:
    """``POST /v1/customers[/{id}]`` parameters. On update a field Billow no longer has is cleared (``""``
    unsets a Stripe field); on create it is left out."""
    address = {
        "line1": customer.address_line1,
        "line2": customer.address_line2,
        "city": customer.city,
        "state": customer.state,
        "postal_code": customer.zipcode,
        "country": customer.country,
    }
    present = {key: value for key, value in address.items() if value}
    fields: dict[str, Any] = {
        "name": customer_name(customer),
        "email": first_email(customer.email),
        "phone": customer.phone,
        "address": present or None,
    }
    params: dict[str, Any] = {}
    for key, value in fields.items():
        if value is not None:
            params[key] = value
        elif update:
            params[key] = ""
    params["metadata"] = {
        "billow_customer_id": customer.id,
        "billow_organization_id": organization_id,
        "external_id": customer.external_id,
    }
    return params


# ------------------------------------------------------------------------------------------ payments
def payable_metadata(payable: PayableData, organization_id: str) -> dict[str, str]:
    return {
        "billow_payable_type": payable.type,
        "billow_payable_id": payable.id,
        "billow_organization_id": organization_id,
        "billow_customer_id": payable.customer.id,
    }


def payment_method_types(settings: Mapping[str, Any]) -> list[str]:
    types = settings.get("payment_method_types")
    return list(types) if types else list(DEFAULT_PAYMENT_METHOD_TYPES)


def payment_intent_params(
    payable: PayableData,
    organization_id: str,
    customer_id: str,
    payment_method_id: str,
    method_types: Sequence[str],
) -> dict[str, Any]:
    """``POST /v1/payment_intents``: confirmed at once, off-session, with the saved method."""
    return {
        "amount": to_stripe_amount(payable.amount_cents, payable.currency),
        "currency": payable.currency.lower(),
        "customer": customer_id,
        "payment_method": payment_method_id,
        "payment_method_types": list(method_types),
        "confirm": True,
        "off_session": True,
        "description": payable.description,
        "metadata": payable_metadata(payable, organization_id),
    }


def checkout_payment_params(
    payable: PayableData,
    organization_id: str,
    success_url: str,
    method_types: Sequence[str],
) -> dict[str, Any]:
    """``POST /v1/checkout/sessions`` in ``payment`` mode: one line for the payable's amount."""
    metadata = payable_metadata(payable, organization_id)
    params: dict[str, Any] = {
        "mode": "payment",
        "success_url": success_url,
        "payment_method_types": list(method_types),
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": payable.currency.lower(),
                    "unit_amount": to_stripe_amount(payable.amount_cents, payable.currency),
                    "product_data": {"name": payable.description},
                },
            }
        ],
        "payment_intent_data": {
            "description": payable.description,
            "metadata": metadata,
            "setup_future_usage": "off_session",
        },
        "metadata": metadata,
    }
    if payable.customer.provider_customer_id:
        params["customer"] = payable.customer.provider_customer_id
    elif first_email(payable.customer.email):
        params["customer_email"] = first_email(payable.customer.email)
    return params


def checkout_setup_params(
    customer: CustomerData, organization_id: str, success_url: str, method_types: Sequence[str]
) -> dict[str, Any]:
    """``POST /v1/checkout/sessions`` in ``setup`` mode: the customer saves a method."""
    metadata = {"billow_customer_id": customer.id, "billow_organization_id": organization_id}
    return {
        "mode": "setup",
        "customer": customer.provider_customer_id,
        "success_url": success_url,
        "payment_method_types": list(method_types),
        "setup_intent_data": {"metadata": metadata},
        "metadata": metadata,
    }


def payment_status(intent: Mapping[str, Any]) -> PaymentStatus:
    """A PaymentIntent's ``status`` → Billow's. ``requires_payment_method`` is a failure once an attempt
    was made (``last_payment_error``), else the intent still waits for its method (a checkout)."""
    status = intent.get("status")
    if status == "succeeded":
        return PaymentStatus.SUCCEEDED
    if status in ("processing", "requires_capture"):
        return PaymentStatus.PROCESSING
    if status == "requires_action":
        return PaymentStatus.REQUIRES_ACTION
    if status == "canceled":
        return PaymentStatus.CANCELED
    if status == "requires_payment_method" and intent.get("last_payment_error"):
        return PaymentStatus.FAILED
    return PaymentStatus.PENDING


def next_action_url(intent: Mapping[str, Any]) -> str | None:
    action = intent.get("next_action") or {}
    redirect = action.get("redirect_to_url") or {}
    if redirect.get("url"):
        return str(redirect["url"])
    for value in action.values():  # hosted instructions of bank transfers, vouchers...
        if isinstance(value, Mapping):
            for key in ("hosted_instructions_url", "hosted_voucher_url", "url"):
                if value.get(key):
                    return str(value[key])
    return None


def method_details(method: Mapping[str, Any]) -> dict[str, Any]:
    """What Billow keeps of a PaymentMethod: its type's brand/last4/expiry..., never a full number."""
    kind = method.get("type")
    details: dict[str, Any] = {}
    sub = method.get(kind) if isinstance(kind, str) else None
    if isinstance(sub, Mapping):
        for key in ("brand", "last4", "exp_month", "exp_year", "funding", "country", "bank_code"):
            if sub.get(key) is not None:
                details[key] = sub[key]
    return details


def payment_method_data(method: Mapping[str, Any], default_id: str | None) -> PaymentMethodData:
    return PaymentMethodData(
        provider_method_id=str(method["id"]),
        method_type=str(method.get("type") or "unknown"),
        is_default=method["id"] == default_id,
        details=method_details(method),
    )


def payment_result(intent: Mapping[str, Any]) -> PaymentResult:
    currency = str(intent["currency"]).upper()
    status = payment_status(intent)
    error = (intent.get("last_payment_error") or {}) if status is PaymentStatus.FAILED else {}
    method = error.get("payment_method") if status is PaymentStatus.FAILED else intent.get("payment_method")
    used: dict[str, Any] | None = None
    if isinstance(method, Mapping):
        used = {"id": method.get("id"), "type": method.get("type"), **method_details(method)}
    elif isinstance(method, str):
        used = {"id": method}
    return PaymentResult(
        provider_payment_id=str(intent["id"]),
        status=status,
        amount_cents=from_stripe_amount(int(intent["amount"]), currency),
        currency=currency,
        provider_status=intent.get("status"),
        next_action_url=next_action_url(intent) if status is PaymentStatus.REQUIRES_ACTION else None,
        error_code=error.get("code") or error.get("decline_code"),
        error_message=error.get("message"),
        payment_method=used,
    )


# ------------------------------------------------------------------------------------------ refunds
def refund_status(status: str | None) -> str:
    if status == "succeeded":
        return "succeeded"
    if status in ("failed", "canceled"):
        return "failed"
    return "pending"  # pending, requires_action


def refund_result(refund: Mapping[str, Any]) -> RefundResult:
    currency = str(refund["currency"]).upper()
    return RefundResult(
        provider_refund_id=str(refund["id"]),
        status=refund_status(refund.get("status")),
        amount_cents=from_stripe_amount(int(refund["amount"]), currency),
        currency=currency,
    )


def string_metadata(metadata: Any) -> dict[str, str]:
    if not isinstance(metadata, Mapping):
        return {}
    return {str(key): str(value) for key, value in metadata.items() if value is not None}
