"""The pure HubSpot translations: amounts, dates, properties, errors (hand-computed values)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from billow.providers.hubspot import mapping
from billow.providers.interface import CustomerData


@pytest.mark.parametrize(
    ("cents", "currency", "expected"),
    [
        (1050, "EUR", "10.50"),  # 1050 / 10**2
        (5, "USD", "0.05"),  # 5 / 100
        (0, "EUR", "0.00"),
        (500, "JPY", "500"),  # JPY has no minor unit: 500 / 10**0
        (1234, "KWD", "1.234"),  # three decimals: 1234 / 10**3
        (-250, "EUR", "-2.50"),  # a negative balance stays exact
        (123_456_789_012, "USD", "1234567890.12"),  # no float anywhere
    ],
)
def test_decimal_string(cents: int, currency: str, expected: str) -> None:
    assert mapping.decimal_string(cents, currency) == expected


def test_instants_and_days() -> None:
    assert mapping.instant(datetime(2026, 12, 7, 8, 5, 9, 999, tzinfo=UTC)) == "2026-12-07T08:05:09Z"
    assert mapping.instant(None) == ""
    assert mapping.day(date(2026, 2, 28)) == "2026-02-28"
    assert mapping.day(None) == ""


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        ({"website": "https://www.Acme.example/about?x=1"}, "www.acme.example"),
        ({"domain": "acme.example"}, "acme.example"),
        ({"domain": "acme.example", "website": "https://other.example"}, "acme.example"),
        ({}, None),
        ({"website": "https://"}, None),
    ],
)
def test_domain_of(metadata: dict[str, str], expected: str | None) -> None:
    customer = CustomerData(id="c", external_id="e", name="n", metadata=metadata)
    assert mapping.domain_of(customer) == expected


def test_company_falls_back_to_legal_name_then_external_id() -> None:
    legal = CustomerData(id="c", external_id="e", name=None, legal_name="Acme SAS")
    bare = CustomerData(id="c", external_id="e", name=None)
    assert mapping.customer_properties(legal, "companies")["name"] == "Acme SAS"
    assert mapping.customer_properties(bare, "companies") == {
        "name": "e",
        "billow_customer_id": "c",
        "billow_customer_external_id": "e",
    }


def test_contact_takes_the_name_when_no_first_or_last_name() -> None:
    customer = CustomerData(id="c", external_id="e", name="Grace Hopper", email=" , x@y.example")
    assert mapping.customer_properties(customer, "contacts") == {
        "firstname": "Grace Hopper",
        "billow_customer_id": "c",
        "billow_customer_external_id": "e",
    }


def test_record_url() -> None:
    assert mapping.record_url(None, "companies", "1") is None
    assert mapping.record_url("42", "companies", "7") == "https://app.hubspot.com/contacts/42/record/0-2/7"
    assert mapping.record_url("42", "2-99", "7") == "https://app.hubspot.com/contacts/42/record/2-99/7"
    assert mapping.record_url("42", "p_billow_invoices", "7") is None


class TestErrors:
    def test_hubspot_error_json(self) -> None:
        body = (
            b'{"status":"error","message":"Property values were not valid","correlationId":"abc-1",'
            b'"category":"VALIDATION_ERROR"}'
        )
        error = mapping.error_from_response(400, body)
        assert (error.code, error.retryable, error.http_status, error.message) == (
            "VALIDATION_ERROR",
            False,
            400,
            "Property values were not valid",
        )
        assert error.details == {"category": "VALIDATION_ERROR", "correlationId": "abc-1"}

    @pytest.mark.parametrize(
        ("status", "body", "code", "retryable"),
        [
            (401, b'{"category":"INVALID_AUTHENTICATION","message":"x"}', "invalid_credentials", False),
            (409, b'{"category":"CONFLICT","message":"x"}', "CONFLICT", False),
            (429, b'{"category":"RATE_LIMITS","message":"x"}', "RATE_LIMITS", True),
            (502, b"<html>bad gateway</html>", "http_502", True),
            (500, None, "http_500", True),
            (404, b"[1, 2]", "http_404", False),
        ],
    )
    def test_codes_and_retryability(
        self, status: int, body: bytes | None, code: str, retryable: bool
    ) -> None:
        error = mapping.error_from_response(status, body)
        assert (error.code, error.retryable) == (code, retryable)


def test_existing_id_of_a_conflict() -> None:
    assert mapping.existing_id("Contact already exists. Existing ID: 37765128953") == "37765128953"
    assert mapping.existing_id("123 already has that value.") is None
