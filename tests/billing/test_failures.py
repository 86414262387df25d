"""Pure parts of :mod:`billow.billing.failures`: the error text and Lago's ``error_details``."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from billow.billing.failures import GENERATION_ERROR, MAX_MESSAGE, describe, error_details
from billow.billing.schedule import DueInvoice, InvoicingReason

DUE = DueInvoice(
    uuid.uuid4(),
    InvoicingReason.SUBSCRIPTION_PERIODIC,
    datetime(2024, 1, 1, tzinfo=UTC),
    datetime(2024, 2, 1, tzinfo=UTC),
    None,
    datetime(2024, 1, 1, tzinfo=UTC),
    datetime(2024, 2, 1, tzinfo=UTC),
)


def test_describe_names_the_error_and_truncates() -> None:
    assert describe(OverflowError("date value out of range")) == "OverflowError: date value out of range"
    long = describe(ValueError("x" * 5000))
    assert len(long) == MAX_MESSAGE and long.startswith("ValueError: xxx") and long.endswith("…")


def test_error_details_shape() -> None:
    [detail] = error_details(DUE, "OverflowError: boom")
    assert set(detail) == {"lago_id", "error_code", "details"}
    assert detail["error_code"] == GENERATION_ERROR
    uuid.UUID(detail["lago_id"])
    details = detail["details"]
    assert (details["error"], details["invoicing_reason"], details["period_start"]) == (
        "OverflowError: boom",
        "subscription_periodic",
        "2024-01-01T00:00:00Z",
    )
    assert all(isinstance(value, str) for value in details.values())  # Lago: string values


def test_a_new_failure_keeps_the_detail_id() -> None:
    first = error_details(DUE, "one")
    [again] = error_details(DUE, "two", first)
    assert (again["lago_id"], again["details"]["error"]) == (first[0]["lago_id"], "two")
    [other] = error_details(DUE, "two", [{"lago_id": "x", "error_code": "tax_error", "details": {}}])
    assert other["lago_id"] != "x"
