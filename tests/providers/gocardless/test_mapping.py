"""Pure translations of the GoCardless provider, computed by hand."""

from __future__ import annotations

import pytest

from billow.providers.gocardless import mapping
from billow.providers.interface import CustomerData, PaymentStatus, ProviderError

IDS = {
    "billow_payable_type": "payment_request",
    "billow_payable_id": "a" * 36,
    "billow_organization_id": "b" * 36,
    "billow_customer_id": "c" * 36,
}


def test_amounts_are_minor_units() -> None:
    assert mapping.gocardless_amount(1050, "gbp") == 1050  # £10.50: 1050 pence, as Billow's cents
    assert mapping.gocardless_amount(1, "SEK") == 1  # 0.01 SEK


@pytest.mark.parametrize("currency", ["JPY", "CHF", "KWD", "", None])
def test_other_currencies_are_refused(currency: str | None) -> None:
    with pytest.raises(ProviderError) as caught:
        mapping.gocardless_currency(currency)
    assert caught.value.code == "unsupported_currency"
    assert not caught.value.retryable


def test_zero_is_refused() -> None:
    with pytest.raises(ProviderError) as caught:
        mapping.gocardless_amount(0, "EUR")
    assert caught.value.code == "invalid_amount"


def test_billow_ids_fit_three_keys() -> None:
    packed = mapping.pack_metadata(IDS)
    assert packed == {
        "billow_payable": f"payment_request:{'a' * 36}",
        "billow_organization_id": "b" * 36,
        "billow_customer_id": "c" * 36,
    }
    assert mapping.unpack_metadata(packed) == IDS


def test_other_metadata_takes_the_room_left() -> None:
    assert mapping.pack_metadata({"billow_refund_id": "r1", "a": "1", "b": "2", "c": "3"}) == {
        "billow_refund_id": "r1",
        "a": "1",
        "b": "2",
    }
    with pytest.raises(ProviderError) as caught:
        mapping.pack_metadata({"k" * 51: "v"})  # keys: 50 characters at most
    assert caught.value.code == "invalid_metadata"
    with pytest.raises(ProviderError):
        mapping.pack_metadata({"k": "v" * 501})  # values: 500


def test_payment_statuses() -> None:
    expected = {
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
    assert {status: mapping.payment_status(status) for status in expected} == expected
    assert mapping.refund_status("paid") == "succeeded"
    assert mapping.refund_status("funds_returned") == "failed"
    assert mapping.refund_status("pending_submission") == "pending"
    assert mapping.method_type("sepa_core") == "sepa_debit"
    assert mapping.method_type("bacs") == "bacs_debit"


def test_mandate_currency() -> None:
    assert mapping.mandate_currency(CustomerData(id="c", external_id="e", name="n", currency="eur")) == "EUR"
    assert mapping.mandate_currency(CustomerData(id="c", external_id="e", name="n", country="se")) == "SEK"
    assert mapping.mandate_currency(CustomerData(id="c", external_id="e", name="n", country="FR")) == "EUR"
    with pytest.raises(ProviderError):
        mapping.mandate_currency(CustomerData(id="c", external_id="e", name="n", country="JP"))


def test_customer_body() -> None:
    person = CustomerData(
        id="c1",
        external_id="e1",
        name="Ada King Lovelace",
        email="a@x.io, b@x.io",
        country="gb",
        state="Kent",
    )
    assert mapping.customer_body(person) == {
        "given_name": "Ada King",
        "family_name": "Lovelace",
        "email": "a@x.io",  # GoCardless takes one address: the first
        "region": "Kent",
        "country_code": "GB",
        "metadata": {"billow_customer_id": "c1", "billow_external_id": "e1"},
    }
    company = CustomerData(
        id="c2", external_id="e2", name="Acme", legal_name="Acme Ltd", customer_type="company"
    )
    assert mapping.customer_body(company)["company_name"] == "Acme Ltd"
    assert "given_name" not in mapping.customer_body(company)
    named = CustomerData(id="c3", external_id="e3", name="Acme", firstname="Grace", lastname="Hopper")
    body = mapping.customer_body(named)
    assert (body["given_name"], body["family_name"]) == ("Grace", "Hopper")


def test_error_code() -> None:
    error = {"type": "invalid_state", "code": 422, "errors": [{"reason": "mandate_is_inactive"}]}
    assert mapping.error_code(error) == "mandate_is_inactive"
    assert mapping.error_code({"type": "gocardless", "code": 500, "errors": []}) == "gocardless"
