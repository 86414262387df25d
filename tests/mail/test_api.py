"""E-mails of finalized invoices and created credit notes, and the ``resend_email`` routes."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID, uuid4

import pytest
from babel.dates import format_date
from fastapi import FastAPI
from sqlalchemy import select, update

from billow.models.invoices import Invoice
from billow.models.mail import DeliveryStatus, EmailDelivery
from tests.conftest import Api
from tests.mail.conftest import Inbox, create_customer, enable_emails, one_off_invoice


def deliveries(app: FastAPI) -> list[EmailDelivery]:
    with app.state.sessionmaker() as session:
        return list(session.scalars(select(EmailDelivery).order_by(EmailDelivery.created_at)))


def text_of(message: Any) -> str:
    return str(message.get_body(preferencelist=("plain",)).get_content()).replace("\r\n", "\n")


def html_of(message: Any) -> str:
    return str(message.get_body(preferencelist=("html",)).get_content())


# "1 234,50 €" as CLDR writes it in French: a narrow no-break space groups thousands, a no-break space
# comes before the symbol.
FR_TOTAL = "1\u202f234,50\u00a0€"


class TestFinalizedInvoice:
    def test_one_mail_in_the_customer_locale(self, app: FastAPI, api: Api, smtp: Inbox) -> None:
        enable_emails(api)
        create_customer(
            api, email="ann@example.com, bob@example.com", billing_configuration={"document_locale": "fr"}
        )
        invoice = one_off_invoice(api, 123450)

        [received] = smtp.messages
        assert received.mail_from == "billing@billow.test"
        assert received.rcpt_tos == ["ann@example.com", "bob@example.com"]
        message = received.message
        assert message["To"] == "ann@example.com, bob@example.com"
        assert message["From"] == "Acme <billing@billow.test>"
        assert message["Reply-To"] == "Acme <billing@acme.test>"
        assert message["Subject"] == f"Facture {invoice['number']} de Acme"
        text = text_of(message)
        assert text.startswith("Bonjour,\n")
        due = format_date(date.fromisoformat(invoice["payment_due_date"]), format="long", locale="fr")
        assert (
            f"la facture {invoice['number']} d'un montant de {FR_TOTAL}, à régler au plus tard le {due}."
            in text
        )
        assert FR_TOTAL in html_of(message)
        [delivery] = deliveries(app)
        assert delivery.status == DeliveryStatus.SENT
        assert delivery.document_kind == "invoice" and str(delivery.document_id) == invoice["lago_id"]
        assert delivery.attempts == 1 and delivery.sent_at is not None
        assert delivery.message_id == message["Message-ID"]
        assert delivery.recipients == {"to": ["ann@example.com", "bob@example.com"], "cc": [], "bcc": []}

    def test_organization_locale_then_english(self, app: FastAPI, api: Api, smtp: Inbox) -> None:
        enable_emails(api, billing_configuration={"document_locale": "de"})
        create_customer(api, email="ann@example.com")
        invoice = one_off_invoice(api, 123450)
        assert smtp.messages[0].message["Subject"] == f"Rechnung {invoice['number']} von Acme"
        assert "über 1.234,50\u00a0€ ausgestellt" in text_of(smtp.messages[0].message)

        enable_emails(api, billing_configuration={"document_locale": "it"})  # no catalog: English words
        one_off_invoice(api, 5000)
        assert smtp.messages[1].message["Subject"].startswith("Invoice ")
        # ... and Italian figures: 50,00 €
        assert "for 50,00\u00a0€, due on" in text_of(smtp.messages[1].message)

    def test_disabled_setting_sends_nothing(self, app: FastAPI, api: Api, smtp: Inbox) -> None:
        enable_emails(api, settings=("credit_note.created",))
        create_customer(api, email="ann@example.com")
        one_off_invoice(api)
        assert smtp.messages == []
        assert deliveries(app) == []

    def test_without_smtp_server_recorded_as_skipped(
        self, app: FastAPI, api: Api, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv("BILLOW_SMTP_HOST", raising=False)
        enable_emails(api)
        create_customer(api, email="ann@example.com")
        response_invoice = one_off_invoice(api)
        [delivery] = deliveries(app)
        assert (delivery.status, delivery.last_error, delivery.attempts) == (
            "skipped",
            "smtp_not_configured",
            0,
        )
        assert str(delivery.document_id) == response_invoice["lago_id"]

    def test_customer_without_email_is_skipped(self, app: FastAPI, api: Api, smtp: Inbox) -> None:
        enable_emails(api)
        create_customer(api)
        one_off_invoice(api)
        assert smtp.messages == []
        [delivery] = deliveries(app)
        assert (delivery.status, delivery.last_error) == ("skipped", "customer_without_email")


class TestCreditNote:
    def test_created_credit_note_is_mailed(self, app: FastAPI, api: Api, smtp: Inbox) -> None:
        enable_emails(api, settings=("credit_note.created",))
        create_customer(api, email="ann@example.com")
        invoice = one_off_invoice(api, 10000)
        assert smtp.messages == []  # invoices are not enabled
        fee = invoice["fees"][0]["lago_id"]
        response = api.post(
            "/credit_notes",
            json={
                "credit_note": {
                    "invoice_id": invoice["lago_id"],
                    "reason": "other",
                    "credit_amount_cents": 2500,
                    "items": [{"fee_id": fee, "amount_cents": 2500}],
                }
            },
        )
        assert response.status_code == 200, response.text
        note = response.json()["credit_note"]
        [received] = smtp.messages
        assert received.rcpt_tos == ["ann@example.com"]
        assert received.message["Subject"] == f"Credit note {note['number']} from Acme"
        assert f"credit note {note['number']} for €25.00 on invoice {invoice['number']}" in text_of(
            received.message
        )
        assert [d.document_kind for d in deliveries(app)] == ["credit_note"]


class TestResendEmail:
    def test_resend_to_cc_bcc(self, app: FastAPI, api: Api, smtp: Inbox) -> None:
        enable_emails(api)
        create_customer(api, email="ann@example.com")
        invoice = one_off_invoice(api)
        body = {"to": ["boss@example.com"], "cc": ["cc@example.com"], "bcc": ["audit@example.com"]}
        response = api.post(f"/invoices/{invoice['lago_id']}/resend_email", json=body)
        assert (response.status_code, response.content) == (200, b"")
        assert len(smtp.messages) == 2
        resent = smtp.messages[1]
        assert resent.rcpt_tos == ["boss@example.com", "cc@example.com", "audit@example.com"]
        assert resent.message["To"] == "boss@example.com"
        assert resent.message["Cc"] == "cc@example.com"
        assert resent.message["Bcc"] is None
        second = deliveries(app)[1]
        assert second.resend and second.status == "sent"
        assert second.recipients == {
            "to": ["boss@example.com"],
            "cc": ["cc@example.com"],
            "bcc": ["audit@example.com"],
        }

    def test_resend_without_body_goes_to_the_customer(self, app: FastAPI, api: Api, smtp: Inbox) -> None:
        enable_emails(api)
        create_customer(api, email="ann@example.com")
        invoice = one_off_invoice(api)
        assert api.post(f"/invoices/{invoice['lago_id']}/resend_email").status_code == 200
        assert [r.rcpt_tos for r in smtp.messages] == [["ann@example.com"], ["ann@example.com"]]

    def test_customer_without_email(self, app: FastAPI, api: Api, smtp: Inbox) -> None:
        enable_emails(api)
        create_customer(api)
        invoice = one_off_invoice(api)
        response = api.post(f"/invoices/{invoice['lago_id']}/resend_email", json={})
        assert response.status_code == 422
        assert response.json() == {
            "status": 422,
            "error": "Unprocessable Entity",
            "code": "validation_errors",
            "error_details": {"to": ["must have at least one recipient"]},
        }
        assert len(deliveries(app)) == 1  # the finalization's (skipped): nothing written

    def test_invalid_addresses_and_organization_without_email(
        self, app: FastAPI, api: Api, smtp: Inbox
    ) -> None:
        enable_emails(api)
        create_customer(api, email="ann@example.com")
        invoice = one_off_invoice(api)
        api.put("/organizations", json={"organization": {"email": ""}})
        body = {"to": ["nope"], "cc": ["ok@example.com", "bad@"], "bcc": ["x y@example.com"]}
        response = api.post(f"/invoices/{invoice['lago_id']}/resend_email", json=body)
        assert response.status_code == 422
        assert response.json()["error_details"] == {
            "billing_entity": ["must have email configured"],
            "to": ["invalid email format: nope"],
            "cc": ["invalid email format: bad@"],
            "bcc": ["invalid email format: x y@example.com"],
        }

    def test_draft_invoice_is_not_finalized(self, app: FastAPI, api: Api, smtp: Inbox) -> None:
        enable_emails(api)
        create_customer(api, email="ann@example.com")
        invoice = one_off_invoice(api)
        with app.state.sessionmaker.begin() as session:
            session.execute(
                update(Invoice).where(Invoice.id == UUID(invoice["lago_id"])).values(status="draft")
            )
        response = api.post(f"/invoices/{invoice['lago_id']}/resend_email")
        assert response.status_code == 405
        assert response.json() == {
            "status": 405,
            "error": "Method Not Allowed",
            "code": "invoice_not_finalized",
        }

    def test_email_settings_disabled(self, app: FastAPI, api: Api, smtp: Inbox) -> None:
        enable_emails(api, settings=())
        create_customer(api, email="ann@example.com")
        invoice = one_off_invoice(api)
        response = api.post(f"/invoices/{invoice['lago_id']}/resend_email")
        assert response.status_code == 405
        assert response.json()["code"] == "email_settings_disabled"

    def test_without_smtp_server(self, app: FastAPI, api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("BILLOW_SMTP_HOST", raising=False)
        enable_emails(api)
        create_customer(api, email="ann@example.com")
        invoice = one_off_invoice(api)
        response = api.post(f"/invoices/{invoice['lago_id']}/resend_email")
        assert response.status_code == 405
        assert response.json()["code"] == "email_not_configured"

    def test_credit_note_resend(self, app: FastAPI, api: Api, smtp: Inbox) -> None:
        enable_emails(api)
        create_customer(api, email="ann@example.com")
        invoice = one_off_invoice(api, 10000)
        fee = invoice["fees"][0]["lago_id"]
        note = api.post(
            "/credit_notes",
            json={
                "credit_note": {
                    "invoice_id": invoice["lago_id"],
                    "credit_amount_cents": 1000,
                    "items": [{"fee_id": fee, "amount_cents": 1000}],
                }
            },
        ).json()["credit_note"]
        response = api.post(f"/credit_notes/{note['lago_id']}/resend_email", json={"to": ["x@example.com"]})
        assert response.status_code == 200
        assert smtp.messages[-1].rcpt_tos == ["x@example.com"]
        assert smtp.messages[-1].message["Subject"] == f"Credit note {note['number']} from Acme"
        assert api.post(f"/credit_notes/{uuid4()}/resend_email").json()["code"] == "credit_note_not_found"

    def test_tenancy(self, app: FastAPI, api: Api, other_api: Api, smtp: Inbox) -> None:
        enable_emails(api)
        enable_emails(other_api)
        create_customer(api, email="ann@example.com")
        invoice = one_off_invoice(api)
        response = other_api.post(f"/invoices/{invoice['lago_id']}/resend_email")
        assert response.status_code == 404
        assert response.json()["code"] == "invoice_not_found"
        assert api.post("/invoices/not-a-uuid/resend_email").status_code == 404
        assert len(smtp.messages) == 1
