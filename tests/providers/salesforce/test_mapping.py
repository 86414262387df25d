"""The pure Salesforce translations: amounts, fields, errors (hand-computed values)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from billow.providers.interface import CustomerData
from billow.providers.salesforce import mapping


@pytest.mark.parametrize(
    ("cents", "currency", "expected"),
    [
        (1050, "EUR", 10.5),  # 1050 / 10**2
        (4999, "EUR", 49.99),
        (5, "USD", 0.05),
        (500, "JPY", 500.0),  # no minor unit: 500 / 10**0
        (1234, "KWD", 1.234),  # 1234 / 10**3
        (-250, "EUR", -2.5),
        (999_999_999_999_99, "USD", 999999999999.99),  # 15 significant digits: still exact as a float
    ],
)
def test_amount_is_an_exact_json_number(cents: int, currency: str, expected: float) -> None:
    assert mapping.amount(cents, currency) == expected
    assert json.dumps(mapping.amount(cents, currency)) == repr(expected)


def test_amount_beyond_float_precision_is_the_exact_decimal_string() -> None:
    # 12345678901234563 cents = 123456789012345.63: the nearest float prints as ...345.62
    assert mapping.amount(12_345_678_901_234_563, "USD") == "123456789012345.63"


def test_instants_and_days() -> None:
    assert mapping.instant(datetime(2026, 12, 7, 8, 5, 9, tzinfo=UTC)) == "2026-12-07T08:05:09Z"
    assert mapping.instant(None) is None
    assert mapping.day(None) is None


def test_account_fields() -> None:
    bare = CustomerData(id="c1", external_id="e1", name=None)
    assert mapping.account_fields(bare) == {"Name": "e1", "Billow_Customer_External_Id__c": "e1"}
    long_name = CustomerData(id="c1", external_id="e1", name="x" * 100, address_line2="Floor 2")
    fields = mapping.account_fields(long_name)
    assert len(fields["Name"]) == 80  # Account.Name is a text(80)
    assert fields["BillingStreet"] == "Floor 2"


class TestErrors:
    def test_salesforce_error_list(self) -> None:
        body = (
            b'[{"message":"Required fields are missing: [Name]","errorCode":"REQUIRED_FIELD_MISSING",'
            b'"fields":["Name"]}]'
        )
        error = mapping.error_from_response(400, body)
        assert (error.code, error.retryable, error.http_status, error.message) == (
            "REQUIRED_FIELD_MISSING",
            False,
            400,
            "Required fields are missing: [Name]",
        )
        assert error.details["errors"][0]["fields"] == ["Name"]

    @pytest.mark.parametrize(
        ("status", "content", "code", "retryable"),
        [
            (401, [{"errorCode": "INVALID_SESSION_ID", "message": "x"}], "invalid_credentials", False),
            (403, [{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "x"}], "REQUEST_LIMIT_EXCEEDED", True),
            (400, [{"errorCode": "UNABLE_TO_LOCK_ROW", "message": "x"}], "UNABLE_TO_LOCK_ROW", True),
            (403, [{"errorCode": "INSUFFICIENT_ACCESS", "message": "x"}], "INSUFFICIENT_ACCESS", False),
            (503, "Service Unavailable", "http_503", True),
            (500, b"", "http_500", True),
        ],
    )
    def test_codes_and_retryability(self, status: int, content: object, code: str, retryable: bool) -> None:
        error = mapping.error_from_response(status, content)
        assert (error.code, error.retryable) == (code, retryable)

    def test_token_errors(self) -> None:
        refused = mapping.token_error(
            400, b'{"error":"invalid_grant","error_description":"expired access/refresh token"}'
        )
        assert (refused.code, refused.retryable, refused.message) == (
            "invalid_credentials",
            False,
            "expired access/refresh token",
        )
        outage = mapping.token_error(502, b"<html/>")
        assert (outage.code, outage.retryable) == ("http_502", True)
