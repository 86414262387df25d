"""Pure translations of the PayPal provider, computed by hand."""

from __future__ import annotations

import pytest

from billow.providers.interface import PaymentStatus, ProviderError
from billow.providers.paypal import mapping


@pytest.mark.parametrize(
    ("cents", "currency", "value"),
    [
        (1050, "EUR", "10.50"),  # 1050 / 10^2 = 10.50
        (5, "usd", "0.05"),  # 5 / 100 = 0.05, code upper-cased
        (100000, "USD", "1000.00"),  # 100000 / 100
        (100, "JPY", "100"),  # JPY has no minor unit: 100 yen
        (1234, "KWD", "1.234"),  # KWD has 3 decimals: 1234 / 10^3
        (12300, "TWD", "123"),  # CLDR: 2 decimals, PayPal: none; 12300 / 100 = 123 exactly
        (12300, "HUF", "12300"),  # CLDR (Billow) and PayPal: no decimals
    ],
)
def test_to_paypal_value(cents: int, currency: str, value: str) -> None:
    assert mapping.to_paypal_value(cents, currency) == value


def test_an_amount_paypal_cannot_express_is_refused() -> None:
    # 12345 TWD cents = 123.45 TWD, but PayPal takes no decimals for TWD.
    with pytest.raises(ProviderError) as caught:
        mapping.to_paypal_value(12345, "TWD")
    assert caught.value.code == "invalid_amount"
    assert not caught.value.retryable


@pytest.mark.parametrize(
    ("value", "currency", "cents"),
    [
        ("10.50", "EUR", 1050),  # 10.50 * 100
        ("10.5", "EUR", 1050),
        ("100", "JPY", 100),  # no minor unit
        ("1.234", "KWD", 1234),  # 1.234 * 1000
        ("123", "TWD", 12300),  # 123 * 100 (Billow keeps CLDR's 2 decimals)
    ],
)
def test_from_paypal_value(value: str, currency: str, cents: int) -> None:
    assert mapping.from_paypal_value(value, currency) == cents


def test_custom_id_round_trip() -> None:
    metadata = {
        "billow_payable_type": "payment_request",
        "billow_payable_id": "a" * 36,
        "billow_organization_id": "b" * 36,
        "billow_customer_id": "c" * 36,
    }
    packed = mapping.pack_custom_id(metadata)
    # 15 + 36 * 3 + 3 separators = 126 <= 127
    assert len(packed) == 126
    assert mapping.unpack_custom_id(packed) == metadata


def test_custom_id_drops_the_last_ids_beyond_127_characters() -> None:
    metadata = {
        "billow_payable_type": "payment_request",
        "billow_payable_id": "a" * 36,
        "billow_organization_id": "b" * 36,
        "billow_customer_id": "c" * 40,  # 15 + 36 + 36 + 40 + 3 = 130 > 127
    }
    assert mapping.pack_custom_id(metadata) == f"payment_request:{'a' * 36}:{'b' * 36}"
    assert mapping.unpack_custom_id("x:y:z:w:v") == {}  # not Billow's
    assert mapping.unpack_custom_id(None) == {}


def test_payment_source() -> None:
    assert mapping.payment_source("8kk8451t") == {"paypal": {"vault_id": "8kk8451t"}}
    assert mapping.payment_source("card:9ab") == {"card": {"vault_id": "9ab"}}
    assert mapping.payment_source("B-5YM3D8AE") == {
        "token": {"id": "B-5YM3D8AE", "type": "BILLING_AGREEMENT"}
    }


def test_statuses() -> None:
    assert mapping.capture_status("COMPLETED") is PaymentStatus.SUCCEEDED
    assert mapping.capture_status("PENDING") is PaymentStatus.PROCESSING
    assert mapping.capture_status("DECLINED") is PaymentStatus.FAILED
    assert mapping.capture_status("FAILED") is PaymentStatus.FAILED
    assert mapping.capture_status("REFUNDED") is PaymentStatus.SUCCEEDED
    assert mapping.refund_status("COMPLETED") == "succeeded"
    assert mapping.refund_status("CANCELLED") == "failed"
    assert mapping.refund_status(None) == "pending"


def test_error_code() -> None:
    body = {"name": "UNPROCESSABLE_ENTITY", "details": [{"issue": "INSTRUMENT_DECLINED"}]}
    assert mapping.error_code(422, body) == "INSTRUMENT_DECLINED"
    assert mapping.error_code(400, {"name": "INVALID_REQUEST"}) == "INVALID_REQUEST"
    assert mapping.error_code(401, {"error": "invalid_client"}) == "invalid_client"
    assert mapping.error_code(500, {"error": {"message": "x"}}) == "http_500"
    assert mapping.error_code(502, None) == "http_502"
