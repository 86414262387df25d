"""The pure translations, computed by hand."""

from __future__ import annotations

import pytest

from billow.providers.interface import PaymentStatus
from billow.providers.stripe import mapping
from tests.providers.stripe.conftest import customer_data


@pytest.mark.parametrize(
    ("cents", "currency", "stripe_amount"),
    [
        (1050, "EUR", 1050),  # 10.50 EUR: both two-decimal
        (1050, "usd", 1050),  # lower-case codes are the same currency
        (500, "JPY", 500),  # ¥500: no minor unit on either side
        (12345, "KRW", 12345),  # zero-decimal at Stripe and in ISO
        (1230, "KWD", 1230),  # 1.230 KWD: three decimals, last digit 0 as Stripe wants
        (500, "HUF", 50000),  # 500 Ft: CLDR exponent 0, Stripe two-decimal → 500 * 100
        (5, "ISK", 500),  # 5 kr: ISO exponent 0, Stripe keeps ISK two-decimal → 5 * 100
        (15000, "IDR", 1500000),  # Rp 15000: CLDR 0, Stripe 2 → * 100
        (0, "EUR", 0),
    ],
)
def test_to_stripe_amount(cents: int, currency: str, stripe_amount: int) -> None:
    assert mapping.to_stripe_amount(cents, currency) == stripe_amount


@pytest.mark.parametrize(
    ("cents", "currency"),
    [
        (1234, "KWD"),  # 1.234 KWD: Stripe refuses a last digit that is not 0
        (1001, "LYD"),  # 1.001 LYD: CLDR three decimals, Stripe two → 100.1 is no integer
    ],
)
def test_amounts_stripe_cannot_take(cents: int, currency: str) -> None:
    with pytest.raises(mapping.AmountNotRepresentable):
        mapping.to_stripe_amount(cents, currency)


@pytest.mark.parametrize(
    ("stripe_amount", "currency", "cents"),
    [
        (1050, "eur", 1050),
        (500, "jpy", 500),
        (1230, "kwd", 1230),
        (50000, "huf", 500),  # 50000 / 100
        (50050, "huf", 501),  # 500.50 Ft → 501 (half-up)
        (50049, "huf", 500),  # 500.49 Ft → 500
        (1000, "lyd", 10000),  # 10.00 LYD → 10.000 in CLDR's three decimals
    ],
)
def test_from_stripe_amount(stripe_amount: int, currency: str, cents: int) -> None:
    assert mapping.from_stripe_amount(stripe_amount, currency) == cents


def test_stripe_exponents() -> None:
    assert [mapping.stripe_exponent(c) for c in ("JPY", "xof", "EUR", "ISK", "BHD", "tnd")] == [
        0,
        0,
        2,
        2,
        3,
        3,
    ]


@pytest.mark.parametrize(
    ("intent", "status"),
    [
        ({"status": "succeeded"}, PaymentStatus.SUCCEEDED),
        ({"status": "processing"}, PaymentStatus.PROCESSING),
        ({"status": "requires_capture"}, PaymentStatus.PROCESSING),
        ({"status": "requires_action"}, PaymentStatus.REQUIRES_ACTION),
        ({"status": "canceled"}, PaymentStatus.CANCELED),
        ({"status": "requires_confirmation"}, PaymentStatus.PENDING),
        ({"status": "requires_payment_method", "last_payment_error": None}, PaymentStatus.PENDING),
        ({"status": "requires_payment_method", "last_payment_error": {"code": "x"}}, PaymentStatus.FAILED),
    ],
)
def test_payment_status(intent: dict[str, object], status: PaymentStatus) -> None:
    assert mapping.payment_status(intent) is status


def test_payment_result_of_a_failed_intent() -> None:
    intent = {
        "id": "pi_1",
        "amount": 50000,
        "currency": "huf",
        "status": "requires_payment_method",
        "payment_method": None,
        "last_payment_error": {
            "code": "card_declined",
            "decline_code": "insufficient_funds",
            "message": "Your card has insufficient funds.",
            "payment_method": {"id": "pm_1", "type": "card", "card": {"brand": "visa", "last4": "0002"}},
        },
    }
    result = mapping.payment_result(intent)
    assert result.status is PaymentStatus.FAILED
    assert (result.amount_cents, result.currency) == (500, "HUF")  # 50000 Stripe HUF = 500.00 Ft
    assert (result.error_code, result.error_message) == ("card_declined", "Your card has insufficient funds.")
    assert result.payment_method == {"id": "pm_1", "type": "card", "brand": "visa", "last4": "0002"}
    assert result.next_action_url is None


def test_next_action_url() -> None:
    redirect = {"next_action": {"type": "redirect_to_url", "redirect_to_url": {"url": "https://hooks/3ds"}}}
    transfer = {
        "next_action": {
            "type": "display_bank_transfer_instructions",
            "display_bank_transfer_instructions": {"hosted_instructions_url": "https://pay/instr"},
        }
    }
    assert mapping.next_action_url(redirect) == "https://hooks/3ds"
    assert mapping.next_action_url(transfer) == "https://pay/instr"
    assert mapping.next_action_url({"next_action": {"type": "use_stripe_sdk", "use_stripe_sdk": {}}}) is None


def test_refund_status() -> None:
    assert [
        mapping.refund_status(s) for s in ("succeeded", "pending", "requires_action", "failed", "canceled")
    ] == [
        "succeeded",
        "pending",
        "pending",
        "failed",
        "failed",
    ]


def test_customer_params_on_create_and_update() -> None:
    customer = customer_data(phone=None, address_line1=None, city=None, zipcode=None, country=None)
    created = mapping.customer_params(customer, "org", update=False)
    assert created == {
        "name": "Ada Lovelace",
        "email": "ada@example.com",  # the first of Lago's comma-separated addresses
        "metadata": {
            "billow_customer_id": customer.id,
            "billow_organization_id": "org",
            "external_id": "cust-ext-42",
        },
    }
    updated = mapping.customer_params(customer, "org", update=True)
    assert updated["phone"] == "" and updated["address"] == ""  # cleared at Stripe


def test_customer_name_falls_back() -> None:
    assert mapping.customer_name(customer_data(name=None, legal_name="ACME SAS")) == "ACME SAS"
    assert mapping.customer_name(customer_data(name=None, firstname="Ada", lastname="King")) == "Ada King"
    assert mapping.customer_name(customer_data(name=None)) is None
