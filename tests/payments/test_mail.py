"""E-mails of payments: a payment request to its ``email`` (always), a receipt to the customer (with
``payment_receipt.created`` in ``email_settings``), sent after the commit to a local SMTP server."""

from __future__ import annotations

from tests.conftest import Api
from tests.mail.conftest import Inbox, enable_emails, smtp  # noqa: F401 (fixture)
from tests.payments.helpers import invoice, make_overdue, paid


def test_payment_request_lists_its_invoices(api: Api, smtp: Inbox) -> None:  # noqa: F811
    enable_emails(api, settings=())
    one = invoice(api, 3000)
    two = invoice(api, 2000)
    make_overdue(api, one["lago_id"], two["lago_id"])
    body = {
        "external_customer_id": "cus_1",
        "email": "ap@ann.example, boss@ann.example",
        "lago_invoice_ids": [two["lago_id"], one["lago_id"]],
    }
    response = api.post("/payment_requests", json={"payment_request": body})
    assert response.status_code == 200, response.text
    [received] = smtp.messages
    assert received.rcpt_tos == ["ap@ann.example", "boss@ann.example"]
    assert received.message["Subject"].startswith("Payment request from ")
    text = received.message.get_body(preferencelist=("plain",)).get_content()
    # 3000 + 2000 = 5000 cents: €50.00.
    assert f"€50.00 for the invoices {one['number']}, {two['number']}." in text


def test_payment_request_email_must_read(api: Api) -> None:
    one = invoice(api, 3000)
    make_overdue(api, one["lago_id"])
    body = {"external_customer_id": "cus_1", "email": "not an address", "lago_invoice_ids": [one["lago_id"]]}
    response = api.post("/payment_requests", json={"payment_request": body})
    assert (response.status_code, response.json()["error_details"]) == (
        422,
        {"email": ["invalid_email_format"]},
    )


def test_receipt_is_mailed_with_its_pdf(api: Api, smtp: Inbox) -> None:  # noqa: F811
    enable_emails(api, settings=("payment_receipt.created",))
    bill = invoice(api, 1000, customer="cus_r")
    assert (
        api.post(
            "/customers", json={"customer": {"external_id": "cus_r", "email": "ann@ann.example"}}
        ).status_code
        == 200
    )
    paid(api, bill["lago_id"], 1000, "wire", paid_at="2025-03-01")
    [receipt] = api.get("/payment_receipts").json()["payment_receipts"]
    [received] = smtp.messages
    assert received.rcpt_tos == ["ann@ann.example"]
    assert received.message["Subject"].startswith(f"Payment receipt {receipt['number']} from ")
    text = received.message.get_body(preferencelist=("plain",)).get_content()
    assert f"€10.00 on March 1, 2025 for {bill['number']}." in text
    [attachment] = list(received.message.iter_attachments())
    assert attachment.get_filename() == f"{receipt['number']}.pdf"
    assert attachment.get_content().startswith(b"%PDF")


def test_receipt_not_mailed_without_the_setting(api: Api, smtp: Inbox) -> None:  # noqa: F811
    enable_emails(api, settings=("invoice.finalized",))
    bill = invoice(api, 1000, customer="cus_r")
    smtp.messages.clear()
    paid(api, bill["lago_id"], 1000)
    assert smtp.messages == []
